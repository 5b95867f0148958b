"""Families of architectures for tests, benchmarks and experiments.

All are built with vectorised numpy and [`Architecture.from_arrays`][topo.graph.architecture.Architecture.from_arrays],
so that graphs with millions of edges build in a second or two.
"""

from __future__ import annotations

import numpy as np

from topo.graph.architecture import Architecture
from topo.utils.arrays import unique
from topo.utils.validation import (
    BOOLEAN,
    COUNT,
    COUNT_OR_ZERO,
    SEED,
    Interval,
    NoneOr,
    check_size_budget,
    validate_params,
)

__all__ = ["bottleneck_chain", "binary_tree", "random_layered_dag"]


@validate_params(n=COUNT)
def bottleneck_chain(n: int) -> Architecture:
    """``x -> h0 -> h1 -> ... -> h{n-1} -> y``: ``n`` nodes that are in- and
    out-bottlenecks, with nested regions of depth ``n``.

    Examples
    --------
    >>> import topo
    >>> arch = topo.generators.bottleneck_chain(3)
    >>> arch.edges
    [('x', 'h0'), ('h0', 'h1'), ('h1', 'h2'), ('h2', 'y')]
    """
    check_size_budget(n + 2, n + 1, what=f"bottleneck_chain({n})")
    names = ["x"] + [f"h{i}" for i in range(n)] + ["y"]
    src = np.arange(n + 1, dtype=np.int64)
    return Architecture.from_arrays(src, src + 1, nodes=names)


@validate_params(depth=Interval(int, 0, 62))
def binary_tree(depth: int) -> Architecture:
    """An input feeding the root of a complete binary tree of hidden nodes (every
    node an in-bottleneck), whose ``2**depth`` leaves all feed one output.

    The tree has ``2**(depth+1) - 1`` hidden nodes, named by heap index.

    Examples
    --------
    >>> import topo
    >>> arch = topo.generators.binary_tree(2)
    >>> len(arch.constrained), len(topo.decompose(arch).in_bottlenecks)
    (7, 7)
    """
    n = 2 ** (depth + 1) - 1
    check_size_budget(n + 2, n + 2**depth, what=f"binary_tree({depth})")
    names = ["x"] + [f"t{i}" for i in range(n)] + ["y"]
    child = np.arange(1, n, dtype=np.int64)
    parent = (child - 1) // 2
    leaves = np.arange(2**depth - 1, n, dtype=np.int64)
    src = np.concatenate([[0], parent + 1, leaves + 1])
    dst = np.concatenate([[1], child + 1, np.full(len(leaves), n + 1)])
    return Architecture.from_arrays(src, dst, nodes=names)


_PROBABILITY = Interval(float, 0, 1)


@validate_params(n_layers=COUNT_OR_ZERO, width=COUNT, fan_in=COUNT, n_inputs=NoneOr(COUNT), n_outputs=COUNT,
                 p_skip=_PROBABILITY, p_in_bottleneck=_PROBABILITY, p_out_bottleneck=_PROBABILITY, bias=BOOLEAN,
                 seed=SEED)
