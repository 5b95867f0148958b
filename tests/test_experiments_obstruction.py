"""Obstruction probabilities: closed forms, reference values, Monte Carlo, init schemes."""

import math

import numpy as np
import pytest

import topo
from topo.experiments import ExperimentError, obstruction_probability, obstruction_table
from topo.graph.initializers import draw_parameters, init_scales

from .oracles_experiments import pathological_probability_quad


@pytest.mark.parametrize("l, per_unit, network", [(2, .392, .630), (8, .216, .858), (32, .111, .977)])
def test_reference_values_kaiming_d1(l, per_unit, network):
    r = obstruction_probability((1, l, 1), "kaiming")
    p = 1 - 2 / math.pi * math.atan(math.sqrt(l))
    assert abs(r.per_unit - p) < 1e-6 and abs(r.network - (1 - (1 - p) ** l)) < 1e-6
    assert round(r.per_unit, 3) == per_unit and round(r.network, 3) == network
    assert r.stderr == 0 and r.method == "exact" and r.n_units == l


@pytest.mark.parametrize("l", [2, 8, 32])
def test_reference_values_xavier_d1(l):
    assert abs(obstruction_probability((1, l, 1), "xavier").per_unit - 0.5) < 1e-6


@pytest.mark.parametrize("init", ["kaiming", "xavier"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("d", [1, 2, 10])
def test_closed_form_against_quadrature(init, bias, d):
    for l in (2, 8, 32):
        arch = topo.Architecture.mlp([d, l, 1], bias=bias)
        law, scale = init_scales(arch, init)
        m = d + bias
        var_in = scale[0] ** 2                      # first hidden unit's first weight
        var_out = scale[arch.edge_slice(("h1_0", "y0"))][0] ** 2
        r = obstruction_probability((d, l, 1), init, bias=bias)
        assert abs(r.per_unit - pathological_probability_quad(m, var_in, var_out)) < 1e-9


@pytest.mark.parametrize("init", ["kaiming", "xavier"])
def test_monte_carlo_within_4_sigma(init):
    for d in (1, 2, 10):
        for l in (2, 8, 32):
            ex = obstruction_probability((d, l, 1), init)
            mc = obstruction_probability((d, l, 1), init, method="monte_carlo", n_samples=3000, seed=11,
                                         disconnection=False, progress=False)
            assert abs(mc.per_unit - ex.per_unit) < 4 * mc.stderr, (d, l)
            assert abs(mc.network - ex.network) < 4 * max(mc.network_stderr, 1 / 3000), (d, l)
            assert mc.stderr > 0 and mc.n_samples == 3000


def test_fiber_disconnection_trap_and_shallow_identity():
    """d = 1 without bias: every fiber is disconnected although some units are fine."""
    mc = obstruction_probability((1, 2, 1), "kaiming", method="monte_carlo", n_samples=400, seed=3)
    assert mc.disconnected == 1.0 and mc.network < 0.8
    assert obstruction_probability((1, 2, 1), "kaiming").disconnected == 1.0
    # d >= 2: a shallow fiber is disconnected exactly when some unit is pathological, sample by sample
    mc2 = obstruction_probability((2, 4, 1), "xavier", method="monte_carlo", n_samples=600, seed=4)
    assert mc2.disconnected == mc2.network
    ex2 = obstruction_probability((2, 4, 1), "xavier")
    assert ex2.disconnected == pytest.approx(ex2.network, abs=1e-15)


def test_deep_exact_against_monte_carlo():
    ex = obstruction_probability((3, 5, 4, 1), "kaiming", bias=True)
    mc = obstruction_probability((3, 5, 4, 1), "kaiming", bias=True, method="monte_carlo", n_samples=4000,
                                 seed=5, disconnection=False)
    assert ex.disconnected is None and ex.n_units == 4
    assert abs(mc.per_unit - ex.per_unit) < 4 * mc.stderr


@pytest.mark.parametrize("init", ["kaiming_uniform", "xavier_uniform"])
def test_uniform_closed_form_d1(init):
    for l in (2, 8):
        ex = obstruction_probability((1, l, 1), init)
        mc = obstruction_probability((1, l, 1), init, method="monte_carlo", n_samples=4000, seed=6,
                                     disconnection=False)
        assert abs(mc.per_unit - ex.per_unit) < 4 * mc.stderr
    assert obstruction_probability((1, 4, 1), "kaiming_uniform").per_unit == pytest.approx(1 / (2 * 2))


def test_no_closed_form_is_refused():
    with pytest.raises(ExperimentError, match="monte_carlo"):
        obstruction_probability((2, 4, 1), "pytorch", bias=True)
    with pytest.raises(ExperimentError, match="monte_carlo"):
        obstruction_probability((2, 4, 1), "kaiming_uniform")


def test_bad_configurations():
    with pytest.raises(ExperimentError, match="scalar output"):
        obstruction_probability((2, 4, 2), "kaiming")
    with pytest.raises(ExperimentError, match="unknown init"):
        obstruction_probability((2, 4, 1), "he")
    with pytest.raises(ExperimentError, match="method"):
        obstruction_probability((2, 4, 1), method="mc")
    with pytest.raises(ValueError):
        obstruction_probability("abc")


def test_seeded_and_chunking_is_part_of_the_seed():
    a = obstruction_probability((2, 8, 1), method="monte_carlo", n_samples=500, seed=9, chunk_size=100)
    b = obstruction_probability((2, 8, 1), method="monte_carlo", n_samples=500, seed=9, chunk_size=100)
    c = obstruction_probability((2, 8, 1), method="monte_carlo", n_samples=500, seed=10, chunk_size=100)
    assert a == b and a != c


def test_table_rows_equal_single_calls():
    t = obstruction_table([(2, 2, 1), (2, 8, 1)], inits=("kaiming", "pytorch"), bias=True,
                          method="monte_carlo", n_samples=300, seed=2, chunk_size=128, progress=False)
    rows = t.to_dict("records") if hasattr(t, "to_dict") else t
    single = obstruction_probability((2, 8, 1), "pytorch", bias=True, method="monte_carlo", n_samples=300,
                                     seed=2, chunk_size=128).to_dict()
    single["widths"] = "2-8-1"
    assert rows[3] == single and len(rows) == 4


def test_pytorch_rule_against_torch_nn_linear():
    """topo's "pytorch" scheme against torch.nn.Linear's own default initialisation."""
    torch = pytest.importorskip("torch")
    d, l, n = 2, 8, 3000
    torch.manual_seed(0)
    neg = []
    with torch.no_grad():
        for _ in range(n // 100):
            W1 = torch.stack([torch.nn.Linear(d, l).weight for _ in range(100)]).double()
            b1 = torch.stack([torch.nn.Linear(d, l).bias for _ in range(100)]).double()
            a = torch.stack([torch.nn.Linear(l, 1).weight[0] for _ in range(100)]).double()
            c = (W1 ** 2).sum(-1) + b1 ** 2 - a ** 2
            neg.append((c < 0).double().mean(-1).numpy())
    frac = np.concatenate(neg)
    p_torch, se_torch = frac.mean(), frac.std(ddof=1) / np.sqrt(len(frac))
    mc = obstruction_probability((d, l, 1), "pytorch", bias=True, method="monte_carlo", n_samples=n, seed=1,
                                 disconnection=False)
    assert abs(mc.per_unit - p_torch) < 4 * np.hypot(mc.stderr, se_torch)
    # the bounds themselves: weights and biases of nn.Linear(d, l) lie in ±1/sqrt(d)
    arch = topo.Architecture.mlp([d, l, 1])
    law, scale = init_scales(arch, "pytorch")
    assert set(law.tolist()) == {"uniform"}
    assert np.allclose(scale[: d * l + l], 1 / np.sqrt(d)) and np.allclose(scale[d * l + l:], 1 / np.sqrt(l))


def test_bias_rules_and_architecture_init():
    arch = topo.Architecture.mlp([3, 4, 1])
    z = arch.init("xavier", bias="zeros", seed=0)
    assert np.all(z[[arch.edge_offsets[arch.edge_index(("b1", f"h1_{k}"))] for k in range(4)]] == 0)
    assert np.array_equal(draw_parameters(arch, "pytorch", seed=3), arch.init("pytorch", seed=3))
    # the historical schemes draw the same numbers as before (bias = one more input weight)
    rng = np.random.default_rng(5)
    fan_in = np.repeat([4.0], 16).tolist() + [5.0] * 5
    assert np.allclose(arch.init("kaiming", seed=5), rng.standard_normal(21) * np.sqrt(2 / np.array(fan_in)))
    with pytest.raises(ValueError, match="bias rule"):
        arch.init("kaiming", bias="ones")


def test_plain_records_without_pandas(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)      # `import pandas` now raises ImportError
    t = obstruction_table([(1, 2, 1)], inits=("kaiming", "xavier"))
    assert isinstance(t, list) and t[1]["per_unit"] == pytest.approx(0.5, abs=1e-12) and t[0]["widths"] == "1-2-1"
