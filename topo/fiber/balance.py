"""Conserved balances of gradient flow: c = B̃ q(θ).

For a constrained node ``v``, rescaling its in-edges by ``a > 0`` and its
out-edges by ``1/a`` leaves the network function unchanged, so under gradient
flow the balance ``c_v = sum_{e into v} q_e - sum_{e out of v} q_e`` is constant,
where ``q_e = ||θ_e||²`` is the squared norm of the weight group of edge ``e``.

References
----------
.. [1] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, "Topology and geometry of the
   learning space of ReLU networks: connectivity and singularities", ICLR 2026,
   arXiv:2602.00693.
.. [2] S. Du, W. Hu, J. Lee, "Algorithmic regularization in learning deep
   homogeneous models", NeurIPS 2018.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from topo.errors import FiberError, ParameterError
from topo.graph.architecture import ARCH, Architecture
from topo.utils.arrays import bincount, flatnonzero_by_chunks
from topo.utils.text import short
from topo.utils.validation import (
    TOLERANCE,
    Options,
    first_non_finite,
    real_vector,
    real_vector_of_length,
    validate_params,
)

__all__ = ["edge_norms", "incidence_matrix", "balance", "scaled_balance", "balances_in_range", "as_balance",
           "default_tol", "check_tol", "check_same_fiber", "power_of_two_scale", "vector_norm"]


def power_of_two_scale(vec: np.ndarray) -> tuple[np.ndarray, int]:
    """``(vec / 2**k, k)`` with ``2**(k-1) <= max|vec| < 2**k``: exact (a power of two),
    and the squares of the scaled vector neither underflow nor overflow."""
    m = float(np.max(np.abs(vec), initial=0.0))
    if m == 0.0 or not np.isfinite(m):
        return vec, 0
    k = int(np.frexp(m)[1])
    return np.ldexp(vec, -k), k


def vector_norm(vec: np.ndarray, *, chunk: int = 1 << 20) -> float:
    """Euclidean norm of a float vector, without overflow or underflow and without a copy of it.

    Weights between 2^-400 and 2^400 (no square can overflow, none that matters can underflow)
    take one BLAS dot product; others are rescaled by an exact power of two, ``chunk`` entries
    at a time.  A norm beyond the float range saturates at the largest float.

    Examples
    --------
    >>> import numpy as np
    >>> vector_norm(np.array([3.0, 4.0])), vector_norm(np.array([3e300, 4e300]))
    (5.0, 5e+300)
    >>> vector_norm(np.array([3e-320, 4e-320])) > 0
    True
    """
    vec = np.ascontiguousarray(vec, dtype=np.float64).ravel()
    if not len(vec):
        return 0.0
    m = max(float(vec.max()), -float(vec.min()))
    if not np.isfinite(m):
        return float(np.finfo(np.float64).max)
    if m == 0.0:
        return 0.0
    if 2.0**-400 < m < 2.0**400:
        return float(np.sqrt(vec @ vec))
    k = int(np.frexp(m)[1])
    total = 0.0
    for i in range(0, len(vec), chunk):
        part = np.ldexp(vec[i:i + chunk], -k)
        total += float(part @ part)
    with np.errstate(over="ignore"):
        value = float(np.ldexp(np.sqrt(total), k))
    return value if np.isfinite(value) else float(np.finfo(np.float64).max)


def _scaled_norms(arch: Architecture, vec: np.ndarray, *, always: bool = True) -> tuple[np.ndarray, int]:
    """``(q / 2**e, e)``; with ``always=False`` the common case of weights between 2^-400
    and 2^400 (no square can overflow, none that matters can underflow) is not rescaled."""
    if not always:
        m = float(np.max(np.abs(vec), initial=0.0))
        if m == 0.0 or 2.0**-400 < m < 2.0**400:
            return _group_squares(arch, vec), 0
    scaled, k = power_of_two_scale(vec)
    return _group_squares(arch, scaled), 2 * k


@validate_params(arch=ARCH)
def edge_norms(arch: Architecture, theta: Any) -> np.ndarray:
    """Squared norm ``q_e = ||θ_e||²`` of every edge group.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.from_edges([("x", "h", {"size": 2}), ("h", "y")])
    >>> topo.edge_norms(arch, [3.0, 4.0, 2.0])
    array([25.,  4.])
    """
    q, e = _scaled_norms(arch, arch.as_vector(theta), always=False)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(q, e) if e else q


@validate_params(arch=ARCH)
def scaled_balance(arch: Architecture, theta: Any) -> tuple[np.ndarray, int]:
    """Balances as ``(c_scaled, e)`` with ``c = c_scaled * 2**e``, computed from ``θ / 2**(e/2)``
    whose entries are all below 1 in absolute value.

    ``θ`` is divided by a power of two before squaring, so nothing underflows or
    overflows whatever the scale of ``θ`` (weights of 1e-170 or 1e170 included), and
    ``c_scaled`` is the same for ``θ`` and ``2**j θ``: decisions that depend on ``c``
    only up to a positive factor (frozen edges, components, signs) must be made on
    ``c_scaled``.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> topo.balance(arch, [1e-170, 2e-170, 3e-170])          # the squares underflow
    array([0.])
    >>> c, e = topo.scaled_balance(arch, [1e-170, 2e-170, 3e-170])
    >>> bool(c[0] < 0), e
    (True, -1126)
    >>> c2, e2 = topo.scaled_balance(arch, [2.0**-563, 2 * 2.0**-563, 3 * 2.0**-563])
    >>> c2, e2          # (1 + 4 - 9) * 2**-1126 = -0.25 * 2**-1122
    (array([-0.25]), -1122)
    """
    q, e = _scaled_norms(arch, arch.as_vector(theta))
    return _apply_incidence(arch, q), e


def _apply_incidence(arch: Architecture, q: np.ndarray) -> np.ndarray:
    """``c = B̃ q``: per node, the squared norms entering and leaving it (two weighted bincounts over
    the edge ends themselves, by chunks: no per-edge row arrays), then per balance row.  An edge
    inside one class counts at neither end: its ``q`` is set to zero for the two passes (and put
    back)."""
    m, n = arch.n_constrained, arch.n_nodes
    inside = _inside_edges(arch)
    if len(inside):
        if not q.flags.writeable:
            q = q.copy()
        saved = q[inside]
        q[inside] = 0.0
    try:
        into = bincount(arch.dst, weights=q, minlength=n)
        out_of = bincount(arch.src, weights=q, minlength=n)
    finally:
        if len(inside):
            q[inside] = saved
    row = arch.node_row
    row = np.where(row >= 0, row, m)  # unconstrained nodes go to the extra bin m
    c = np.bincount(row, weights=into, minlength=m + 1)[:m]
    c -= np.bincount(row, weights=out_of, minlength=m + 1)[:m]
    return c


def _inside_edges(arch: Architecture) -> np.ndarray:
    """Indices of the edges between two members of one constrained class (cached on the
    architecture; found in chunks, without per-edge temporaries as long as the edges)."""
    def build():
        row, src, dst = arch.node_row, arch.src, arch.dst

        def inside(s):
            a = row[src[s]]
            return (a == row[dst[s]]) & (a >= 0)

        out = flatnonzero_by_chunks(arch.n_edges, inside)
        out.flags.writeable = False
        return out

    return arch.derived("inside_edges", build)


def _ends(arch: Architecture, dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Balance rows of the heads and tails of edges (new arrays, int32 when the rows fit), -1 at both
    ends of an edge inside one class (it enters and leaves its class: it cancels)."""
    row_of = arch.node_row
    if arch.n_constrained < 2**31 - 1:
        row_of = row_of.astype(np.int32)  # halves the per-edge arrays
    head, tail = row_of[dst], row_of[src]
    inside = head == tail
    if inside.any():
        head[inside] = -1
        tail[inside] = -1
    return head, tail


