"""connectivity() against one linear program per edge on random DAGs.

The DAGs mix skip connections, group edges, free nodes, non-trainable edges and
many bottlenecks; balances are small integers (zeros and ties everywhere) or
Gaussian.  Every witness and every zero flow is re-checked from the graph.
"""

import numpy as np
import pytest

import topo
from tests.oracles import (
    check_witness,
    check_zero_flow,
    constrained_nodes,
    lp_frozen_edges,
    random_balances,
    random_dag,
)

N_CHUNKS = 12
PER_CHUNK = 50  # 600 random DAGs in all


def _check_one(seed: int) -> int:
    rng = np.random.default_rng(seed)
    big = seed % 3 == 0
    G = random_dag(rng, n_hidden=int(rng.integers(8, 18)) if big else None, p_skip=0.1 if big else 0.3)
    arch = topo.Architecture.from_networkx(G)
    cons = constrained_nodes(G)
    assert set(cons) == set(arch.constrained)
    c = random_balances(rng, cons, kind="int" if seed % 2 == 0 else "float")
    rep = topo.connectivity(arch, c)
    frozen, mins = lp_frozen_edges(G, c)
    assert set(rep.frozen_edges) == frozen, (seed, set(rep.frozen_edges) ^ frozen)
    n_scalar = sum(1 for u, v in frozen if G.edges[u, v].get("size", 1) == 1)
    assert rep.n_components == 2**n_scalar
    for e in rep.frozen_edges:
        w = rep.witness(e)
        check_witness(G, c, e, w.kind, w.nodes, w.total)
        # the strongest witness is tight: it equals the LP minimum of q_e
        assert abs(mins[e] - abs(w.total)) <= 1e-7 * max(1.0, mins[e])
    for e in G.edges:
        if e not in frozen:
            check_zero_flow(G, c, e, rep.zero_flow(e))
    return len(frozen)


@pytest.mark.parametrize("chunk", range(N_CHUNKS))
def test_frozen_edges_match_lp_oracle(chunk):
    n_frozen = sum(_check_one(chunk * PER_CHUNK + i) for i in range(PER_CHUNK))
    assert n_frozen > 0  # the family does produce frozen edges


def test_integer_balances_give_integer_lp_minima():
    # total unimodularity: with integer c the minimum of q_e is an integer, and
    # for a frozen edge it equals the best witness sum (max-flow/min-cut duality)
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(40):
        G = random_dag(rng, p_group=0.0, p_free=0.0, p_fixed=0.0)
        arch = topo.Architecture.from_networkx(G)
        c = random_balances(rng, constrained_nodes(G), kind="int")
        rep = topo.connectivity(arch, c)
        _, mins = lp_frozen_edges(G, c)
        for e in rep.frozen_edges:
            assert abs(mins[e] - round(mins[e])) < 1e-7
            assert abs(mins[e] - abs(rep.witness(e).total)) < 1e-7
            checked += 1
    assert checked > 10


def test_witness_and_zero_flow_refuse_the_wrong_kind_of_edge():
    arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    rep = topo.connectivity(arch, [-1.0])
    with pytest.raises(ValueError, match="is frozen"):
        rep.zero_flow(("h1_0", "y0"))
    with pytest.raises(ValueError, match="not frozen"):
        rep.witness(("x0", "h1_0"))
    with pytest.raises(ValueError, match="not an edge"):
        rep.witness(("x0", "y0"))
