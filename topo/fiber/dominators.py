"""Immediate dominators of a large digraph, with twins merged first.

The quotient graph of a channel-level import has one edge per pair of channels of
consecutive layers (13 M edges on ResNet-50), but a layer's channels are *twins*: they
have the same predecessors.  Twins have the same dominators and none of them dominates
a node that another twin also enters, so the graph handed to igraph's Lengauer-Tarjan
keeps one synthetic node per class of twins (entered once from the common
predecessors, leading to each twin) and one edge from that node wherever two or more
twins of the class enter the same node: a dense layer costs edges in proportion to its
width, not to the product of widths.  The result is exact (not sampled): a signature
only proposes twins, and their predecessor lists are compared before they are merged.
"""

from __future__ import annotations

import igraph
import numpy as np

from topo.errors import GraphError

__all__ = ["immediate_dominators", "preorder"]


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` by one sort (numpy >= 2.3's hash-based ``np.unique`` is ~20x slower
    on millions of distinct integers)."""
    keys = np.sort(keys)
    if len(keys) < 2:
        return keys
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])]


def immediate_dominators(m: int, tails: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Immediate dominator of every node ``0..m-1`` of the digraph with edges ``tails -> heads``,
    from the root ``m`` (igraph's Lengauer-Tarjan); ``idom[m] = m``.  Every node must be
    reachable from the root.

    Examples
    --------
    >>> import numpy as np
    >>> immediate_dominators(3, np.array([3, 3, 0, 1]), np.array([0, 1, 2, 2])).tolist()
    [3, 3, 3, 3]
    >>> immediate_dominators(3, np.array([3, 0, 0, 1]), np.array([0, 1, 2, 2])).tolist()
    [3, 0, 0, 3]
    """
    n = m + 1
    dtype = np.int32 if n * n < 2**31 else np.int64  # a smaller key sorts faster
    key = sorted_unique(heads.astype(dtype) * dtype(n) + tails.astype(dtype)).astype(np.int64)
    head, tail = key // n, key % n
    loop = head == tail  # a self-loop changes no dominator
    if loop.any():
        head, tail = head[~loop], tail[~loop]
    t, h, total = _merge_twins(n, tail, head)
    g = igraph.Graph(n=total, edges=np.stack([t, h], axis=1).tolist(), directed=True)
    idom = np.asarray(g.dominator(m, mode="out"), dtype=float)
    idom[m] = m
    if np.isnan(idom[:m]).any():
        v = int(np.flatnonzero(np.isnan(idom[:m]))[0])
        raise GraphError(f"constrained row {v} is not reachable from an unconstrained class")
    idom = np.nan_to_num(idom, nan=m).astype(np.int64)
    out = idom[:n].copy()
    while True:  # a synthetic node dominates no node of the graph: go up to its own dominator
        up = out >= n
        if not up.any():
            return out
        out[up] = idom[out[up]]


def _twin_classes(n: int, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Class of every node among those with the same (non-empty) predecessor list, -1 for a node
    without twins; ``tail`` sorted within each ``head`` (edges sorted by head, then tail)."""
    deg = np.bincount(head, minlength=n)
    ptr = np.concatenate([[0], np.cumsum(deg)])
    r = np.random.default_rng(0x70F0).integers(1, 2**63, size=n, dtype=np.uint64)
    sig = np.zeros(n, dtype=np.uint64)
    has = np.flatnonzero(deg > 0)
    if len(has):
        sig[has] = np.add.reduceat(r[tail], ptr[has])
    order = np.lexsort((sig, deg))
    order = order[deg[order] > 0]
    new = np.concatenate([[True], (sig[order][1:] != sig[order][:-1]) | (deg[order][1:] != deg[order][:-1])])
    group = np.cumsum(new) - 1
    rep = np.full(n, -1, dtype=np.int64)
    rep[order] = order[np.flatnonzero(new)][group]
    # compare every predecessor list with its representative's (same length: grouped by degree)
    shift = np.where(rep >= 0, ptr[:-1][np.maximum(rep, 0)] - ptr[:-1], 0)
    bad = head[tail != tail[np.arange(len(tail)) + shift[head]]]
    rep[bad] = -1  # a signature collision: not twins after all, kept apart
    members = np.flatnonzero(rep >= 0)
    counts = np.bincount(rep[members], minlength=n)
    merged = members[counts[rep[members]] >= 2]
    cls = np.full(n, -1, dtype=np.int64)
    cls[merged] = np.unique(rep[merged], return_inverse=True)[1]
    return cls


def _merge_twins(n: int, tail: np.ndarray, head: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Edges ``(tails, heads)`` of the graph with every class of twins behind a synthetic node
    ``n + class``, and the number of nodes of that graph (see the module docstring)."""
    cls = _twin_classes(n, tail, head)
    k = int(cls.max(initial=-1)) + 1
    if k == 0:
        return tail, head, n
    syn = n + np.arange(k)
    members = np.flatnonzero(cls >= 0)
    first = members[np.unique(cls[members], return_index=True)[1]]  # each class's first member
    into = cls[head]
    keep = (into < 0) | (first[np.maximum(into, 0)] == head)  # one copy of the common predecessors
    tail, head = tail[keep], np.where(into[keep] >= 0, n + into[keep], head[keep])
    src_cls = cls[tail]
    pair = head[src_cls >= 0] * k + src_cls[src_cls >= 0]
    pairs, inv, cnt = np.unique(pair, return_inverse=True, return_counts=True)
    many = np.zeros(len(tail), dtype=bool)
    many[src_cls >= 0] = cnt[inv] >= 2  # two twins enter the node: one edge from their class instead
    grouped = pairs[cnt >= 2]
    t = np.concatenate([tail[~many], n + grouped % k, syn[cls[members]]])
    h = np.concatenate([head[~many], grouped // k, members])
    return t, h, n + k


def preorder(idom: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Preorder number and subtree size of every node of the tree given by parents ``idom``
    (root ``m``): ``u`` is in the subtree of ``v`` iff ``pre[v] <= pre[u] < pre[v] + size[v]``.

    Examples
    --------
    >>> import numpy as np
    >>> pre, size = preorder(np.array([2, 0, 2]), 2)
    >>> pre.tolist(), size.tolist()
    ([1, 2, 0], [2, 1, 3])
    """
    n = m + 1
    kids = np.argsort(idom[:m], kind="stable")
    ptr = np.searchsorted(idom[:m][kids], np.arange(n + 1))
    pre = np.zeros(n, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)
    order = []
    stack = [m]
    ptr_l, kids_l = ptr.tolist(), kids.tolist()
    while stack:
        v = stack.pop()
        pre[v] = len(order)
        order.append(v)
        stack.extend(reversed(kids_l[ptr_l[v]:ptr_l[v + 1]]))
    for v in reversed(order[1:]):
        size[idom[v]] += size[v]
    return pre, size
