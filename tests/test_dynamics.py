"""topo.train: conservation, weight decay, determinism, errors (needs torch)."""

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")  # CI installs torch; the core install does not


def _data(n=40, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.sin(X[:, 0]) + X[:, 1] ** 2


def test_gradient_descent_nearly_conserves_balances_and_drift_scales_with_lr():
    arch = topo.Architecture.mlp([2, 5, 5, 1])
    X, y = _data()
    theta = arch.init(seed=1)
    drifts = []
    for lr in (4e-3, 1e-3):
        steps = int(0.8 / lr)
        traj = topo.train(arch, theta, X, y, lr=lr, steps=steps, record_every=steps)
        assert traj.losses[-1] < traj.losses[0]
        drifts.append(traj.balance_drift())
    assert drifts[1] < drifts[0] / 2  # O(lr): four times smaller step, much smaller drift
    assert drifts[1] < 1e-2


def test_weight_decay_makes_balances_decay_exponentially():
    arch = topo.Architecture.mlp([2, 4, 1])
    X, y = _data()
    lam, lr = 0.5, 5e-4
    traj = topo.train(arch, arch.init(seed=0), X, y, lr=lr, steps=3000, weight_decay=lam, record_every=300)
    predicted = traj.balances[0] * np.exp(-2 * lam * traj.times)[:, None]
    np.testing.assert_allclose(traj.balances, predicted, rtol=0.01, atol=1e-6)


def test_trajectory_records_and_is_deterministic():
    arch = topo.Architecture.mlp([2, 3, 1])
    X, y = _data()
    a = topo.train(arch, arch.init(seed=0), X, y, optimizer="sgd", batch_size=8, steps=25, record_every=10, seed=3)
    b = topo.train(arch, arch.init(seed=0), X, y, optimizer="sgd", batch_size=8, steps=25, record_every=10, seed=3)
    c = topo.train(arch, arch.init(seed=0), X, y, optimizer="sgd", batch_size=8, steps=25, record_every=10, seed=4)
    assert a.steps.tolist() == [0, 10, 20, 25]
    np.testing.assert_array_equal(a.thetas, b.thetas)
    assert not np.array_equal(a.thetas, c.thetas)
    np.testing.assert_allclose(a.balances[-1], topo.balance(arch, a.theta))
    # the recorded loss is the loss of the recorded parameters
    np.testing.assert_allclose(a.losses[-1], np.mean((topo.forward(arch, a.theta, X)[:, 0] - y) ** 2))


@pytest.mark.parametrize("loss, y", [("bce", "binary"), ("ce", "classes")])
def test_classification_losses_train(loss, y):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    arch = topo.Architecture.mlp([2, 6, 1 if loss == "bce" else 2])
    traj = topo.train(arch, arch.init(seed=0), X, labels, loss=loss, optimizer="adam", lr=0.05, steps=60)
    assert traj.losses[-1] < 0.5 * traj.losses[0]


def test_train_errors():
    arch = topo.Architecture.mlp([2, 3, 1])
    X, y = _data()
    theta = arch.init(seed=0)
    with pytest.raises(ValueError, match="unknown loss"):
        topo.train(arch, theta, X, y, loss="hinge")
    with pytest.raises(ValueError, match="unknown optimizer"):
        topo.train(arch, theta, X, y, optimizer="lbfgs")
    with pytest.raises(ValueError, match="X has 40 rows but y has 3"):
        topo.train(arch, theta, X, y[:3])
    with pytest.raises(ValueError, match="one output"):
        topo.train(topo.Architecture.mlp([2, 3, 2]), topo.Architecture.mlp([2, 3, 2]).init(seed=0), X, y, loss="bce")
