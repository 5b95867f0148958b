"""BatchNorm as it trains: ``from_torch(batch_statistics=True)`` and the BalanceMonitor on BatchNorm models.

In training mode a BatchNorm divides each channel by the spread of the batch, so its input channels
are free (the map is scale-invariant, not homogeneous) and its γ and β form a unit per channel.  The
oracles here run the model itself in **training mode** (no rewriting: every trainable edge must be a
parameter of the model, checked entry by entry):

* Euler's identity with autograd for every constrained class, on random models of both grammars of
  tests/random_torch_models.py (BatchNorm modules with and without affine parameters, and timm-style
  norm-act modules calling ``F.batch_norm``);
* the train-mode output unchanged when a class is rescaled in the model's parameters;
* negative control: the law the eval-mode import claims for a convolution folded with its BatchNorm
  fails in training mode (so the free channels are needed, not a convention);
* the BalanceMonitor on BatchNorm models in training mode: the SGD law to 1e-10, balances equal to a
  fresh import after every step, dead units found through the BatchNorm's units.
"""

import copy
import os
import warnings

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles_torch import euler_residuals, flat_output, rescaled_outputs  # noqa: E402
from tests.random_torch_models import random_model  # noqa: E402
from topo.errors import GraphError  # noqa: E402
from topo.nn.result import UnsupportedLayerWarning  # noqa: E402

_SEED0 = int(os.environ.get("TOPO_SEED0", 61_000))  # another range by hand: TOPO_SEED0=70000 pytest ...
SEEDS = range(_SEED0, _SEED0 + 30)
_BN = torch.nn.modules.batchnorm._BatchNorm


def _model(seed):
    model, x, recipe = random_model(seed, extended=seed % 2 == 1)
    return model.train(), x, recipe


def _import(model, x, recipe, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedLayerWarning)  # the extended grammar's free activations
        return topo.from_torch(model, x, level="channel" if recipe.startswith("conv") else "auto", **kw)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_class_obeys_euler_in_training_mode(seed):
    model, x, recipe = _model(seed)
    imp = _import(model, x, recipe, batch_statistics=True)
    arch = imp.architecture
    assert not any(blk[7] for blk in imp.edge_source.blocks()), "an edge carries a derived value"
    assert set(arch.free) == set(arch.free_reasons), recipe
    if arch.n_constrained:
        res = euler_residuals(model, imp, x, seed=seed, train=True)
        assert max(res.values()) < 1e-9, (recipe, max(res.items(), key=lambda kv: kv[1]))
    reasons = " ".join(arch.free_reasons.values())
    assert ("bn" in recipe.split() or "fbn" in recipe.split()) <= ("batch statistics" in reasons), recipe


@pytest.mark.parametrize("seed", SEEDS[:15])
def test_rescaling_a_class_keeps_the_training_mode_function(seed):
    model, x, recipe = _model(seed)
    imp = _import(model, x, recipe, batch_statistics=True)
    arch = imp.architecture
    rng = np.random.default_rng(seed)
    for r in rng.choice(arch.n_constrained, size=min(3, arch.n_constrained), replace=False).tolist():
        before, after = rescaled_outputs(model, imp, x, arch.constrained[r], float(rng.uniform(0.4, 2.5)), train=True)
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-9, atol=1e-10, err_msg=recipe)


