"""Check the theory on data: sample each factor of a fiber, compute persistent homology, compare.

[`verify_topology`][topo.sampling.verification.verify_topology] samples every independent factor of H(c) on its own
(`topo.sampling.factors`), in the coordinates of its bottleneck edges (or all its
parameters), computes Rips persistence of each cloud, reads the Betti numbers with the
scale-aware rule of [`topo.sampling.persistence.read_bars`][topo.sampling.persistence.read_bars] and compares them with
the exact ones: β₀ of each factor from [`topo.fiber.connectivity`][topo.fiber.connectivity.connectivity], higher Betti
numbers from [`topo.betti_numbers`][topo.fiber.homology.betti_numbers].  The whole fiber's numbers follow by Künneth
(products of Poincaré polynomials).  A reading that cannot decide says so (``"undetermined"``), a
factor with too many components for the sample is ``"not checkable"``; neither is
ever reported as agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.errors import TopoError
from topo.fiber.connectivity import REPORT, ConnectivityReport, report_for
from topo.fiber.decompose import decompose
from topo.fiber.flows import feasible_flow
from topo.fiber.homology import betti_numbers, poly_mul
from topo.graph.architecture import ARCH, Architecture
from topo.sampling.factors import FactorSample, sample_factor
from topo.sampling.persistence import (
    BettiEstimate,
    Diagrams,
    cluster_sizes,
    minimum_spanning_tree,
    persistence,
    read_bars,
)
from topo.sampling.points import COORDINATES
from topo.sampling.polytope import factor_edges, positive_flow
from topo.utils.text import count_repr
from topo.utils.validation import BOOLEAN, COUNT_OR_ZERO, POSITIVE, SEED, Interval, NoneOr, validate_params

__all__ = ["TopologyCheck", "FactorCheck", "verify_topology", "safe_radius", "MIN_SAMPLES"]

#: The fewest points a sampled check of the topology reads (``n_samples``; ``topo.audit(sample=...)``).
MIN_SAMPLES = 2

MIN_POINTS_PER_COMPONENT = 20
N_LANDMARKS = 300  # H1+ is computed on this many farthest-point landmarks
RIPS_CAP = 12.0  # Rips threshold for H1+, in units of the landmarks' covering radius


def safe_radius(arch: Architecture, c: Any, *, edges: list[int] | None = None) -> float:
    """A window radius large enough to contain, for every edge in ``edges`` (default:
    the non-frozen bottleneck edges), a point of P(c) where that edge vanishes.

    ``R² = 1.2 · max Σq`` over the minimum-norm points of P(c) with ``q_e = 0``.
    ([`verify_topology`][topo.sampling.verification.verify_topology] chooses its window per factor; see
    `topo.sampling.factors`.)

    Examples
    --------
    >>> import topo
    >>> round(topo.sampling.verification.safe_radius(topo.Architecture.mlp([2, 1, 1], bias=False), [1.0]) ** 2, 6)
    1.2
    """
    rep = report_for(arch, c)
    cv = rep.c
    if edges is None:
        frozen = set(rep.frozen_index.tolist())
        edges = [e for e in decompose(arch).bottleneck_edge_index.tolist() if e not in frozen]
    sums = []
    base = feasible_flow(arch, cv)
    if base is not None:
        sums.append(float(base.sum()))
    for e in edges:
        q = feasible_flow(arch, cv, zero=[e])
        if q is not None:
            sums.append(float(q.sum()))
    top = max(sums + [float(np.max(np.abs(cv), initial=0.0))])
    return float(np.sqrt(1.2 * top)) if top > 0 else 1.0


@dataclass(frozen=True)
class FactorCheck:
    """The check of one independent factor.

    Attributes
    ----------
    nodes : list
        Its constrained nodes.
    exact_betti : list[int]
        Exact Betti numbers compared (β₀ only, unless ``coordinates="all"``).
    ph_betti : list[int] or None
        Persistent Betti numbers of its cloud (the best reading, also when not
        confident); ``None`` when not sampled.
    status : str
        ``"agree"``, ``"disagree"`` (a confident reading that differs),
        ``"undetermined"`` (the reading is not confident: see ``reason``),
        ``"not checkable"`` (too many components for the sample) or ``"trivial"``
        (no coordinate to sample: connected by the theorem).
    confident : bool
    margin : float
        By how much the H0 gap beats the runner-up
        ([`topo.sampling.persistence.BarReading`][topo.sampling.persistence.BarReading]).
    gap : float
        The H0 gap ratio behind the count.
    reason : str
    n_points, n_coordinates : int
    """

    nodes: list
    exact_betti: list
    ph_betti: list | None
    status: str
    confident: bool
    margin: float = float("inf")
    gap: float = float("inf")
    reason: str = ""
    n_points: int = 0
    n_coordinates: int = 0
    diagrams: Diagrams | None = field(default=None, repr=False)
    sample: FactorSample | None = field(default=None, repr=False)

    @validate_params(max_nodes=COUNT_OR_ZERO)
    def to_dict(self, *, max_nodes: int = 20) -> dict:
        return {
            "nodes": [str(v) for v in self.nodes[:max_nodes]],
            "n_nodes": len(self.nodes),
            "exact_betti": [count_repr(b) for b in self.exact_betti],
            "ph_betti": self.ph_betti,
            "status": self.status,
            "confident": self.confident,
            "margin": _finite(self.margin),
            "gap": _finite(self.gap),
            "reason": self.reason,
            "n_points": self.n_points,
            "n_coordinates": self.n_coordinates,
        }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass(frozen=True)
class TopologyCheck:
    """Outcome of [`verify_topology`][topo.sampling.verification.verify_topology].

    Attributes
    ----------
    theory_b0 : int
        Exact number of components (``2 ** frozen scalar edges``).
    ph_b0 : int or None
        Persistent β₀ of the fiber: the product over factors, ``None`` when some
        factor was not sampled ("not checkable").
    exact_betti : list[int] or None
        Exact Betti numbers when computable (``coordinates="all"``, small cores).
    status : str
        ``"agree"`` (every factor agrees, confidently), ``"disagree"`` (some factor's
        confident reading differs from the theory), ``"undetermined"`` or
        ``"not checkable"`` (see the factors' ``reason``).
    confident : bool
        Every factor's reading is confident.  A confident wrong answer is a bug
        (of the theory or of topo).
    agree : bool
        ``status == "agree"``.
    factors : list[FactorCheck]
        One per independent factor with something to sample (trivial factors are
        counted in ``n_trivial_factors``).
    estimate : BettiEstimate
        The fiber's persistent Betti numbers (Künneth product of the factors').
    compared : list[int]
        The dimensions compared.
    """

    theory_b0: int
    ph_b0: int | None
    exact_betti: list | None
    status: str
    confident: bool
    factors: list = field(repr=False)
    estimate: BettiEstimate = field(repr=False)
    compared: list = field(default_factory=lambda: [0])
    n_samples: int = 0
    coordinates: str = "bottleneck"
    n_trivial_factors: int = 0

    @property
    def agree(self) -> bool:
        return self.status == "agree"

    @property
    def diagrams(self) -> Diagrams:
        """Diagrams of the sampled factor with the most components (empty if none was sampled)."""
        sampled = [f for f in self.factors if f.diagrams is not None]
        if not sampled:
            return Diagrams([np.zeros((0, 2))], 0)
        return max(sampled, key=lambda f: f.exact_betti[0]).diagrams

    @validate_params(max_factors=COUNT_OR_ZERO)
    def to_dict(self, *, max_factors: int = 50) -> dict:
        return {
            "n_samples": self.n_samples,
            "coordinates": self.coordinates,
            "theory_b0": count_repr(self.theory_b0),
            "ph_b0": None if self.ph_b0 is None else count_repr(self.ph_b0),
            "exact_betti": self.exact_betti,
            "ph_betti": self.estimate.betti,
            "ph_gap": [_finite(g) for g in self.estimate.gap],
            "compared_dimensions": self.compared,
            "status": self.status,
            "confident": self.confident,
            "agree": self.agree,
            "n_factors_sampled": sum(f.status != "not checkable" for f in self.factors),
            "n_trivial_factors": self.n_trivial_factors,
            "factors": [f.to_dict() for f in self.factors[:max_factors]],
            "factors_truncated": len(self.factors) > max_factors,
        }


@validate_params(arch=ARCH, n_samples=Interval(int, MIN_SAMPLES), seed=SEED, coordinates=COORDINATES,
                 max_dimension=COUNT_OR_ZERO, min_ratio=POSITIVE, max_core=COUNT_OR_ZERO, progress=NoneOr(BOOLEAN),
                 connectivity=REPORT)
def verify_topology(
    arch: Architecture,
    c: Any,
    *,
    n_samples: int = 2000,
    seed: int | None = 0,
    coordinates: str = "bottleneck",
    max_dimension: int = 0,
    min_ratio: float = 3.0,
    max_core: int = 10,
    progress: bool | None = None,
    connectivity: ConnectivityReport | None = None,
) -> TopologyCheck:
    """Sample each factor of H(c), compute persistent homology and compare with the exact topology.

    Parameters
    ----------
    arch : Architecture
    c : array_like or mapping
        Balances.
    n_samples : int
        Points per factor cloud.
    seed : int, optional
    coordinates : {"bottleneck", "all"}
        ``"bottleneck"`` (default, affordable on large networks): each factor is
        sampled in the parameters of its bottleneck edges, a skeleton of paths
        glued at every face (`topo.sampling.factors`); only β₀ is compared (the
        projection keeps components, not higher homology).  A factor without
        bottleneck edges is connected by the theorem and has nothing to sample
        (``n_trivial_factors``).  ``"all"``: every parameter of the factor, random
        lifts plus points on and near every face; Betti numbers up to
        ``max_dimension`` are compared with [`topo.betti_numbers`][topo.fiber.homology.betti_numbers] when it can
        compute them.
    max_dimension : int
        Highest homology dimension compared (``coordinates="all"`` only).
    min_ratio : float
        Smallest gap ratio that counts ([`topo.sampling.persistence.read_bars`][topo.sampling.persistence.read_bars]).
    max_core : int
        Passed to [`topo.betti_numbers`][topo.fiber.homology.betti_numbers].
    progress : bool, optional
        Progress bars (sampling, MST, factors); by default only on a terminal.
    connectivity : ConnectivityReport, optional
        ``topo.connectivity(arch, c)`` when it is already computed: its frozen edges and
        tolerance are used (the audit passes its own, so both speak of one fiber).

    Notes
    -----
    A factor with ``2^k`` components is sampled only when ``2^k <= n_samples / 20``
    (at least 20 points per component); otherwise it is reported as
    ``"not checkable"`` with the reason.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> res = topo.verify_topology(arch, [1.0, -0.5, -2.0], n_samples=600, seed=0)
    >>> res.theory_b0, res.ph_b0, res.status, res.confident
    (4, 4, 'agree', True)
    >>> [(f.exact_betti, f.ph_betti) for f in res.factors]     # three one-neuron factors
    [([1], [1]), ([2], [2]), ([2], [2])]
    """
    rep = report_for(arch, c, connectivity=connectivity)
    cv = rep.c
    d = decompose(arch)
    dims = max_dimension if coordinates == "all" else 0
    exact_polys, exact = _exact_polynomials(rep, dims, max_core)
    compared = list(range(dims + 1)) if exact is not None else [0]
    rng = np.random.default_rng(seed)
    fedges = factor_edges(arch, d.factor_labels, d.n_factors)
    rows = _factor_rows(d.factor_labels, d.n_factors)
    bneck = np.zeros(arch.n_edges, dtype=bool)
    bneck[d.bottleneck_edge_index] = True
    z = positive_flow(arch)
    names = arch.constrained
    checks, n_trivial = [], 0
    from tqdm.auto import tqdm

    for f in tqdm(range(d.n_factors), desc="factors", disable=(d.n_factors < 20) if progress is None else not progress,
                  leave=False):
        kept = fedges[f] if coordinates == "all" else fedges[f][bneck[fedges[f]]]
        nodes = [names[r] for r in rows[f].tolist()]
        b0 = rep.factors[f]["n_components"]
        poly = exact_polys.get(frozenset(nodes), [1]) if exact_polys is not None else [b0]
        want = (poly + [0] * (len(compared)))[: len(compared)]
        want[0] = b0
        if len(kept) == 0:
            n_trivial += 1
            continue
        if b0 * MIN_POINTS_PER_COMPONENT > n_samples:
            checks.append(FactorCheck(nodes, want, None, "not checkable", False, reason=(
                f"{count_repr(b0)} components would leave fewer than {MIN_POINTS_PER_COMPONENT} of "
                f"{n_samples} points per component")))
            continue
        sample = sample_factor(arch, cv, rows[f], fedges[f], kept, n_samples,
                               kind="skeleton" if coordinates == "bottleneck" else "cloud", z=z, rng=rng,
                               progress=progress)
        checks.append(_check_factor(nodes, want, sample, len(compared) - 1, min_ratio, progress))
    return _combine(rep.n_components, exact, checks, compared, n_samples, coordinates, n_trivial)


def _factor_rows(labels: np.ndarray, n_factors: int) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_factors + 1))
    return [order[bounds[f]:bounds[f + 1]] for f in range(n_factors)]


def _exact_polynomials(rep: ConnectivityReport, dims, max_core):
    """Per-factor Poincaré polynomials (by node set) and the total, when dims >= 1."""
    if dims < 1:
        return None, None
    try:
        bn = betti_numbers(rep.arch, rep.c, max_core=max_core, connectivity=rep)
    except TopoError:
        return None, None
    return {frozenset(f["nodes"]): list(f["poincare"]) for f in bn.factors}, list(bn.betti)


def _check_factor(nodes, want, sample: FactorSample, dims, min_ratio, progress) -> FactorCheck:
    pts = sample.points
    N = len(pts)
    mst = minimum_spanning_tree(pts, progress=progress)
    scale = 2.0 * float(np.max(np.linalg.norm(pts - pts.mean(axis=0), axis=1), initial=0.0))
    r0 = read_bars(mst[2], min_ratio=min_ratio, max_long=max(0, N // MIN_POINTS_PER_COMPONENT - 1), scale=scale)
    got = [r0.count + 1]
    confident, reason = r0.confident, r0.reason
    if r0.count and confident:
        sizes = cluster_sizes(N, mst, r0.cut)
        if sizes[-1] < 0.1 * N / len(sizes):
            confident, reason = False, (f"the smallest of {len(sizes)} clusters has {sizes[-1]} of {N} points: "
                                        "an outlier rather than a component")
    if not sample.complete and confident:
        confident, reason = False, "gluing incomplete: too many sign patterns at the hub for the sample"
    h0 = np.column_stack([np.zeros(N), np.append(np.sort(mst[2]), np.inf)])
    intervals = [h0]
    if dims >= 1:
        dgm, cap = _landmark_persistence(pts, dims)
        for k in range(1, dims + 1):
            arr = dgm[k]
            rk = read_bars(np.minimum(arr[:, 1], cap) - arr[:, 0], min_ratio=min_ratio)
            got.append(rk.count)
            if not rk.confident and confident:
                confident, reason = False, f"H{k}: {rk.reason}"
            intervals.append(arr)
    same = got == want
    status = ("agree" if same else "disagree") if confident else "undetermined"
    return FactorCheck(nodes, want, got, status, confident, r0.margin, r0.gap, reason, N, pts.shape[1],
                       Diagrams(intervals, dims, scale=scale), sample)


def _landmark_persistence(pts: np.ndarray, dims: int) -> tuple[Diagrams, float]:
    """Rips persistence of farthest-point landmarks, capped at ``RIPS_CAP`` covering radii.

    Landmarks ε-cover the cloud and are ε apart, so a loop of sampling noise dies by
    about 2ε while a loop of the fiber outlives the cap; a class alive at the cap is
    read as a bar ending there (``cap - birth``).
    """
    m = min(len(pts), N_LANDMARKS)
    idx = np.zeros(m, dtype=np.int64)
    dist = np.linalg.norm(pts - pts[0], axis=1)
    for k in range(1, m):
        idx[k] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(pts - pts[idx[k]], axis=1))
    eps = float(dist.max()) or 1.0
    cap = RIPS_CAP * eps
    return persistence(pts[idx], max_dimension=dims, threshold=cap), cap


def _combine(theory_b0, exact, checks, compared, n_samples, coordinates, n_trivial) -> TopologyCheck:
    statuses = {f.status for f in checks}
    if "disagree" in statuses:
        status = "disagree"
    elif "undetermined" in statuses:
        status = "undetermined"
    elif "not checkable" in statuses:
        status = "not checkable"
    else:
        status = "agree"
    confident = all(f.confident for f in checks)
    total = [1]
    for f in checks:
        total = poly_mul(total, f.ph_betti if f.ph_betti is not None else f.exact_betti)
    betti = (total + [0] * len(compared))[: len(compared)]
    ph_b0 = None if any(f.ph_betti is None for f in checks) else int(betti[0])
    gaps = [min([f.gap for f in checks], default=float("inf"))] + [float("nan")] * (len(compared) - 1)
    est = BettiEstimate(betti, [float("nan")] * len(compared), gaps, [confident] * len(compared),
                        [min([f.margin for f in checks], default=float("inf"))] * len(compared))
    return TopologyCheck(theory_b0, ph_b0, exact, status, confident, checks, est, compared, n_samples,
                         coordinates, n_trivial)