@validate_params(arch=ARCH, over=Options("edges", "parameters"))
def incidence_matrix(arch: Architecture, *, over: str = "edges") -> sp.csr_matrix:
    """Signed incidence matrix B̃ of the quotient graph, restricted to the constrained classes.

    Row ``i`` is the class ``arch.rescaling_classes[i]``.  With ``over="edges"`` column ``e`` is
    edge ``arch.edges[e]`` (+1 at the class of its head, -1 at the class of its tail, when those
    are constrained; an edge inside one class, fixed or trainable, is a zero column), so that ``c = B̃ @ q`` with ``q = edge_norms(arch, theta)``.
    With ``over="parameters"`` each edge column is repeated once per scalar weight
    of its group, so that ``c = B̃ @ theta**2``.  The ``"edges"`` matrix depends on
    the structure only: it is built once and cached on the architecture (do not
    modify it in place).

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.from_edges([("x", "h"), ("h", "y")])
    >>> topo.incidence_matrix(arch).toarray()
    array([[ 1., -1.]])
    """
    if over == "edges":  # structure only: built once per architecture and shared by the analyses
        return arch.derived("incidence", lambda: _incidence(arch, np.arange(arch.n_edges, dtype=np.int64)))
    return _incidence(arch, arch.param_edge)  # over="parameters"