def test_the_eval_mode_law_of_a_folded_convolution_fails_in_training_mode():
    """Negative control: a Conv -> BatchNorm -> ReLU channel is a class of the eval-mode import (the
    folded convolution's rows); in training mode ⟨W_c, g⟩ vanishes by scale invariance but the
    leaving edges' terms do not, so that class's Euler residual is far from zero."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                              torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).double()
    x = torch.randn(5, 2, 7, 7, dtype=torch.float64)
    m = copy.deepcopy(net).train()
    out = m(x)
    loss = ((out - 1.0) ** 2).sum()
    loss.backward()
    W, G = m[0].weight.detach(), m[0].weight.grad
    gamma, beta, W2 = m[1].weight.detach(), m[1].bias.detach(), m[3].weight.detach()
    g_in = (W * G).sum((1, 2, 3)) + m[0].bias.detach() * m[0].bias.grad
    g_out = (W2 * m[3].weight.grad).sum((0, 2, 3))
    assert float(g_in.abs().max()) < 1e-3 * float(g_out.abs().max())  # scale invariance: ⟨W_c, g⟩ ≈ 0 (ε)
    assert float((g_in - g_out).abs().max()) > 0.5 * float(g_out.abs().max())  # the folded class's law fails
    # ... and the batch-statistics class of the same channel holds
    g_gb = gamma * m[1].weight.grad + beta * m[1].bias.grad
    np.testing.assert_allclose(g_gb.numpy(), g_out.numpy(), rtol=1e-9, atol=1e-12)
    imp = topo.from_torch(net, x, batch_statistics=True)
    arch = imp.architecture
    assert arch.constrained == ["1.0", "1.1", "1.2"]  # the BatchNorm's units; the convolution's channels are free
    assert all("batch statistics" in arch.free_reasons[f"0.{c}"] for c in range(3))
    by_hand = gamma ** 2 + beta ** 2 - (W2 ** 2).sum((0, 2, 3))
    np.testing.assert_allclose(topo.balance(arch, imp.theta), by_hand.numpy(), rtol=1e-12)


def test_batch_statistics_import_under_strict_and_its_validation():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 2)).double()
    imp = topo.from_torch(net, strict=True, batch_statistics=True)  # modelled, not unsupported
    assert imp.architecture.n_constrained == 4 and not imp.unsupported
    assert any("batch statistics" in r for r in imp.architecture.free_reasons.values())
    with pytest.raises(Exception, match="batch_statistics"):
        topo.from_torch(net, batch_statistics="yes")


# ----------------------------------------------------------------------------- the monitor
def _sgd_run(model, X, y, steps=4, **mon_kw):
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, weight_decay=1e-3)
    mon = topo.BalanceMonitor(model, X[:2], **mon_kw).attach(opt)
    level = mon.imported.level
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(flat_output(model(X)), y).backward()
        opt.step()
        fresh = topo.from_torch(model, X[:2], batch_statistics=True, level=level)
        c = topo.balance(fresh.architecture, fresh.theta)
        np.testing.assert_allclose(mon.balances(), c, rtol=1e-12, atol=1e-12)
        assert mon.history[-1]["prediction_error"] < 1e-10
    assert model.training and all(m.training for m in model.modules())
    assert mon.euler is not None and not mon.euler["failed"]
    return mon


def test_the_monitor_follows_the_zoo_resnet18_with_batchnorm_in_training():
    torch.manual_seed(1)
    model, _ = topo.zoo.resnet18(width=4, num_classes=3)
    model = model.double().train()
    X, y = torch.randn(8, 3, 16, 16, dtype=torch.float64), torch.randint(0, 3, (8,))
    mon = _sgd_run(model, X, y)
    bn_units = sum(m.num_features for m in model.modules() if isinstance(m, _BN))
    assert mon.architecture.n_constrained > 0 and bn_units > 0


@pytest.mark.parametrize("seed", [s for s in SEEDS if s % 3 == 0])
def test_the_monitor_follows_random_batchnorm_models(seed):
    model, x, recipe = _model(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedLayerWarning)
        try:
            mon = topo.BalanceMonitor(model, x[:2])
        except GraphError as exc:  # a model whose import has no trainable edge of its own, say
            pytest.fail(f"{recipe}: {exc}")
    n_out = flat_output(model(x)).shape[1]
    y = torch.randint(0, n_out, (len(x),), generator=torch.Generator().manual_seed(seed))
    del mon
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedLayerWarning)
        _sgd_run(model, x, y, steps=2)


def test_dead_units_of_a_batchnorm_model_are_its_batchnorm_units():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        net[1].weight[2] = 0.0
        net[1].bias[2] = -1.0  # channel 2 outputs -1 before its ReLU on every sample
    mon = topo.BalanceMonitor(net, batch=torch.randn(16, 3, dtype=torch.float64))
    assert mon.history[0]["dead"] == 1 and len(mon.dead_units) == 1 and mon.dead_units[0].startswith("1.")


def test_a_folded_import_handed_to_the_monitor_is_refused_with_the_way_out():
    model, x = topo.zoo.resnet18(width=4)
    with pytest.raises(GraphError, match="batch_statistics=True"):
        topo.BalanceMonitor(model, x, imported=topo.from_torch(model, x))
