"""Jacobian rank, floating clusters, singular strata and pruning against
independent computations (numpy matrix rank, LPs, a hand-written forward pass)."""

import itertools

import networkx as nx
import numpy as np
import pytest
from scipy.optimize import linprog

import topo
from tests.oracles import class_map, constrained_nodes, dense_incidence, forward_by_hand, random_dag


def _param_jacobian(arch, G, theta):
    """J = d(B q(θ))/dθ = 2 B diag-by-group(θ), built from the graph (dense): one row per
    constrained class, fixed edges are constants (zero columns), an edge inside a class cancels."""
    nodes = constrained_nodes(G)
    rep = class_map(G)
    pos = {v: i for i, v in enumerate(nodes)}
    J = np.zeros((len(nodes), arch.n_params))
    for (u, v, d) in G.edges(data=True):
        if not d.get("trainable", True):
            continue
        sl = arch.edge_slice((u, v))
        hv, hu = rep.get(v), rep.get(u)
        if hv is not None:
            J[pos[hv], sl] += 2 * theta[sl]
        if hu is not None:
            J[pos[hu], sl] -= 2 * theta[sl]
    return J


def test_rank_formula_against_matrix_rank():
    rng = np.random.default_rng(0)
    n_checked = n_deficient = 0
    while n_checked < 520:
        G = random_dag(rng, p_group=0.25)
        arch = topo.Architecture.from_networkx(G)
        theta = arch.init("normal", seed=int(rng.integers(1 << 30)))
        # sparsify: zero whole edges (and sometimes part of a group, which must not count)
        p_zero = rng.uniform(0.2, 0.7)
        for e in range(arch.n_edges):
            a, b = arch.edge_offsets[e], arch.edge_offsets[e + 1]
            if rng.random() < p_zero:
                theta[a:b] = 0.0
            elif b - a > 1 and rng.random() < 0.5:
                theta[a] = 0.0
        J = _param_jacobian(arch, G, theta)
        expected = np.linalg.matrix_rank(J) if J.size else 0
        assert topo.jacobian_rank(arch, theta) == expected
        n_checked += 1
        n_deficient += expected < arch.n_constrained
    assert n_deficient > 100  # the sample does exercise singular points


def test_floating_clusters_are_cut_off_components():
    arch = topo.Architecture.from_edges(
        [("x", "a"), ("a", "b"), ("b", "y"), ("x", "c"), ("c", "y"), ("a", "c")]
    )
    theta = {("x", "a"): 0.0, ("a", "b"): 1.0, ("b", "y"): 0.0, ("x", "c"): 1.0, ("c", "y"): 1.0, ("a", "c"): 0.0}
    assert topo.floating_clusters(arch, theta) == [["a", "b"]]
    assert topo.jacobian_rank(arch, theta) == 2
    theta[("a", "c")] = 1e-12
    assert topo.floating_clusters(arch, theta) == []
    assert topo.floating_clusters(arch, theta, tol=1e-9) == [["a", "b"]]


def _oracle_strata(G, c, max_size):
    """Every connected cluster C of constrained nodes such that some q in P(c) vanishes
    on the boundary of C, checked by an LP and by the rank of the Jacobian at the point."""
    nodes = constrained_nodes(G)
    edges = list(G.edges)
    B = dense_incidence(G, nodes, edges)
    cv = np.array([c[v] for v in nodes])
    H = G.subgraph(nodes).to_undirected()
    found = set()
    for r in range(1, max_size + 1):
        for C in itertools.combinations(nodes, r):
            if not nx.is_connected(H.subgraph(C)):
                continue
            bnd = [j for j, (u, v) in enumerate(edges) if (u in C) != (v in C)]
            bounds = [(0, 0) if j in bnd else (0, None) for j in range(len(edges))]
            res = linprog(np.ones(len(edges)), A_eq=B, b_eq=cv, bounds=bounds, method="highs")
            if res.status == 0:
                found.add(frozenset(C))
    return found


@pytest.mark.parametrize("seed", range(60))
def test_singular_strata_match_lp_oracle(seed):
    rng = np.random.default_rng(1000 + seed)
    G = random_dag(rng, n_hidden=int(rng.integers(3, 8)), p_free=0.0, p_fixed=0.0)
    arch = topo.Architecture.from_networkx(G)
    nodes = constrained_nodes(G)
    c = {v: float(rng.standard_normal()) for v in nodes}  # generic values
    engineered = seed % 4 != 3
    if engineered and nodes:
        # a random connected cluster with integer balances summing to zero
        H = G.subgraph(nodes).to_undirected()
        start = nodes[int(rng.integers(len(nodes)))]
        cluster = [start] + [w for w in nx.bfs_tree(H, start) if w != start][: int(rng.integers(0, 3))]
        vals = rng.integers(-3, 4, size=len(cluster)).astype(float)
        vals[-1] -= vals.sum()
        c.update(dict(zip(cluster, vals)))
    max_size = 4
    got = topo.singular_strata(arch, c, max_size=max_size)
    assert got.complete
    assert {frozenset(s.nodes) for s in got} == _oracle_strata(G, c, max_size)
    if not engineered:
        assert len(got) == 0  # generic c: no singular point
    for s in got:
        # certificate: the point lies on the fiber, is singular, and C is cut off
        theta = s.point(seed=seed)
        np.testing.assert_allclose([topo.balance(arch, theta)[arch.constrained_row(v)] for v in nodes],
                                   [c[v] for v in nodes], atol=1e-8)
        assert np.linalg.matrix_rank(_param_jacobian(arch, G, theta), tol=1e-9) < len(nodes)
        for e in s.boundary_edges:
            assert np.all(theta[arch.edge_slice(e)] == 0)


