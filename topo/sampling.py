"""Random points on a fiber H(c) = {θ : B̃ q(θ) = c}.

Two samplers:

``method="polytope"`` (default)
    Hit-and-run in the polytope ``P(c) ∩ {Σ q <= R²}`` (convex, so the chain mixes
    well and every region is reached), lifted to parameters with independent
    uniformly random signs (scalar edges) or directions (group edges).  A fraction
    ``face_fraction`` of the points is taken where the chord leaves the polytope
    through a face ``q_e = 0``: such a point lies in every orthant that meets the
    face, which is what glues the sign orthants of one component together in a
    point cloud.  Use it to count components and to compare with the theory: it
    samples *every* component.

``method="walk"``
    Random walks inside the fiber: steps in the tangent space
    (``ker dF``) followed by a Newton retraction onto ``F(θ) = c``, started from a
    few polytope points.  A walk never jumps between components, so its cloud
    shows what one trajectory can explore; it is also the only sampler that makes
    no use of the flow structure (a check of the theory rather than a consequence).

``coordinates="bottleneck"`` keeps only the weights on *bottleneck edges* (the
single edge of a bottleneck node), the only edges that can be frozen.  The
projection of a component is connected, and two components differ in the sign of
some frozen edge whose weight stays at least ``sqrt(margin)`` away from zero, so
the projected cloud has the same number of components: the projection of P(c)
is a polyhedron with the same frozen set.  It makes β₀ checks affordable on large
networks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.optimize import linprog

from .architecture import Architecture
from .balance import incidence_matrix
from .connectivity import as_balance
from .decompose import decompose
from .errors import FiberError

__all__ = ["sample_fiber", "default_radius"]


def default_radius(arch: Architecture, c: Any) -> float:
    """Default ``R`` of the sampling window ``Σ q <= R²``: ``R² = 3 · max(min Σq, max|c|)``
    (``min Σq`` over P(c) by a linear program), or 1 when c = 0."""
    cv = as_balance(arch, c)
    B = incidence_matrix(arch)
    res = linprog(np.ones(arch.n_edges), A_eq=B, b_eq=cv, bounds=(0, None), method="highs")
    base = max(float(res.fun) if res.status == 0 else 0.0, float(np.max(np.abs(cv), initial=0.0)))
    return float(np.sqrt(3.0 * base)) if base > 0 else 1.0


def _interior_point(B, c, R2):
    """A point of P(c) ∩ {Σq <= R²} maximising its smallest coordinate."""
    E = B.shape[1]
    # variables (q, s): maximise s subject to q_e >= s, B q = c, Σ q <= R²
    cost = np.zeros(E + 1)
    cost[-1] = -1.0
    A_ub = np.zeros((E + 1, E + 1))
    A_ub[:E, :E] = -np.eye(E)
    A_ub[:E, -1] = 1.0
    A_ub[E, :E] = 1.0
    b_ub = np.zeros(E + 1)
    b_ub[E] = R2
    A_eq = np.hstack([B, np.zeros((B.shape[0], 1))])
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=c, bounds=[(0, None)] * E + [(0, None)],
                  method="highs")
    if res.status != 0:
        raise FiberError(f"no point of P(c) with Σq <= R² = {R2:.4g}; increase radius")
    return np.maximum(res.x[:E], 0.0), float(res.x[-1])


def _lift(arch: Architecture, Q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Parameters with squared group norms Q (n, E), random signs / directions."""
    n = len(Q)
    if np.all(arch.edge_sizes == 1):
        signs = rng.choice([-1.0, 1.0], size=(n, arch.n_edges))
        return signs * np.sqrt(Q)
    pe = arch.param_edge
    g = rng.standard_normal((n, arch.n_params))
    norms = np.sqrt(np.stack([np.bincount(pe, weights=row * row, minlength=arch.n_edges) for row in g]))
    return g / norms[:, pe] * np.sqrt(Q)[:, pe]


