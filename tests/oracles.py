"""Independent brute-force oracles for the tests (never imported by topo itself).

They work from a networkx graph and recompute everything from scratch: which
nodes are constrained, the incidence matrix, and one linear program per edge.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import networkx as nx
from scipy.optimize import linprog

HOMOGENEOUS = {"relu", "leaky_relu", "linear", "identity", "sum", "maxpool", "avgpool"}


def union_find_classes(G: nx.DiGraph) -> dict:
    """Rescaling class of every node: union-find over the fixed (non-trainable) edges,
    written independently of topo (path halving, union by size)."""
    parent = {v: v for v in G.nodes}
    size = dict.fromkeys(G.nodes, 1)

    def find(v):
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for u, v, d in G.edges(data=True):
        if not d.get("trainable", True):
            a, b = find(u), find(v)
            if a != b:
                if size[a] < size[b]:
                    a, b = b, a
                parent[b] = a
                size[a] += size[b]
    groups: dict = {}
    for v in nx.topological_sort(G):
        groups.setdefault(find(v), []).append(v)
    return {v: tuple(members) for members in groups.values() for v in members}


def _is_free_member(G: nx.DiGraph, v) -> bool:
    d = G.nodes[v]
    if G.in_degree(v) == 0 or G.out_degree(v) == 0 or d.get("role") in ("input", "bias", "output"):
        return True
    act = d.get("activation", "relu")
    return act not in HOMOGENEOUS and not act.startswith("leaky_relu(")  # any slope: positively homogeneous


def constrained_classes(G: nx.DiGraph) -> list[tuple]:
    """Constrained rescaling classes (every member hidden and homogeneous), each as the
    tuple of its members in a topological order; classes ordered by first member."""
    cls = union_find_classes(G)
    out, seen = [], set()
    for v in nx.topological_sort(G):
        k = cls[v]
        if k in seen:
            continue
        seen.add(k)
        if not any(_is_free_member(G, w) for w in k):
            out.append(k)
    return out


def constrained_nodes(G: nx.DiGraph) -> list:
    """One representative (first member) per constrained class, in topological order."""
    return [k[0] for k in constrained_classes(G)]


def class_map(G: nx.DiGraph) -> dict:
    """Every member of a constrained class -> the class's representative."""
    return {w: k[0] for k in constrained_classes(G) for w in k}


def dense_incidence(G: nx.DiGraph, nodes: list, edges: list) -> np.ndarray:
    """Incidence of the quotient: rows are the classes of ``nodes`` (representatives), an edge
    counts +1 at its head's class and -1 at its tail's class (cancelling inside a class);
    fixed edges are constants and get a zero column."""
    rep = class_map(G)
    pos = {v: i for i, v in enumerate(nodes)}
    B = np.zeros((len(nodes), len(edges)))
    for j, (u, v) in enumerate(edges):
        if not G.edges[u, v].get("trainable", True):
            continue
        hv, hu = rep.get(v, v), rep.get(u, u)
        if hv in pos:
            B[pos[hv], j] += 1.0
        if hu in pos:
            B[pos[hu], j] -= 1.0
    return B


def class_balances(G: nx.DiGraph, q: dict) -> dict:
    """Balances by hand: for each constrained class, sum of q over trainable edges entering it
    minus over trainable edges leaving it (edges inside the class skipped)."""
    out = {}
    for k in constrained_classes(G):
        members = set(k)
        total = 0.0
        for u, v, d in G.edges(data=True):
            if not d.get("trainable", True) or ((u in members) == (v in members)):
                continue
            total += q[(u, v)] if v in members else -q[(u, v)]
        out[k[0]] = total
    return out


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
    rep = class_map(G)
    S = set(S)
    assert S and S <= set(rep), "witness set must be non-empty and made of constrained nodes"
    reps = {rep[w] for w in S}
    assert len(reps) == len(S), "a witness names each class once"
    members = {w for w, r in rep.items() if r in reps}
    cval = {rep.get(w, w): x for w, x in c.items()}
    u, v = edge
    assert abs(sum(cval[r] for r in reps) - total) <= 1e-9 * max(1.0, abs(total))
    trainable = [(a, b) for a, b, d in G.edges(data=True) if d.get("trainable", True)]
    if kind == "in":
        entering = [(a, b) for a, b in trainable if b in members and a not in members]
        assert entering == [edge], (entering, edge)
        assert total > 0
    else:
        leaving = [(a, b) for a, b in trainable if a in members and b not in members]
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
        preds: dict = {}  # in the order drawn (a set's order would change with the hash seed of the process)
        for _ in range(k):
            pool = earlier if rng.random() < p_skip else recent
            preds[pool[int(rng.integers(len(pool)))]] = None
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


