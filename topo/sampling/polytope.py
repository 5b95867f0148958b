"""The polytope P(c) ∩ {Σq <= R²} of one fiber (or one factor), sparse and streaming.

[`FlowPolytope`][topo.sampling.polytope.FlowPolytope] holds the incidence matrix ``B`` of a set of edges (sparse,
``m × E``), the balances ``c`` and the window ``R²``.  It provides

* [`FlowPolytope.lp_point`][topo.sampling.polytope.FlowPolytope.lp_point]: a point of P(c) minimising a linear cost,
  with some edges forced to zero (HiGHS on the sparse matrix, polished so ``B q = c`` to rounding);
* `positive_flow`: a flow ``z >= 1`` on every edge with ``B z = 0``, built from
  input→output paths in O(E) — added to an LP vertex it gives an interior point;
* [`FlowPolytope.hit_and_run`][topo.sampling.polytope.FlowPolytope.hit_and_run]: a hit-and-run chain whose directions
  are projections onto ``ker B`` through a sparse LU factorisation of ``B Bᵀ``
  (``m × m``): O(nnz(B)) work and O(E) memory per step, no dense null space.

References
----------
.. [1] R. L. Smith, "Efficient Monte Carlo procedures for generating points uniformly
   distributed over bounded regions", Operations Research 32, 1984 (hit-and-run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.linalg import splu

from topo.errors import FiberError
from topo.fiber.flows import polish
from topo.graph.architecture import Architecture

__all__ = ["FlowPolytope", "positive_flow", "factor_edges"]


def factor_edges(arch: Architecture, factor_labels: np.ndarray, n_factors: int) -> list[np.ndarray]:
    """Edge indices of each independent factor: the quotient edges (trainable, between two
    classes) with a constrained end in it.

    Fixed edges (constants of the fiber) and trainable edges inside one class (free
    coordinates: a Euclidean factor) belong to no factor.

    Examples
    --------
    >>> import topo
    >>> from topo.sampling.polytope import factor_edges
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> d = topo.decompose(arch)
    >>> [e.tolist() for e in factor_edges(arch, d.factor_labels, d.n_factors)]
    [[0, 2], [1, 3]]
    """
    row = arch.node_row
    ids = np.asarray(arch.quotient_edges, dtype=np.int64)
    head, tail = row[arch.dst[ids]], row[arch.src[ids]]
    r = np.where(head >= 0, head, tail)
    has = r >= 0
    ids, lab = ids[has], factor_labels[r[has]]
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(n_factors + 1))
    return [np.sort(ids[order[bounds[f]:bounds[f + 1]]]) for f in range(n_factors)]


def positive_flow(arch: Architecture) -> np.ndarray:
    """A flow ``z`` with ``z_e >= 1`` on every edge and ``B̃ z = 0``.

    Each quotient edge ``u -> v`` sends one unit along a path of the quotient graph:
    back from the class of ``u`` through an edge entering its first member (in
    topological order) until a class that is not constrained, forward from the class
    of ``v`` through an edge leaving its last member likewise.  Such an edge always
    links two classes (a fixed edge would join its ends into the class), and the class
    it reaches back (forward) has an earlier first (later last) member, so the paths
    end even when the quotient has cycles; each starts and ends at an unconstrained
    class, so the sum balances at every constrained class.  Edges that the balances do
    not see (fixed, or inside one class) get ``z_e = 1``.  O(E).

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.sampling.polytope import positive_flow
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> z = positive_flow(arch)
    >>> bool(z.min() >= 1), bool(np.allclose(topo.incidence_matrix(arch) @ z, 0))
    (True, True)
    """
    m = arch.n_constrained
    z = np.ones(arch.n_edges)
    if m == 0:
        return z
    row, src, dst = arch.node_row, arch.src, arch.dst
    ids = np.asarray(arch.quotient_edges, dtype=np.int64)
    head, tail = row[dst[ids]], row[src[ids]]
    nodes = np.arange(arch.n_nodes, dtype=np.int64)
    first = np.asarray(arch.constrained_index, dtype=np.int64)
    last = np.full(m, -1, dtype=np.int64)
    on = row >= 0
    np.maximum.at(last, row[on], nodes[on])
    pre = np.full(arch.n_nodes, -1, dtype=np.int64)  # an edge entering each node / leaving it
    post = np.full(arch.n_nodes, -1, dtype=np.int64)
    pre[dst[ids]] = ids
    post[src[ids]] = ids
    pre_l, post_l = pre[first].tolist(), post[last].tolist()
    row_l = row.tolist()
    src_l, dst_l = src.tolist(), dst.tolist()
    back_l = np.bincount(tail[tail >= 0], minlength=m).astype(np.float64).tolist()  # paths to extend back
    fwd_l = np.bincount(head[head >= 0], minlength=m).astype(np.float64).tolist()
    add = [0.0] * arch.n_edges
    for r in np.argsort(-first, kind="stable").tolist():  # later first members first
        e = pre_l[r]
        add[e] += back_l[r]
        t = row_l[src_l[e]]
        if t >= 0:
            back_l[t] += back_l[r]
    for r in np.argsort(last, kind="stable").tolist():  # earlier last members first
        e = post_l[r]
        add[e] += fwd_l[r]
        h = row_l[dst_l[e]]
        if h >= 0:
            fwd_l[h] += fwd_l[r]
    return z + np.asarray(add)


class FlowPolytope:
    """``{q >= 0 : B q = c, Σ q <= R²}`` for a sparse ``B`` (rows of full rank).

    Parameters
    ----------
    B : scipy.sparse matrix (m, E)
    c : array (m,)
    R2 : float
        Squared window radius (may be set later with `set_window`).
    z : array (E,), optional
        A strictly positive element of ``ker B`` (see `positive_flow`), used to
        move LP vertices into the interior.

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.sampling.polytope import FlowPolytope, positive_flow
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> P = FlowPolytope(topo.incidence_matrix(arch), np.array([1.0, -0.5, 2.0]), 30.0, z=positive_flow(arch))
    >>> q0 = P.lp_point()
    >>> Q = np.array(list(P.hit_and_run(P.interior(q0), 50, thin=3, rng=np.random.default_rng(0))))
    >>> Q.shape, bool(np.allclose(Q @ P.B.T.toarray(), [1.0, -0.5, 2.0])), bool(Q.min() >= 0)
    ((50, 13), True, True)
    """

    def __init__(self, B, c: np.ndarray, R2: float = np.inf, *, z: np.ndarray | None = None):
        self.B = sp.csr_matrix(B, dtype=np.float64)
        self.Bt = self.B.T.tocsr()
        self.c = np.asarray(c, dtype=np.float64)
        self.m, self.E = self.B.shape
        self.R2 = float(R2)
        self.z = np.ones(self.E) if z is None else np.asarray(z, dtype=np.float64)
        self._lu = None
        if self.m:
            M = (self.B @ self.Bt).tocsc()
            try:
                self._lu = splu(M)
            except RuntimeError:  # rank-deficient rows (a factor touching no unconstrained node)
                ridge = 1e-12 * float(M.diagonal().max())
                self._lu = splu((M + ridge * sp.identity(self.m, format="csc")).tocsc())

    @property
    def dim(self) -> int:
        """Dimension of the affine hull ``{B q = c}`` (rows assumed independent)."""
        return self.E - self.m

    def set_window(self, R2: float) -> None:
        self.R2 = float(R2)

    def project(self, u: np.ndarray) -> np.ndarray:
        """Orthogonal projection of ``u`` onto ``ker B`` (one sparse solve)."""
        if self._lu is None:
            return u
        return u - self.Bt @ self._lu.solve(self.B @ u)

    def lp_point(self, cost: np.ndarray | None = None, zero: np.ndarray | None = None) -> np.ndarray | None:
        """A point of P(c) minimising ``cost · q`` (default ``Σ q``) with ``q[zero] = 0``;
        ``None`` when there is none."""
        E = self.E
        cost = np.ones(E) if cost is None else np.asarray(cost, dtype=np.float64)
        ub = np.full(E, np.inf)
        if zero is not None and len(zero):
            ub[np.asarray(zero, dtype=np.int64)] = 0.0
        if self.m == 0:
            return np.zeros(E)
        scale = float(np.max(np.abs(self.c))) or 1.0
        res = linprog(cost, A_eq=self.B, b_eq=self.c / scale, bounds=np.column_stack([np.zeros(E), ub]),
                      method="highs-ds",
                      options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
        if res.status == 2:
            return None
        if res.status != 0:
            raise FiberError(f"the linear program for a point of P(c) failed: {res.message}")
        x = np.maximum(res.x, 0.0) * scale
        x[x <= 1e-12 * max(float(x.max(initial=0.0)), scale)] = 0.0
        return polish(self.B, x, self.c)

    def interior(self, q: np.ndarray, share: float = 0.3) -> np.ndarray:
        """``q + ε z``: strictly positive, using ``share`` of the window's slack."""
        slack = self.R2 - float(q.sum())
        if not slack > 0:
            raise FiberError(f"no point of P(c) strictly inside Σq <= R² = {self.R2:.4g}; increase radius")
        eps = share * slack / float(self.z.sum()) if np.isfinite(slack) else 1.0
        return q + eps * self.z

    def hit_and_run(self, q: np.ndarray, n: int, *, thin: int, rng: np.random.Generator,
                    burn_in: int = 0, face_fraction: float = 0.0, progress: bool | None = None,
                    move: Callable | None = None) -> Iterator[np.ndarray]:
        """Yield ``n`` points of the chain started at the interior point ``q``.

        Every ``thin`` steps one point is recorded; with probability ``face_fraction``
        the recorded point is instead the end of the chord on a face ``q_e = 0``.
        ``move(q, d, lo, hi, rng)`` chooses the step ``t`` along the chord ``q + t d``
        (default: uniform on ``[lo, hi]``, the uniform law on the polytope); a slice
        sampler there targets another density.
        """
        from tqdm.auto import tqdm

        q = np.array(q, dtype=np.float64)
        bar = tqdm(total=n, desc="sampling fiber", disable=None if progress is None else not progress,
                   leave=False, mininterval=0.5)
        k = step = 0
        while k < n:
            step += 1
            chord = self.random_chord(q, rng)
            if chord is None:
                continue
            d, lo, hi, lo_face, hi_face = chord
            record = step > burn_in and step % thin == 0
            if record and face_fraction and rng.random() < face_fraction:
                ends = [t for t, is_face in ((lo, lo_face), (hi, hi_face)) if is_face]
                if ends:
                    face = q + ends[int(rng.integers(len(ends)))] * d
                    face[np.argmin(np.abs(face))] = 0.0
                    yield np.maximum(face, 0.0)
                    k += 1
                    bar.update(1)
                    if k >= n:
                        break
            step_t = rng.uniform(lo, hi) if move is None else move(q, d, lo, hi, rng)
            q = np.maximum(q + step_t * d, 0.0)
            if step % 200 == 0 and self.m:  # remove the drift of B q away from c
                q = np.maximum(q - self.Bt @ self._lu.solve(self.B @ q - self.c), 0.0)
            if record:
                yield q.copy()
                k += 1
                bar.update(1)
        bar.close()

    def random_chord(self, q: np.ndarray, rng: np.random.Generator) -> tuple | None:
        """A random direction ``d`` of the flow space and the chord ``q + t d``, ``lo <= t <= hi``,
        inside the window, as ``(d, lo, hi, lo_face, hi_face)`` (``*_face``: that end lies on a
        face ``q_e = 0`` rather than on ``Σq = R²``); None when the chord is degenerate."""
        d = self.project(rng.standard_normal(self.E))
        lo, hi, lo_face, hi_face = self._chord(q, d)
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
            return None
        return d, lo, hi, lo_face, hi_face

    def _chord(self, q: np.ndarray, d: np.ndarray) -> tuple[float, float, bool, bool]:
        pos, neg = d > 1e-15, d < -1e-15
        lo_q = float(np.max(-q[pos] / d[pos], initial=-np.inf))
        hi_q = float(np.min(-q[neg] / d[neg], initial=np.inf))
        s = float(d.sum())
        slack = self.R2 - float(q.sum())
        lo_s, hi_s = -np.inf, np.inf
        if s > 0:
            hi_s = slack / s
        elif s < 0:
            lo_s = slack / s
        return max(lo_q, lo_s), min(hi_q, hi_s), lo_q >= lo_s, hi_q <= hi_s