def test_zero_balance_has_every_stratum_lazily():
    arch = topo.Architecture.mlp([2, 3, 3, 1])
    c = np.zeros(arch.n_constrained)
    res = topo.singular_strata(arch, c, limit=4)
    assert len(res) == 4 and not res.complete and res.largest_size == 0
    full = topo.singular_strata(arch, c, max_size=2)
    assert full.complete and full.largest_size == 2
    # every single node and every adjacent pair is a stratum at c = 0
    assert len(full) == 6 + 9
    assert topo.has_singularities(arch, c, max_size=1)


def _hand_outputs(arch, theta, X):
    G = arch.to_networkx()
    return forward_by_hand(G, arch.nodes, dict(zip(arch.edges, theta)), X, arch.inputs, arch.outputs)


@pytest.mark.parametrize("seed", range(30))
def test_forward_matches_hand_written_network(seed):
    rng = np.random.default_rng(seed)
    G = random_dag(rng, p_group=0.0, p_fixed=0.0, p_free=0.2)
    for v in G.nodes:
        a = G.nodes[v].get("activation")
        if a == "relu" and rng.random() < 0.3:
            G.nodes[v]["activation"] = rng.choice(["leaky_relu", "linear", "tanh"])
    arch = topo.Architecture.from_networkx(G)
    theta = arch.init("normal", seed=seed)
    X = rng.standard_normal((20, len(arch.inputs)))
    np.testing.assert_allclose(topo.forward(arch, theta, X), _hand_outputs(arch, theta, X), rtol=1e-12, atol=1e-12)


def test_forward_errors():
    arch = topo.Architecture.mlp([2, 2, 1])
    with pytest.raises(ValueError, match=r"X has shape \(4, 3\) but the network has 2 inputs"):
        topo.forward(arch, arch.init(seed=0), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="non-finite value at row 1, column 0"):
        topo.forward(arch, arch.init(seed=0), [[0.0, 0.0], [np.nan, 0.0]])
    grouped = topo.Architecture.from_edges([("x", "h", {"size": 9}), ("h", "y")])
    with pytest.raises(ValueError, match="group of 9 weights"):
        topo.forward(grouped, grouped.init(seed=0), np.zeros((1, 1)))


@pytest.mark.parametrize("seed", range(40))
def test_pruning_a_cut_off_cluster_keeps_the_outputs(seed):
    rng = np.random.default_rng(seed)
    G = random_dag(rng, p_group=0.0, p_fixed=0.0, p_free=0.0, n_hidden=int(rng.integers(4, 10)))
    arch = topo.Architecture.from_networkx(G)
    theta = arch.init("normal", seed=seed)
    H = G.subgraph(arch.constrained).to_undirected()
    start = arch.constrained[int(rng.integers(arch.n_constrained))]
    cluster = [start] + [w for w in nx.bfs_tree(H, start) if w != start][: int(rng.integers(0, 3))]
    for u, v in G.edges:
        if (u in cluster) != (v in cluster):
            theta[arch.edge_slice((u, v))] = 0.0
    X = rng.standard_normal((25, len(arch.inputs)))
    try:
        small, t = topo.prune(arch, theta, cluster)
    except topo.GraphError as exc:
        assert "cuts output" in str(exc)  # an output fed only through the cluster
        return
    assert not set(cluster) & set(small.nodes)
    np.testing.assert_allclose(topo.forward(small, t, X), topo.forward(arch, theta, X), atol=1e-12)
    # and the pruned network is what the stratum reports
    # (distance to the stratum was zero)
    d = {p.nodes: p.distance for p in topo.prunability(arch, theta, max_size=3)}
    assert d[tuple(sorted(cluster, key=arch.nodes.index))] == 0.0


def test_prunability_scores_are_boundary_norms():
    arch = topo.Architecture.mlp([3, 4, 2])
    theta = arch.init(seed=0)
    for p in topo.prunability(arch, theta):
        (v,) = p.nodes
        e = [i for i, (a, b) in enumerate(arch.edges) if v in (a, b)]
        assert abs(p.distance - np.sqrt(np.sum(theta[e] ** 2))) < 1e-12
    scores = [p.distance for p in topo.prunability(arch, theta, max_size=2)]
    assert scores == sorted(scores)
    with pytest.raises(ValueError, match="hidden must be"):
        topo.prunability(arch, theta, hidden="some")
    with pytest.raises(topo.GraphError, match="only hidden nodes"):
        topo.prune(arch, theta, ["x0"])
