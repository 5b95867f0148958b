"""Function-preserving rescaling to prescribed balance signs; the pathological sweep and its fits."""

import numpy as np
import pytest
from scipy import stats

import topo
from topo.experiments import ExperimentError, init_with_balance_signs, linear_fit


@pytest.mark.parametrize("case", range(12))
def test_rescaling_preserves_the_function_and_sets_signs(case):
    rng = np.random.default_rng(1000 + case)
    widths = [int(rng.integers(1, 6)) for _ in range(int(rng.integers(1, 3)))]
    d = int(rng.integers(1, 5))
    arch = topo.Architecture.mlp([d, *widths, 1], bias=bool(rng.integers(2)))
    theta = arch.init(str(rng.choice(["kaiming", "xavier", "pytorch"])), seed=rng)
    l = widths[-1]
    signs = rng.choice([-1, 1], size=l)
    ratio = float(rng.uniform(1.2, 5))
    new = init_with_balance_signs(arch, theta, signs, ratio=ratio)
    X = rng.standard_normal((50, d)) * 3
    assert np.abs(topo.forward(arch, new, X) - topo.forward(arch, theta, X)).max() <= 1e-12 * max(
        1.0, np.abs(topo.forward(arch, theta, X)).max())
    c_new, c_old = topo.balance(arch, new), topo.balance(arch, theta)
    last = c_new[-l:]
    assert np.array_equal(np.sign(last), signs)
    # |c| = sqrt(q_in q_out) (sqrt r - 1/sqrt r): q_in q_out is invariant under the rescaling
    q = theta ** 2
    for k, v in enumerate(arch.constrained[-l:]):
        q_in = sum(q[arch.edge_slice(e)].sum() for e in arch.edges if e[1] == v)
        q_out = q[arch.edge_slice((v, "y0"))].sum()
        assert abs(last[k]) == pytest.approx(np.sqrt(q_in * q_out) * (np.sqrt(ratio) - 1 / np.sqrt(ratio)),
                                             rel=1e-10)
    # units below the output are the only ones touched in the last layer; the fiber has 2^(#negative) components
    rep = topo.connectivity(arch, c_new)
    assert set(rep.frozen_edges) >= {(v, "y0") for v, s in zip(arch.constrained[-l:], signs) if s < 0}
    assert c_new[:-l].shape == c_old[:-l].shape


def test_rescaling_errors():
    arch = topo.Architecture.mlp([2, 3, 1])
    theta = arch.init(seed=0)
    with pytest.raises(ExperimentError, match="exactly one"):
        init_with_balance_signs(arch, theta)
    with pytest.raises(ExperimentError, match="n_positive"):
        init_with_balance_signs(arch, theta, n_positive=4)
    with pytest.raises(ExperimentError, match="signs"):
        init_with_balance_signs(arch, theta, [1, -1])
    deep = topo.Architecture.mlp([2, 3, 3, 1])
    with pytest.raises(ExperimentError, match="share edges"):
        init_with_balance_signs(deep, deep.init(seed=0), n_positive=1, units=["h1_0", "h2_0"])
    zero = theta.copy()
    zero[arch.edge_slice(("h1_0", "y0"))] = 0
    with pytest.raises(ExperimentError, match="h1_0"):
        init_with_balance_signs(arch, zero, n_positive=3)


@pytest.mark.parametrize("seed", range(5))
def test_linear_fit_against_scipy_linregress(seed):
    rng = np.random.default_rng(seed + 77)
    x = rng.integers(0, 10, 30).astype(float)
    y = 0.3 * x + rng.standard_normal(30)
    f, ref = linear_fit(x, y), stats.linregress(x, y)
    assert f["slope"] == pytest.approx(ref.slope, rel=1e-10) and f["intercept"] == pytest.approx(ref.intercept)
    t = stats.t.ppf(0.975, 28)
    assert f["slope_ci"][0] == pytest.approx(ref.slope - t * ref.stderr) and f["r2"] == pytest.approx(ref.rvalue ** 2)
    with pytest.raises(ExperimentError):
        linear_fit([1, 1, 1], [1, 2, 3])