def _slice_on_chord(q, d, lo, hi, rng, delta):
    """Slice sampling of t in [lo, hi] for the density prod_e (q_e + t d_e + delta)^(-1/2),
    i.e. uniform in the coordinates theta = sqrt(q) (shrinkage towards the current t = 0)."""
    def logp(t):
        return -0.5 * float(np.sum(np.log(np.maximum(q + t * d, 0.0) + delta)))

    y = logp(0.0) + np.log(rng.random())
    a, b = lo, hi
    for _ in range(60):
        t = rng.uniform(a, b)
        if logp(t) >= y:
            return t
        if t < 0:
            a = t
        else:
            b = t
    return 0.0


def _hit_and_run(B, c, R2, n, rng, *, face_fraction, thin, burn_in, progress, uniform_theta=False):
    E = B.shape[1]
    delta = 1e-9 * R2
    q0, slack = _interior_point(B, c, R2)
    if slack <= 0:
        raise FiberError("P(c) ∩ {Σq <= R²} has an empty interior; increase radius")
    N = sla.null_space(B) if B.shape[0] else np.eye(E)
    if N.shape[1] == 0:
        return np.tile(q0, (n, 1))
    ones_dir = N.sum(axis=0)  # d(Σq)/dz
    z = np.zeros(N.shape[1])
    out = np.empty((n, E))
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc="sampling fiber", disable=None if progress is None else not progress, leave=False)
    k = 0
    step = 0
    while k < n:
        u = rng.standard_normal(N.shape[1])
        d = N @ u
        q = q0 + N @ z
        # q + t d >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -q / d
        pos, neg = d > 1e-15, d < -1e-15
        lo_q = np.max(t[pos], initial=-np.inf)
        hi_q = np.min(t[neg], initial=np.inf)
        s = float(ones_dir @ u)
        slack_sum = R2 - float(q.sum())
        lo_s, hi_s = -np.inf, np.inf
        if s > 0:
            hi_s = slack_sum / s
        elif s < 0:
            lo_s = slack_sum / s
        lo, hi = max(lo_q, lo_s), min(hi_q, hi_s)
        step += 1
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
            continue
        record = step > burn_in and step % thin == 0
        if record and rng.random() < face_fraction:
            # the point where the chord leaves the polytope through a face q_e = 0
            ends = [tb for tb, is_face in ((lo, lo_q >= lo_s), (hi, hi_q <= hi_s)) if is_face]
            if ends:
                face = q + ends[int(rng.integers(len(ends)))] * d
                face[np.argmin(np.abs(face))] = 0.0
                out[k] = np.maximum(face, 0.0)
                k += 1
                bar.update(1)
        if uniform_theta:
            t_new = _slice_on_chord(q, d, lo, hi, rng, delta)
        else:
            t_new = rng.uniform(lo, hi)
        z = z + t_new * u
        if record and k < n:
            out[k] = np.maximum(q0 + N @ z, 0.0)
            k += 1
            bar.update(1)
    bar.close()
    return out


def _walk(arch, c, Q_start, n, rng, *, step_size, n_walks, progress):
    B = incidence_matrix(arch, over="parameters")
    Bd = B.toarray()
    starts = _lift(arch, Q_start[:n_walks], rng)
    per = int(np.ceil(n / len(starts)))
    out = []
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc="walking on fiber", disable=None if progress is None else not progress, leave=False)
    scale = max(float(np.abs(c).max(initial=0.0)), 1e-300)
    for theta in starts:
        h = step_size * max(np.linalg.norm(theta), 1e-12)
        for _ in range(per):
            J = 2 * Bd * theta[None, :]
            v = rng.standard_normal(len(theta)) * h
            if J.shape[0]:
                v -= J.T @ np.linalg.lstsq(J @ J.T, J @ v, rcond=None)[0]
            cand = theta + v
            for _ in range(20):  # Newton retraction onto F = c
                r = Bd @ (cand * cand) - c
                if np.max(np.abs(r), initial=0.0) <= 1e-13 * max(scale, float(np.max(cand * cand))):
                    break
                Jc = 2 * Bd * cand[None, :]
                cand = cand - Jc.T @ np.linalg.lstsq(Jc @ Jc.T, r, rcond=None)[0]
            r = Bd @ (cand * cand) - c
            if np.max(np.abs(r), initial=0.0) <= 1e-11 * max(scale, float(np.max(cand * cand))):
                theta = cand
            out.append(theta.copy())
            bar.update(1)
    bar.close()
    return np.asarray(out[:n])