def _incidence(arch: Architecture, col_edge: np.ndarray) -> sp.csr_matrix:
    head, tail = _ends(arch, arch.dst[col_edge], arch.src[col_edge])
    cols = np.arange(len(col_edge), dtype=np.int64)
    mh, mt = head >= 0, tail >= 0
    rows = np.concatenate([head[mh], tail[mt]])
    columns = np.concatenate([cols[mh], cols[mt]])
    data = np.concatenate([np.ones(int(mh.sum())), -np.ones(int(mt.sum()))])
    return sp.csr_matrix((data, (rows, columns)), shape=(arch.n_constrained, len(col_edge)))


@validate_params(arch=ARCH)
def balance(arch: Architecture, theta: Any) -> np.ndarray:
    """Conserved balances ``c = B̃ q(θ)``, aligned with ``arch.constrained``.

    Parameters
    ----------
    arch : Architecture
    theta : array_like or mapping
        Flat parameter vector or ``{(u, v): weights}``.

    Returns
    -------
    numpy.ndarray
        ``c[i]`` = (squared norm entering) - (squared norm leaving) of
        ``arch.constrained[i]``.  ``θ`` is rescaled by a power of two before
        squaring, so intermediate squares never overflow or underflow; ``c`` itself
        is ``±inf``/``0`` only when its true value is outside the float range (use
        [`scaled_balance`][topo.fiber.balance.scaled_balance] for such scales).

    A 2-D array of shape ``(n_points, n_params)`` (e.g. a trajectory or a
    fiber path) gives one row of balances per point.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> topo.balance(arch, [1.0, 2.0, 3.0])     # 1 + 4 - 9
    array([-4.])
    >>> topo.balance(arch, [[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    array([[-4.],
           [-1.]])
    """
    if not isinstance(theta, Mapping):
        try:
            arr = np.asarray(theta)
        except (TypeError, ValueError, OverflowError, RecursionError):
            arr = None  # not an array (e.g. ragged): as_vector below says why
        if arr is not None and arr.ndim == 2:
            if arr.shape[1] != arch.n_params:
                raise ParameterError(
                    f"theta has shape {arr.shape}; a batch must have shape (n_points, {arch.n_params})"
                )
            rows = np.stack([arch.as_vector(r, name=f"theta[{i}]") for i, r in enumerate(arr)])
            m = np.max(np.abs(rows), axis=1, initial=0.0)
            k = np.where(m > 0, np.frexp(m)[1], 0)
            rows = np.ldexp(rows, -k[:, None])
            out = (incidence_matrix(arch, over="parameters") @ (rows * rows).T).T
            with np.errstate(over="ignore", under="ignore"):
                return np.ldexp(out, 2 * k[:, None])
    q, e = _scaled_norms(arch, arch.as_vector(theta), always=False)
    c = _apply_incidence(arch, q)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(c, e) if e else c


def as_balance(arch: Architecture, c: Any) -> np.ndarray:
    """Validate a balance vector (array aligned with ``arch.constrained`` or
    ``{node: value}``, a class named by any one of its members) and return it as float64."""
    m = arch.n_constrained
    if isinstance(c, Mapping):
        vec = np.zeros(m)
        seen = np.zeros(m, dtype=bool)
        named: dict[int, Hashable] = {}
        for node, value in c.items():
            r = arch.constrained_row(node)
            if r in named:
                raise ParameterError(f"c: {short(named[r])} and {short(node)} are one rescaling class "
                                     f"(one balance): give it once")
            named[r] = node
            val = real_vector(value, f"c: balance of node {short(node)}")
            if val.size != 1:
                raise ParameterError(f"c: balance of node {short(node)} must be one number, got shape {val.shape}")
            vec[r] = float(val.reshape(-1)[0])
            seen[r] = True
        if not seen.all():
            missing = [arch.constrained[r] for r in np.flatnonzero(~seen)[:3].tolist()]
            raise ParameterError(f"c: no balance for {int((~seen).sum())} constrained node(s), e.g. {missing}")
    else:
        vec = real_vector_of_length(c, "c", m, "constrained nodes")
    r = first_non_finite(vec)
    if r is not None:
        raise ParameterError(f"c has a non-finite value {vec[r]} at constrained node {arch.constrained[r]!r}")
    return vec


