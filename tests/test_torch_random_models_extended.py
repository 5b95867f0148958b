"""The PyTorch import on random models of the extended grammar (tests/random_torch_models.py,
``extended=True``): convolutions in 1, 2 and 3 spatial dimensions, non-homogeneous activations
as modules and functions (one or two in a row), Inception branches with asymmetric, dilated and
wide kernels, upsampling, padding, Dropout and Identity modules, ``reshape`` and
``AdaptiveAvgPool + Flatten`` heads, and models that return a tuple, a dict or a list.

Same oracles as tests/test_torch_random_models.py (Euler's identity with autograd, the function
unchanged under a class's rescaling, the balances by hand, ``topo.forward`` against the model at
neuron level, the frozen edges against one linear program per edge, the monitor against a fresh
import and the SGD law); the outputs of a model that returns several tensors are compared in the
order it returns them.
"""

import os
import warnings

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles import constrained_classes, lp_frozen_edges  # noqa: E402
from tests.oracles_torch import class_boundaries, euler_residuals, flat_output, rescaled_outputs  # noqa: E402
from tests.random_torch_models import FREE_ACTS, random_model  # noqa: E402
from topo.nn.result import UnsupportedLayerWarning  # noqa: E402

_SEED0 = int(os.environ.get("TOPO_SEED0", 20_000))  # another range by hand: TOPO_SEED0=50000 pytest ...
SEEDS = range(_SEED0, _SEED0 + 40)


def _import(seed):
    model, x, recipe = random_model(seed, extended=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", UnsupportedLayerWarning)  # the free activations, by design
        imp = topo.from_torch(model, x, level="channel" if recipe.startswith("conv") else "auto")
    return model, x, recipe, imp


@pytest.mark.parametrize("seed", SEEDS)
def test_an_extended_random_model_imports_with_its_laws(seed):
    model, x, recipe, imp = _import(seed)
    arch = imp.architecture
    allowed = set(FREE_ACTS) | {"relu6"} | ({"sigmoid", "mul"} if "se" in recipe.split() else set())
    assert {t for t, _ in imp.unsupported} <= allowed, (recipe, imp.unsupported)
    assert set(arch.free) == set(arch.free_reasons), recipe
    if arch.n_constrained:
        res = euler_residuals(model, imp, x, seed=seed)
        assert max(res.values()) < 1e-9, (recipe, max(res.items(), key=lambda kv: kv[1]))
        boundary = class_boundaries(arch)
        q = np.array([float(np.sum(imp.theta[arch.edge_slice(e)] ** 2)) for e in arch.edges])
        by_hand = [q[boundary(v)[0]].sum() - q[boundary(v)[1]].sum() for v in arch.constrained]
        np.testing.assert_allclose(topo.balance(arch, imp.theta), by_hand, rtol=1e-10, atol=1e-12, err_msg=recipe)
    want = flat_output(model(x)).detach().numpy()
    assert len(arch.outputs) == want.shape[1] or imp.level == "channel", recipe
    if imp.level == "neuron" and not imp.unsupported and "relu6" not in recipe:
        np.testing.assert_allclose(topo.forward(arch, imp.theta, x.numpy()), want, rtol=1e-9, atol=1e-10,
                                   err_msg=recipe)


@pytest.mark.parametrize("seed", SEEDS)
def test_rescaling_a_class_of_an_extended_random_model_keeps_the_function(seed):
    model, x, recipe, imp = _import(seed)
    arch = imp.architecture
    if not arch.n_constrained:
        assert set(arch.free) == set(arch.free_reasons) == set(arch.hidden), recipe
        return
    rng = np.random.default_rng(seed)
    big = torch.from_numpy(rng.normal(size=(16,) + tuple(x.shape[1:])))
    for r in rng.choice(arch.n_constrained, size=min(3, arch.n_constrained), replace=False).tolist():
        before, after = rescaled_outputs(model, imp, big, arch.constrained[r], float(rng.uniform(0.4, 2.5)))
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-9, atol=1e-10, err_msg=recipe)


