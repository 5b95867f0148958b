"""Random networks with fixed edges (residual streams, scaled copies, fixed edges touching
inputs, outputs, biases and GELU units) and a plain numpy forward pass, for the oracles of
rescaling classes.  Test-only; written from THEORY.md §1-§3, independently of topo."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

_ACT = {
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "linear": lambda z: z,
    "sum": lambda z: z,
    "gelu": lambda z: 0.5 * z * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0))),
}


def random_residual_dag(rng: np.random.Generator) -> nx.DiGraph:
    """A random DAG with a residual stream (stream nodes chained by fixed edges of weight
    ±1 or another nonzero constant, blocks of trainable units reading and feeding it),
    plus random extra fixed edges: from inputs, into outputs, from the bias, through
    GELU units, between ordinary hidden units."""
    G = nx.DiGraph()
    n_in = int(rng.integers(1, 4))
    inputs = [f"x{i}" for i in range(n_in)]
    for x in inputs:
        G.add_node(x, role="input")
    if rng.random() < 0.5:
        G.add_node("b", role="bias")
    sources = inputs + (["b"] if "b" in G else [])
    width = int(rng.integers(1, 3))
    stream = [f"s0_{k}" for k in range(width)]
    hidden: list = []
    for k, s in enumerate(stream):
        G.add_node(s, activation="relu")
        for x in sources:
            if rng.random() < 0.7 or x == sources[0]:
                G.add_edge(x, s, size=1, trainable=True)
        hidden.append(s)
    n_blocks = int(rng.integers(1, 4))
    for blk in range(1, n_blocks + 1):
        inner = [f"a{blk}_{j}" for j in range(int(rng.integers(1, 3)))]
        for a in inner:
            G.add_node(a, activation="gelu" if rng.random() < 0.1 else "relu")
            for s in stream:
                if rng.random() < 0.8 or s == stream[0]:
                    G.add_edge(s, a, size=1, trainable=True)
            hidden.append(a)
        new = [f"s{blk}_{k}" for k in range(width)]
        for k, s in enumerate(new):
            G.add_node(s, activation=str(rng.choice(["relu", "sum", "linear", "leaky_relu"])))
            w = 1.0 if rng.random() < 0.6 else float(rng.choice([-1.0, 0.5, 2.0, -0.25]))
            G.add_edge(stream[k], s, size=1, trainable=False, weight=w)
            for a in inner:
                if rng.random() < 0.8 or a == inner[0]:
                    G.add_edge(a, s, size=1, trainable=True)
            hidden.append(s)
        stream = new
    outputs = [f"y{i}" for i in range(int(rng.integers(1, 3)))]
    for y in outputs:
        G.add_node(y, role="output")
        for s in stream:
            G.add_edge(s, y, size=1, trainable=True)
    _extra_fixed_edges(rng, G, sources, hidden, outputs)
    return G


def _extra_fixed_edges(rng, G, sources, hidden, outputs) -> None:
    order = list(nx.topological_sort(G))
    pos = {v: i for i, v in enumerate(order)}
    for _ in range(int(rng.integers(0, 4))):
        kind = rng.random()
        if kind < 0.25:
            u, v = sources[int(rng.integers(len(sources)))], hidden[int(rng.integers(len(hidden)))]
        elif kind < 0.45:
            u, v = hidden[int(rng.integers(len(hidden)))], outputs[int(rng.integers(len(outputs)))]
        else:
            u, v = (hidden[int(i)] for i in rng.integers(len(hidden), size=2))
            if pos[u] > pos[v]:
                u, v = v, u
        if u == v or G.has_edge(u, v):
            continue
        w = float(rng.choice([1.0, -1.0, 0.5, 3.0]))
        G.add_edge(u, v, size=1, trainable=False, weight=w)


def random_weights(rng: np.random.Generator, G: nx.DiGraph) -> dict:
    """Trainable weights drawn at random; fixed edges keep their own weight (default 1)."""
    out = {}
    for u, v, d in G.edges(data=True):
        k = int(d.get("size", 1))
        if not d.get("trainable", True):
            w = d.get("weight", 1.0)
            w = float(w) if np.ndim(w) == 0 else w
            out[(u, v)] = w if k == 1 else np.full(k, w, dtype=float)
        else:
            out[(u, v)] = float(rng.standard_normal()) if k == 1 else rng.standard_normal(k)
    return out


def forward(G: nx.DiGraph, theta: dict, X: np.ndarray, inputs: list, outputs: list) -> np.ndarray:
    """Node-by-node forward pass (outputs linear)."""
    vals = {v: X[:, i] for i, v in enumerate(inputs)}
    for v in nx.topological_sort(G):
        if v in vals:
            continue
        if G.nodes[v].get("role") == "bias":
            vals[v] = np.ones(X.shape[0])
            continue
        z = sum(theta[(u, v)] * vals[u] for u in G.predecessors(v))
        out = G.out_degree(v) == 0
        vals[v] = z if out else _ACT[G.nodes[v].get("activation", "relu")](z)
    return np.stack([vals[v] for v in outputs], axis=1)


def rescale_class(G: nx.DiGraph, theta: dict, members, alpha: float, *, leaving: bool = True) -> dict:
    """Trainable edges entering the class × alpha, leaving × 1/alpha (``leaving=False``: the
    negative control, entering edges only); edges inside the class untouched."""
    K = set(members)
    out = dict(theta)
    for u, v, d in G.edges(data=True):
        if not d.get("trainable", True) or ((u in K) == (v in K)):
            continue
        if v in K:
            out[(u, v)] = theta[(u, v)] * alpha
        elif leaving:
            out[(u, v)] = theta[(u, v)] / alpha
    return out