def random_symmetric_dag(rng: np.random.Generator, *, p_fixed: float = 0.05) -> nx.DiGraph:
    """A small random DAG built from replicated motifs (twins, identical branches),
    with occasional asymmetric extra edges, non-trainable edges (each motif edge fixed with
    probability ``p_fixed``, the same in every replica) and group edges."""
    G = nx.DiGraph()
    inputs = [f"x{i}" for i in range(int(rng.integers(1, 3)))]
    for x in inputs:
        G.add_node(x, role="input")
    if rng.random() < 0.4:
        G.add_node("b", role="bias")
        inputs.append("b")
    outputs = [f"y{i}" for i in range(int(rng.integers(1, 3)))]
    for y in outputs:
        G.add_node(y, role="output")
    built = []  # earlier hidden nodes (any replica)
    for m in range(int(rng.integers(1, 3))):
        length = int(rng.integers(1, 3))
        reps = int(rng.integers(2, 4)) if rng.random() < 0.85 else 1
        pool = inputs + built
        k = int(rng.integers(1, min(2, len(pool)) + 1))
        srcs = [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]
        dst = outputs[int(rng.integers(len(outputs)))]
        attrs = [{"size": 2 if rng.random() < 0.04 else 1, "trainable": bool(rng.random() > p_fixed)}
                 for _ in range(length + k)]
        act = "relu" if rng.random() < 0.9 else "gelu"
        for r in range(reps):
            chain = [f"m{m}r{r}n{j}" for j in range(length)]
            for v in chain:
                G.add_node(v, activation=act)
            for i, s in enumerate(srcs):
                G.add_edge(s, chain[0], **attrs[i])
            for j in range(length - 1):
                G.add_edge(chain[j], chain[j + 1], **attrs[k + j])
            G.add_edge(chain[-1], dst, **attrs[-1])
            built.extend(chain)
    if rng.random() < 0.25 and len(built) >= 2:  # break some symmetry
        u = built[int(rng.integers(len(built)))]
        y = outputs[int(rng.integers(len(outputs)))]
        if not G.has_edge(u, y):
            G.add_edge(u, y)
    for y in outputs:
        if G.in_degree(y) == 0:
            G.add_edge(inputs[0], y)
    return G


def brute_force_automorphisms(G: nx.DiGraph) -> list[dict]:
    """Every permutation of the hidden nodes (inputs, biases, outputs fixed) mapping edges to
    edges with equal size and trainability and preserving activations, by enumeration."""
    sources = [v for v in G if G.in_degree(v) == 0]
    sinks = [v for v in G if G.out_degree(v) == 0]
    hidden = [v for v in G if v not in sources and v not in sinks]
    classes: dict = {}
    for v in hidden:
        key = (G.nodes[v].get("activation", "relu"), G.in_degree(v), G.out_degree(v))
        classes.setdefault(key, []).append(v)
    blocks = list(classes.values())
    out = []
    for choice in itertools.product(*[itertools.permutations(b) for b in blocks]):
        pi = {v: v for v in sources + sinks}
        for b, img in zip(blocks, choice):
            pi.update(zip(b, img))
        ok = True
        for u, v, d in G.edges(data=True):
            a, b = pi[u], pi[v]
            if not G.has_edge(a, b):
                ok = False
                break
            e = G.edges[a, b]
            if e.get("size", 1) != d.get("size", 1) or e.get("trainable", True) != d.get("trainable", True):
                ok = False
                break
        if ok:
            out.append(pi)
    return out


def brute_force_symmetry_classes(G: nx.DiGraph, frozen: list, autos: list[dict]) -> dict:
    """Classes of the labels {±1}^frozen under the linking rule of THEORY.md §3b, by union-find
    over every automorphism × every label × every compatible image label.
    Returns {label: class root}."""
    pos = {e: i for i, e in enumerate(frozen)}
    labels = list(itertools.product([1, -1], repeat=len(frozen)))
    parent = {L: L for L in labels}

    def find(L):
        while parent[L] != L:
            parent[L] = parent[parent[L]]
            L = parent[L]
        return L

    for pi in autos:
        inv = {b: a for a, b in pi.items()}
        pre = [pos.get((inv[u], inv[v])) for (u, v) in frozen]  # position of g^-1 f in F, or None
        free = [i for i, p in enumerate(pre) if p is None]
        for A in labels:
            for fill in itertools.product([1, -1], repeat=len(free)):
                B = [A[p] if p is not None else 0 for p in pre]
                for i, s in zip(free, fill):
                    B[i] = s
                ra, rb = find(A), find(tuple(B))
                if ra != rb:
                    parent[rb] = ra
    return {L: find(L) for L in labels}
