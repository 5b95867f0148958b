"""Points of the polyhedron P(c) = {q >= 0 : B̃ q = c}, by linear programming.

Used for the certificates of non-frozen edges (a point with ``q_e = 0``) and for
the waypoints of fiber paths.  Only edges with a constrained endpoint enter the
program; the others are irrelevant to the balances and get ``q_e = 0``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.linalg import lsqr

from topo.errors import FiberError
from topo.fiber.balance import incidence_matrix
from topo.graph.architecture import Architecture

__all__ = ["feasible_flow", "polish"]


def feasible_flow(
    arch: Architecture,
    c: np.ndarray,
    *,
    zero: Iterable[int] = (),
    B: sp.csr_matrix | None = None,
) -> np.ndarray | None:
    """A point ``q`` of P(c) with ``q[e] = 0`` for every edge index in ``zero``.

    Returns ``None`` when there is none.  The returned point is polished so that
    ``B̃ q = c`` holds to rounding and ``q >= 0`` exactly.

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.fiber.flows import feasible_flow
    >>> arch = topo.Architecture.from_edges([("x", "h"), ("h", "y"), ("x2", "h")])
    >>> q = feasible_flow(arch, np.array([1.0]), zero=[0])
    >>> float(q[0]), float(q[2] - q[1])
    (0.0, 1.0)
    >>> feasible_flow(arch, np.array([1.0]), zero=[0, 2]) is None
    True
    """
    if B is None:
        B = incidence_matrix(arch)
    c = np.asarray(c, dtype=np.float64)
    n_edges = arch.n_edges
    zero_mask = np.zeros(n_edges, dtype=bool)
    zero_idx = np.fromiter(zero, dtype=np.int64)
    zero_mask[zero_idx] = True
    touched = np.asarray(abs(B).sum(axis=0)).ravel() > 0
    cols = np.flatnonzero(touched & ~zero_mask)
    q = np.zeros(n_edges)
    if arch.n_constrained == 0:
        return q
    scale = float(np.max(np.abs(c))) or 1.0
    if len(cols) == 0:  # every edge is forced to zero: feasible only for c = 0
        return q if not np.any(c) else None
    A = B[:, cols]
    res = linprog(
        np.ones(len(cols)), A_eq=A, b_eq=c / scale, bounds=(0, None), method="highs-ds",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    if res.status == 2:
        return None
    if res.status != 0:
        raise FiberError(f"the linear program for a point of P(c) failed: {res.message}")
    x = np.maximum(res.x, 0.0) * scale
    x = polish(A, x, c)
    q[cols] = x
    return q


def polish(A: sp.csr_matrix, x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``x >= 0`` corrected by least squares on its support so that ``A x = c`` to rounding
    (an LP solution is feasible only to the solver's tolerance; certificates need better)."""
    for _ in range(3):
        r = c - A @ x
        if np.max(np.abs(r), initial=0.0) <= 1e-13 * max(1.0, float(np.max(np.abs(c), initial=0.0))):
            break
        support = np.flatnonzero(x > 0)
        if len(support) == 0:
            break
        delta = lsqr(A[:, support], r, atol=1e-15, btol=1e-15, iter_lim=10 * A.shape[0] + 100)[0]
        trial = x.copy()
        trial[support] += delta
        if np.any(trial < 0):
            trial = np.maximum(trial, 0.0)
        if np.max(np.abs(c - A @ trial)) < np.max(np.abs(r)):
            x = trial
        else:
            break
    return x