def test_the_extended_random_models_cover_their_grammar():
    """Every step kind, the three convolution dimensions, free activations (their units free with a
    reason), second outputs and some laws occur among the default seeds (whatever TOPO_SEED0 says)."""
    kinds, several_outputs, with_laws, free = set(), 0, 0, 0
    for seed in range(20_000, 20_040):
        model, x, recipe, imp = _import(seed)
        kinds.update(recipe.split())
        several_outputs += not torch.is_tensor(model(x))
        with_laws += imp.architecture.n_constrained > 0
        free += bool(imp.unsupported)
    assert {"conv1d", "conv2d", "conv3d", "mlp"} <= kinds
    assert {"free", "branches", "up", "pad", "mods", "res", "cat", "layer", "fbn"} <= kinds
    assert several_outputs >= 5 and with_laws >= 28 and free >= 5


@pytest.mark.parametrize("chunk", range(2))
def test_frozen_edges_of_extended_random_models_match_the_lp_oracle(chunk):
    for seed in list(SEEDS)[chunk * 10:chunk * 10 + 10]:
        model, x, recipe, imp = _import(seed)
        arch = imp.architecture
        G = arch.to_networkx()
        oracle = {frozenset(k): k[0] for k in constrained_classes(G)}
        classes = [frozenset(k) for k in arch.rescaling_classes]
        assert set(oracle) == set(classes), recipe
        cvec = topo.balance(arch, imp.theta)
        c = {oracle[k]: float(v) for k, v in zip(classes, cvec)}
        rep = topo.connectivity(arch, cvec)
        frozen, _ = lp_frozen_edges(G, c)
        assert set(rep.frozen_edges) == frozen, (recipe, set(rep.frozen_edges) ^ frozen)


