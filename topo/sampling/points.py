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

Everything is sparse: directions of the chain are projections onto ``ker B̃``
through a sparse LU factorisation of ``B̃ B̃ᵀ`` (:class:`topo.sampling.polytope.FlowPolytope`),
the starting point an LP vertex moved inside along a positive input→output flow.
Memory is O(E + n·(kept parameters)); one step costs O(nnz(B̃)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from topo.errors import FiberError, ParameterError
from topo.fiber.balance import as_balance, incidence_matrix
from topo.fiber.decompose import decompose
from topo.graph.architecture import ARCH, Architecture
from topo.sampling.polytope import FlowPolytope, positive_flow
from topo.utils.validation import BOOLEAN, COUNT, POSITIVE, SEED, Interval, NoneOr, Options, validate_params

__all__ = ["sample_fiber", "default_radius", "COORDINATES"]


@validate_params(arch=ARCH)
def default_radius(arch: Architecture, c: Any) -> float:
    """Default ``R`` of the sampling window ``Σ q <= R²``: ``R² = 3 · max(min Σq, max|c|)``
    (``min Σq`` over P(c) by a sparse linear program), or 1 when c = 0.

    Examples
    --------
    >>> import topo
    >>> from topo.sampling import default_radius
    >>> round(default_radius(topo.Architecture.mlp([2, 1, 1], bias=False), [2.0]) ** 2, 6)
    6.0
    """
    cv = as_balance(arch, c)
    q = FlowPolytope(incidence_matrix(arch), cv).lp_point()
    base = max(float(q.sum()) if q is not None else 0.0, float(np.max(np.abs(cv), initial=0.0)))
    return float(np.sqrt(3.0 * base)) if base > 0 else 1.0


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


def _polytope_chain(arch, c, R2, n, rng, *, face_fraction, thin, progress, uniform_theta=False):
    """``n`` points of P(c) ∩ {Σq <= R²} (rows), by sparse hit-and-run."""
    P = FlowPolytope(incidence_matrix(arch), c, R2, z=positive_flow(arch))
    q0 = P.lp_point()
    if q0 is None:
        raise FiberError("P(c) is empty: no nonnegative flow has these balances")
    start = P.interior(q0)
    if uniform_theta:
        return _theta_chain(P, start, n, rng, thin=thin, progress=progress)
    return np.array(list(P.hit_and_run(start, n, thin=thin, rng=rng, burn_in=10 * thin,
                                       face_fraction=face_fraction, progress=progress)))


def _theta_chain(P: FlowPolytope, q, n, rng, *, thin, progress):
    """Hit-and-run targeting prod_e q_e^(-1/2) (uniform in θ): slice sampling on each chord."""
    delta = 1e-9 * P.R2

    def log_density(x):
        return -0.5 * float(np.sum(np.log(np.maximum(x, 0.0) + delta)))

    def slice_step(q, d, lo, hi, rng):
        y = log_density(q) + np.log(rng.random())
        a, b = lo, hi
        for _ in range(60):
            t = rng.uniform(a, b)
            if log_density(q + t * d) >= y:
                return t
            a, b = (t, b) if t < 0 else (a, t)
        return 0.0

    return np.array(list(P.hit_and_run(q, n, thin=thin, rng=rng, burn_in=10 * thin, progress=progress,
                                       move=slice_step)))


def _walk(arch, c, Q_start, n, rng, *, step_size, n_walks, progress):
    """Tangent steps + Newton retraction; the Jacobian 2 B̃ diag(θ) is sparse and the
    normal equations are solved by LSQR (no dense matrices)."""
    B = incidence_matrix(arch, over="parameters").tocsr()
    starts = _lift(arch, Q_start[:n_walks], rng)
    per = int(np.ceil(n / len(starts)))
    out = []
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc="walking on fiber", disable=None if progress is None else not progress, leave=False)
    scale = max(float(np.abs(c).max(initial=0.0)), 1e-300)

    def jac(th):
        return (B @ sp.diags(2.0 * th)).tocsr()

    def residual(th):
        return B @ (th * th) - c

    def ok(th, rtol):
        return np.max(np.abs(residual(th)), initial=0.0) <= rtol * max(scale, float(np.max(th * th)))

    for theta in starts:
        h = step_size * max(np.linalg.norm(theta), 1e-12)
        for _ in range(per):
            v = rng.standard_normal(len(theta)) * h
            if B.shape[0]:
                J = jac(theta)
                v = v - J.T @ lsqr(J.T, v, atol=1e-14, btol=1e-14)[0]  # tangent part
            cand = theta + v
            for _ in range(20):  # Newton retraction onto F = c (minimum-norm steps)
                if not B.shape[0] or ok(cand, 1e-13):
                    break
                cand = cand - lsqr(jac(cand), residual(cand), atol=1e-15, btol=1e-15)[0]
            if not B.shape[0] or ok(cand, 1e-11):
                theta = cand
            out.append(theta.copy())
            bar.update(1)
    bar.close()
    return np.asarray(out[:n])


#: Which coordinates of the sampled points are kept (``sample_fiber``, ``verify_topology``).
COORDINATES = Options("all", "bottleneck")


@validate_params(arch=ARCH, n=COUNT, radius=NoneOr(POSITIVE), method=Options("polytope", "walk"),
                 coordinates=COORDINATES, face_fraction=Interval(float, 0, 1), density=Options("q", "theta"),
                 thin=NoneOr(COUNT), seed=SEED, progress=NoneOr(BOOLEAN))
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
        Hit-and-run steps between recorded points (default ``max(2, dim/4)``, at
        most 50; ``dim`` = edges - constrained nodes).
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
    rng = np.random.default_rng(seed)
    R = default_radius(arch, cv) if radius is None else float(radius)
    if not R > 0:
        raise ParameterError(f"radius must be > 0, got {radius!r}")
    dim = arch.n_edges - arch.n_constrained
    thin = min(max(2, dim // 4), 50) if thin is None else thin
    if method == "polytope":
        Q = _polytope_chain(arch, cv, R * R, n, rng, face_fraction=face_fraction, thin=thin,
                            progress=progress, uniform_theta=density == "theta")
        theta = _lift(arch, Q, rng)
    else:  # "walk"
        Q = _polytope_chain(arch, cv, R * R, 8, rng, face_fraction=0.0, thin=thin, progress=False)
        theta = _walk(arch, cv, Q, n, rng, step_size=0.05, n_walks=8, progress=progress)
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