def default_tol(c: np.ndarray, scale: float = 0.0) -> float:
    """The tolerance of every zero test on balances: ``1e-9 * max(max|c|, scale)``.

    ``scale`` is the largest squared edge norm of the parameter point when there is one
    (sums of balances are compared with the norms they are made of); a balance vector
    alone gives ``1e-9 * max|c|``.  This is the one rule used by the frozen-edge
    decision, the strata search, exact Betti numbers, sampling checks and the audit.

    Examples
    --------
    >>> import numpy as np
    >>> default_tol(np.array([2.0, -4.0])), default_tol(np.array([1e-3]), scale=10.0)
    (4e-09, 1e-08)
    """
    return 1e-9 * max(float(np.max(np.abs(c), initial=0.0)), scale)


def check_tol(tol: Any, c: np.ndarray, scale: float = 0.0) -> float:
    """``tol`` as a float (the `default_tol` of ``c`` when None), refusing negative,
    NaN and non-numeric values with a [`ParameterError`][topo.errors.ParameterError].

    Examples
    --------
    >>> check_tol(None, np.array([1.0])), check_tol(0.5, np.array([1.0]))
    (1e-09, 0.5)
    >>> check_tol(-1, np.array([1.0]))
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: tol must be a finite number >= 0, got -1
    """
    if tol is None:
        return default_tol(c, scale)
    if not TOLERANCE.accepts(tol):
        raise ParameterError(TOLERANCE.message("tol", tol))
    return float(tol)


def check_same_fiber(arch: Architecture, v0: np.ndarray, v1: np.ndarray, rtol: float) -> np.ndarray:
    """The balances of ``v0``, after checking that ``v1`` has the same ones (within ``rtol``
    times the largest squared edge norm); a [`FiberError`][topo.errors.FiberError] naming the
    first unit that differs otherwise."""
    c_given = balance(arch, v0)
    both, k = power_of_two_scale(np.concatenate([v0, v1]))  # one common power of two
    v0, v1 = both[: len(v0)], both[len(v0):]
    c0, c1 = balance(arch, v0), balance(arch, v1)
    scale = max(float(np.max(edge_norms(arch, v0), initial=0.0)),
                float(np.max(edge_norms(arch, v1), initial=0.0)), 1e-300)
    diff = np.abs(c0 - c1)
    if diff.size and float(diff.max()) > rtol * scale:
        r = int(np.argmax(diff))
        raise FiberError(
            f"the two points lie on different fibers: balance of {arch.constrained[r]!r} is "
            f"{np.ldexp(c0[r], 2 * k):.6g} vs {np.ldexp(c1[r], 2 * k):.6g}"
        )
    return c_given


