"""Paths inside one connected component of a fiber H(c).

The path is built in q-space, where the fiber's image P(c) is convex: straight
segments between waypoints of P(c), lifted back to parameters with
``θ_e = sign_e · sqrt(q_e)`` on scalar edges and ``θ_e = sqrt(q_e) · u_e`` on group
edges (``u_e`` moving along a great circle of the unit sphere).  A scalar edge
whose sign differs between the two ends changes sign at a waypoint where its
``q_e`` is zero; such waypoints come from linear programs over P(c), grouping as
many sign changes as can vanish at once.

With fixed (non-trainable) edges the fiber is a set of points with the same fixed
weights: the two ends must agree on them, and every row of the path keeps them
(those of ``theta0``).  P(c) lives on the trainable edges of the quotient graph
(classes as nodes), so each row keeps every class balance; a trainable edge inside
one class cancels in the balances and moves freely (it may pass through zero at a
waypoint).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topo.errors import FiberError, ParameterError
from topo.fiber.balance import check_same_fiber, default_tol, edge_norms, incidence_matrix
from topo.fiber.connectivity import connectivity
from topo.fiber.flows import feasible_flow
from topo.graph.architecture import ARCH, Architecture
from topo.utils.validation import COUNT, TOLERANCE, validate_params

__all__ = ["fiber_path"]


@validate_params(arch=ARCH, n_steps=COUNT, rtol=TOLERANCE)
def fiber_path(
    arch: Architecture,
    theta0: Any,
    theta1: Any,
    *,
    n_steps: int = 100,
    rtol: float = 1e-9,
) -> np.ndarray:
    """A path of parameter vectors from ``theta0`` to ``theta1`` inside their fiber.

    Parameters
    ----------
    arch : Architecture
    theta0, theta1 : array_like or mapping
        Two points with the same balances (to ``rtol`` relative to the largest
        squared edge norm) in the same connected component.
    n_steps : int
        Number of steps; the result has ``n_steps + 1`` rows.  Must be at least the
        number of straight segments (one more than the number of waypoints).
    rtol : float
        Tolerance of the same-fiber check.

    Returns
    -------
    numpy.ndarray of shape (n_steps + 1, n_params)
        Row 0 is ``theta0``, the last row ``theta1``; every row has the balances
        of ``theta0`` up to rounding.  Each non-frozen scalar edge whose sign
        differs between the ends passes through zero at one row.

    Raises
    ------
    FiberError
        If the points have different balances or different fixed weights, or lie in
        different components.

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> a = np.array([2.0, 1.0, 1.0])                  # c = 4 + 1 - 1 = 4 > 0
    >>> b = np.array([-1.0, -2.0, -1.0])               # same balance, every sign flipped
    >>> path = topo.fiber_path(arch, a, b, n_steps=20)
    >>> path.shape, np.allclose(topo.balance(arch, path[7]), 4.0)
    ((21, 3), True)
    >>> bool((np.abs(path[:, 2]) < 1e-12).any())      # the out-weight crossed zero
    True

    A residual unit: the identity skip ``a -> s`` (fixed) keeps its weight all along.

    >>> arch = topo.Architecture.from_edges(
    ...     [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
    >>> a, b = np.array([3.0, 1.0, 2.0, 1.0, 2.0]), np.array([3.0, -1.0, 2.0, 1.0, -2.0])
    >>> path = topo.fiber_path(arch, a, b, n_steps=10)
    >>> bool(np.all(path[:, 3] == 1.0)), bool(np.allclose(topo.balance(arch, path), topo.balance(arch, a)))
    (True, True)
    """
    v0 = arch.as_vector(theta0, name="theta0")
    v1 = arch.as_vector(theta1, name="theta1")
    fixed = ~arch.edge_trainable[arch.param_edge]
    _check_fixed(arch, v0, v1, fixed, rtol)
    c = check_same_fiber(arch, v0, v1, rtol)
    q0, q1 = edge_norms(arch, v0), edge_norms(arch, v1)
    rep = connectivity(arch, c, tol=default_tol(c, float(np.max(np.maximum(q0, q1), initial=0.0))))
    _check_same_component(arch, rep, v0, v1)
    sizes, offsets = arch.edge_sizes, arch.edge_offsets
    scalar = np.flatnonzero((sizes == 1) & arch.edge_trainable)
    s0 = np.sign(v0[offsets[scalar]])
    s1 = np.sign(v1[offsets[scalar]])
    groups = _zero_groups(arch, c, scalar[(s0 * s1) < 0].tolist(), incidence_matrix(arch))
    waypoints = [q0] + [q for q, _ in groups] + [q1]
    alloc = _steps_per_segment(waypoints, n_steps)
    Q = _q_rows(waypoints, alloc)
    signs = _sign_rows(scalar, s0, s1, groups, alloc, len(Q))

    out = np.empty((len(Q), arch.n_params))
    out[:, offsets[scalar]] = signs * np.sqrt(Q[:, scalar])
    tpos = np.linspace(0.0, 1.0, len(Q))
    for e in np.flatnonzero((sizes > 1) & arch.edge_trainable).tolist():
        a, b = int(offsets[e]), int(offsets[e + 1])
        dirs = _sphere_path(v0[a:b], v1[a:b], tpos)
        out[:, a:b] = np.sqrt(Q[:, e])[:, None] * dirs
    out[:, fixed] = v0[fixed]  # constants of the fiber
    out[0], out[-1] = v0, v1
    return out


def _check_same_component(arch: Architecture, rep, v0: np.ndarray, v1: np.ndarray) -> None:
    """Both ends have the same signs on the frozen scalar edges, else FiberError naming the first
    edge that differs."""
    l0, l1 = rep.label(v0), rep.label(v1)
    if l0 != l1:
        idx = rep.frozen_index[arch.edge_sizes[rep.frozen_index] == 1]
        k = next(i for i, (a, b) in enumerate(zip(l0, l1)) if a != b)
        e = arch.edges[int(idx[k])]
        raise FiberError(
            f"theta0 and theta1 lie in different components: frozen edge {e!r} has sign "
            f"{l0[k]:+d} at theta0 and {l1[k]:+d} at theta1"
        )


def _steps_per_segment(waypoints: list, n_steps: int) -> np.ndarray:
    """Steps of each straight segment between consecutive waypoints: at least one each, the rest
    shared in proportion to the segments' lengths (largest remainders first)."""
    n_seg = len(waypoints) - 1
    if n_steps < n_seg:
        raise ParameterError(f"n_steps must be at least {n_seg} for this pair of points, got {n_steps}")
    lengths = np.array([np.linalg.norm(b - a) for a, b in zip(waypoints[:-1], waypoints[1:])])
    alloc = np.ones(n_seg, dtype=np.int64)
    extra = n_steps - n_seg
    if extra:
        share = lengths / lengths.sum() if lengths.sum() > 0 else np.full(n_seg, 1.0 / n_seg)
        alloc += np.floor(share * extra).astype(np.int64)
        rest = n_steps - int(alloc.sum())
        alloc[np.argsort(-(share * extra - np.floor(share * extra)))[:rest]] += 1
    return alloc


def _q_rows(waypoints: list, alloc: np.ndarray) -> np.ndarray:
    """The squared edge norms along the path: straight segments between the waypoints, ``alloc[i]``
    rows on segment ``i`` after the first row (clipped at 0 against rounding)."""
    qs = [waypoints[0][None, :]]
    for i in range(len(alloc)):
        t = (np.arange(1, alloc[i] + 1) / alloc[i])[:, None]
        qs.append((1 - t) * waypoints[i][None, :] + t * waypoints[i + 1][None, :])
    return np.maximum(np.vstack(qs), 0.0)


def _sign_rows(scalar: np.ndarray, s0: np.ndarray, s1: np.ndarray, groups: list, alloc: np.ndarray,
               n_rows: int) -> np.ndarray:
    """The sign of each scalar edge on each row: that of ``theta0`` (of ``theta1`` where it is 0),
    flipped to ``theta1``'s from the waypoint of the edge's group on (where its ``q_e`` is 0)."""
    sign = np.where(s0 != 0, s0, s1)
    sign = np.where(sign != 0, sign, 1.0)
    signs = np.tile(sign, (n_rows, 1))
    col_of = {int(e): j for j, e in enumerate(scalar.tolist())}
    ends = np.cumsum(alloc)  # row index of waypoint i+1 is ends[i]
    for g, (_, members) in enumerate(groups):
        cols = [col_of[e] for e in members]
        rows_after = np.arange(n_rows) >= ends[g]  # at the waypoint itself q_e = 0
        signs[np.ix_(rows_after, cols)] = s1[cols]
    return signs


def _check_fixed(arch: Architecture, v0: np.ndarray, v1: np.ndarray, fixed: np.ndarray, rtol: float) -> None:
    """Both ends carry the same fixed weights (to ``rtol`` of the largest one), else FiberError."""
    if not fixed.any():
        return
    a, b = v0[fixed], v1[fixed]
    gap = np.abs(a - b)
    scale = float(np.max(np.maximum(np.abs(a), np.abs(b)), initial=0.0))
    if float(gap.max()) > rtol * scale:
        k = int(np.argmax(gap))
        e = arch.edges[int(arch.param_edge[np.flatnonzero(fixed)[k]])]
        raise FiberError(f"theta0 and theta1 lie in different fibers: the fixed edge {e!r} has weight "
                         f"{a[k]:.6g} at theta0 and {b[k]:.6g} at theta1 (fixed weights are constants of a fiber)")


def _zero_groups(arch, c, edges: list[int], B) -> list[tuple[np.ndarray, list[int]]]:
    """Waypoints of P(c) zeroing the given edges, as few as the LP finds."""
    if not edges:
        return []
    q = feasible_flow(arch, c, zero=edges, B=B)
    if q is not None:
        return [(q, edges)]
    if len(edges) == 1:  # pragma: no cover - a non-frozen edge always has a zero point
        raise FiberError(f"no point of the fiber has edge {arch.edges[edges[0]]!r} at zero")
    half = len(edges) // 2
    return _zero_groups(arch, c, edges[:half], B) + _zero_groups(arch, c, edges[half:], B)


def _sphere_path(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Unit vectors moving from a/|a| to b/|b| along a great circle (via a
    perpendicular vector when they are antipodal)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        u = np.zeros_like(a)
        u[0] = 1.0
        return np.tile(u, (len(t), 1))
    ua = a / na if na > 0 else b / nb
    ub = b / nb if nb > 0 else ua
    dot = float(np.clip(ua @ ub, -1.0, 1.0))
    if dot < -1 + 1e-12:
        w = np.zeros_like(ua)
        w[int(np.argmin(np.abs(ua)))] = 1.0
        w -= (w @ ua) * ua
        w /= np.linalg.norm(w)
        first = t <= 0.5
        out = np.empty((len(t), len(ua)))
        out[first] = _slerp(ua, w, 2 * t[first])
        out[~first] = _slerp(w, ub, 2 * t[~first] - 1)
        return out
    return _slerp(ua, ub, t)


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    dot = float(np.clip(a @ b, -1.0, 1.0))
    omega = np.arccos(dot)
    if omega < 1e-12:
        return np.tile(a, (len(t), 1))
    so = np.sin(omega)
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / so
