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

Fixed (non-trainable) edges are constants of the fiber: every sampled point carries the
fixed weights of a ``reference`` parameter vector, which is required when the network has
fixed edges.  Trainable edges inside one rescaling class cancel in its balance: they are
free coordinates of P(c) (bounded only by the window).  The window ``Σ q <= R²`` counts
trainable edges only.

Everything is sparse: directions of the chain are projections onto ``ker B̃``
through a sparse LU factorisation of ``B̃ B̃ᵀ``
([`topo.sampling.polytope.FlowPolytope`][topo.sampling.polytope.FlowPolytope]), the starting point an LP vertex moved
inside along a positive input→output flow. Memory is O(E + n·(kept parameters)); one step costs O(nnz(B̃)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from topo.errors import FiberError, ParameterError
from topo.fiber.balance import as_balance, balance, incidence_matrix
from topo.fiber.decompose import decompose
from topo.graph.architecture import ARCH, Architecture
from topo.sampling.polytope import FlowPolytope, positive_flow
from topo.utils.validation import BOOLEAN, COUNT, POSITIVE, SEED, Interval, NoneOr, Options, validate_params

__all__ = ["sample_fiber", "default_radius", "COORDINATES"]


@validate_params(arch=ARCH)
def default_radius(arch: Architecture, c: Any) -> float:
    """Default ``R`` of the sampling window ``Σ q <= R²`` (trainable edges):
    ``R² = 3 · max(min Σq, max|c|)`` (``min Σq`` over P(c) by a sparse linear
    program), or 1 when c = 0.

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


def fixed_weights(arch: Architecture, reference: Any) -> np.ndarray | None:
    """The reference vector whose fixed weights every point of a fiber keeps, validated;
    ``None`` when ``arch`` has no fixed edge (nothing to keep).

    Raises
    ------
    ParameterError
        When ``arch`` has fixed edges and no ``reference`` was given: their weights are
        constants of the fiber, and topo does not store them.

    Examples
    --------
    >>> import topo
    >>> from topo.sampling.points import fixed_weights
    >>> arch = topo.Architecture.from_edges(
    ...     [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
    >>> fixed_weights(arch, [1.0, 2.0, 3.0, 0.5, 4.0])
    array([1. , 2. , 3. , 0.5, 4. ])
    >>> fixed_weights(arch, None)
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: this network has 1 fixed (non-trainable) edge(s), e.g. ('a', 's'): their weights are constants of the fiber; pass reference=theta, a parameter vector whose fixed weights the points keep
    """
    fixed = np.flatnonzero(~arch.edge_trainable)
    if not len(fixed):
        return None
    if reference is None:
        raise ParameterError(
            f"this network has {len(fixed)} fixed (non-trainable) edge(s), e.g. {arch.edges[int(fixed[0])]!r}: "
            "their weights are constants of the fiber; pass reference=theta, a parameter vector whose fixed "
            "weights the points keep")
    return arch.as_vector(reference, name="reference")


def _lift(arch: Architecture, Q: np.ndarray, rng: np.random.Generator, edges: np.ndarray,
          base: np.ndarray | None) -> np.ndarray:
    """Parameters with squared group norms ``Q`` (n, len(edges)) on ``edges``, random signs /
    directions; the other parameters (fixed edges) copied from ``base``."""
    n = len(Q)
    out = np.zeros((n, arch.n_params)) if base is None else np.tile(base, (n, 1))
    sizes = arch.edge_sizes[edges]
    off = arch.edge_offsets
    if np.all(sizes == 1):
        out[:, off[edges]] = rng.choice([-1.0, 1.0], size=(n, len(edges))) * np.sqrt(Q)
        return out
    col = np.repeat(np.arange(len(edges)), sizes)  # kept column -> position in edges
    params = np.concatenate([np.arange(off[e], off[e + 1]) for e in edges.tolist()]).astype(np.int64)
    g = rng.standard_normal((n, len(params)))
    norms = np.sqrt(np.stack([np.bincount(col, weights=r * r, minlength=len(edges)) for r in g]))
    out[:, params] = g / norms[:, col] * np.sqrt(Q)[:, col]
    return out


def _polytope_chain(arch, c, R2, n, rng, *, face_fraction, thin, progress, uniform_theta=False):
    """``n`` points of P(c) ∩ {Σq <= R²} over the trainable edges (rows), by sparse hit-and-run."""
    T = np.flatnonzero(arch.edge_trainable)
    P = FlowPolytope(incidence_matrix(arch)[:, T], c, R2, z=positive_flow(arch)[T])
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


def _walk(arch, c, starts, n, rng, *, step_size, progress):
    """Tangent steps + Newton retraction from the points ``starts``; the Jacobian
    2 B̃ diag(θ) is sparse and the normal equations are solved by LSQR (no dense
    matrices).  Fixed weights never move (their columns of B̃ are zero, so the
    minimum-norm Newton steps leave them alone, and tangent steps skip them)."""
    B = incidence_matrix(arch, over="parameters").tocsr()
    moving = arch.edge_trainable[arch.param_edge]
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
            v = rng.standard_normal(len(theta)) * h * moving
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
    reference: Any = None,
) -> np.ndarray:
    """``n`` random points of the fiber H(c) (rows), restricted to ``Σq <= radius²``.

    Parameters
    ----------
    arch : Architecture
    c : array_like or mapping or None
        Balances; ``None`` takes those of ``reference``.
    n : int
        Number of points.
    radius : float, optional
        Window ``Σ_e ||θ_e||² <= radius²``; default `default_radius`.
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
    reference : array_like or mapping, optional
        A parameter vector whose fixed (non-trainable) weights every point keeps:
        required when ``arch`` has fixed edges (they are constants of the fiber).

    Returns
    -------
    numpy.ndarray of shape (n, n_params) or (n, n_bottleneck_params)

    Raises
    ------
    ParameterError
        When ``arch`` has fixed edges and ``reference`` is missing (or ``c`` and
        ``reference`` are both missing).

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> pts = topo.sample_fiber(arch, [1.0], 200, seed=0)
    >>> pts.shape, bool(np.allclose(topo.balance(arch, pts), 1.0))
    ((200, 3), True)

    An identity skip ``a -> s`` (fixed, weight 0.5 here) joins ``a`` and ``s`` into one
    class: every point keeps the fixed weight and the class's balance.

    >>> arch = topo.Architecture.from_edges(
    ...     [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
    >>> ref = [1.0, 2.0, 3.0, 0.5, 4.0]
    >>> arch.rescaling_classes, topo.balance(arch, ref)
    ([['a', 's'], ['b']], array([-10.,  -5.]))
    >>> pts = topo.sample_fiber(arch, None, 50, seed=0, reference=ref)
    >>> bool(np.all(pts[:, 3] == 0.5)), bool(np.allclose(topo.balance(arch, pts), [-10.0, -5.0]))
    (True, True)
    """
    base = fixed_weights(arch, reference)
    if c is None:
        if reference is None:
            raise ParameterError("pass the balances c or a reference parameter vector (c=None takes its balances)")
        c = balance(arch, reference)
    cv = as_balance(arch, c)
    rng = np.random.default_rng(seed)
    R = default_radius(arch, cv) if radius is None else float(radius)
    if not R > 0:
        raise ParameterError(f"radius must be > 0, got {radius!r}")
    T = np.flatnonzero(arch.edge_trainable)
    dim = len(T) - arch.n_constrained
    thin = min(max(2, dim // 4), 50) if thin is None else thin
    if method == "polytope":
        Q = _polytope_chain(arch, cv, R * R, n, rng, face_fraction=face_fraction, thin=thin,
                            progress=progress, uniform_theta=density == "theta")
        theta = _lift(arch, Q, rng, T, base)
    else:  # "walk"
        Q = _polytope_chain(arch, cv, R * R, 8, rng, face_fraction=0.0, thin=thin, progress=False)
        theta = _walk(arch, cv, _lift(arch, Q, rng, T, base), n, rng, step_size=0.05, progress=progress)
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