def test_tiny_sweep_is_deterministic_and_consistent():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from topo.experiments import pathological_sweep

    kw = dict(widths=(2, 3), l_plus=(0, 1, 3), seeds=2, steps=30, lr=0.05, n_train=80, n_test=80, progress=False)
    a, b = pathological_sweep(**kw), pathological_sweep(**kw)
    rows = a.table.to_dict("records")
    assert rows == b.table.to_dict("records") and a.fits == b.fits
    assert [(r["width"], r["l_plus"]) for r in rows] == [(2, 0), (2, 0), (2, 1), (2, 1), (3, 0), (3, 0), (3, 1),
                                                        (3, 1), (3, 3), (3, 3)]
    assert all(r["components"] == 2 ** (r["width"] - r["l_plus"]) for r in rows)
    # the same (width, seed) starts from the same function whatever l+ (only the fiber differs)
    for w, s in ((2, 0), (2, 1), (3, 0), (3, 1)):
        init = [r["initial_test_loss"] for r in rows if (r["width"], r["seed"]) == (w, s)]
        assert max(init) - min(init) < 1e-12
    assert len({r["initial_test_loss"] for r in rows}) == 4
    assert all(r["train_loss"] < 0.7 for r in rows)
    assert a.verdict.startswith(("undetermined", "l+ (absolute", "l+/l"))
    assert "slope" in a.summary() and a.to_dict()["fits"]["l_plus"]["n"] == 10


def test_too_small_a_grid_is_undetermined():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from topo.experiments import pathological_sweep

    r = pathological_sweep(widths=(2,), l_plus=(0, 2), seeds=1, steps=2, n_train=20, n_test=20, progress=False)
    assert r.fits == {} and r.verdict.startswith("undetermined") and len(r.table) == 2


@pytest.mark.parametrize("case", range(30))
def test_rescaling_a_stream_class_sets_its_sign_and_keeps_the_function(case):
    """On residual networks the rescaling acts on a whole class (entering trainable edges × α, leaving ÷ α):
    the class's balance gets the asked sign, the outputs (by an independent numpy forward) do not change."""
    from tests.oracles import class_balances, constrained_classes
    from tests.oracles_classes import forward, random_residual_dag, random_weights

    rng = np.random.default_rng(777_000 + case)
    classes: list = []
    while not classes:  # redraw until the network has a constrained stream class (most draws do)
        G = random_residual_dag(rng)
        classes = [k for k in constrained_classes(G) if len(k) > 1]
    arch = topo.Architecture.from_networkx(G)
    w = random_weights(rng, G)
    theta = np.concatenate([np.atleast_1d(np.asarray(w[e], dtype=float)) for e in arch.edges])
    k = classes[int(rng.integers(len(classes)))]
    sign = int(rng.choice([-1, 1]))
    new = init_with_balance_signs(arch, theta, [sign], units=[k[-1]], ratio=3.0)  # any member names the class
    w_new = {e: new[arch.edge_slice(e)] if arch.edge_sizes[i] > 1 else float(new[arch.edge_slice(e)][0])
             for i, e in enumerate(arch.edges)}
    q = {e: float(np.sum(np.asarray(w_new[e]) ** 2)) for e in arch.edges}
    assert np.sign(class_balances(G, q)[k[0]]) == sign
    inputs = [v for v in G if G.nodes[v].get("role") == "input"]
    outputs = [v for v in G if G.nodes[v].get("role") == "output"]
    X = rng.standard_normal((20, len(inputs)))
    np.testing.assert_allclose(forward(G, w_new, X, inputs, outputs), forward(G, w, X, inputs, outputs),
                               rtol=1e-10, atol=1e-10)
    # two members of one class are one balance: refused
    with pytest.raises(ExperimentError, match="share one balance"):
        init_with_balance_signs(arch, theta, [1, 1], units=[k[0], k[1]])
