"""The PyTorch import on random models (tests/random_torch_models.py): convolutions, grouped
convolutions, BatchNorm (module and functional), residual additions (``+``, ``torch.add``, in place),
concatenations, scalings, pooling, channel-last ``Linear`` layers, four activations.

Oracles, independent of topo's own analysis: Euler's identity of every constrained class with
autograd on the model itself (classes recomputed by networkx from the fixed edges), the model's
function unchanged when a class is rescaled in its own parameters and changed when only the
entering edges are (negative control), the balances against a direct sum over the edges'
parameter slices, and, at neuron level, ``topo.forward`` of the import against ``model(x)``.
"""

import json
import os
import warnings

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles import check_witness, constrained_classes, lp_frozen_edges  # noqa: E402
from tests.oracles_torch import class_boundaries, euler_residuals, rescaled_outputs  # noqa: E402
from tests.random_torch_models import random_model, random_sequential  # noqa: E402
from topo.nn.result import UnsupportedLayerWarning  # noqa: E402

_SEED0 = int(os.environ.get("TOPO_SEED0", 0))  # another range of seeds by hand: TOPO_SEED0=5000 pytest ...
SEEDS = range(_SEED0, _SEED0 + 60)


def _import(seed):
    model, x, recipe = random_model(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # anything else that warns fails the test
        warnings.simplefilter("ignore", UnsupportedLayerWarning)  # ReLU6: free units, by design
        imp = topo.from_torch(model, x, level="channel" if recipe.startswith("conv") else "auto")
    return model, x, recipe, imp


def _evaluable(arch) -> bool:
    from topo.graph.forward import check_forward_support

    try:
        check_forward_support(arch)
    except topo.ParameterError:
        return False
    return True


def _balances_by_hand(imp) -> np.ndarray:
    arch = imp.architecture
    boundary = class_boundaries(arch)
    q = np.array([float(np.sum(imp.theta[arch.edge_slice(e)] ** 2)) for e in arch.edges])
    return np.array([q[boundary(v)[0]].sum() - q[boundary(v)[1]].sum() for v in arch.constrained])


@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_model_imports_with_its_laws(seed):
    model, x, recipe, imp = _import(seed)
    arch = imp.architecture
    gating = {"sigmoid", "mul"} if "se" in recipe.split() else set()  # squeeze-excitation's gate: free units
    assert {t for t, _ in imp.unsupported} <= {"relu6"} | gating, (recipe, imp.unsupported)
    assert set(arch.free) == set(arch.free_reasons), recipe
    if arch.n_constrained:
        res = euler_residuals(model, imp, x, seed=seed)
        assert max(res.values()) < 1e-9, (recipe, max(res.items(), key=lambda kv: kv[1]))
        np.testing.assert_allclose(topo.balance(arch, imp.theta), _balances_by_hand(imp), rtol=1e-10, atol=1e-12,
                                   err_msg=recipe)
    if imp.level == "neuron" and _evaluable(arch):  # topo.forward evaluates the laws' activations (not relu6, gates)
        want = model(x).detach().numpy()
        np.testing.assert_allclose(topo.forward(arch, imp.theta, x.numpy()), want, rtol=1e-9, atol=1e-10,
                                   err_msg=recipe)


@pytest.mark.parametrize("seed", SEEDS)
def test_rescaling_a_random_class_keeps_the_function(seed):
    model, x, recipe, imp = _import(seed)
    arch = imp.architecture
    if not arch.n_constrained:  # nothing to rescale: then every hidden unit is free for a stated reason
        assert set(arch.free) == set(arch.free_reasons) == set(arch.hidden), recipe
        return
    rng = np.random.default_rng(1000 + seed)
    big = torch.from_numpy(np.random.default_rng(seed).normal(size=(32,) + tuple(x.shape[1:])))
    for r in rng.choice(arch.n_constrained, size=min(3, arch.n_constrained), replace=False).tolist():
        v = arch.constrained[r]
        alpha = float(rng.uniform(0.4, 2.5))
        before, after = rescaled_outputs(model, imp, big, v, alpha)
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-9, atol=1e-10, err_msg=f"{recipe}: {v}")


