"""Sampling, fiber paths, exact Betti numbers and verify_topology on networks with fixed
edges (rescaling classes, cyclic quotients), against oracles written from THEORY.md alone:
the class balances by hand (tests/oracles.py ``class_balances``), frozen edges by one LP per
edge, and Betti numbers by a brute-force nerve + Hochster computation (dense LPs for every
edge subset, reduced homology by boundary-matrix ranks) that shares no code with topo."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from scipy.optimize import linprog

import topo
from tests.oracles import (
    class_balances,
    class_map,
    constrained_nodes,
    dense_incidence,
    lp_frozen_edges,
    random_balances,
    random_dag,
)
from tests.oracles_classes import random_residual_dag, random_weights

SEEDS = range(90210, 90210 + 120)  # fresh seeds, not used while writing the code


def _case(seed: int) -> nx.DiGraph:
    """A random DAG with at least one fixed edge: a third generic (random_dag with many fixed
    edges), the rest with residual streams."""
    rng = np.random.default_rng(seed)
    while True:
        G = random_dag(rng, p_fixed=0.25) if seed % 3 == 0 else random_residual_dag(rng)
        if any(not d.get("trainable", True) for *_, d in G.edges(data=True)):
            return G


def _with_weights(G: nx.DiGraph, rng) -> tuple[topo.Architecture, dict, np.ndarray]:
    """The architecture, the oracle's weights (fixed edges keep theirs) and the same as a vector."""
    theta = random_weights(rng, G)
    for (u, v), w in theta.items():
        G.edges[u, v]["weight"] = w
    arch = topo.Architecture.from_networkx(G)
    return arch, theta, arch.parameters_from_networkx(G)


def _edge_q(arch, point) -> dict:
    """q_e = ||θ_e||² per edge name, read from a parameter vector."""
    off = arch.edge_offsets
    return {e: float(np.sum(np.square(point[off[i]:off[i + 1]]))) for i, e in enumerate(arch.edges)}


def _balance_error(G, arch, pts, c_of: dict) -> float:
    """Largest deviation of the oracle's class balances from ``c_of`` over the points,
    relative to the largest squared weight."""
    worst = 0.0
    for p in pts:
        q = _edge_q(arch, p)
        got = class_balances(G, q)
        scale = max(1.0, max(q.values(), default=0.0), max(map(abs, c_of.values()), default=0.0))
        worst = max(worst, max((abs(got[k] - c_of[k]) / scale for k in got), default=0.0))
    return worst


def _fixed_kept(G, arch, pts) -> bool:
    """Every fixed edge carries exactly its weight in G at every point."""
    off = arch.edge_offsets
    for i, (u, v) in enumerate(arch.edges):
        d = G.edges[u, v]
        if not d.get("trainable", True):
            if not np.all(pts[:, off[i]:off[i + 1]] == np.asarray(d["weight"], dtype=float)):
                return False
    return True


def _oracle_c(G, arch, c_vec) -> dict:
    """topo's balance vector as {oracle representative: value}."""
    rep = class_map(G)
    return {rep[v]: float(c_vec[arch.constrained_row(v)]) for v in arch.constrained}


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("seed", SEEDS)
def test_sampled_points_keep_every_class_balance_and_the_fixed_weights(seed):
    G = _case(seed)
    rng = np.random.default_rng(seed + 7)
    arch, theta, ref = _with_weights(G, rng)
    assert (~arch.edge_trainable).any()
    if seed % 2:  # the fiber of the reference point itself
        c = None
        want = class_balances(G, {e: float(np.sum(np.square(w))) for e, w in theta.items()})
    else:  # another fiber: random class balances, same fixed weights
        want = random_balances(rng, constrained_nodes(G), kind="normal")
        c = {v: want[v] for v in want}
    pts = topo.sample_fiber(arch, c, 40, seed=seed, reference=ref, density="theta" if seed % 5 == 0 else "q")
    assert pts.shape == (40, arch.n_params)
    assert _balance_error(G, arch, pts, want) <= 1e-9
    assert _fixed_kept(G, arch, pts)
    if seed % 4 == 1:
        walk = topo.sample_fiber(arch, c, 16, method="walk", seed=seed, reference=ref)
        assert _balance_error(G, arch, walk, want) <= 1e-9
        assert _fixed_kept(G, arch, walk)


def test_positive_flow_is_positive_and_balanced_on_cyclic_quotients():
    from topo.sampling.polytope import positive_flow

    n_cyclic = 0
    for seed in SEEDS[:60]:
        G = _case(seed)
        arch = topo.Architecture.from_networkx(G)
        z = positive_flow(arch)
        nodes = constrained_nodes(G)
        B = dense_incidence(G, nodes, list(arch.edges))
        assert z.min() >= 1
        np.testing.assert_allclose(B @ z, 0.0, atol=1e-9)
        n_cyclic += topo.decompose(arch).in_forest.method == "dominators"
    assert n_cyclic >= 10  # the quotient had cycles in many of the cases


