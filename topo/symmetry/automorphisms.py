"""The symmetry group of a network: automorphisms of its DAG.

``G`` is the group of permutations of the nodes that map edges to edges and fix
every input, bias and output, preserving hidden activations, edge group sizes and
trainability.  Each ``g`` in ``G`` acts on parameters by carrying the weights of
edge ``e`` to edge ``g(e)``; the network then computes the same function.

The group is computed in two steps:

1. **Twin classes** (hidden units with equal activations and equal in- and
   out-neighbourhoods, edge attributes included) in linear time.  Every
   permutation inside a twin class is an automorphism; ``G`` is the semidirect
   product of these symmetric groups with the automorphisms of the quotient graph.
2. **The quotient graph** (one vertex per twin class, coloured by its activation
   and size; edges with attributes other than the most common ones subdivided by
   a coloured vertex) goes to a graph-automorphism library: igraph's interface to
   bliss (generators and exact order of groups of any size), or networkx's VF2
   matcher, which enumerates every automorphism: used for quotients of at most
   64 vertices with at most 256 automorphisms (most networks: it avoids importing
   igraph), and as the fallback, up to ``max_enumerated`` automorphisms, where
   igraph is not installed.

The quotient of a layered network is tiny (one vertex per layer for a dense
network or a convolutional network at channel level), so the library call is
cheap even when ``G`` has order 64!^20.

References
----------
.. [1] T. Junttila, P. Kaski, "Engineering an efficient canonical labeling tool
   for large and sparse graphs" (bliss), ALENEX 2007.
.. [2] L. P. Cordella, P. Foggia, C. Sansone, M. Vento, "A (sub)graph isomorphism
   algorithm for matching large graphs" (VF2), IEEE TPAMI 26, 2004.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.errors import ParameterError
from topo.graph.architecture import ARCH, Architecture
from topo.graph.nodes import HIDDEN
from topo.utils.arrays import unique, unique_inverse
from topo.utils.text import short
from topo.utils.validation import COUNT_OR_ZERO, Options, validate_params

__all__ = ["AutomorphismGroup", "automorphism_group", "edge_permutation", "as_permutation"]

#: Quotient graphs with more vertices (after subdividing coloured edges) are not searched.
MAX_VERTICES = 200_000


@dataclass(frozen=True)
class AutomorphismGroup:
    """Generators and order of the automorphism group of a network.

    Attributes
    ----------
    generators : tuple of ndarray
        Node permutations ``perm`` (``perm[v]`` is the image of node index ``v``);
        together they generate ``G``.
    kinds : tuple of str
        For each generator: ``"twin"`` (a permutation inside one twin class) or
        ``"quotient"`` (a lifted automorphism of the quotient graph).
    twin_of : tuple of int
        For each generator, the index in `twin_classes` of its twin class
        (-1 for quotient generators).
    twin_classes : tuple of tuple of int
        Classes of at least two interchangeable hidden units (node indices).
    log10_order : float
        ``log10 |G|`` (exact order in `order`).
    order : int
        ``|G|`` as an exact integer (may be astronomically large).
    backend : str
        ``"bliss (igraph)"``, ``"networkx VF2"`` or ``"none"``.
    computed : bool
        False when the quotient was too large or VF2 hit its enumeration cap; then
        only the twin generators are listed and `reason` says why.
    """

    arch: Architecture = field(repr=False)
    generators: tuple = field(repr=False)
    kinds: tuple = field(repr=False)
    twin_of: tuple = field(repr=False)
    twin_classes: tuple = field(repr=False)
    order: int = 1
    log10_order: float = 0.0
    backend: str = "none"
    computed: bool = True
    reason: str = ""

    def named_generators(self) -> list[dict]:
        """Generators as ``{node: image}`` over the nodes they move."""
        names = self.arch.nodes
        out = []
        for perm in self.generators:
            moved = np.flatnonzero(perm != np.arange(len(perm)))
            out.append({names[v]: names[int(perm[v])] for v in moved.tolist()})
        return out

    @validate_params(max_generators=COUNT_OR_ZERO)
    def to_dict(self, *, max_generators: int = 50) -> dict:
        gens = self.named_generators()[:max_generators]
        return {
            "computed": self.computed,
            "reason": self.reason,
            "backend": self.backend,
            "order": str(self.order) if self.log10_order <= 18 else None,
            "log10_order": self.log10_order,
            "n_twin_classes": len(self.twin_classes),
            "n_generators": len(self.generators),
            "generators": [{str(k): str(v) for k, v in g.items()} for g in gens],
            "generators_truncated": len(gens) < len(self.generators),
        }


def _edge_colours(arch: Architecture, fixed_weights: np.ndarray | None = None) -> np.ndarray:
    """One integer per edge for its (size, trainable) pair; with ``fixed_weights`` (a vector over
    the parameters), a fixed edge's colour also holds its weights, so that no automorphism maps a
    skip of weight 0.5 onto one of weight 1."""
    key = arch.edge_sizes * 2 + arch.edge_trainable.astype(np.int64)
    if fixed_weights is not None:
        fixed = np.flatnonzero(~arch.edge_trainable)
        off = arch.edge_offsets
        values: dict[bytes, int] = {}
        extra = np.zeros(arch.n_edges, dtype=np.int64)
        for e in fixed.tolist():
            w = np.ascontiguousarray(fixed_weights[off[e]:off[e + 1]], dtype=np.float64) + 0.0  # -0.0 == 0.0
            extra[e] = values.setdefault(w.tobytes(), len(values) + 1)
        key = key + extra * (2 * (int(arch.edge_sizes.max(initial=0)) + 1))
    return unique_inverse(key)[1]


def _node_colours(arch: Architecture) -> np.ndarray:
    """Hidden nodes coloured by activation; every input, bias and output its own colour."""
    n = arch.n_nodes
    colour = np.empty(n, dtype=np.int64)
    acts: dict[str, int] = {}
    role = arch.role_codes
    hidden = np.flatnonzero(role == HIDDEN)
    for v in hidden.tolist():
        colour[v] = acts.setdefault(arch.activations[v], len(acts))
    fixed = np.flatnonzero(role != HIDDEN)
    colour[fixed] = len(acts) + np.arange(len(fixed))
    return colour


def _signatures(n: int, nodes: np.ndarray, other: np.ndarray, ecol: np.ndarray) -> list[bytes]:
    """Per node, the sorted (neighbour, edge colour) pairs of its edges, as bytes."""
    key = other * (int(ecol.max(initial=0)) + 1) + ecol
    span = int(key.max(initial=0)) + 1
    if n * span < 2**62:  # one combined key, sorted stably (ascending runs when edges come node by node)
        order = np.argsort(nodes * span + key, kind="stable")
    else:
        order = np.lexsort((key, nodes))
    ptr = np.searchsorted(nodes[order], np.arange(n + 1))
    ks = key[order]
    return [ks[ptr[v]:ptr[v + 1]].tobytes() for v in range(n)]


def _twin_classes(arch: Architecture, ncol: np.ndarray, ecol: np.ndarray) -> np.ndarray:
    """Class id per node: hidden nodes with equal colour and equal in/out signatures share one."""
    n = arch.n_nodes
    ins = _signatures(n, arch.dst, arch.src, ecol)
    outs = _signatures(n, arch.src, arch.dst, ecol)
    ids: dict = {}
    cls = np.empty(n, dtype=np.int64)
    role = arch.role_codes
    for v in range(n):
        key = (int(ncol[v]), ins[v], outs[v]) if role[v] == HIDDEN else ("fixed", v)
        cls[v] = ids.setdefault(key, len(ids))
    return cls


def _quotient(arch, cls, ncol, ecol, max_vertices: int):
    """Vertex colours and coloured arcs of the quotient graph, arcs subdivided when not of
    the majority colour.  Returns ``(n_classes, colours, arcs)``, or ``(n_classes, None, how
    many vertices)`` (a phrase) when the graph has more than ``max_vertices`` vertices: it is
    not searched, so its arcs are not built."""
    k = int(cls.max()) + 1 if len(cls) else 0
    if k > max_vertices:
        return k, None, f"at least {k}"
    nc = int(ecol.max(initial=0)) + 1
    # head-major keys first (ascending runs, as the edges come: one fast stable sort) to count the vertices
    key = unique((cls[arch.dst] * k + cls[arch.src]) * nc + ecol)
    pair, colour = np.divmod(key, nc)
    major = int(np.bincount(colour).argmax()) if len(key) else 0
    n_coloured = len(key) - int(np.count_nonzero(colour == major))
    if k + n_coloured > max_vertices:
        return k, None, str(k + n_coloured)
    head, tail = np.divmod(pair, k)
    key = np.sort((tail * k + head) * nc + colour)  # the arcs in tail-major order, as they are numbered
    pair, colour = np.divmod(key, nc)
    tail, head = np.divmod(pair, k)
    plain = colour == major
    size = np.bincount(cls, minlength=k)
    rep = np.zeros(k, dtype=np.int64)
    rep[cls[::-1]] = np.arange(len(cls))[::-1]
    vcol = unique_inverse(ncol[rep] * (int(size.max(initial=1)) + 1) + size)[1]
    n_vcol = int(vcol.max(initial=-1)) + 1
    sub = k + np.arange(n_coloured)
    colours = np.concatenate([vcol, n_vcol + colour[~plain]]).astype(np.int64)
    arcs = np.concatenate([
        np.stack([tail[plain], head[plain]], axis=1),
        np.stack([tail[~plain], sub], axis=1),
        np.stack([sub, head[~plain]], axis=1),
    ]).astype(np.int64)
    return k, colours, arcs


def _bliss(n_vertices, colours, arcs):
    import igraph

    g = igraph.Graph(n=n_vertices, edges=arcs.tolist(), directed=True)
    col = colours.tolist()
    gens = [np.asarray(p, dtype=np.int64) for p in g.automorphism_group(color=col)]
    return gens, int(g.count_automorphisms(color=col)), "bliss (igraph)"


def refined_colours(colours: np.ndarray, arcs: np.ndarray) -> np.ndarray:
    """The stable colouring of colour refinement (1-dimensional Weisfeiler-Leman on a directed
    graph): vertices split by their colour and the multisets of their successors' and predecessors'
    colours until no class splits.  Every automorphism preserves it, so a search may match on it
    instead of on the given colours: the same automorphisms, far fewer partial matches.

    Examples
    --------
    A path 0 -> 1 -> 2 with one colour: its three vertices are told apart by their neighbours
    (colours are numbered in the order of their signatures).

    >>> refined_colours(np.zeros(3, dtype=np.int64), np.array([[0, 1], [1, 2]])).tolist()
    [1, 2, 0]
    >>> refined_colours(np.zeros(3, dtype=np.int64), np.array([[0, 1], [0, 2]])).tolist()  # 1 and 2 alike
    [1, 0, 0]
    """
    n = len(colours)
    succ, pred = [[] for _ in range(n)], [[] for _ in range(n)]
    for t, h in arcs.tolist():
        succ[t].append(h)
        pred[h].append(t)
    col = unique_inverse(np.asarray(colours, dtype=np.int64))[1].tolist()
    while True:
        sig = [(col[v], tuple(sorted(col[w] for w in succ[v])), tuple(sorted(col[w] for w in pred[v])))
               for v in range(n)]
        ids = {k: i for i, k in enumerate(sorted(set(sig)))}
        new = [ids[k] for k in sig]
        if len(ids) == len(set(col)):
            return np.asarray(new, dtype=np.int64)
        col = new


class _Budget(Exception):
    """VF2 took more steps than its budget (a search that backtracks a lot: bliss is the tool)."""


def _vf2(n_vertices, colours, arcs, cap, budget: int | None = None):
    """Every automorphism by networkx's VF2 on the refined colours (`refined_colours`), up to ``cap``
    of them; ``budget``: at most that many candidate pairs are tried, else ``(None, -1, ...)``."""
    import networkx as nx
    from networkx.algorithms.isomorphism import DiGraphMatcher

    G = nx.DiGraph()
    G.add_nodes_from((v, {"c": int(c)}) for v, c in enumerate(refined_colours(colours, arcs).tolist()))
    G.add_edges_from(arcs.tolist())
    steps = [0]

    def same(a, b):
        steps[0] += 1
        if budget is not None and steps[0] > budget:
            raise _Budget
        return a["c"] == b["c"]

    gens, count = [], 0
    try:
        for m in DiGraphMatcher(G, G, node_match=same).isomorphisms_iter():
            count += 1
            if count > cap:
                return None, count, "networkx VF2"
            perm = np.asarray([m[v] for v in range(n_vertices)], dtype=np.int64)
            if not np.array_equal(perm, np.arange(n_vertices)):
                gens.append(perm)
    except _Budget:
        return None, -1, "networkx VF2"
    return gens, count, "networkx VF2"


def _lift(qperm: np.ndarray, members: list[np.ndarray], rep: np.ndarray, big: np.ndarray, n: int) -> np.ndarray:
    """Node permutation carrying the i-th member of class U to the i-th member of qperm[U]
    (``rep``: first member of each class; ``big``: classes with two or more members)."""
    perm = np.arange(n, dtype=np.int64)
    perm[rep] = rep[qperm]
    for U in big.tolist():
        perm[members[U]] = members[int(qperm[U])]
    return perm


def _twin_generators(members: list[np.ndarray], n: int):
    gens, owner = [], []
    classes = [m for m in members if len(m) >= 2]
    for t, mem in enumerate(classes):
        swap = np.arange(n, dtype=np.int64)
        swap[mem[0]], swap[mem[1]] = mem[1], mem[0]
        gens.append(swap)
        owner.append(t)
        if len(mem) >= 3:
            cyc = np.arange(n, dtype=np.int64)
            cyc[mem] = np.roll(mem, -1)
            gens.append(cyc)
            owner.append(t)
    return gens, owner, classes


@validate_params(arch=ARCH, backend=Options("auto", "bliss", "networkx"), max_vertices=COUNT_OR_ZERO,
                 max_enumerated=COUNT_OR_ZERO)
def automorphism_group(
    arch: Architecture, *, backend: str = "auto", max_vertices: int = MAX_VERTICES, max_enumerated: int = 5000,
    fixed_weights: Any = None,
) -> AutomorphismGroup:
    """Automorphisms of the network's DAG that fix inputs, biases and outputs.

    Parameters
    ----------
    arch : Architecture
    backend : {"auto", "bliss", "networkx"}
        ``"auto"`` uses bliss through igraph when it is importable, else VF2.
    max_vertices : int
        Quotient graphs larger than this are not searched (only twin symmetries
        are then listed, and ``computed`` is False).
    max_enumerated : int
        VF2 enumerates every automorphism of the quotient; it gives up beyond this, or after
        ``VF2_MAX_STEPS`` candidate pairs (``computed`` is then False and ``reason`` says why).
    fixed_weights : array_like, optional
        The network's parameters (``theta``; only the values on fixed edges are read). An
        automorphism must then map each fixed edge onto one of the same weight. Without it,
        the fixed edges of a network are taken to be alike (identity skips), as the
        architecture alone does not hold their values; ``topo.audit`` passes its ``theta``.

    Returns
    -------
    AutomorphismGroup
        Cached on the architecture for the default options.

    Examples
    --------
    Two interchangeable hidden units (twins) in a 2-2-1 network:

    >>> import topo
    >>> G = topo.automorphism_group(topo.Architecture.mlp([2, 2, 1]))
    >>> G.order, G.named_generators()
    (2, [{'h1_0': 'h1_1', 'h1_1': 'h1_0'}])

    Two identical chains x -> a_i -> b_i -> y are swapped by a non-twin automorphism:

    >>> chains = topo.Architecture.from_edges(
    ...     [("x", "a1"), ("a1", "b1"), ("b1", "y"), ("x", "a2"), ("a2", "b2"), ("b2", "y")])
    >>> G = topo.automorphism_group(chains)
    >>> G.order, G.kinds
    (2, ('quotient',))
    """
    weights = None
    if fixed_weights is not None and not arch.edge_trainable.all():
        weights = arch.as_vector(fixed_weights, name="fixed_weights")
    default = backend == "auto" and max_vertices == MAX_VERTICES and max_enumerated == 5000 and weights is None
    if default:
        return arch.derived("automorphisms", lambda: _compute(arch, backend, max_vertices, max_enumerated))
    return _compute(arch, backend, max_vertices, max_enumerated, weights)


def _compute(arch, backend, max_vertices, max_enumerated, fixed_weights=None) -> AutomorphismGroup:
    n = arch.n_nodes
    ecol, ncol = _edge_colours(arch, fixed_weights), _node_colours(arch)
    cls = _twin_classes(arch, ncol, ecol)
    order_idx = np.argsort(cls, kind="stable")
    bounds = np.searchsorted(cls[order_idx], np.arange(int(cls.max(initial=-1)) + 2))
    members = [order_idx[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
    gens, owner, classes = _twin_generators(members, n)
    kinds = ["twin"] * len(gens)
    twin_order = math.prod(math.factorial(len(m)) for m in classes)
    k, colours, arcs = _quotient(arch, cls, ncol, ecol, max_vertices)
    if colours is None:  # too large to search: arcs is its number of vertices
        qgens, qorder, used, reason = None, 1, "none", (
            f"the quotient graph has {arcs} vertices (> max_vertices={max_vertices}); only twin symmetries are listed")
    else:
        qgens, qorder, used, reason = _quotient_group(len(colours), colours, arcs, backend, max_vertices,
                                                      max_enumerated)
    rep = np.asarray([m[0] for m in members], dtype=np.int64)
    big = np.flatnonzero(np.asarray([len(m) for m in members]) >= 2)
    for qp in qgens or []:
        perm = _lift(qp[:k], members, rep, big, n)
        if not np.array_equal(perm, np.arange(n)):
            gens.append(perm)
            kinds.append("quotient")
            owner.append(-1)
    order = twin_order * (qorder if qgens is not None else 1)
    return AutomorphismGroup(
        arch=arch, generators=tuple(gens), kinds=tuple(kinds), twin_of=tuple(owner),
        twin_classes=tuple(tuple(int(v) for v in m) for m in classes), order=order,
        log10_order=_log10(order), backend=used, computed=qgens is not None, reason=reason,
    )


#: "auto" enumerates quotients up to this size with VF2 first (no igraph import, which
#: takes seconds), switching to bliss when VF2 finds more than SMALL_QUOTIENT_CAP automorphisms.
SMALL_QUOTIENT = 64
SMALL_QUOTIENT_CAP = 256
#: ... or when VF2 has tried this many candidate pairs (its search can backtrack exponentially: a
#: 33-node network took 70 s before colour refinement and this bound).
SMALL_QUOTIENT_STEPS = 10_000
#: VF2 as the backend ("networkx", or "auto" without igraph) stops after this many candidate pairs
#: (a few seconds): the group is then not computed, and the result says so.
VF2_MAX_STEPS = 50_000


def _quotient_group(n_vertices, colours, arcs, backend, max_vertices, cap):
    if n_vertices > max_vertices:
        return None, 1, "none", (
            f"the quotient graph has {n_vertices} vertices (> max_vertices={max_vertices}); "
            "only twin symmetries are listed")
    if backend == "auto" and n_vertices <= SMALL_QUOTIENT:
        gens, order, used = _vf2(n_vertices, colours, arcs, SMALL_QUOTIENT_CAP, SMALL_QUOTIENT_STEPS)
        if gens is not None:
            return gens, order, used, ""
    if backend in ("auto", "bliss"):
        try:
            gens, order, used = _bliss(n_vertices, colours, arcs)
            return gens, order, used, ""
        except ImportError:
            if backend == "bliss":
                raise
    gens, order, used = _vf2(n_vertices, colours, arcs, cap, VF2_MAX_STEPS)
    if gens is None:
        why = (f"VF2 gave up after {VF2_MAX_STEPS:,} candidate pairs (its search backtracks on this quotient)"
               if order < 0 else f"VF2 found more than {cap} automorphisms of the quotient graph")
        return None, 1, used, f"{why}; install igraph (bliss) for the full group; only twin symmetries are listed"
    return gens, order, used, ""


def _log10(n: int) -> float:
    if n < 10**300:
        return math.log10(n)
    b = n.bit_length() - 60
    return math.log10(n >> b) + b * math.log10(2)


def as_permutation(arch: Architecture, perm: Any) -> np.ndarray:
    """``perm`` as an int64 array after checking it permutes the ``arch.n_nodes`` node indices.

    Examples
    --------
    >>> import topo
    >>> as_permutation(topo.Architecture.mlp([1, 1]), [1, 0])
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: perm must be a permutation of the 3 node indices 0..2, got [1, 0]
    """
    try:
        p = np.asarray(perm)
    except (TypeError, ValueError, OverflowError):
        p = None
    n = arch.n_nodes
    ok = p is not None and p.shape == (n,) and p.dtype.kind in "iu" and (n == 0 or (
        p.min() >= 0 and p.max() < n and np.bincount(p, minlength=n).max() == 1))
    if not ok:
        raise ParameterError(f"perm must be a permutation of the {n} node indices 0..{n - 1}, got {short(perm)}")
    return p.astype(np.int64, copy=False)


def edge_permutation(arch: Architecture, perm: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
    """Image edge index of each edge (or of the given ``edges``) under a node permutation.

    Raises [`ParameterError`][topo.errors.ParameterError] when ``perm`` is not an automorphism (an image is not an
    edge).
    """
    perm = as_permutation(arch, perm)
    e = np.arange(arch.n_edges) if edges is None else np.asarray(edges, dtype=np.int64)
    img = arch.edge_lookup(perm[arch.src[e]], perm[arch.dst[e]])
    if np.any(img < 0):
        raise ParameterError("the node permutation does not map edges to edges: it is not an automorphism")
    return img
