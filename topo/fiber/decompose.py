"""Bottleneck nodes, their pure regions, and independent factors of a network.

A constrained node ``v`` with a single incoming edge is an *in-bottleneck*; its
*region* is the set of constrained nodes all of whose input paths pass through
``v`` without leaving the constrained nodes: ``v`` itself, and recursively every
constrained node all of whose predecessors are in the region.  Out-bottlenecks
and their regions (pure ancestors) are the mirror image.  The regions of one
direction form a laminar family (two regions are nested or disjoint), stored as a
forest; computing it is linear in the graph size except for the lowest common
ancestor queries at merge nodes.

Two constrained nodes interact only through a shared edge, so the connected
components of the graph on constrained nodes are *independent factors*: the fiber
of the whole network is the product of their fibers with a Euclidean factor.

References
----------
.. [1] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, "Topology and geometry of the
   learning space of ReLU networks: connectivity and singularities", ICLR 2026,
   arXiv:2602.00693.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from topo.errors import GraphError, ParameterError
from topo.fiber.dominators import preorder, sorted_dominators, twin_runs
from topo.graph.architecture import ARCH, Architecture
from topo.utils.arrays import chunks, flatnonzero_by_chunks
from topo.utils.validation import COUNT_OR_ZERO, NoneOr, Options, validate_params

_DIRECTION = Options("in", "out")

__all__ = ["Decomposition", "decompose", "quotient_graph"]


def quotient_graph(arch: Architecture) -> sp.csr_matrix:
    """The quotient edges between two constrained classes as an ``m × m`` sparse matrix, one entry
    per edge (repeats kept, not summed): row = head, column = tail.  Its rows are the
    predecessor lists of the "in" forest, its columns the successor lists of the "out" forest,
    its undirected components the independent factors.  Computed once per architecture.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.from_edges([("x", "a"), ("a", "b"), ("a", "c"), ("b", "y"), ("c", "y")])
    >>> quotient_graph(arch).toarray().tolist()
    [[0, 0, 0], [1, 0, 0], [1, 0, 0]]
    """
    def build():
        m = arch.n_constrained
        tails, heads = arch.quotient_rows
        ptr, nbr = grouped_by_row(heads, tails, m)
        return sp.csr_matrix((np.ones(len(nbr), dtype=np.int8), nbr, ptr), shape=(m, m))

    return arch.derived("quotient_graph", build)


def grouped_by_row(key: np.ndarray, val: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ptr, out)``: the entries of ``val`` whose ``key`` and ``val`` are both >= 0, grouped by
    ``key`` in CSR form (``out[ptr[r]:ptr[r + 1]]`` holds row ``r``'s, in their original order).

    A stable counting sort in one pass of C: scipy's COO -> CSR conversion (``coo_tocsr``, which
    keeps repeated entries; the public ``tocsr`` would sum them), with the invalid entries sent to
    an extra last row that is cut off.  Memory beyond the result: one row index and two bytes per
    entry.  Where scipy's conversion cannot be imported, `_grouped_by_chunks` (the same result by
    chunks in numpy).

    Examples
    --------
    >>> import numpy as np
    >>> ptr, out = grouped_by_row(np.array([2, 0, -1, 2, 0]), np.array([5, 6, 7, 8, -1]), 3)
    >>> ptr.tolist(), out.tolist()
    ([0, 1, 1, 3], [6, 5, 8])
    """
    try:
        from scipy.sparse._sparsetools import coo_tocsr
    except ImportError:  # a private module of scipy: kept behind a fallback
        return _grouped_by_chunks(key, val, m)
    n = len(key)
    idx = np.int32 if max(n, m + 1) < 2**31 - 1 and np.result_type(key, val).itemsize <= 4 else np.int64
    row = np.empty(n, dtype=idx)
    for s in chunks(n):  # an entry with a negative end goes to the extra row m
        k = key[s]
        row[s] = np.where((k >= 0) & (val[s] >= 0), k, m)
    ptr, out = np.empty(m + 2, dtype=idx), np.empty(n, dtype=idx)
    try:
        coo_tocsr(m + 1, max(m, 1), n, row, val.astype(idx, copy=False), np.ones(n, dtype=np.int8), ptr, out,
                  np.empty(n, dtype=np.int8))
    except (TypeError, ValueError):  # a scipy whose private signature changed: the same result in numpy
        return _grouped_by_chunks(key, val, m)
    del row
    kept = int(ptr[m])
    out = out[:kept] if kept > n // 2 else out[:kept].copy()  # a view unless most of it would be wasted
    return ptr[:m + 1].astype(np.int64), out.astype(val.dtype, copy=False)