# --------------------------------------------------------------------------- fiber paths


def _frozen_labels(G, arch, pts, frozen) -> set:
    off = arch.edge_offsets
    idx = [off[arch.edges.index(e)] for e in sorted(frozen) if G.edges[e].get("size", 1) == 1]
    return {tuple(np.sign(p[idx]).tolist()) for p in pts}


@pytest.mark.parametrize("seed", SEEDS[::2])
def test_fiber_paths_stay_in_the_fiber_and_in_their_component(seed):
    G = _case(seed)
    rng = np.random.default_rng(seed + 11)
    arch, theta, ref = _with_weights(G, rng)
    want = class_balances(G, {e: float(np.sum(np.square(w))) for e, w in theta.items()})
    frozen, _ = lp_frozen_edges(G, want)
    label0 = _frozen_labels(G, arch, ref[None, :], frozen)
    # a far point of the same fiber and component: sampled, then the frozen signs copied
    other = topo.sample_fiber(arch, None, 30, seed=seed, reference=ref)[-1]
    off = arch.edge_offsets
    for e in frozen:
        i = arch.edges.index(e)
        other[off[i]:off[i + 1]] = np.abs(other[off[i]:off[i + 1]]) * np.sign(ref[off[i]:off[i + 1]])
    path = topo.fiber_path(arch, ref, other, n_steps=60)
    assert path.shape == (61, arch.n_params)
    assert _balance_error(G, arch, path, want) <= 1e-9
    assert _fixed_kept(G, arch, path)
    assert _frozen_labels(G, arch, path, frozen) == label0  # one component label all along