def sample_fiber(
    arch: Architecture,
    c: Any,
    n: int,
    *,
    radius: float | None = None,
    method: str = "polytope",
    coordinates: str = "all",
    face_fraction: float = 0.3,
    density: str = "q",
    thin: int | None = None,
    seed: int | np.random.Generator | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """``n`` random points of the fiber H(c) (rows), restricted to ``Σq <= radius²``.

    Parameters
    ----------
    arch : Architecture
    c : array_like or mapping
        Balances.
    n : int
        Number of points.
    radius : float, optional
        Window ``Σ_e ||θ_e||² <= radius²``; default :func:`default_radius`.
    method : {"polytope", "walk"}
        See the module documentation.
    coordinates : {"all", "bottleneck"}
        All parameters, or only those on bottleneck edges (same components).
    face_fraction : float
        Share of polytope points placed on faces ``q_e = 0``.
    density : {"q", "theta"}
        Target of the polytope chain: uniform in q (default), or proportional to
        ``prod_e q_e^(-1/2)``, i.e. uniform in the weights (slice sampling on each
        chord), which puts more points near sign changes.
    thin : int, optional
        Hit-and-run steps between recorded points (default ``max(2, dim/4)``).
    seed : int or Generator
    progress : bool, optional
        Progress bar; by default shown only on a terminal.

    Returns
    -------
    numpy.ndarray of shape (n, n_params) or (n, n_bottleneck_params)

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> pts = topo.sample_fiber(arch, [1.0], 200, seed=0)
    >>> pts.shape, bool(np.allclose(topo.balance(arch, pts), 1.0))
    ((200, 3), True)
    """
    cv = as_balance(arch, c)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if coordinates not in ("all", "bottleneck"):
        raise ValueError(f"coordinates must be 'all' or 'bottleneck', got {coordinates!r}")
    rng = np.random.default_rng(seed)
    R = default_radius(arch, cv) if radius is None else float(radius)
    if not R > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}")
    B = incidence_matrix(arch).toarray()
    dim = arch.n_edges - (np.linalg.matrix_rank(B) if B.size else 0)
    thin = max(2, dim // 4) if thin is None else int(thin)
    if method == "polytope":
        if density not in ("q", "theta"):
            raise ValueError(f"density must be 'q' or 'theta', got {density!r}")
        Q = _hit_and_run(B, cv, R * R, n, rng, face_fraction=face_fraction, thin=thin,
                         burn_in=10 * thin, progress=progress, uniform_theta=density == "theta")
        theta = _lift(arch, Q, rng)
    elif method == "walk":
        Q = _hit_and_run(B, cv, R * R, 8, rng, face_fraction=0.0, thin=thin, burn_in=10 * thin, progress=False)
        theta = _walk(arch, cv, Q, n, rng, step_size=0.05, n_walks=8, progress=progress)
    else:
        raise ValueError(f"method must be 'polytope' or 'walk', got {method!r}")
    if coordinates == "bottleneck":
        theta = theta[:, bottleneck_parameters(arch)]
    return theta


def bottleneck_parameters(arch: Architecture) -> np.ndarray:
    """Indices of the parameters on bottleneck edges (the coordinates kept by
    ``coordinates="bottleneck"``)."""
    idx = decompose(arch).bottleneck_edge_index
    off = arch.edge_offsets
    parts = [np.arange(off[e], off[e + 1]) for e in idx.tolist()]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
