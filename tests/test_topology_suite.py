"""Persistent homology of sampled fibers against the exact topology."""

import numpy as np
import pytest

import topo
from tests.oracles import random_dag


def _suite(n_cases=32, n_connected=8, start=1000):
    """A fixed, seeded list of small DAGs (<= 14 scalar edges) with random balances:
    the first ``n_cases`` drawn, plus the first ``n_connected`` drawn whose fiber is
    connected although they have bottleneck edges (where a false gap would show)."""
    cases, connected = [], []
    seed = start
    while len(cases) < n_cases or len(connected) < n_connected:
        rng = np.random.default_rng(seed)
        seed += 1
        G = random_dag(rng, p_group=0.0, p_free=0.0, p_fixed=0.0, n_hidden=int(rng.integers(2, 6)))
        if G.number_of_edges() > 14:
            continue
        arch = topo.Architecture.from_networkx(G)
        c = rng.choice([-1.0, 1.0], size=arch.n_constrained) * rng.uniform(0.5, 2.0, size=arch.n_constrained)
        if len(cases) < n_cases:
            cases.append((seed, arch, c))
        elif (len(connected) < n_connected and topo.connectivity(arch, c).n_components == 1
              and len(topo.decompose(arch).bottleneck_edges) > 0):
            connected.append((seed, arch, c))
    return cases + connected


SUITE = _suite()


@pytest.mark.parametrize("case", range(len(SUITE)))
def test_ph_b0_equals_theory_on_small_dags(case):
    seed, arch, c = SUITE[case]
    res = topo.verify_topology(arch, c, seed=seed)
    assert res.estimate.betti[0] == res.theory_b0, (res.theory_b0, res.estimate.betti, res.estimate.gap)
    assert res.agree


def test_suite_covers_disconnected_and_connected_fibers():
    b0 = [topo.connectivity(a, c).n_components for _, a, c in SUITE]
    assert len(SUITE) >= 30
    assert sum(b == 1 for b in b0) >= 8 and sum(b > 1 for b in b0) >= 25 and max(b0) >= 16


@pytest.mark.parametrize("c, expected", [([1.0], [1, 1]), ([2.0, -1.0], [2, 2])])
def test_ph_b1_on_shallow_circle_factors(c, expected):
    # two inputs, c > 0: each such neuron is a circle (times the line of its output weight)
    arch = topo.Architecture.mlp([2, len(c), 1], bias=False)
    res = topo.verify_topology(arch, c, n_samples=1500, seed=0, coordinates="all", max_dimension=1)
    assert res.exact_betti == expected
    assert res.estimate.betti[:2] == expected
    assert res.agree and res.compared == [0, 1]


@pytest.mark.parametrize("k", [2, 5])
def test_bottleneck_projection_on_a_large_mlp(k):
    arch = topo.Architecture.mlp([10, 12, 8, 1])
    assert arch.n_params >= 200
    rng = np.random.default_rng(k)
    c = rng.uniform(0.5, 2, size=arch.n_constrained)
    for i in range(k):
        c[arch.constrained_row(f"h2_{i}")] *= -1
    res = topo.verify_topology(arch, c, seed=k)
    assert res.theory_b0 == 2**k == res.estimate.betti[0]
