"""Immediate dominators of a large digraph, with twins merged first.

The quotient graph of a channel-level import has one edge per pair of channels of
consecutive layers (13 M edges on ResNet-50), but a layer's channels are *twins*: they
have the same predecessors.  Twins have the same dominators and none of them dominates
a node that another twin also enters, so the graph handed to igraph's Lengauer-Tarjan
keeps one synthetic node per class of twins (entered once from the common
predecessors, leading to each twin) and one edge from that node wherever two or more
twins of the class enter the same node: a dense layer costs edges in proportion to its
width, not to the product of widths.  The result is exact (not sampled): a signature
only proposes twins, and their predecessor lists are compared, in edge order, before they
are merged.
"""

from __future__ import annotations

import igraph
import numpy as np

from topo.errors import GraphError

__all__ = ["immediate_dominators", "preorder"]


def immediate_dominators(m: int, tails: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Immediate dominator of every node ``0..m-1`` of the digraph with edges ``tails -> heads``,
    from the root ``m`` (igraph's Lengauer-Tarjan); ``idom[m] = m``.  Every node must be
    reachable from the root.  Parallel edges and self-loops are allowed.

    Examples
    --------
    >>> import numpy as np
    >>> immediate_dominators(3, np.array([3, 3, 0, 1]), np.array([0, 1, 2, 2])).tolist()
    [3, 3, 3, 3]
    >>> immediate_dominators(3, np.array([3, 0, 0, 1]), np.array([0, 1, 2, 2])).tolist()
    [3, 0, 0, 3]
    """
    n = m + 1
    tails, heads = np.asarray(tails, dtype=np.int64), np.asarray(heads, dtype=np.int64)
    # a node entered from the root has the root as its dominator, and its other in-edges change no
    # other node's dominators (a path through one of them can start at the root's edge instead)
    rooted = np.zeros(n, dtype=bool)
    rooted[heads[tails == m]] = True
    keep = ~rooted[heads] | (tails == m)
    if not keep.all():
        tails, heads = tails[keep], heads[keep]
    # in-edges grouped by node, in edge order within a node (a radix sort when the ids fit 16 bits)
    order = np.argsort(heads.astype(np.uint16) if n <= 2**16 else heads, kind="stable")
    t, h, total = _merge_twins(n, tails[order], heads[order])
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
    """Class of every node among those whose predecessor lists are equal, -1 for a node without
    twins.  Only a node whose in-edges are consecutive can have twins, and two lists are equal when
    they hold the same tails in the same order (what the edges of one layer do): a sufficient
    test, so a merge is always right."""
    if len(head) == 0:
        return np.full(n, -1, dtype=np.int64)
    start = np.flatnonzero(np.concatenate([[True], head[1:] != head[:-1]]))
    run_head = head[start]
    run_len = np.diff(np.append(start, len(head)))
    single = np.bincount(run_head, minlength=n)[run_head] == 1  # the node's in-edges form one run
    start, run_head, run_len = start[single], run_head[single], run_len[single]
    if len(start) < 2:
        return np.full(n, -1, dtype=np.int64)
    r = np.random.default_rng(0x70F0).integers(1, 2**63, size=n, dtype=np.uint64)
    sig = np.add.reduceat(r[tail], start)
    order = np.lexsort((sig, run_len))
    new = np.concatenate([[True], (sig[order][1:] != sig[order][:-1]) | (run_len[order][1:] != run_len[order][:-1])])
    rep_run = np.empty(len(order), dtype=np.int64)
    rep_run[order] = order[np.flatnonzero(new)][np.cumsum(new) - 1]
    first = np.full(n, -1, dtype=np.int64)  # each node's run start, -1 when its edges are split
    first[run_head] = start
    shift = np.zeros(n, dtype=np.int64)
    shift[run_head] = start[rep_run] - start
    rep = np.full(n, -1, dtype=np.int64)
    rep[run_head] = run_head[rep_run]
    # the same tails in the same order as the representative's (same length: grouped by length)
    on = first[head] >= 0
    pos = np.flatnonzero(on)
    bad = head[pos[tail[pos] != tail[pos + shift[head[pos]]]]]
    rep[bad] = -1  # a signature collision or another order: not merged
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
    grouped_src = src_cls >= 0
    pair = head[grouped_src] * k + src_cls[grouped_src]
    if (n + k) * k <= 8 * len(tail) + 2**20:  # count the pairs in a table: no sort
        cnt = np.bincount(pair, minlength=(n + k) * k)
        grouped = np.flatnonzero(cnt >= 2)
        many_pair = cnt[pair] >= 2
    else:
        pairs, inv, counts = np.unique(pair, return_inverse=True, return_counts=True)
        grouped = pairs[counts >= 2]
        many_pair = counts[inv] >= 2
    many = np.zeros(len(tail), dtype=bool)
    many[grouped_src] = many_pair  # two twins enter the node: one edge from their class instead
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