def test_fiber_path_refuses_other_fixed_weights_and_other_components():
    arch = topo.Architecture.from_edges(
        [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
    a = np.array([3.0, 1.0, 2.0, 1.0, 2.0])
    moved = a.copy()
    moved[3] = -1.0  # same balances (the fixed edge is inside the class), another fixed weight
    np.testing.assert_allclose(topo.balance(arch, moved), topo.balance(arch, a))
    with pytest.raises(topo.errors.FiberError, match=r"fixed edge \('a', 's'\)"):
        topo.fiber_path(arch, a, moved)
    # c_b = 1 - 4 < 0 and b has one leaving edge: b -> s is frozen, its sign splits the fiber
    flipped = a.copy()
    flipped[2] = -2.0
    with pytest.raises(topo.errors.FiberError, match=r"different components.*\('b', 's'\)"):
        topo.fiber_path(arch, a, flipped)


# --------------------------------------------------------------------------- exact Betti numbers


def _reduced_betti(faces: set, J: frozenset) -> dict:
    """Reduced Betti numbers of the full subcomplex on J (real ranks of the boundary maps);
    {∅} alone gives β̃_{-1} = 1."""
    simplices = sorted((f for f in faces if f and f <= J), key=len)
    if not simplices:
        return {-1: 1}
    by_dim: dict = {}
    for s in simplices:
        by_dim.setdefault(len(s) - 1, []).append(tuple(sorted(s)))
    top = max(by_dim)
    ranks = {}
    for k in range(1, top + 1):
        rows = {s: i for i, s in enumerate(by_dim[k - 1])}
        D = np.zeros((len(by_dim[k - 1]), len(by_dim[k])))
        for j, s in enumerate(by_dim[k]):
            for i in range(len(s)):
                D[rows[s[:i] + s[i + 1:]], j] = (-1) ** i
        ranks[k] = int(np.linalg.matrix_rank(D))
    out = {}
    for k in range(top + 1):
        b = len(by_dim[k]) - ranks.get(k, 0) - ranks.get(k + 1, 0) - (1 if k == 0 else 0)
        if b:
            out[k] = b
    return out


def brute_force_betti(G: nx.DiGraph, c: dict) -> list[int]:
    """β_p of H(c) by the nerve + Hochster formula on the quotient edges (trainable edges with
    a constrained class at one end; every other edge is a cone vertex): one dense LP per edge
    subset for the faces, boundary-matrix ranks for the homology."""
    nodes = constrained_nodes(G)
    rep = class_map(G)
    E = [e for e, d in G.edges.items() if d.get("trainable", True)
         and rep.get(e[0], e[0]) != rep.get(e[1], e[1]) and (e[0] in rep or e[1] in rep)]
    B = dense_incidence(G, nodes, E)
    cv = np.array([c[v] for v in nodes])
    faces = set()
    for r in range(len(E) + 1):
        for sub in itertools.combinations(range(len(E)), r):
            ub = np.full(len(E), np.inf)
            ub[list(sub)] = 0.0
            res = linprog(np.zeros(len(E)), A_eq=B, b_eq=cv, bounds=list(zip(np.zeros(len(E)), ub)), method="highs")
            if res.status == 0:
                faces.add(frozenset(sub))
    size = [int(G.edges[e].get("size", 1)) for e in E]
    poly: dict = {}
    for r in range(len(E) + 1):
        for J in itertools.combinations(range(len(E)), r):
            shift = sum(size[j] - 1 for j in J)
            for q, b in _reduced_betti(faces, frozenset(J)).items():
                poly[q + 1 + shift] = poly.get(q + 1 + shift, 0) + b
    out = [poly.get(p, 0) for p in range(max(poly) + 1)]
    while len(out) > 1 and out[-1] == 0:
        out.pop()
    return out


def _one_class(a: int, b: int, w: float) -> nx.DiGraph:
    """One constrained class {h, s} (h -> s fixed, weight w) with a trainable scalar edges
    entering it (split between h and s) and b leaving it."""
    G = nx.DiGraph()
    for i in range(a):
        G.add_node(f"x{i}", role="input")
        G.add_edge(f"x{i}", "h" if i % 2 == 0 else "s", size=1, trainable=True)
    G.add_edge("h", "s", size=1, trainable=False, weight=w)
    for j in range(b):
        G.add_node(f"y{j}", role="output")
        G.add_edge("s" if j % 2 == 0 else "h", f"y{j}", size=1, trainable=True)
    return G


def _sphere_times_line(k: int) -> list[int]:
    return [2] if k == 0 else [1] + [0] * (k - 1) + [1]


@pytest.mark.parametrize("a,b", [(1, 1), (1, 3), (2, 1), (2, 2), (3, 1), (3, 2), (4, 2)])
def test_one_class_is_a_sphere_times_a_euclidean_space(a, b):
    G = _one_class(a, b, -0.5)
    arch = topo.Architecture.from_networkx(G)
    assert [set(k) for k in arch.rescaling_classes] == [{"h", "s"}]
    for cval, k in ((1.5, a - 1), (-2.0, b - 1)):  # c > 0: S^{a-1} x R^b; c < 0: R^a x S^{b-1}
        want = _sphere_times_line(k)
        assert brute_force_betti(G, {"h": cval}) == want
        for method in ("auto", "hochster"):
            assert topo.betti_numbers(arch, [cval], method=method).betti == want, (cval, method)


@pytest.mark.parametrize("seed", SEEDS[:40])
def test_exact_betti_numbers_match_the_brute_force_nerve(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):  # a small case: at most 8 quotient edges with a constrained end
        G = (random_dag(rng, n_hidden=int(rng.integers(2, 5)), p_fixed=0.3, p_group=0.2)
             if seed % 2 else random_residual_dag(rng))
        arch = topo.Architecture.from_networkx(G)
        row = arch.node_row
        q = arch.quotient_edges
        if (~arch.edge_trainable).any() and arch.n_constrained and \
                np.count_nonzero((row[arch.src[q]] >= 0) | (row[arch.dst[q]] >= 0)) <= 8:
            break
    else:
        pytest.skip("no small case for this seed")
    c = random_balances(rng, constrained_nodes(G))
    cvec = [c[v] for v in constrained_nodes(G)]  # the oracle's representatives are topo's first members
    assert constrained_nodes(G) == arch.constrained
    want = brute_force_betti(G, c)
    for method in ("auto", "hochster"):
        assert topo.betti_numbers(arch, cvec, method=method).betti == want, method


# --------------------------------------------------------------------------- verify_topology


@pytest.mark.parametrize("seed", SEEDS[1::6])
def test_verify_topology_agrees_with_the_exact_component_count(seed):
    G = _case(seed)
    rng = np.random.default_rng(seed + 13)
    arch, theta, ref = _with_weights(G, rng)
    c = random_balances(rng, constrained_nodes(G), kind="normal")
    frozen, _ = lp_frozen_edges(G, c)
    n_scalar = sum(1 for e in frozen if G.edges[e].get("size", 1) == 1)
    res = topo.verify_topology(arch, c, n_samples=800, seed=seed)
    assert res.theory_b0 == 2 ** n_scalar
    if res.status != "not checkable":
        assert res.status == "agree", [(f.nodes, f.exact_betti, f.ph_betti, f.reason) for f in res.factors]
        assert res.ph_b0 == 2 ** n_scalar