def random_layered_dag(
    n_layers: int,
    width: int,
    *,
    fan_in: int = 8,
    n_inputs: int | None = None,
    n_outputs: int = 1,
    p_skip: float = 0.1,
    p_in_bottleneck: float = 0.05,
    p_out_bottleneck: float = 0.05,
    bias: bool = True,
    seed: int | np.random.Generator | None = None,
) -> Architecture:
    """A random layered DAG with skip connections and bottleneck nodes.

    Each of the ``n_layers`` hidden layers has ``width`` nodes.  A hidden node
    takes ``fan_in`` random predecessors from the previous layer (each replaced,
    with probability ``p_skip``, by a node of a random earlier layer: a skip
    connection) plus a bias, except that a fraction ``p_in_bottleneck`` of nodes
    take exactly one predecessor and no bias (in-bottlenecks), and a fraction
    ``p_out_bottleneck`` of nodes are reserved to feed exactly one successor
    (out-bottlenecks).  Node ``l:i`` is node ``i`` of layer ``l`` (layer 0 holds
    the inputs, the last layer the outputs).

    Examples
    --------
    >>> import topo
    >>> arch = topo.generators.random_layered_dag(3, 20, fan_in=4, seed=0)
    >>> arch.n_constrained, len(arch.outputs)
    (60, 1)
    """
    rng = np.random.default_rng(seed)
    n_inputs = width if n_inputs is None else n_inputs
    sizes = [n_inputs] + [width] * n_layers + [n_outputs]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_nodes = int(starts[-1])
    check_size_budget(n_nodes + 1, 0, what=f"random_layered_dag({n_layers}, {width})")
    names = [f"{layer}:{i}" for layer, s in enumerate(sizes) for i in range(s)]
    bias_id = n_nodes
    if bias:
        names.append("bias")
    srcs, dsts = [], []
    reserved_prev = np.zeros(0, dtype=np.int64)
    for layer in range(1, len(sizes)):
        lo, hi = int(starts[layer]), int(starts[layer + 1])
        prev_lo, prev_hi = int(starts[layer - 1]), int(starts[layer])
        cur = np.arange(lo, hi, dtype=np.int64)
        is_hidden = layer < len(sizes) - 1
        # previous-layer nodes other than the reserved out-bottlenecks
        pool = np.setdiff1d(np.arange(prev_lo, prev_hi, dtype=np.int64), reserved_prev)
        if len(pool) == 0:
            pool = np.arange(prev_lo, prev_hi, dtype=np.int64)
        k = np.full(len(cur), min(fan_in, len(pool)), dtype=np.int64)
        in_bn = (rng.random(len(cur)) < p_in_bottleneck) & is_hidden
        k[in_bn] = 1
        dst = np.repeat(cur, k)
        src = pool[rng.integers(0, len(pool), size=len(dst))]
        if layer > 1 and p_skip > 0:
            skip = (rng.random(len(dst)) < p_skip) & ~np.repeat(in_bn, k)
            n_skip = int(skip.sum())
            src_skip = rng.integers(0, prev_lo, size=n_skip)
            src[skip] = src_skip
        srcs.append(src)
        dsts.append(dst)
        # each reserved node of the previous layer feeds exactly one node here
        if len(reserved_prev):
            srcs.append(reserved_prev)
            dsts.append(cur[rng.integers(0, len(cur), size=len(reserved_prev))])
        if bias:
            with_bias = cur[~in_bn]
            srcs.append(np.full(len(with_bias), bias_id, dtype=np.int64))
            dsts.append(with_bias)
        reserved_prev = (
            cur[rng.random(len(cur)) < p_out_bottleneck] if is_hidden and layer + 1 < len(sizes) - 1 else
            np.zeros(0, dtype=np.int64)
        )
    src = np.concatenate(srcs)
    dst = np.concatenate(dsts)
    n_total = n_nodes + (1 if bias else 0)
    keys = unique(src * n_total + dst)
    src, dst = keys // n_total, keys % n_total
    # hidden nodes nobody consumes feed a random node of the next layer
    outdeg = np.bincount(src, minlength=n_total)
    extra_s, extra_d = [], []
    for layer in range(1, len(sizes) - 1):
        lo, hi = int(starts[layer]), int(starts[layer + 1])
        dead = np.arange(lo, hi)[outdeg[lo:hi] == 0]
        if len(dead):
            nlo, nhi = int(starts[layer + 1]), int(starts[layer + 2])
            extra_s.append(dead)
            extra_d.append(rng.integers(nlo, nhi, size=len(dead)))
    if extra_s:
        src = np.concatenate([src] + extra_s)
        dst = np.concatenate([dst] + extra_d)
    # inputs nobody consumes feed a random node of layer 1
    outdeg = np.bincount(src, minlength=n_total)
    dead_in = np.arange(0, n_inputs)[outdeg[:n_inputs] == 0]
    if len(dead_in):
        src = np.concatenate([src, dead_in])
        dst = np.concatenate([dst, rng.integers(starts[1], starts[2], size=len(dead_in))])
    roles = {"bias": "bias"} if bias else None
    if bias:
        # keep the nodes in a topological order: the bias goes first
        order = np.concatenate([[bias_id], np.arange(n_nodes)])
        inv = np.empty(n_total, dtype=np.int64)
        inv[order] = np.arange(n_total)
        names = [names[i] for i in order.tolist()]
        src, dst = inv[src], inv[dst]
    return Architecture.from_arrays(src, dst, nodes=names, roles=roles)