def _grouped_by_chunks(key: np.ndarray, val: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """`grouped_by_row` as a stable counting sort by chunks in numpy: no permutation or copy of
    the whole input is made (memory beyond the result O(`topo.utils.arrays.STEP` + m)), at about
    three times the time of scipy's conversion.

    Examples
    --------
    >>> import numpy as np
    >>> key, val = np.array([2, 0, -1, 2, 0]), np.array([5, 6, 7, 8, -1])
    >>> [a.tolist() for a in _grouped_by_chunks(key, val, 3)] == [a.tolist() for a in grouped_by_row(key, val, 3)]
    True
    """
    n = len(key)
    counts = np.zeros(m, dtype=np.int64)
    for s in chunks(n):
        k = key[s][(key[s] >= 0) & (val[s] >= 0)]
        counts += np.bincount(k, minlength=m)
    ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    out = np.empty(int(ptr[-1]), dtype=val.dtype)
    cursor = ptr[:-1].copy()
    for s in chunks(n):
        ok = (key[s] >= 0) & (val[s] >= 0)
        k, v = key[s][ok], val[s][ok]
        order = np.argsort(k, kind="stable")
        k = k[order]
        c = np.bincount(k, minlength=m)
        # an entry at sorted position i of row r goes to cursor[r] + (i - first position of r here)
        out[(cursor - (np.cumsum(c) - c))[k] + np.arange(len(k))] = v[order]
        cursor += c
    return ptr, out


def _is_forward(arch: Architecture) -> bool:
    """Whether every quotient edge between constrained rows goes from a lower row to a higher one
    (the rows are in topological order of the quotient: a network without fixed edges)."""
    tails, heads = arch.quotient_rows
    return all(bool(np.all((tails[s] < heads[s]) | (tails[s] < 0) | (heads[s] < 0)))
               for s in chunks(len(tails)))


def _degrees(arch: Architecture, direction: str, from_root: np.ndarray) -> np.ndarray:
    """Quotient edges at the near end of each row (entering it for "in", leaving it for "out"),
    whatever the far end: those between two constrained rows from the shared quotient graph (its
    row lengths, or its column counts), plus ``from_root``, the near rows of the edges whose far end
    is an unconstrained class."""
    m = arch.n_constrained
    g = quotient_graph(arch)
    between = np.diff(g.indptr) if direction == "in" else np.bincount(g.indices, minlength=m)
    return between.astype(np.int64) + np.bincount(from_root, minlength=m)


def _padded(flags: np.ndarray) -> np.ndarray:
    """``flags`` with a False appended: indexed by a row array, a row of -1 reads False."""
    return np.append(np.asarray(flags, dtype=bool), False)


class RegionForest:
    """Laminar family of bottleneck regions for one direction ("in" or "out").

    Rows are constrained classes (nodes of the quotient graph; an edge inside a class is
    not an edge of the quotient).  For direction "in", a row's neighbours are its
    predecessors; for "out", its successors (the mirror problem).  A bottleneck is a row
    with exactly one edge arriving from outside its own region; its region is the set of
    rows it dominates (every path from an unconstrained class passes through it).  On a
    quotient whose row order is topological (every network without fixed edges) the
    regions are found in one pass in that order; otherwise from the dominator tree of the
    quotient (igraph, Lengauer-Tarjan), where a row may also have *back edges* from inside
    its own region (a residual stream feeding a block that feeds it back).

    Attributes
    ----------
    roots : list[int]
        Bottleneck rows, in processing order (parents before children).
    edge : dict[int, int]
        The single entering edge (index into ``arch.edges``) of each bottleneck.
    entry_tail : dict[int, int]
        Row at the far end of that edge (-1 for an unconstrained class).
    back : set[int]
        Bottlenecks with neighbours inside their own region.
    top : list[int]
        Innermost region containing each row, or -1.
    parent : list[int]
        Enclosing region of each bottleneck row, or -1.
    """

    def __init__(self, arch: Architecture, direction: str, *, method: str | None = None):
        self.direction = direction
        self._arch = arch
        m = self.m = arch.n_constrained
        ids = arch.quotient_edges
        tails, heads = arch.quotient_rows  # shared by both directions, computed once; never copied here
        near_row, far_row = (heads, tails) if direction == "in" else (tails, heads)
        from_root = near_row[flatnonzero_by_chunks(len(near_row), lambda s: (far_row[s] < 0) & (near_row[s] >= 0))]
        deg = _degrees(arch, direction, from_root)  # edges entering each row (from any class)
        self._csr: tuple[np.ndarray, np.ndarray] | None = None
        self._ptr_list: list[int] | None = None
        forward = False
        if method is None or method == "order":
            forward = _is_forward(arch)
            if method == "order" and not forward:
                raise GraphError("the quotient is not in topological row order: use method='dominators'")
        #: how the regions were found: "order" (one pass, topological quotient) or "dominators"
        self.method = method or ("order" if forward else "dominators")
        rooted = np.zeros(m, dtype=bool)
        rooted[from_root] = True  # rows entered from an unconstrained class
        if self.method == "order":
            self._from_order(ids, near_row, far_row, deg, rooted)
        else:
            # a row entered from the root is dominated by the root alone (every row, when each has a bias)
            idom = np.full(m + 1, m, dtype=np.int64) if rooted.all() else sorted_dominators(m, *self.csr(), rooted)
            self._from_dominators(ids, near_row, far_row, deg, idom)
        self._finish()

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour rows of every row in CSR form, ``(nbr, ptr)``: ``nbr[ptr[w]:ptr[w + 1]]`` are
        the rows next to ``w`` (repeats allowed).  Built on first use, from the quotient graph
        shared by both directions (the "out" lists are its transpose)."""
        if self._csr is None:
            g = quotient_graph(self._arch)
            if self.direction == "out":
                g = g.tocsc()  # a counting sort in C: the successor lists, by tail
            self._csr = g.indices, g.indptr.astype(np.int64)
        return self._csr

    @property
    def nbr(self) -> np.ndarray:
        return self.csr()[0]

    @property
    def nbr_ptr(self) -> list[int]:
        if self._ptr_list is None:
            self._ptr_list = self.csr()[1].tolist()
        return self._ptr_list

    def _from_order(self, ids, near_row, far_row, deg, rooted) -> None:
        """Regions in one pass over the rows in topological order of the quotient."""
        m = self.m
        ext = rooted.tolist()
        single = np.flatnonzero(_padded(deg == 1)[near_row])  # the edge of each bottleneck
        self.edge = dict(zip(near_row[single].tolist(), ids[single].tolist()))
        self.entry_tail = dict(zip(near_row[single].tolist(), far_row[single].tolist()))
        self.back: set[int] = set()
        deg_l, ptr, nbr = deg.tolist(), self.nbr_ptr, self.nbr
        top, parent, depth = [-1] * m, [-1] * m, [0] * m
        roots: list[int] = []
        merges: list[int] = []
        for w in (range(m) if self.direction == "in" else range(m - 1, -1, -1)):
            if deg_l[w] == 1:
                roots.append(w)
                top[w] = w
                if not ext[w]:
                    t = top[int(nbr[ptr[w]])]
                    parent[w] = t
                    if t >= 0:
                        depth[w] = depth[t] + 1
            elif not ext[w]:
                t = -2
                for p in nbr[ptr[w]:ptr[w + 1]].tolist():
                    tp = top[p]
                    if tp < 0:
                        t = -1
                        break
                    t = tp if t == -2 else self._lca(t, tp, parent, depth)
                    if t < 0:
                        break
                if t >= 0:
                    top[w] = t
                    merges.append(w)
        self.roots, self.top, self.parent, self.depth, self.merges = roots, top, parent, depth, merges

    def _from_dominators(self, ids, near_row, far_row, deg, idom) -> None:
        """Regions as subtrees of the dominator tree ``idom`` of the quotient (any digraph)."""
        m = self.m
        pre, size = preorder(idom, m)
        # an edge p -> v is a back edge when v dominates p (p lies in v's region): only rows that
        # dominate another row (subtree size > 1) can receive one
        back = np.zeros(len(near_row), dtype=bool)
        dominating = size[:m] > 1
        if dominating.any():
            sel = np.flatnonzero(_padded(dominating)[near_row] & (far_row >= 0))
            v, p = near_row[sel], far_row[sel]
            back[sel[(pre[v] <= pre[p]) & (pre[p] < pre[v] + size[v])]] = True
        entering = deg - np.bincount(near_row[back], minlength=m)
        once = entering == 1
        single = np.flatnonzero(_padded(once)[near_row] & ~back) if once.any() else np.zeros(0, dtype=np.int64)
        self.edge = dict(zip(near_row[single].tolist(), ids[single].tolist()))
        self.entry_tail = dict(zip(near_row[single].tolist(), far_row[single].tolist()))
        self.back = set(near_row[back][once[near_row[back]]].tolist())
        top, parent, depth = [-1] * m, [-1] * m, [0] * m
        roots, merges = [], []
        idom_l = idom.tolist()
        for w in np.argsort(pre[:m], kind="stable").tolist():  # dominators first
            d = idom_l[w]
            t = top[d] if d < m else -1
            if w in self.edge:
                roots.append(w)
                top[w] = w
                parent[w] = t
                depth[w] = depth[t] + 1 if t >= 0 else 0
            elif t >= 0:
                top[w] = t
                merges.append(w)
        self.roots, self.top, self.parent, self.depth, self.merges = roots, top, parent, depth, merges

    def _finish(self) -> None:
        """Children, merge members and couplers, from roots/top/parent/depth."""
        roots, parent, top, depth = self.roots, self.parent, self.top, self.depth
        children: dict[int, list[int]] = {}
        for x in roots:
            if parent[x] >= 0:
                children.setdefault(parent[x], []).append(x)
        self.children = children
        members: dict[int, list[int]] = {}
        for y in self.merges:
            members.setdefault(top[y], []).append(y)
        self.merge_members = members
        # deepest region that needs nodes of each region from outside it: a merge node of an
        # enclosing region, or a bottleneck's back edge; such a region cannot be contracted
        coupler = [-1] * self.m
        for y in self.merges + sorted(self.back):
            a = top[y]
            da = depth[a]
            for p in self.neighbours(y):
                if y == a and p == self.entry_tail.get(a):
                    continue
                r = top[p]
                while r != a and r >= 0:
                    if coupler[r] < da:
                        coupler[r] = da
                    r = parent[r]
        self.coupler_depth = coupler

    @staticmethod
    def _lca(a: int, b: int, parent: list, depth: list) -> int:
        while a != b:
            if a < 0 or b < 0:
                return -1
            da, db = depth[a], depth[b]
            if da >= db:
                a = parent[a]
            if db >= da:
                b = parent[b]
        return a

    def region(self, v: int) -> list[int]:
        """All rows of the region of bottleneck row ``v``."""
        out = []
        stack = [v]
        while stack:
            x = stack.pop()
            out.append(x)
            out.extend(self.merge_members.get(x, ()))
            stack.extend(self.children.get(x, ()))
        return out

    def neighbours(self, w: int) -> list[int]:
        """Constrained rows next to ``w`` (predecessors for "in", successors for "out")."""
        return self.nbr[self.nbr_ptr[w]:self.nbr_ptr[w + 1]].tolist()

    def requires(self, w: int, root: int) -> list[int]:
        """Rows that must join a closure holding ``w`` when the closure's bottleneck is ``root``
        (all neighbours of ``w``, but not the far end of the root's own entering edge)."""
        nb = self.neighbours(w)
        if w != root:
            return nb
        tail = self.entry_tail.get(w, -1)
        return [p for p in nb if p != tail]


@dataclass(frozen=True)
class Decomposition:
    """Bottleneck structure and independent factors of an architecture.

    Attributes
    ----------
    in_bottlenecks : list
        Constrained nodes with exactly one incoming edge.
    out_bottlenecks : list
        Constrained nodes with exactly one outgoing edge.
    factors : list[list]
        Independent sub-networks, as lists of constrained nodes.
    """

    arch: Architecture = field(repr=False)
    in_forest: RegionForest = field(repr=False)
    out_forest: RegionForest = field(repr=False)
    factor_labels: np.ndarray = field(repr=False)
    n_factors: int

    @property
    def in_bottlenecks(self) -> list:
        names = self.arch.constrained
        return [names[r] for r in sorted(self.in_forest.roots)]

    @property
    def out_bottlenecks(self) -> list:
        names = self.arch.constrained
        return [names[r] for r in sorted(self.out_forest.roots)]

    @property
    def bottleneck_edges(self) -> list[tuple]:
        """Edges that can be frozen for some balance: the single edge of a bottleneck."""
        return self.arch.edge_names(self.bottleneck_edge_index)

    @property
    def bottleneck_edge_index(self) -> np.ndarray:
        return np.asarray(sorted(set(self.in_forest.edge.values()) | set(self.out_forest.edge.values())),
                          dtype=np.int64)

    @property
    def factors(self) -> list[list]:
        names = self.arch.constrained
        out: list[list] = [[] for _ in range(self.n_factors)]
        for r, f in enumerate(self.factor_labels.tolist()):
            out[f].append(names[r])
        return out

    def factor_of(self, node: Hashable) -> int:
        """Index of the factor holding a constrained node."""
        return int(self.factor_labels[self.arch.constrained_row(node)])

    @validate_params(direction=_DIRECTION)
    def region(self, node: Hashable, direction: str = "in") -> list:
        """Region of a bottleneck: constrained pure descendants (``"in"``) or pure
        ancestors (``"out"``), the node itself first.

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.from_edges([("x", "a"), ("a", "b"), ("a", "c"), ("b", "y"), ("c", "y")])
        >>> sorted(topo.decompose(arch).region("a"))
        ['a', 'b', 'c']
        """
        forest = self._forest(direction)
        r = self.arch.constrained_row(node)
        if r not in forest.edge:
            raise GraphError(f"node {node!r} is not an {direction}-bottleneck")
        names = self.arch.constrained
        return [names[x] for x in forest.region(r)]

    def _forest(self, direction: str) -> RegionForest:
        if direction == "in":
            return self.in_forest
        if direction == "out":
            return self.out_forest
        raise ParameterError(_DIRECTION.message("direction", direction))

    @validate_params(max_listed=NoneOr(COUNT_OR_ZERO))
    def to_dict(self, *, max_listed: int | None = None) -> dict:
        """Bottlenecks (with their edge and region size, at most ``max_listed`` of each) and factors."""
        arch = self.arch
        ie, oe = self.in_forest.edge, self.out_forest.edge
        names = arch.constrained

        def edge(e):
            return [str(x) for x in arch.edge_names([e])[0]]

        return {
            "in_bottlenecks": [
                {"node": str(names[r]), "edge": edge(ie[r]),
                 "region_size": len(self.in_forest.region(r))}
                for r in sorted(ie)[:max_listed]
            ],
            "out_bottlenecks": [
                {"node": str(names[r]), "edge": edge(oe[r]),
                 "region_size": len(self.out_forest.region(r))}
                for r in sorted(oe)[:max_listed]
            ],
            "factors": [[str(v) for v in f] for f in self.factors],
        }


@validate_params(arch=ARCH)
def decompose(arch: Architecture) -> Decomposition:
    """Bottleneck nodes, their regions and the independent factors of ``arch``.

    The result depends on the structure only and is cached on the architecture.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> d = topo.decompose(arch)
    >>> d.in_bottlenecks, d.out_bottlenecks
    ([], ['h1_0', 'h1_1', 'h1_2'])
    >>> d.n_factors   # hidden neurons share no edge: three independent factors
    3
    """
    return arch.derived("decomposition", lambda: _decompose(arch))


#: `factor_labels` works on the reduced graph when it keeps at most this fraction of the entries.
REDUCED_AT_MOST = 0.5


def factor_labels(g: sp.csr_matrix) -> tuple[int, np.ndarray]:
    """Connected components of the undirected graph of the square sparse matrix ``g`` (as
    scipy's ``connected_components``: the same count and labels) on a smaller graph.

    Consecutive rows with the same non-empty list of columns (the channels of a layer: `twin_runs`)
    lie in one component, so each row after the first of such a run keeps one edge, to that first
    row, instead of its list: a convolution's ``out × in`` channel pairs become ``in + out`` edges.
    When that keeps more than `REDUCED_AT_MOST` of the entries, ``g`` itself is used (with float64 entries, so
    that scipy's validation neither converts nor sorts it).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> g = sp.csr_matrix((np.ones(4), np.array([0, 0, 0, 4]), np.array([0, 0, 1, 2, 3, 3, 4])), shape=(6, 6))
    >>> n, labels = factor_labels(g)   # rows 1-3 read row 0, row 5 reads row 4
    >>> n, labels.tolist()
    (2, [0, 0, 0, 0, 1, 1])
    """
    m = g.shape[0]
    ptr, t = g.indptr.astype(np.int64), g.indices
    deg = np.diff(ptr)
    run = twin_runs(t, ptr, deg, np.zeros(m, dtype=bool), deg > 0)
    first = run == np.arange(m)
    lead = first & (deg > 0)
    others = np.flatnonzero(~first)
    n_kept = int(deg[lead].sum()) + len(others)
    if n_kept > REDUCED_AT_MOST * g.nnz:
        adj = sp.csr_matrix((np.ones(g.nnz), t, ptr), shape=g.shape)
    else:
        rows = np.concatenate([np.repeat(np.flatnonzero(lead), deg[lead]), others])
        cols = np.concatenate([t[np.repeat(lead, deg)], run[others]])
        adj = sp.csr_matrix((np.ones(n_kept), (rows, cols)), shape=g.shape)
    n, labels = connected_components(adj, directed=False)
    return int(n), np.asarray(labels, dtype=np.int64)


def _decompose(arch: Architecture) -> Decomposition:
    m = arch.n_constrained
    in_forest, out_forest = RegionForest(arch, "in"), RegionForest(arch, "out")
    # factors: components of the graph on constrained classes; its edges are the quotient edges
    # between two constrained classes (any other edge with both ends constrained lies inside one
    # class), already grouped by row in either forest's neighbour lists: a CSR matrix as it is
    n_factors, labels = factor_labels(quotient_graph(arch)) if m else (0, np.zeros(0, np.int64))
    return Decomposition(
        arch=arch,
        in_forest=in_forest,
        out_forest=out_forest,
        factor_labels=np.asarray(labels, dtype=np.int64),
        n_factors=int(n_factors),
    )