def test_the_random_models_cover_the_grammar_and_have_laws():
    """The generator is worth its seeds: every step kind and both levels occur, and most models have
    constrained classes, shared (stream) classes and free units among them; the in-class negative
    control (entering edges rescaled alone) moves some model's output."""
    kinds, levels, with_laws, shared, free, moved = set(), set(), 0, 0, 0, False
    for seed in SEEDS:
        model, x, recipe, imp = _import(seed)
        arch = imp.architecture
        kinds.update(recipe.split()[1:])
        levels.add(imp.level)
        with_laws += arch.n_constrained > 0
        shared += arch.n_shared > 0
        free += len(arch.free) > 0
        if arch.n_constrained and not moved:
            big = torch.from_numpy(np.random.default_rng(seed).normal(size=(32,) + tuple(x.shape[1:])))
            before, control = rescaled_outputs(model, imp, big, arch.constrained[0], 1.7, leaving=False)
            moved = not np.allclose(control.numpy(), before.numpy(), rtol=1e-6, atol=1e-9)
    assert kinds == {"layer", "res", "cat", "scale", "split", "pool", "chlast", "fbn", "se", "layerscale", "shuffle"}
    assert levels == {"neuron", "channel"}
    assert with_laws >= 0.8 * len(SEEDS) and shared >= 10 and free >= 10
    assert moved


