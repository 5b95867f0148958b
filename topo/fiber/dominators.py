"""Immediate dominators of a large digraph, with twins fed through hub nodes.

The quotient graph of a channel-level import has one edge per pair of channels of
consecutive layers (13 M edges on ResNet-50), but a layer's channels are *twins*: they
have the same predecessors.  Each group of twins is fed through one synthetic *hub* node
(the predecessors enter the hub, the hub enters each twin), so igraph's Lengauer-Tarjan gets
edges in proportion to layer widths, not their products.  The transformation is exact: every
root path of the original graph becomes one of the new graph through the same original nodes
in the same order, so dominance among the original nodes is unchanged (a hub in the tree is
skipped to its nearest original ancestor).  A hash only proposes twins; their predecessor
lists are compared, in edge order, before they share a hub.
"""

from __future__ import annotations

import igraph
import numpy as np

from topo.errors import GraphError
from topo.utils.arrays import unique

__all__ = ["immediate_dominators", "sorted_dominators", "preorder", "twin_runs"]


def immediate_dominators(m: int, tails: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Immediate dominator of every node ``0..m-1`` of the digraph with edges ``tails -> heads``,
    from the root ``m`` (igraph's Lengauer-Tarjan); ``idom[m] = m``.  Every node must be
    reachable from the root.  Parallel edges and self-loops are allowed.

    Nodes with the same predecessors (the output channels of a convolution, say) are fed
    through one hub node each (`_hub_edges`): every root path keeps its original nodes in order,
    so dominance among the original nodes is unchanged, and a dense layer of ``a × b`` edges
    becomes ``a + b``.  A hub in the dominator tree is skipped to its nearest original ancestor.
    A node entered from the root has the root as its dominator, and its other in-edges change no
    other node's dominators (a path through one of them can start at the root's edge instead):
    they are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> immediate_dominators(3, np.array([3, 3, 0, 1]), np.array([0, 1, 2, 2])).tolist()
    [3, 3, 3, 3]
    >>> immediate_dominators(3, np.array([3, 0, 0, 1]), np.array([0, 1, 2, 2])).tolist()
    [3, 0, 0, 3]
    """
    tails, heads = np.asarray(tails, dtype=np.int64), np.asarray(heads, dtype=np.int64)
    rooted = np.zeros(m, dtype=bool)
    rooted[heads[(tails == m) & (heads < m)]] = True
    inner = (tails < m) & (heads < m) & (tails != heads)
    order = np.argsort(heads[inner], kind="stable")
    ptr = np.searchsorted(heads[inner][order], np.arange(m + 1))
    return sorted_dominators(m, tails[inner][order], ptr, rooted)


def sorted_dominators(m: int, t: np.ndarray, ptr: np.ndarray, rooted: np.ndarray) -> np.ndarray:
    """`immediate_dominators` from the predecessors in CSR form: ``t[ptr[v]:ptr[v + 1]]`` are the
    predecessors of ``v`` among ``0..m-1`` (repeats allowed), ``rooted[v]``: ``v`` also has the
    root ``m`` as a predecessor.  The other predecessors of a node entered from the root are
    dropped (they change no dominator)."""
    ptr = np.asarray(ptr, dtype=np.int64)
    if rooted.any():
        deg = np.diff(ptr)
        t = t[~np.repeat(rooted, deg)]
        ptr = np.concatenate([[0], np.cumsum(np.where(rooted, 0, deg))])
    edges, n = _hub_edges(m, t, ptr, rooted)
    g = igraph.Graph(n=n, directed=True)
    g.add_edges(edges)  # from the array: no list of Python pairs
    idom = np.asarray(g.dominator(m, mode="out"), dtype=float)
    if np.isnan(idom[:m]).any():
        v = int(np.flatnonzero(np.isnan(idom[:m]))[0])
        raise GraphError(f"constrained row {v} is not reachable from an unconstrained class")
    idom[m] = m
    idom = idom.astype(np.int64)
    while True:  # skip hubs: a hub's dominator is an original node or another hub
        hub = idom > m
        if not hub.any():
            return idom[:m + 1]
        idom = np.where(hub, idom[np.minimum(idom, n - 1)], idom)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of the ranges ``starts[i] .. starts[i] + counts[i] - 1`` (int64)."""
    counts = np.asarray(counts, dtype=np.int64)
    offset = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(np.asarray(starts, np.int64) - offset, counts)


def _segment_hash(m: int, t: np.ndarray, ptr: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.uint64]:
    """A random 64-bit key per node ``0..m`` (the root ``m`` included) and, per head of the CSR
    ``t, ptr`` (``len(deg)`` heads whose lists, of lengths ``deg``, make up ``t`` in order), the sum
    of its predecessors' keys, the ``j``-th one times ``2j + 1`` (a permuted list hashes apart)."""
    r1 = np.random.default_rng(0x70B0).integers(0, 2**63, size=m + 1, dtype=np.uint64)
    sums = np.zeros(len(deg), dtype=np.uint64)
    nz = np.flatnonzero(deg > 0)
    if len(nz):
        at = np.arange(len(t), dtype=np.int64) - np.repeat(np.asarray(ptr, dtype=np.int64)[nz], deg[nz])
        weighted = r1[t] * (2 * at + 1).astype(np.uint64)  # unsigned products and sums wrap modulo 2^64
        sums[nz] = np.add.reduceat(weighted, ptr[nz])  # (collisions are checked)
    return sums, r1[m]


def _mismatched(t: np.ndarray, ptr: np.ndarray, deg: np.ndarray, heads: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Heads (sorted) whose predecessor list differs, at some position, from their group's first head's
    (the lists have equal lengths)."""
    cnt = deg[heads]
    offset = np.cumsum(cnt) - cnt
    at = np.arange(int(cnt.sum()), dtype=np.int64)
    diff = t[at + np.repeat(ptr[heads] - offset, cnt)] != t[at + np.repeat(ptr[first] - offset, cnt)]
    return heads[np.searchsorted(offset, np.flatnonzero(diff), side="right") - 1]


#: Entries compared at once by `twin_runs` (bounds its temporaries).
_CHUNK = 1 << 20


def twin_runs(t: np.ndarray, ptr: np.ndarray, deg: np.ndarray, rooted: np.ndarray,
              live: np.ndarray) -> np.ndarray:
    """Per head of the CSR ``t[ptr[v]:ptr[v] + deg[v]]``, the first head of its run of consecutive
    twins: heads ``v - 1, v`` (both ``live``) are in one run when they have the same predecessor
    list, in order, and the same ``rooted``.

    The channels of a layer are consecutive heads whose lists lie side by side in ``t``: each
    list is compared with the one just before it, a near-sequential pass in chunks of `_CHUNK`
    entries, exact (no hash).

    Examples
    --------
    >>> import numpy as np
    >>> t, ptr = np.array([7, 8, 7, 8, 7, 9, 7, 9]), np.array([0, 2, 4, 6, 8])
    >>> deg = np.diff(ptr)
    >>> twin_runs(t, ptr, deg, np.zeros(4, dtype=bool), deg > 0).tolist()
    [0, 0, 2, 2]
    """
    m = len(deg)
    same = np.zeros(m, dtype=bool)
    same[1:] = live[1:] & live[:-1] & (deg[1:] == deg[:-1]) & (rooted[1:] == rooted[:-1])
    cand = np.flatnonzero(same & (deg > 0))
    cnt = deg[cand]
    ends = np.cumsum(cnt)
    lo = 0
    while lo < len(cand):  # ptr[v] - deg[v] = ptr[v - 1]: entry i of v faces entry i - deg[v] of v - 1
        hi = max(int(np.searchsorted(ends, ends[lo] - cnt[lo] + _CHUNK, side="right")), lo + 1)
        c, k = cand[lo:hi], cnt[lo:hi]
        pos = _ranges(ptr[c], k)
        differs = t[pos] != t[pos - np.repeat(k, k)]
        same[c[np.logical_or.reduceat(differs, np.cumsum(k) - k)]] = False
        lo = hi
    idx = np.arange(m)
    return np.maximum.accumulate(np.where(same, 0, idx)) if m else idx


def _twin_groups(m: int, t: np.ndarray, ptr: np.ndarray, deg: np.ndarray, rooted: np.ndarray) -> np.ndarray:
    """Per head, the first head of its group of (at least two) twins, -1 outside any group.

    Twins: heads with the same predecessor list (at least two predecessors, in the same order,
    the root counted by ``rooted``).  Runs of consecutive twins are found exactly by
    `twin_runs`; their first heads are then grouped by a random 64-bit hash of their lists
    and checked exactly (a group of runs with a list that differs from its first one's is split
    back into its runs)."""
    tot = deg + rooted
    live = tot >= 2
    run = twin_runs(t, ptr, deg, rooted, live)
    lead = run.copy()  # the first head of each head's group
    firsts = np.flatnonzero(live & (run == np.arange(m)))
    if len(firsts) >= 2:
        k = deg[firsts]
        sub = t[_ranges(ptr[firsts], k)]  # the first heads' lists, as a CSR of their own
        sums, root_key = _segment_hash(m, sub, np.cumsum(k) - k, k)
        h1 = sums + root_key * rooted[firsts].astype(np.uint64)
        order = np.lexsort((firsts, h1, tot[firsts]))
        heads = firsts[order]
        keys = np.stack([tot[heads], h1[order].view(np.int64)], axis=1)
        start = np.concatenate([[True], (keys[1:] != keys[:-1]).any(axis=1)])
        group = np.cumsum(start) - 1
        first = heads[start][group]
        grouped = np.bincount(group)[group] >= 2
        heads, first = heads[grouped], first[grouped]
        bad = np.zeros(m, dtype=bool)
        bad[heads[rooted[heads] != rooted[first]]] = True  # then the lists differ in length too
        o = np.argsort(heads)
        check = o[~bad[heads[o]] & (heads[o] != first[o])]
        bad[_mismatched(t, ptr, deg, heads[check], first[check])] = True
        bad[first[bad[heads]]] = True  # one mismatch: the runs of that group stay apart
        ok = ~bad[first]
        lead[heads[ok]] = first[ok]
    out = np.where(live, lead[run], -1)
    size = np.bincount(out[live], minlength=m)
    out[live & (size[np.maximum(out, 0)] < 2)] = -1
    return out


def _hub_edges(m: int, t: np.ndarray, ptr: np.ndarray, rooted: np.ndarray) -> tuple[np.ndarray, int]:
    """Edges of the graph where each group of twins (`_twin_groups`) is fed through a hub node
    ``m + 1 + k``: the group's first head's predecessors enter the hub, the hub enters each twin."""
    ptr = np.asarray(ptr, dtype=np.int64)
    deg = np.diff(ptr)
    group = _twin_groups(m, t, ptr, deg, rooted)
    heads = np.flatnonzero(group >= 0)
    first = group[heads]
    leads = unique(first)
    hub_id = np.full(m, -1, dtype=np.int64)
    hub_id[leads] = m + 1 + np.arange(len(leads))
    hub_of = np.full(m, -1, dtype=np.int64)
    hub_of[heads] = hub_id[first]
    kept = np.flatnonzero(hub_of < 0)
    root_kept = kept[rooted[kept]]
    root_hub = leads[rooted[leads]]
    lists = ((t[_ranges(ptr[kept], deg[kept])], np.repeat(kept, deg[kept])),
             (t[_ranges(ptr[leads], deg[leads])], np.repeat(hub_of[leads], deg[leads])))  # the lead's feed its hub
    list_tails, list_heads, n_runs = _run_hubs(*(np.concatenate([np.asarray(p[i], dtype=np.int64) for p in lists])
                                                 for i in (0, 1)), m + 1 + len(leads))
    parts = [(list_tails, list_heads),
             (np.full(len(root_kept), m), root_kept),
             (np.full(len(root_hub), m), hub_of[root_hub]),
             (hub_of[heads], heads)]
    tails = np.concatenate([np.asarray(a, dtype=np.int64) for a, _ in parts])
    hd = np.concatenate([np.asarray(b, dtype=np.int64) for _, b in parts])
    return np.stack([tails, hd], axis=1), m + 1 + len(leads) + n_runs


#: Shortest run of consecutive predecessors that `_run_hubs` feeds through a hub.
MIN_RUN = 8


def _run_hubs(tails: np.ndarray, heads: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The edges ``tails[i] -> heads[i]`` (each head's list contiguous) with every run of at least
    `MIN_RUN` consecutive tails ``a, a + 1, ..., a + L - 1`` in a head's list that occurs in two or
    more lists replaced by one edge from a hub (numbered from ``first``, one per distinct run),
    which the run's tails enter once; and the number of hubs.

    The lists of a dense layer whose channels also read one channel of their own each (a depthwise
    branch beside a pointwise one, as in ConvMixer) are not twins, but they share this run.  A hub
    stands for the complete bipartite graph from its run to its heads: a path between two original
    nodes passes a hub exactly when it takes one of those edges, so every dominator is unchanged
    (a hub that dominates a head is skipped to its own dominator by `sorted_dominators`)."""
    n = len(tails)
    if n < 2 * MIN_RUN:
        return tails, heads, 0
    brk = np.ones(n, dtype=bool)
    brk[1:] = (heads[1:] != heads[:-1]) | (tails[1:] != tails[:-1] + 1)
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.append(starts, n))
    long = np.flatnonzero(lengths >= MIN_RUN)
    key = tails[starts[long]] * (n + 1) + lengths[long]  # (first tail, length) of each long run
    _, run, count = np.unique(key, return_inverse=True, return_counts=True)
    shared = count[run] >= 2
    long, run = long[shared], run[shared]
    if not len(long):
        return tails, heads, 0
    used, hub = np.unique(run, return_inverse=True)
    dropped = np.zeros(len(starts), dtype=bool)
    dropped[long] = True
    keep = ~np.repeat(dropped, lengths)
    once = long[np.unique(hub, return_index=True)[1]]  # one occurrence of each distinct run
    return (np.concatenate([tails[keep], first + hub, _ranges(tails[starts[once]], lengths[once])]),
            np.concatenate([heads[keep], heads[starts[long]], np.repeat(first + np.arange(len(used)), lengths[once])]),
            len(used))


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
