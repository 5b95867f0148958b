"""Fiber samplers: every row on the fiber, projections, determinism."""

import numpy as np
import pytest

import topo
from tests.oracles import random_dag
from tests.oracles_classes import random_weights
from topo.sampling.points import bottleneck_parameters


def _reference(G, arch, rng):
    """A parameter vector with random trainable weights and the fixed weights of G (its
    fixed edges are constants of every fiber)."""
    theta = random_weights(rng, G)
    for (u, v), w in theta.items():
        G.edges[u, v]["weight"] = w
    return arch.parameters_from_networkx(G)


def _rel_err(arch, pts, c):
    q = np.stack([topo.edge_norms(arch, p) for p in pts])
    scale = max(float(np.abs(c).max(initial=0)), float(q.max(initial=0)), 1e-300)
    return float(np.abs(topo.balance(arch, pts) - c).max(initial=0)) / scale


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("density", ["q", "theta"])
def test_polytope_samples_lie_on_the_fiber(seed, density):
    rng = np.random.default_rng(seed)
    G = random_dag(rng, p_group=0.2)
    arch = topo.Architecture.from_networkx(G)
    ref = _reference(G, arch, rng)
    c = rng.standard_normal(arch.n_constrained)
    pts = topo.sample_fiber(arch, c, 150, seed=seed, density=density, reference=ref)
    assert pts.shape == (150, arch.n_params)
    assert _rel_err(arch, pts, c) <= 1e-9
    fixed = ~arch.edge_trainable[arch.param_edge]
    np.testing.assert_array_equal(pts[:, fixed], np.broadcast_to(ref[fixed], (150, int(fixed.sum()))))
    # every sign pattern of the frozen scalar edges shows up in a large enough sample
    rep = topo.connectivity(arch, c)
    if 0 < rep.n_frozen_scalar <= 2:
        labels = {tuple(np.sign(p[arch.edge_offsets[rep.frozen_index[arch.edge_sizes[rep.frozen_index] == 1]]]))
                  for p in topo.sample_fiber(arch, c, 400, seed=seed, reference=ref)}
        assert len(labels) == rep.n_components


@pytest.mark.parametrize("seed", range(8))
def test_walks_stay_on_the_fiber_and_in_their_component(seed):
    rng = np.random.default_rng(seed)
    G = random_dag(rng, p_group=0.0, p_free=0.0)
    arch = topo.Architecture.from_networkx(G)
    ref = _reference(G, arch, rng)
    c = rng.standard_normal(arch.n_constrained)
    pts = topo.sample_fiber(arch, c, 80, method="walk", seed=seed, reference=ref)
    assert _rel_err(arch, pts, c) <= 1e-9
    fixed = ~arch.edge_trainable[arch.param_edge]
    np.testing.assert_array_equal(pts[:, fixed], np.broadcast_to(ref[fixed], (80, int(fixed.sum()))))
    per = int(np.ceil(80 / 8))
    for w in range(0, 80, per):  # one walk: a single component label
        labels = {topo.component_label(arch, p) for p in pts[w:w + per]}
        assert len(labels) == 1


def test_bottleneck_coordinates_and_determinism():
    arch = topo.catalog.get("skip-dag").architecture
    c = np.linspace(-1, 1, arch.n_constrained)
    full = topo.sample_fiber(arch, c, 50, seed=3)
    proj = topo.sample_fiber(arch, c, 50, seed=3, coordinates="bottleneck")
    np.testing.assert_array_equal(proj, full[:, bottleneck_parameters(arch)])
    np.testing.assert_array_equal(full, topo.sample_fiber(arch, c, 50, seed=3))
    assert not np.array_equal(full, topo.sample_fiber(arch, c, 50, seed=4))
    with pytest.raises(ValueError, match="coordinates"):
        topo.sample_fiber(arch, c, 5, coordinates="some")
    with pytest.raises(ValueError, match="method"):
        topo.sample_fiber(arch, c, 5, method="mcmc")
    with pytest.raises(ValueError, match="n must be"):
        topo.sample_fiber(arch, c, 0)


def test_fixed_edges_need_a_reference():
    arch = topo.Architecture.from_edges(
        [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
    with pytest.raises(topo.errors.ParameterError, match=r"fixed .*\('a', 's'\).*reference="):
        topo.sample_fiber(arch, [1.0, -1.0], 5)
    with pytest.raises(topo.errors.ParameterError, match="reference"):
        topo.sample_fiber(arch, None, 5)
    ref = np.array([1.0, 2.0, 3.0, -0.5, 4.0])
    pts = topo.sample_fiber(arch, None, 20, seed=1, reference=ref)
    assert np.all(pts[:, 3] == -0.5)
    np.testing.assert_allclose(topo.balance(arch, pts), np.tile(topo.balance(arch, ref), (20, 1)), atol=1e-9)