class _ChannelLast(torch.nn.Module):
    """``permute`` to channels-last, ``Linear`` over the channels, back, on the input itself."""

    def __init__(self, c):
        super().__init__()
        self.mix, self.head = torch.nn.Linear(c, 3), torch.nn.Linear(3, 2)

    def forward(self, x):
        z = torch.relu(self.mix(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return self.head(z.mean((2, 3)))


@pytest.mark.parametrize("c", [1, 2, 3])
def test_a_channel_last_linear_on_one_or_more_channels_is_a_1x1_convolution(c):
    """With one channel every dimension of the positions tensor is constant: the unit dimension is
    the one holding each unit once (it was the first constant one, a spatial dimension, whose
    repeats made copies of the single unit and the Linear was refused)."""
    torch.manual_seed(c)
    model, x = _ChannelLast(c).double().eval(), torch.randn(4, c, 5, 5, dtype=torch.float64)
    imp = topo.from_torch(model, x, level="channel")
    arch = imp.architecture
    assert arch.n_constrained == 3 and len(arch.inputs) == c
    assert max(euler_residuals(model, imp, x).values()) < 1e-9


def test_a_channel_last_linear_at_neuron_level_names_the_level_to_use():
    model, x = _ChannelLast(3).eval(), torch.randn(2, 3, 4, 4)
    with pytest.raises(topo.GraphError) as info:
        topo.from_torch(model, x)  # no convolution: "auto" reads it at neuron level
    msg = str(info.value)
    assert "\n" not in msg and "Linear 'mix'" in msg and "level='channel'" in msg
    assert topo.from_torch(model, x, level="channel").architecture.n_constrained == 3


@pytest.mark.parametrize("seed", range(20))
def test_the_monitor_on_a_random_model_follows_a_fresh_import_and_the_sgd_law(seed):
    """Three SGD + weight-decay steps (float64, random targets): the monitor's balances equal a fresh
    import's at every step, the exact discrete law holds, and its Euler self-test passes."""
    from topo.nn.monitor import EulerWarning

    model, x, recipe = random_model(int(os.environ.get("TOPO_MON0", 7000)) + seed, batchnorm=False)
    level = "channel" if recipe.startswith("conv") else "auto"
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedLayerWarning)
        warnings.simplefilter("error", EulerWarning)
        mon = topo.BalanceMonitor(model, x, level=level, frozen=False).attach(opt)
        arch = mon.architecture
        target = torch.from_numpy(np.random.default_rng(seed).normal(size=tuple(model(x).shape)))
        for _ in range(3):
            opt.zero_grad()
            ((model(x) - target) ** 2).mean().backward()
            opt.step()
            imp = topo.from_torch(model, x, level=level)
            assert imp.architecture.constrained == arch.constrained, recipe
            np.testing.assert_allclose(mon.balances(), topo.balance(imp.architecture, imp.theta),
                                       rtol=1e-12, atol=1e-12, err_msg=recipe)
    if arch.n_constrained:
        assert mon.euler["failed"] == [], recipe  # (a class dead on the whole batch has nothing to check)
        assert max(r["prediction_error"] for r in mon.history[1:]) < 1e-10, recipe


class _Untraceable(torch.nn.Module):
    """``net`` behind a guard on a value: torch.fx cannot trace it, so the forward-hook trace imports it."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        if float(x.abs().sum()) >= 0:
            return self.net(x)
        return x


@pytest.mark.parametrize("seed", range(40))
def test_the_forward_hook_trace_imports_a_random_sequential_as_fx_does(seed):
    """Same laws, parameters, free units and balances as the fx import; the caller's input unchanged
    (a model may start with an in-place ReLU, which changes the tensor it is given)."""
    model, x = random_sequential(seed)
    level = "channel" if x.dim() == 4 else "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedLayerWarning)
        ref = topo.from_torch(model, x, level=level)
        kept = x.clone()
        imp = topo.from_torch(_Untraceable(model), x, level=level)
    assert torch.equal(x, kept)
    a, b = ref.architecture, imp.architecture
    assert (a.n_constrained, a.n_params, len(a.free)) == (b.n_constrained, b.n_params, len(b.free)), model
    np.testing.assert_allclose(np.sort(topo.balance(b, imp.theta)), np.sort(topo.balance(a, ref.theta)),
                               rtol=1e-12, atol=1e-14)


def test_the_forward_hook_trace_takes_an_inplace_relu_on_the_input():
    """The input's version counter is read before the run: an in-place ReLU as the first module is the
    module's own output, not a change between modules (it was refused as one)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.ReLU(inplace=True), torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                torch.nn.Linear(4, 2)).double().eval()
    x = torch.randn(5, 3, dtype=torch.float64)
    imp = topo.from_torch(_Untraceable(model), x)
    assert imp.architecture.n_constrained == 4 and (x < 0).any()  # the caller's x is not changed in place
    np.testing.assert_allclose(topo.forward(imp.architecture, imp.theta, x.numpy()),
                               model(x.clone()).detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk", range(4))
def test_frozen_edges_of_random_imported_models_match_the_lp_oracle(chunk):
    """On the imported DAG with its own balances (fixed edges, stream classes, kernel-sized edges, biases):
    the classes equal the oracle's (union-find over the fixed edges), the frozen edges equal one linear
    program per edge, every witness checks out and the component count is 2^(frozen scalar edges)."""
    frozen_total = 0
    for seed in range(chunk * 10, chunk * 10 + 10):
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
        assert rep.n_components == 2 ** sum(1 for u, v in frozen if G.edges[u, v].get("size", 1) == 1), recipe
        for e in rep.frozen_edges:
            w = rep.witness(e)
            check_witness(G, c, e, w.kind, w.nodes, w.total)
        frozen_total += len(frozen)
        report = json.loads(json.dumps(topo.audit(imp).report))  # the audit says the same, as JSON
        assert report["connectivity"]["n_frozen_edges"] == len(frozen), recipe
        assert report["connectivity"]["n_components"] == rep.n_components, recipe
    assert frozen_total > 0  # the family has frozen edges (65 on the first 150 seeds)


def test_vf2_on_refined_colours_finds_the_group_bliss_finds(monkeypatch):
    """On the imported random models, with and without the fixed edges' weights: VF2 (matching on the
    colour refinement; up to 256 automorphisms of the quotient) and bliss give the same group order;
    with a budget of one step VF2 gives up
    and "auto" answers with bliss, the same order."""
    import topo.symmetry.automorphisms as am

    monkeypatch.setattr(am, "VF2_MAX_STEPS", 5000)  # a search that gives up does so quickly here
    checked = 0
    for seed in range(20):
        model, x, recipe, imp = _import(seed)
        arch = imp.architecture
        for weights in (None, imp.theta):
            vf2 = am.automorphism_group(arch, backend="networkx", fixed_weights=weights, max_enumerated=256)
            bliss = am.automorphism_group(arch, backend="bliss", fixed_weights=weights)
            assert bliss.computed, recipe  # VF2 enumerates the quotient's automorphisms: it may give up
            assert not vf2.computed or vf2.order == bliss.order, recipe
            checked += vf2.computed and vf2.order > 1
    assert checked >= 10
    model, x, recipe, imp = _import(39)  # the network whose VF2 search took 70 s without refinement
    old = am.SMALL_QUOTIENT_STEPS
    try:
        am.SMALL_QUOTIENT_STEPS = 1
        given_up = am.automorphism_group(imp.architecture, backend="auto", max_enumerated=4999)
    finally:
        am.SMALL_QUOTIENT_STEPS = old
    assert given_up.backend == "bliss (igraph)"
    assert given_up.order == am.automorphism_group(imp.architecture, backend="networkx").order