def balances_in_range(arch: Architecture, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(c, q, unit)``: balances and squared edge norms in units of ``2**unit``.

    ``unit`` is 0 unless the balances or norms of ``vec`` fall outside the normal float
    range (weights below ~1e-154 or above ~1e154), where squaring would underflow to 0
    (one component instead of eight) or overflow to inf.  ``θ`` is rescaled by a power
    of two, so the values are exact up to the scale and every decision is unchanged.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> balances_in_range(arch, [1.0, 2.0, 3.0])
    (array([-4.]), array([1., 4., 9.]), 0)
    >>> c, q, unit = balances_in_range(arch, [1e-170, 2e-170, 3e-170])
    >>> c, unit        # (1 + 4 - 9) 1e-340 = -0.3646... 2^-1126
    (array([-0.36461549]), -1126)
    """
    vec = arch.as_vector(vec)
    plain = _plain_balances(arch, vec)
    if plain is not None:
        return plain
    scaled, k = power_of_two_scale(vec)
    qn, e = _scaled_norms(arch, scaled)  # max|scaled| < 1: e == 0, the squares are exact in range
    cn = _apply_incidence(arch, qn)
    top = max(float(np.max(np.abs(cn), initial=0.0)), float(np.max(qn, initial=0.0)))
    with np.errstate(over="ignore", under="ignore"):
        full = float(np.ldexp(top, 2 * k))
    if top == 0.0 or (np.isfinite(full) and full >= 2.0**-960 and full <= 2.0**960):
        return np.ldexp(cn, 2 * k), np.ldexp(qn, 2 * k), 0
    return cn, qn, 2 * k


def _plain_balances(arch: Architecture, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """`balances_in_range` without rescaling, or None when it must rescale.

    Dividing by a power of two is exact and so is every square and sum after it, as long as
    nothing comes near the subnormal range: when the smallest nonzero weight is above
    ``2**(k - 480)`` (``2**k`` bounding the largest) and the results are in the normal range,
    the plain squares are bit for bit the rescaled ones times ``4**k``, at a fraction of the
    cost (no ``ldexp`` pass, no second scan)."""
    top_w, low_w = _abs_range(vec)
    if top_w == 0.0 or not np.isfinite(top_w):
        return None
    k = max(int(np.frexp(top_w)[1]), 0)
    if k > 480 or low_w < 2.0 ** (k - 480):
        return None
    q = _group_squares(arch, vec)
    c = _apply_incidence(arch, q)
    top = max(float(np.max(np.abs(c), initial=0.0)), float(np.max(q, initial=0.0)))
    if 2.0**-960 <= top <= 2.0**960:
        return c, q, 0
    return None


def _abs_range(vec: np.ndarray) -> tuple[float, float]:
    """``(max |θ|, min nonzero |θ|)`` in chunks (no parameter-sized temporary)."""
    top, low = 0.0, np.inf
    buf = np.empty(min(len(vec), _CHUNK))
    for i in range(0, len(vec), _CHUNK):
        part = vec[i:i + _CHUNK]
        a = np.abs(part, out=buf[:len(part)])
        m = float(np.max(a, initial=0.0))
        top = m if not m <= top else top  # a NaN is kept (and refused by the caller)
        least = float(np.min(a, initial=np.inf))
        if least == 0.0:  # zeros do not count: only then the masked pass
            least = float(np.min(a, initial=np.inf, where=a != 0.0))
        low = min(low, least)
    return top, low


#: Parameters squared and summed per pass of `_group_squares` (bounds its work arrays).
_CHUNK = 1 << 22
#: Parameters per block of a run of equal-size edges in `_group_squares` (the block stays in cache
#: while its ``k`` columns are squared and added).
_RUN_BLOCK = 1 << 17
#: Runs of equal-size edges shorter than this are summed with the chunked ``bincount`` instead.
_MIN_RUN = 64


def _group_squares(arch: Architecture, vec: np.ndarray) -> np.ndarray:
    """``q_e = sum of θ_i² over edge e's group``, bit for bit ``np.bincount(arch.param_edge,
    vec**2)`` (each group is added in order), without a parameter-sized index or square array.

    A layer's edges have one size ``k`` (the taps of its kernel): a run of equal-size edges is a
    ``(edges, k)`` matrix whose ``k`` columns are squared and added in order, a block at a time;
    short runs (edges of mixed sizes) go through a chunked ``bincount``."""
    if arch.n_params == arch.n_edges:
        return vec * vec
    off = arch.edge_offsets
    q = np.empty(arch.n_edges)
    tmp = np.empty(_RUN_BLOCK)
    mixed = 0  # the first edge not yet summed, when it starts a stretch of short runs
    for a, b, k in _long_size_runs(arch).tolist():
        _bincount_squares(q, vec, off, mixed, a)
        mixed = b
        step = max(_RUN_BLOCK // k, 1)
        for e in range(a, b, step):
            f = min(e + step, b)
            cols = vec[off[e]:off[f]].reshape(f - e, k)
            out, t = q[e:f], tmp[:f - e]
            np.multiply(cols[:, 0], cols[:, 0], out=out)
            for j in range(1, k):
                np.multiply(cols[:, j], cols[:, j], out=t)
                out += t
    _bincount_squares(q, vec, off, mixed, arch.n_edges)
    return q


def _long_size_runs(arch: Architecture) -> np.ndarray:
    """``(first edge, stop, size)`` rows of the maximal runs of at least `_MIN_RUN` consecutive
    edges of equal size, in edge order (cached; at most ``n_edges / _MIN_RUN`` rows)."""
    def build():
        sizes = arch.edge_sizes
        cut = np.flatnonzero(sizes[1:] != sizes[:-1]) + 1
        starts = np.concatenate([[0], cut]).astype(np.int64)
        stops = np.append(cut, len(sizes)).astype(np.int64)
        long = stops - starts >= _MIN_RUN
        out = np.stack([starts[long], stops[long], sizes[starts[long]]], axis=1)
        out.flags.writeable = False
        return out

    return arch.derived("size_runs", build) if arch.n_edges else np.zeros((0, 3), dtype=np.int64)


def _bincount_squares(q: np.ndarray, vec: np.ndarray, off: np.ndarray, e0: int, stop: int) -> None:
    """``q[e0:stop]``: each edge's squares added in order by a weighted ``bincount``, by chunks of
    about `_CHUNK` parameters."""
    while e0 < stop:
        e1 = max(int(np.searchsorted(off, off[e0] + _CHUNK, side="right")) - 1, e0 + 1)
        e1 = min(e1, stop)
        part = vec[off[e0]:off[e1]]
        owner = np.repeat(np.arange(e1 - e0), np.diff(off[e0:e1 + 1]))
        q[e0:e1] = np.bincount(owner, weights=part * part, minlength=e1 - e0)
        e0 = e1
