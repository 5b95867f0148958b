"""Jacobian rank, floating clusters, singular strata, prunability and pruning on networks
with fixed edges (rescaling classes), against independent oracles (THEORY.md §5 on the
quotient): the Jacobian of F(θ) = B̃ q(θ) by central finite differences with the oracle's
own incidence, floating clusters by networkx connected components, stratum existence by
two linear programs (inner and outer problems), boundary norms by hand, and the forward
pass for pruning (the pruned network against the whole one).
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from scipy.optimize import linprog

import topo
from tests.oracles import class_map, constrained_classes, dense_incidence, random_dag
from tests.oracles_classes import random_residual_dag, random_weights

SEEDS = range(91_357, 91_357 + 300)  # fresh seeds, not used while writing the code


def _case(seed: int) -> nx.DiGraph:
    rng = np.random.default_rng(seed)
    if seed % 3 == 0:
        return random_dag(rng, n_hidden=int(rng.integers(3, 9)), p_fixed=0.25, p_free=0.05)
    return random_residual_dag(rng)


def _sparse_point(G: nx.DiGraph, rng: np.random.Generator) -> tuple[topo.Architecture, dict, np.ndarray]:
    """Random weights with about half of the trainable edges set to zero (fixed edges keep theirs)."""
    theta = random_weights(rng, G)
    p_zero = rng.uniform(0.3, 0.85)
    for (u, v), w in theta.items():
        if G.edges[u, v].get("trainable", True) and rng.random() < p_zero:
            theta[(u, v)] = 0.0 * w
    nx.set_edge_attributes(G, theta, "weight")
    arch = topo.Architecture.from_networkx(G)
    return arch, theta, arch.parameters_from_networkx(G)


def _F(G, B, edges, theta_of) -> np.ndarray:
    q = np.array([float(np.sum(np.square(theta_of[e]))) for e in edges])
    return B @ q


def _fd_jacobian(G: nx.DiGraph, theta: dict, h: float = 1e-3) -> np.ndarray:
    """Central differences of F(θ) = B̃ q(θ) in every trainable scalar weight (exact up to
    rounding: F is quadratic)."""
    reps = [k[0] for k in constrained_classes(G)]
    edges = list(G.edges)
    B = dense_incidence(G, reps, edges)
    cols = []
    for e in edges:
        if not G.edges[e].get("trainable", True):
            continue
        w = np.atleast_1d(np.asarray(theta[e], dtype=float))
        for i in range(w.size):
            plus, minus = dict(theta), dict(theta)
            wp, wm = w.copy(), w.copy()
            wp[i] += h
            wm[i] -= h
            plus[e], minus[e] = wp, wm
            cols.append((_F(G, B, edges, plus) - _F(G, B, edges, minus)) / (2 * h))
    return np.stack(cols, axis=1) if cols else np.zeros((len(reps), 0))


def _oracle_floating(G: nx.DiGraph, theta: dict) -> set:
    """Components of (fixed edges + trainable edges with a nonzero weight) made only of
    members of constrained classes."""
    members = set(class_map(G))
    H = nx.Graph()
    H.add_nodes_from(G)
    H.add_edges_from(e for e in G.edges if not G.edges[e].get("trainable", True) or np.any(theta[e] != 0))
    return {frozenset(C) for C in nx.connected_components(H) if C <= members}


@pytest.mark.parametrize("seed", SEEDS)
def test_jacobian_rank_and_floating_clusters_match_finite_differences(seed, tally):
    G = _case(seed)
    arch, theta, vec = _sparse_point(G, np.random.default_rng(seed + 1))
    J = _fd_jacobian(G, theta)
    expected = int(np.linalg.matrix_rank(J, tol=1e-7)) if J.size else 0
    assert topo.jacobian_rank(arch, vec) == expected
    floating = topo.floating_clusters(arch, vec)
    assert {frozenset(C) for C in floating} == _oracle_floating(G, theta)
    for C in floating:  # each cluster is listed with all its members, in topological order
        assert list(C) == sorted(C, key=arch.nodes.index)
    tally["deficient"] += expected < arch.n_constrained
    tally["multi"] += any(len({arch.node_row[arch.node_index(v)] for v in C}) < len(C) for C in floating)


@pytest.fixture(scope="module")
def tally():
    return {"deficient": 0, "multi": 0, "strata": 0, "shared_strata": 0, "none": 0, "pruned": 0}


def _classes_graph(G: nx.DiGraph) -> tuple[list, nx.Graph]:
    """Constrained classes and their adjacency (an edge between members of two classes)."""
    classes = constrained_classes(G)
    of = {w: i for i, k in enumerate(classes) for w in k}
    A = nx.Graph()
    A.add_nodes_from(range(len(classes)))
    A.add_edges_from((of[u], of[v]) for u, v in G.edges if u in of and v in of and of[u] != of[v])
    return classes, A


def _feasible(B: np.ndarray, c: np.ndarray) -> bool:
    if B.shape[0] == 0:
        return True
    if B.shape[1] == 0:
        return not np.any(np.abs(c) > 1e-12)
    res = linprog(np.zeros(B.shape[1]), A_eq=B, b_eq=c, bounds=(0, None), method="highs")
    return res.status == 0


def _oracle_strata(G: nx.DiGraph, c: dict, max_size: int) -> set:
    """Connected sets C of constrained classes (up to ``max_size``) whose inner problem (edges
    inside C, rows of C) and outer problem (edges outside C, the other rows) are both feasible."""
    classes, A = _classes_graph(G)
    reps = [k[0] for k in classes]
    cv = np.array([c[r] for r in reps])
    edges = [e for e in G.edges if G.edges[e].get("trainable", True)]
    B = dense_incidence(G, reps, edges)
    found = set()
    for r in range(1, max_size + 1):
        for S in itertools.combinations(range(len(classes)), r):
            if not nx.is_connected(A.subgraph(S)):
                continue
            inside = {w for i in S for w in classes[i]}
            rows_in = np.array(S)
            rows_out = np.array([i for i in range(len(classes)) if i not in S], dtype=int)
            e_in = [j for j, (u, v) in enumerate(edges) if u in inside and v in inside]
            e_out = [j for j, (u, v) in enumerate(edges) if u not in inside and v not in inside]
            if _feasible(B[np.ix_(rows_in, e_in)], cv[rows_in]) and _feasible(B[np.ix_(rows_out, e_out)], cv[rows_out]):
                found.add(frozenset(frozenset(classes[i]) for i in S))
    return found


@pytest.mark.parametrize("seed", SEEDS[::2])
def test_singular_strata_match_the_inner_and_outer_linear_programs(seed, tally):
    G = _case(seed)
    rng = np.random.default_rng(seed + 2)
    arch = topo.Architecture.from_networkx(G)
    classes, A = _classes_graph(G)
    c = {k[0]: float(rng.standard_normal()) for k in classes}  # generic values
    engineered = seed % 5 != 0
    if engineered and classes:
        start = int(rng.integers(len(classes)))
        S = [start] + [i for i in nx.bfs_tree(A, start) if i != start][: int(rng.integers(0, 3))]
        vals = rng.integers(-3, 4, size=len(S)).astype(float)
        vals[-1] -= vals.sum()
        c.update({classes[i][0]: float(x) for i, x in zip(S, vals)})
    got = topo.singular_strata(arch, c, max_size=3)
    assert got.complete
    assert {frozenset(frozenset(k) for k in s.classes) for s in got} == _oracle_strata(G, c, 3)
    if not engineered:
        assert len(got) == 0  # generic c: no singular point
    tally["none"] += len(got) == 0
    rep = class_map(G)
    reps = [k[0] for k in classes]
    trainable = [e for e in G.edges if G.edges[e].get("trainable", True)]
    for s in got:
        tally["strata"] += 1
        tally["shared_strata"] += any(len(k) > 1 for k in s.classes)
        # a stratum names whole classes, and all their members
        assert set(s.nodes) == {w for k in s.classes for w in k}
        assert all(set(k) == {w for w in rep if rep[w] == rep[k[0]]} for k in s.classes)
        assert s.to_dict()["classes"] == [[str(v) for v in k] for k in s.classes]
        inside = set(s.nodes)
        assert set(s.boundary_edges) == {(u, v) for u, v in trainable if (u in inside) != (v in inside)}
        # certificate: on the fiber, singular (rank by finite differences), boundary zero
        theta = s.point(seed=seed)
        c_got = topo.balance(arch, theta)
        np.testing.assert_allclose([c_got[arch.constrained_row(r)] for r in reps], [c[r] for r in reps], atol=1e-8)
        theta_of = {e: theta[arch.edge_slice(e)] for e in G.edges}
        assert np.linalg.matrix_rank(_fd_jacobian(G, theta_of), tol=1e-7) < len(reps)
        for e in s.boundary_edges:
            assert np.all(theta[arch.edge_slice(e)] == 0)


@pytest.mark.parametrize("seed", SEEDS[::3])
def test_prunability_is_the_norm_of_the_trainable_boundary(seed):
    G = _case(seed)
    arch, theta, vec = _sparse_point(G, np.random.default_rng(seed + 3))
    classes, A = _classes_graph(G)
    trainable = [e for e in G.edges if G.edges[e].get("trainable", True)]

    def by_hand(S):
        inside = {w for i in S for w in classes[i]}
        return float(np.sqrt(sum(np.sum(np.square(theta[(u, v)])) for u, v in trainable
                                 if (u in inside) != (v in inside))))

    for max_size in (1, 2):
        got = {frozenset(p.nodes): p.distance for p in topo.prunability(arch, vec, max_size=max_size)}
        want = {frozenset(w for i in S for w in classes[i]): by_hand(S)
                for r in range(1, max_size + 1) for S in itertools.combinations(range(len(classes)), r)
                if nx.is_connected(A.subgraph(S))}
        assert got.keys() == want.keys()
        for k, d in want.items():
            assert got[k] == pytest.approx(d, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS[::2])
def test_pruning_one_member_removes_its_class_and_keeps_the_outputs(seed, tally):
    draw = seed
    while True:  # redraw (a derived seed) until the network has a constrained class: most draws do
        G = _case(draw)
        for e in G.edges:  # scalar edges for the numpy forward pass
            G.edges[e]["size"] = 1
        classes, A = _classes_graph(G)
        if classes:
            break
        draw += 1_000_003
    rng = np.random.default_rng(seed + 4)
    theta = random_weights(rng, G)
    start = int(rng.integers(len(classes)))
    S = [start] + [i for i in nx.bfs_tree(A, start) if i != start][: int(rng.integers(0, 2))]
    inside = {w for i in S for w in classes[i]}
    for u, v in G.edges:
        if (u in inside) != (v in inside):
            assert G.edges[u, v].get("trainable", True)  # no fixed edge leaves a class
            theta[(u, v)] = 0.0
    nx.set_edge_attributes(G, theta, "weight")
    arch = topo.Architecture.from_networkx(G)
    vec = arch.parameters_from_networkx(G)
    names = [classes[i][-1] for i in S]  # one member per class (the last one) is enough
    inputs = [v for v in arch.nodes if arch.role(v) == "input"]
    X = rng.standard_normal((20, len(inputs)))
    base = topo.forward(arch, vec, X)
    try:
        small, t = topo.prune(arch, vec, names)
    except topo.GraphError as exc:
        assert "cuts output" in str(exc) or "does not map 0 to 0" in str(exc)
        return
    assert not inside & set(small.nodes)
    assert small.inputs == inputs and small.outputs == arch.outputs
    np.testing.assert_allclose(topo.forward(small, t, X), base, rtol=1e-10, atol=1e-10)
    assert topo.prunability(arch, vec, max_size=2)[0].distance == 0.0
    tally["pruned"] += 1


def test_a_class_joined_to_an_input_cannot_be_pruned():
    arch = topo.Architecture.from_edges([("x", "h"), ("x", "s", {"trainable": False}), ("h", "s"), ("s", "y")])
    with pytest.raises(topo.GraphError, match="fixed edges join it to input 'x'"):
        topo.prune(arch, arch.init(seed=0), ["s"])
    assert [p.nodes for p in topo.prunability(arch, arch.init(seed=0), hidden="all")] == [("h",)]


def test_the_oracles_were_exercised(tally):
    if not tally["strata"]:
        pytest.skip("run together with the oracle tests above")
    assert tally["deficient"] >= 50 and tally["multi"] >= 10, tally
    assert tally["strata"] >= 60 and tally["shared_strata"] >= 15 and tally["none"] >= 10, tally
    assert tally["pruned"] >= 60, tally
