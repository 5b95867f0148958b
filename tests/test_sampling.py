"""Fiber samplers: every row on the fiber, projections, determinism."""

import numpy as np
import pytest

import topo
from tests.oracles import random_dag
from topo.sampling.points import bottleneck_parameters


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
    c = rng.standard_normal(arch.n_constrained)
    pts = topo.sample_fiber(arch, c, 150, seed=seed, density=density)
    assert pts.shape == (150, arch.n_params)
    assert _rel_err(arch, pts, c) <= 1e-9
    # every sign pattern of the frozen scalar edges shows up in a large enough sample
    rep = topo.connectivity(arch, c)
    if 0 < rep.n_frozen_scalar <= 2:
        labels = {tuple(np.sign(p[arch.edge_offsets[rep.frozen_index[arch.edge_sizes[rep.frozen_index] == 1]]]))
                  for p in topo.sample_fiber(arch, c, 400, seed=seed)}
        assert len(labels) == rep.n_components


@pytest.mark.parametrize("seed", range(8))
def test_walks_stay_on_the_fiber_and_in_their_component(seed):
    rng = np.random.default_rng(seed)
    G = random_dag(rng, p_group=0.0, p_free=0.0)
    arch = topo.Architecture.from_networkx(G)
    c = rng.standard_normal(arch.n_constrained)
    pts = topo.sample_fiber(arch, c, 80, method="walk", seed=seed)
    assert _rel_err(arch, pts, c) <= 1e-9
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
