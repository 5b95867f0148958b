"""Penalties: gradients against finite differences, values against independent oracles; the sweep."""

import numpy as np
import pytest

import topo
from topo.experiments import PENALTIES, ExperimentError, penalty

from .oracles_experiments import nuclear_norm_by_jacobian

torch = pytest.importorskip("torch")


def _arch(rng):
    kind = int(rng.integers(3))
    if kind == 0:
        return topo.Architecture.mlp([int(rng.integers(1, 4)), int(rng.integers(1, 5)), 1], bias=bool(rng.integers(2)))
    if kind == 1:
        return topo.Architecture.mlp([2, 3, 2, 2])
    return topo.generators.random_layered_dag(3, 3, fan_in=2, seed=int(rng.integers(100)))


@pytest.mark.parametrize("kind", PENALTIES)
@pytest.mark.parametrize("case", range(4))
def test_penalty_gradient_against_finite_differences(kind, case):
    rng = np.random.default_rng(500 + case)
    arch = _arch(rng)
    theta = rng.standard_normal(arch.n_params)
    pen = penalty(arch, kind, float(rng.uniform(0.1, 2)))
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    pen(t).backward()
    grad = t.grad.numpy()
    h = 1e-6
    fd = np.array([(pen.value(theta + h * e) - pen.value(theta - h * e)) / (2 * h) for e in np.eye(arch.n_params)])
    assert np.allclose(grad, fd, rtol=1e-5, atol=1e-7), (kind, np.abs(grad - fd).max())


@pytest.mark.parametrize("case", range(6))
def test_penalty_values_against_oracles(case):
    rng = np.random.default_rng(900 + case)
    arch = _arch(rng)
    theta = rng.standard_normal(arch.n_params)
    s = float(rng.uniform(0.1, 2))
    assert penalty(arch, "weight_decay", s).value(theta) == pytest.approx(0.5 * s * theta @ theta)
    assert penalty(arch, "l1", s).value(theta) == pytest.approx(s * np.abs(theta).sum())
    # group lasso: the boundary norm of each constrained node, by a loop over named edges
    total = 0.0
    for v in arch.constrained:
        sq = sum(float(theta[arch.edge_slice(e)] @ theta[arch.edge_slice(e)]) for e in arch.edges if v in e)
        total += np.sqrt(sq)
    assert penalty(arch, "group_lasso", s).value(theta) == pytest.approx(s * total)
    # nuclear norm of half the balance map's Jacobian, the Jacobian by finite differences of topo.balance
    oracle = nuclear_norm_by_jacobian(lambda t: topo.balance(arch, t), theta)
    assert penalty(arch, "nuclear", s).value(theta) == pytest.approx(s * oracle, rel=1e-6)


@pytest.mark.parametrize("case", range(4))
def test_nuclear_equals_group_lasso_for_one_hidden_layer_only(case):
    rng = np.random.default_rng(40 + case)
    shallow = topo.Architecture.mlp([3, 5, 1])
    deep = topo.Architecture.mlp([3, 4, 3, 1])
    t1, t2 = rng.standard_normal(shallow.n_params), rng.standard_normal(deep.n_params)
    assert penalty(shallow, "nuclear", 1).value(t1) == pytest.approx(penalty(shallow, "group_lasso", 1).value(t1))
    assert penalty(deep, "nuclear", 1).value(t2) < penalty(deep, "group_lasso", 1).value(t2) - 1e-6


def test_weight_decay_penalty_equals_train_weight_decay():
    arch = topo.Architecture.mlp([2, 4, 1])
    rng = np.random.default_rng(0)
    X, theta = rng.standard_normal((20, 2)), arch.init(seed=0)
    y = X[:, 0] - X[:, 1]
    a = topo.train(arch, theta, X, y, lr=0.01, steps=50, weight_decay=0.1, record_every=50)
    b = topo.train(arch, theta, X, y, lr=0.01, steps=50, penalty=penalty(arch, "weight_decay", 0.1), record_every=50)
    assert np.allclose(a.theta, b.theta, rtol=0, atol=1e-13)


def test_penalty_errors():
    arch = topo.Architecture.mlp([2, 2, 1])
    with pytest.raises(ExperimentError, match="unknown regulariser"):
        penalty(arch, "l2", 1.0)
    with pytest.raises(ExperimentError, match="strength"):
        penalty(arch, "l1", -1.0)


def test_tiny_regularizer_sweep():
    pytest.importorskip("sklearn")
    from topo.experiments import regularizer_sweep

    kw = dict(regularizers=("weight_decay", "group_lasso"), strengths={"group_lasso": 0.05}, hidden=4,
              max_steps=300, round_steps=100, lr=0.1, prune_tol=0.3, n_train=100, n_test=80, progress=False)
    a, b = regularizer_sweep(**kw), regularizer_sweep(**kw)
    rows = a.table.to_dict("records")
    assert rows == b.table.to_dict("records") and [r["regularizer"] for r in rows] == ["weight_decay", "group_lasso"]
    assert rows[0]["nearest_stratum_init"] == rows[1]["nearest_stratum_init"]   # same initialisation
    for r in rows:
        assert 0 <= r["units_pruned"] <= 4 and r["steps"] <= 300
        assert (r["units_pruned"] > 0) == (r["nearest_stratum"] < 0.3)
        if r["units_pruned"] == 0:
            assert r["max_output_change"] == 0 and r["accuracy_after"] == r["accuracy_before"]
    # the group lasso drives some unit much closer to its stratum than weight decay does
    assert rows[1]["nearest_stratum"] < rows[0]["nearest_stratum"]
    assert "units pruned" in a.summary()
    with pytest.raises(ExperimentError, match="unknown"):
        regularizer_sweep(("l3",))


@pytest.mark.parametrize("case", range(20))
def test_group_lasso_groups_are_the_class_boundaries(case):
    """On residual networks each group is the trainable boundary of one constrained class (by an
    independent union-find), an edge inside a class in no group."""
    from tests.oracles import constrained_classes
    from tests.oracles_classes import random_residual_dag, random_weights

    rng = np.random.default_rng(31_337 + case)
    G = random_residual_dag(rng)
    arch = topo.Architecture.from_networkx(G)
    w = random_weights(rng, G)
    theta = np.array([w[e] for e in arch.edges], dtype=float)
    expected = 0.0
    for k in constrained_classes(G):
        K = set(k)
        sq = sum(w[(u, v)] ** 2 for u, v, d in G.edges(data=True)
                 if d.get("trainable", True) and (u in K) != (v in K))
        expected += np.sqrt(max(sq, 1e-300))
    assert penalty(arch, "group_lasso", 1.0).value(theta) == pytest.approx(expected, rel=1e-12)
