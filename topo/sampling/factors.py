"""Point clouds of one independent factor of a fiber, with its gluing faces built in.

The fiber H(c) is a product over independent factors, so
[`topo.verify_topology`][topo.sampling.verification.verify_topology] samples each factor on its own, in its own
coordinates (the parameters of its bottleneck edges, or all its parameters).  Two clouds are built here.

``kind="skeleton"`` (for counting components)
    A union of *continuous paths in the fiber*, each sampled densely in θ:
    straight segments in q-space (they stay in the convex P(c)) lifted with fixed
    signs, so the weights move continuously and never cross zero inside a segment.
    The paths join

    * a *hub* q⁰: the point of P(c) minimising the sum of the kept coordinates (one
      linear program), where most kept edges vanish;
    * for every kept edge ``e`` with ``q⁰_e > 0``, a *face point* ``qᵉ``: the same
      program with ``q_e = 0`` (or the proof, by infeasibility, that ``e`` never
      vanishes);
    * generic points of a hit-and-run chain in ``P(c) ∩ {Σq <= R²}``.

    For every sign pattern of the hub's non-zero kept edges and every such edge
    ``e`` whose face exists, two segments hub → ``qᵉ`` are drawn whose signs differ
    only at ``e``: they meet at the face (``θ_e = 0``), which glues the two sign
    orthants; a group edge is glued by a half great circle of directions at the hub
    instead.  Every generic point is joined to the hub and to one face point with
    the same signs.  A point never leaves its component, so the single-linkage
    clusters of the cloud are at most the components; they equal them when the
    gluing is complete (``complete``).

``kind="cloud"`` (for higher homology)
    Independent random lifts of hit-and-run points (random signs, random
    directions of group edges), plus points on and near every face: convex
    combinations ``(1-λ) q + λ qᵉ`` with ``λ`` uniform in ``[0.7, 1]`` (a third
    exactly on the face), 10% of the cloud.

Guarantee (both kinds): every kept edge whose face ``{q_e = 0} ∩ P(c)`` is non-empty
gets points on that face — the hub itself when it vanishes there, else the face point
``qᵉ`` with each of its sign patterns — and points approaching it, in a share fixed by
construction (``2^(h-1)`` segment pairs per face for ``h`` non-zero hub coordinates,
plus ``⌈n_generic/n_faces⌉`` generic segments, resp. ``0.1 n / n_faces`` points for the
cloud, at least one exactly on the face).  The window ``R² = 1.5 · max(Σq⁰, Σqᵉ)`` contains every hub and face point,
so no gluing face is cut off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np

from topo.errors import FiberError
from topo.fiber.balance import incidence_matrix
from topo.graph.architecture import ARCH, Architecture
from topo.sampling.polytope import FlowPolytope
from topo.utils.validation import BOOLEAN, COUNT, InstanceOf, NoneOr, Options, validate_params

__all__ = ["FactorSample", "sample_factor"]

CLOUD_FACE_SHARE = 0.1  # share of a cloud's points on and near faces


@dataclass(frozen=True)
class FactorSample:
    """A point cloud of one factor.

    Attributes
    ----------
    points : ndarray (n_points, n_columns)
        Coordinates: the parameters of ``kept_edges``, in parameter order.
    kept_edges : ndarray
        Global indices of the edges whose parameters are the columns.
    window : float
        ``R²`` of the window ``Σ_{e in factor} q_e <= R²``.
    faces : dict
        Per kept edge: ``"hub"`` (vanishes at the hub), ``"lp"`` (a face point was
        found) or ``"empty"`` (no point of P(c) has ``q_e = 0``).
    complete : bool
        Every sign pattern of the hub was glued (skeleton); always True for a cloud.
    spacing : float
        Largest distance between consecutive points of a path (skeleton), else 0.
    """

    points: np.ndarray = field(repr=False)
    kept_edges: np.ndarray = field(repr=False)
    window: float
    faces: dict = field(repr=False)
    complete: bool
    spacing: float
    kind: str


@validate_params(arch=ARCH, n=COUNT, kind=Options("skeleton", "cloud"),
                 rng=InstanceOf(np.random.Generator, name="a numpy Generator"), progress=NoneOr(BOOLEAN))
def sample_factor(
    arch: Architecture,
    c: np.ndarray,
    rows: np.ndarray,
    edges: np.ndarray,
    kept: np.ndarray,
    n: int,
    *,
    kind: str = "skeleton",
    z: np.ndarray | None = None,
    rng: np.random.Generator,
    progress: bool | None = None,
) -> FactorSample:
    """Sample one factor (constrained ``rows``, its ``edges``) in the coordinates of ``kept``.

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.sampling.factors import sample_factor
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)   # w1, w2 -> h -> a
    >>> s = sample_factor(arch, np.array([-1.0]), np.array([0]), np.arange(3), np.array([2]), 300,
    ...                   rng=np.random.default_rng(0))
    >>> s.faces, bool(np.all(np.abs(s.points) >= 1 - 1e-9))    # a never vanishes: |a| >= 1
    ({2: 'empty'}, True)
    """
    B = incidence_matrix(arch)[rows][:, edges]
    P = FlowPolytope(B, c[rows], z=None if z is None else z[edges])
    loc = np.searchsorted(edges, kept)
    cost = np.full(len(edges), 1e-3)
    cost[loc] += 1.0
    hub = P.lp_point(cost)
    if hub is None:
        raise FiberError("P(c) is empty for this factor: no nonnegative flow has these balances")
    face_pts, faces = {}, {}
    for j in loc.tolist():
        if hub[j] == 0:
            faces[int(edges[j])] = "hub"
            continue
        f = P.lp_point(cost, zero=np.array([j]))
        faces[int(edges[j])] = "empty" if f is None else "lp"
        if f is not None:
            face_pts[j] = f
    top = max([float(hub.sum())] + [float(f.sum()) for f in face_pts.values()])
    P.set_window(1.5 * top if top > 0 else 1.0)
    lifter = _Lifter(arch, edges, loc, rng)
    dim = P.dim
    thin = min(max(2, dim // 4), 20)
    if kind == "cloud":
        n_gen = max(1, int((1 - CLOUD_FACE_SHARE) * n)) if len(loc) else n
        gen = _chain(P, hub, n_gen, thin, rng, progress)
        pts = _cloud(gen, hub, face_pts, loc, n - n_gen, lifter, rng)
        return FactorSample(pts, kept, P.R2, faces, True, 0.0, kind)
    n_hub = int(np.sum(hub[loc] > 0))
    n_gen = max(4, n // 24, min(2 ** n_hub, n // 8))  # at least one generic path per hub sign pattern
    gen = _chain(P, hub, n_gen, thin, rng, progress)
    segs, complete = _skeleton_segments(gen, hub, face_pts, loc, lifter, rng, n)
    pts, spacing = _discretise(segs, lifter, hub, n)
    return FactorSample(pts, kept, P.R2, faces, complete, spacing, kind)


def _chain(P: FlowPolytope, hub, n, thin, rng, progress) -> np.ndarray:
    if P.dim <= 0:
        return np.tile(hub, (n, 1))
    start = P.interior(hub)
    return np.array(list(P.hit_and_run(start, n, thin=thin, rng=rng, burn_in=5 * thin, progress=progress)))


class _Lifter:
    """Signs (scalar edges) and a fixed axis ±u_e (group edges) for the kept edges."""

    def __init__(self, arch: Architecture, edges, loc, rng):
        ke = edges[loc]
        self.sizes = arch.edge_sizes[ke]
        self.loc = loc
        self.col_edge = np.repeat(np.arange(len(ke)), self.sizes)  # column -> kept position
        self.axis = np.ones(int(self.sizes.sum()))
        self.perp = np.zeros(int(self.sizes.sum()))
        off = np.concatenate([[0], np.cumsum(self.sizes)])
        for i in np.flatnonzero(self.sizes > 1).tolist():
            u = rng.standard_normal(self.sizes[i])
            u /= np.linalg.norm(u)
            w = rng.standard_normal(self.sizes[i])
            w -= (w @ u) * u
            self.axis[off[i]:off[i + 1]] = u
            self.perp[off[i]:off[i + 1]] = w / np.linalg.norm(w)
        self.rng = rng

    def random_signs(self) -> np.ndarray:
        return self.rng.choice([-1.0, 1.0], size=len(self.loc))

    def lift(self, Q: np.ndarray, signs: np.ndarray) -> np.ndarray:
        """Rows of q (full factor vectors) lifted with one sign vector (per kept edge)."""
        r = np.sqrt(np.maximum(Q[:, self.loc], 0.0))
        return (r * signs)[:, self.col_edge] * self.axis

    def random_lift(self, Q: np.ndarray) -> np.ndarray:
        r = np.sqrt(np.maximum(Q[:, self.loc], 0.0))[:, self.col_edge]
        g = self.rng.standard_normal(r.shape)
        norms = np.sqrt(np.stack([np.bincount(self.col_edge, weights=row * row, minlength=len(self.loc))
                                  for row in g]))
        return g / np.maximum(norms[:, self.col_edge], 1e-300) * r


def _cloud(gen, hub, face_pts, loc, n_face, lifter: _Lifter, rng) -> np.ndarray:
    targets = [face_pts.get(j, hub) for j in loc.tolist()]
    rows = [gen]
    if targets and n_face > 0:
        pick = np.arange(n_face) % len(targets)
        lam = rng.uniform(0.7, 1.0, size=n_face)
        lam[rng.random(n_face) < 1 / 3] = 1.0
        lam[: len(targets)] = 1.0  # every face gets at least one point exactly on it
        base = gen[rng.integers(len(gen), size=n_face)]
        T = np.stack([targets[i] for i in pick.tolist()])
        rows.append((1 - lam)[:, None] * base + lam[:, None] * T)
    return lifter.random_lift(np.vstack(rows))


def _skeleton_segments(gen, hub, face_pts, loc, lifter: _Lifter, rng, n):
    """Segments (qa, qb, signs) and arcs (q, kept position, signs) of the skeleton."""
    pos = {j: i for i, j in enumerate(loc.tolist())}
    H = [pos[j] for j in loc.tolist() if hub[j] > 0]
    segs: list[tuple] = []
    glue = [i for i in H if lifter.sizes[i] > 1 or loc[i] in face_pts]
    per_pattern = 2 * len(glue) + 2
    complete = 2 ** len(H) * per_pattern <= max(8, n // 4)
    if complete:  # every sign pattern of the hub (so every component) is present and glued
        patterns = [np.array(p, dtype=float) for p in product([1.0, -1.0], repeat=len(H))]
    else:
        patterns = [lifter.random_signs()[H] for _ in range(max(1, n // (4 * per_pattern)))]
    for p in patterns:
        for i in glue:
            if p[H.index(i)] < 0:
                continue  # each unordered pair {p, p with i flipped} once
            s = lifter.random_signs()
            s[H] = p
            t = s.copy()
            t[i] = -1.0
            if lifter.sizes[i] > 1:
                segs.append(("arc", hub, i, s))
            else:
                segs.append(("line", hub, face_pts[int(loc[i])], s))
                segs.append(("line", hub, face_pts[int(loc[i])], t))
    targets = [face_pts[j] for j in loc.tolist() if j in face_pts]
    for k, g in enumerate(gen):
        s = lifter.random_signs()
        s[H] = patterns[k % len(patterns)]
        segs.append(("line", g, hub, s))
        if targets:
            segs.append(("line", g, targets[k % len(targets)], s))
    return segs, complete


_GRID = 0.5 - 0.5 * np.cos(np.pi * np.linspace(0.0, 1.0, 49))  # dense near both ends (√q is steep at 0)


def _curve(seg, lifter: _Lifter, u: np.ndarray) -> np.ndarray:
    """Points of a path at parameters ``u`` in [0, 1] (exactly on the fiber)."""
    if seg[0] == "line":
        _, qa, qb, s = seg
        return lifter.lift((1 - u)[:, None] * qa + u[:, None] * qb, s)
    _, q, i, s = seg
    X = np.repeat(lifter.lift(q[None, :], s), len(u), axis=0)
    cols = lifter.col_edge == i
    r = np.sqrt(q[lifter.loc[i]])
    phi = np.pi * u
    X[:, cols] = r * (np.cos(phi)[:, None] * lifter.axis[cols] + np.sin(phi)[:, None] * lifter.perp[cols])
    return X


def _discretise(segs, lifter: _Lifter, hub, n) -> tuple[np.ndarray, float]:
    """Points evenly spaced in arclength along every path, ``n`` in all (at least two
    per path); also the largest spacing between consecutive points."""
    cums = []
    for seg in segs:
        X = _curve(seg, lifter, _GRID)
        cums.append(np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(X, axis=0), axis=1))]))
    total = float(sum(c[-1] for c in cums)) or 1.0
    out, spacing = [], 0.0
    for seg, cum in zip(segs, cums):
        L = float(cum[-1])
        if L == 0:
            out.append(_curve(seg, lifter, _GRID[:1]))
            continue
        k = max(2, int(round(n * L / total)))
        u = np.interp(np.linspace(0.0, L, k), cum, _GRID)  # arclength -> path parameter
        X = _curve(seg, lifter, u)
        out.append(X)
        spacing = max(spacing, float(np.max(np.linalg.norm(np.diff(X, axis=0), axis=1))))
    return np.vstack(out), spacing
