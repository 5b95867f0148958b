"""Independent brute-force oracles for the tests (never imported by topo itself).

They work from a networkx graph and recompute everything from scratch: which
nodes are constrained, the incidence matrix, and one linear program per edge.
"""

from __future__ import annotations

import math

import numpy as np
import networkx as nx
from scipy.optimize import linprog

HOMOGENEOUS = {"relu", "leaky_relu", "linear", "identity", "maxpool", "avgpool"}


def constrained_nodes(G: nx.DiGraph) -> list:
    """Hidden nodes with a homogeneous activation and only trainable edges, in topological order."""
    out = []
    for v in nx.topological_sort(G):
        d = G.nodes[v]
        if G.in_degree(v) == 0 or G.out_degree(v) == 0 or d.get("role") in ("input", "bias", "output"):
            continue
        if d.get("activation", "relu") not in HOMOGENEOUS:
            continue
        touching = list(G.in_edges(v, data=True)) + list(G.out_edges(v, data=True))
        if all(e[2].get("trainable", True) for e in touching):
            out.append(v)
    return out


def dense_incidence(G: nx.DiGraph, nodes: list, edges: list) -> np.ndarray:
    pos = {v: i for i, v in enumerate(nodes)}
    B = np.zeros((len(nodes), len(edges)))
    for j, (u, v) in enumerate(edges):
        if v in pos:
            B[pos[v], j] += 1.0
        if u in pos:
            B[pos[u], j] -= 1.0
    return B


def lp_min_edge(B: np.ndarray, c: np.ndarray, j: int) -> float:
    """min q_j over {q >= 0 : B q = c}."""
    cost = np.zeros(B.shape[1])
    cost[j] = 1.0
    res = linprog(cost, A_eq=B, b_eq=c, bounds=(0, None), method="highs")
    assert res.status == 0, res.message  # P(c) is never empty
    return float(res.fun)


def lp_frozen_edges(G: nx.DiGraph, c: dict, *, threshold: float = 1e-7) -> tuple[set, dict]:
    """Frozen edges by one LP per edge, and each edge's minimum of q_e."""
    nodes = constrained_nodes(G)
    edges = list(G.edges)
    B = dense_incidence(G, nodes, edges)
    cv = np.array([c[v] for v in nodes], dtype=float)
    mins = {}
    for j, e in enumerate(edges):
        if not B[:, j].any():
            mins[e] = 0.0
            continue
        mins[e] = lp_min_edge(B, cv, j)
    return {e for e, m in mins.items() if m > threshold}, mins


def check_witness(G: nx.DiGraph, c: dict, edge, kind: str, S, total: float) -> None:
    """Re-check a frozen-edge certificate from the graph alone."""
    cons = set(constrained_nodes(G))
    S = set(S)
    assert S and S <= cons, "witness set must be non-empty and made of constrained nodes"
    u, v = edge
    assert abs(sum(c[w] for w in S) - total) <= 1e-9 * max(1.0, abs(total))
    if kind == "in":
        entering = [(a, b) for a, b in G.edges if b in S and a not in S]
        assert entering == [edge], (entering, edge)
        assert total > 0
    else:
        leaving = [(a, b) for a, b in G.edges if a in S and b not in S]
        assert leaving == [edge], (leaving, edge)
        assert total < 0


def check_zero_flow(G: nx.DiGraph, c: dict, edge, q: np.ndarray, *, rtol: float = 1e-9) -> None:
    nodes = constrained_nodes(G)
    edges = list(G.edges)
    B = dense_incidence(G, nodes, edges)
    cv = np.array([c[v] for v in nodes], dtype=float)
    assert q.shape == (len(edges),)
    assert np.all(q >= 0)
    assert q[edges.index(edge)] == 0.0
    scale = max(1.0, float(np.abs(cv).max(initial=0.0)), float(q.max(initial=0.0)))
    assert np.max(np.abs(B @ q - cv), initial=0.0) <= rtol * scale


def random_dag(rng: np.random.Generator, *, n_hidden: int | None = None, p_group: float = 0.15,
               p_free: float = 0.08, p_fixed: float = 0.03, p_skip: float = 0.3) -> nx.DiGraph:
    """A random DAG with inputs, a bias, hidden nodes (many of in/out-degree 1),
    skip connections, group edges, free nodes and a few non-trainable edges."""
    n_in = int(rng.integers(1, 4))
    n_hidden = int(rng.integers(2, 10)) if n_hidden is None else n_hidden
    n_out = int(rng.integers(1, 3))
    G = nx.DiGraph()
    inputs = [f"x{i}" for i in range(n_in)]
    for x in inputs:
        G.add_node(x, role="input")
    if rng.random() < 0.5:
        G.add_node("b", role="bias")
        inputs.append("b")
    hidden = [f"h{i}" for i in range(n_hidden)]
    outputs = [f"y{i}" for i in range(n_out)]

    def size():
        return int(rng.integers(2, 5)) if rng.random() < p_group else 1

    def trainable():
        return bool(rng.random() >= p_fixed)

    for i, h in enumerate(hidden):
        act = "gelu" if rng.random() < p_free else "relu"
        G.add_node(h, activation=act)
        earlier = inputs + hidden[:i]
        k = 1 if rng.random() < 0.55 else int(rng.integers(2, 4))
        recent = hidden[max(0, i - 2):i] or inputs
        preds = set()
        for _ in range(k):
            pool = earlier if rng.random() < p_skip else recent
            preds.add(pool[int(rng.integers(len(pool)))])
        for p in preds:
            G.add_edge(p, h, size=size(), trainable=trainable())
    for y in outputs:
        G.add_node(y, role="output")
    for i, h in enumerate(hidden):
        later = hidden[i + 1:] + outputs
        if G.out_degree(h) == 0 or rng.random() < 0.2:
            t = later[int(rng.integers(len(later)))]
            if not G.has_edge(h, t):
                G.add_edge(h, t, size=size(), trainable=trainable())
    for y in outputs:
        if G.in_degree(y) == 0:
            src = (hidden + inputs)[int(rng.integers(len(hidden) + len(inputs)))]
            G.add_edge(src, y, size=size(), trainable=trainable())
    for x in inputs:
        if G.out_degree(x) == 0:
            G.add_edge(x, hidden[int(rng.integers(len(hidden)))], size=size(), trainable=trainable())
    return G


def random_balances(rng: np.random.Generator, nodes: list, *, kind: str = "int") -> dict:
    if kind == "int":
        return {v: float(rng.integers(-2, 3)) for v in nodes}
    return {v: float(rng.standard_normal()) for v in nodes}


def forward_by_hand(G, order, theta_of, X, inputs, outputs):
    """Plain forward pass of a scalar-edge DAG, node by node (test-only, from scratch).

    ``inputs``/``outputs`` name the nodes matching X's columns and the result's columns.
    """
    act = {
        "relu": lambda z: np.maximum(z, 0.0),
        "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
        "gelu": lambda z: np.array([0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in z]),
        "linear": lambda z: z,
        "tanh": np.tanh,
    }
    vals = {v: X[:, i] for i, v in enumerate(inputs)}
    for v in order:
        if v in vals:
            continue
        if G.nodes[v].get("role") == "bias":
            vals[v] = np.ones(X.shape[0])
            continue
        z = sum(theta_of[(u, v)] * vals[u] for u in G.predecessors(v))
        vals[v] = z if G.out_degree(v) == 0 else act[G.nodes[v].get("activation", "relu")](z)
    return np.stack([vals[v] for v in outputs], axis=1)