def test_outputs_come_in_the_order_the_model_returns_them():
    """A model that computes its heads in one order and returns them in another: the import's
    outputs follow the returned tuple (they followed the order the units were made in), with a
    hidden tensor returned too (read by the heads: its units come out as copies)."""
    nn = torch.nn

    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(4, 1)

        def forward(self, x):
            z = torch.relu(self.body(x))
            b = self.b(z)
            a = self.a(z)
            return {"a": a, "rest": [b, z]}

    torch.manual_seed(0)
    model, x = Heads().double().eval(), torch.randn(5, 3, dtype=torch.float64)
    imp = topo.from_torch(model, x)
    assert imp.architecture.outputs[:3] == ["a.0", "a.1", "b.0"]
    np.testing.assert_allclose(topo.forward(imp.architecture, imp.theta, x.numpy()),
                               flat_output(model(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


def _pool_cases():
    F = torch.nn.functional
    cases = []
    for d in (1, 2, 3):
        cases += [(f"F.max_pool{d}d", d, lambda z, d=d: getattr(F, f"max_pool{d}d")(z, 2)),
                  (f"F.avg_pool{d}d", d, lambda z, d=d: getattr(F, f"avg_pool{d}d")(z, 2)),
                  (f"F.adaptive_avg_pool{d}d", d, lambda z, d=d: getattr(F, f"adaptive_avg_pool{d}d")(z, 1)),
                  (f"F.adaptive_max_pool{d}d", d, lambda z, d=d: getattr(F, f"adaptive_max_pool{d}d")(z, 1)),
                  (f"F.dropout{d}d", d, lambda z, d=d: getattr(F, f"dropout{d}d")(z, 0.5, training=False))]
    return cases


@pytest.mark.parametrize("name,dim,fn", _pool_cases(), ids=[c[0] for c in _pool_cases()])
def test_pooling_and_dropout_functions_of_every_dimension_are_per_channel(name, dim, fn):
    """Each was an unsupported operation in 3-d (and the adaptive max pools in 1-d): the convolution's
    units then came out free."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = getattr(nn, f"Conv{dim}d")(2, 3, 3, padding=1), nn.Linear(3, 2)

        def forward(self, x):
            return self.head(fn(torch.relu(self.conv(x))).mean(tuple(range(2, 2 + dim))))

    torch.manual_seed(dim)
    model, x = Net().double().eval(), torch.randn((4, 2) + (4,) * dim, dtype=torch.float64)
    imp = topo.from_torch(model, x, level="channel")
    assert imp.unsupported == [] and imp.architecture.n_constrained == 3, name
    assert max(euler_residuals(model, imp, x).values()) < 1e-9


def test_two_free_activations_in_a_row_say_so():
    """GELU then SiLU: the second cannot join the first on the same units; the copies' reason names
    both (it said "also read elsewhere", which was not the case)."""
    nn = torch.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.SiLU(), nn.Linear(4, 2)).double().eval()
    with pytest.warns(UnsupportedLayerWarning):
        imp = topo.from_torch(model, torch.randn(5, 3, dtype=torch.float64))
    reasons = imp.architecture.free_reasons
    copies = [v for v in reasons if v.startswith("_2.")]
    assert len(copies) == 4
    assert all("silu applied after gelu ('2'" in reasons[v] and "elsewhere" not in reasons[v] for v in copies)


@pytest.mark.parametrize("level", ["neuron", "channel"])
def test_an_empty_slice_holds_no_unit(level):
    """ViTs without prefix tokens slice ``x[:, :0]`` and concatenate it back (timm's Qwen3-ViT and
    DeepSeek-ViT): the empty tensor raised a raw IndexError inside the import."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            conv = level == "channel"
            self.a = nn.Conv2d(2, 4, 3, padding=1) if conv else nn.Linear(2, 4)
            self.b = nn.Linear(4, 3)

        def forward(self, x):
            z = torch.relu(self.a(x))
            z = torch.cat([z[:, :0], z], dim=1)
            return self.b(z.mean((2, 3)) if z.dim() == 4 else z)

    torch.manual_seed(0)
    x = torch.randn((4, 2, 5, 5) if level == "channel" else (4, 2), dtype=torch.float64)
    model = Net().double().eval()
    imp = topo.from_torch(model, x, level=level)
    assert imp.architecture.n_constrained == 4 and imp.unsupported == []
    assert max(euler_residuals(model, imp, x).values()) < 1e-9
    if level == "neuron":
        np.testing.assert_allclose(topo.forward(imp.architecture, imp.theta, x.numpy()),
                                   model(x).detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_the_monitor_on_an_extended_random_model_follows_a_fresh_import_and_the_sgd_law(seed):
    """As tests/test_torch_random_models.py does for the base grammar, with the loss on every
    returned tensor: three SGD + weight-decay steps, the balances of a fresh import at each one,
    the exact discrete law and the Euler self-test."""
    from topo.nn.monitor import EulerWarning

    model, x, recipe = random_model(int(os.environ.get("TOPO_MON0", 27_000)) + seed, batchnorm=False, extended=True)
    level = "channel" if recipe.startswith("conv") else "auto"
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedLayerWarning)
        warnings.simplefilter("error", EulerWarning)
        mon = topo.BalanceMonitor(model, x, level=level, frozen=False).attach(opt)
        arch = mon.architecture
        target = torch.from_numpy(np.random.default_rng(seed).normal(size=tuple(flat_output(model(x)).shape)))
        for _ in range(3):
            opt.zero_grad()
            ((flat_output(model(x)) - target) ** 2).mean().backward()
            opt.step()
            imp = topo.from_torch(model, x, level=level)
            assert imp.architecture.constrained == arch.constrained, recipe
            np.testing.assert_allclose(mon.balances(), topo.balance(imp.architecture, imp.theta),
                                       rtol=1e-12, atol=1e-12, err_msg=recipe)
    if arch.n_constrained:
        assert mon.euler["failed"] == [], recipe
        assert max(r["prediction_error"] for r in mon.history[1:]) < 1e-10, recipe
