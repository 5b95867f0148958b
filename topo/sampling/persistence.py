"""Persistent homology of point clouds: H0 by a minimum spanning tree, H1+ by gudhi.

The Vietoris–Rips H0 diagram of a point cloud is read off its Euclidean minimum
spanning tree: every point is born at 0 and the finite deaths are the MST edge
lengths (Kruskal's algorithm is the union-find of the Rips filtration).  topo
computes the MST with Prim's algorithm on the complete graph, one BLAS
matrix-vector product per point: O(n²·d) time, O(n·d) memory — no distance matrix.
The lengths reported are recomputed exactly (difference of coordinates) for the
chosen edges.
Higher dimensions use gudhi's Rips complex with edge collapse (exact for
persistence, much smaller complexes).

References
----------
.. [1] H. Edelsbrunner, J. Harer, *Computational Topology*, AMS 2010.
.. [2] J.-D. Boissonnat, S. Pritam, "Edge collapse and persistence of flag
   complexes", SoCG 2020 (gudhi's ``collapse_edges``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.errors import ParameterError
from topo.utils.validation import (BOOLEAN, COUNT_OR_ZERO, POSITIVE, TOLERANCE, InstanceOf, Interval, NoneOr,
                                   Options, real_vector, validate_params)

__all__ = [
    "Diagrams", "persistence", "mst_h0_deaths", "minimum_spanning_tree", "cluster_sizes",
    "BarReading", "read_bars", "BettiEstimate", "estimate_betti", "UndeterminedWarning",
]


_PROGRESS = NoneOr(BOOLEAN)


@validate_params(progress=_PROGRESS)
def mst_h0_deaths(points: Any, *, progress: bool | None = None) -> np.ndarray:
    """Finite H0 death times of the Rips filtration: the Euclidean MST edge lengths, sorted.

    Examples
    --------
    >>> from topo.sampling.persistence import mst_h0_deaths
    >>> mst_h0_deaths([[0.0], [1.0], [3.0], [3.5]])
    array([0.5, 1. , 2. ])
    """
    return np.sort(minimum_spanning_tree(points, progress=progress)[2])


@validate_params(progress=_PROGRESS)
def minimum_spanning_tree(points: Any, *, progress: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euclidean minimum spanning tree of a point cloud, as edge arrays ``(i, j, length)``.

    Prim's algorithm on the complete graph, one BLAS matrix-vector product per point:
    O(n²·d) time, O(n·d) memory, no distance matrix.  The lengths are recomputed
    exactly (difference of coordinates) for the chosen edges.

    Examples
    --------
    >>> from topo.sampling.persistence import minimum_spanning_tree
    >>> i, j, length = minimum_spanning_tree([[0.0], [1.0], [3.0]])
    >>> sorted(zip(i.tolist(), j.tolist())), length.tolist()
    ([(1, 0), (2, 1)], [1.0, 2.0])
    """
    X = np.ascontiguousarray(real_vector(points, "points"))
    if X.ndim != 2:
        raise ParameterError(f"points must be a 2-D array (n_points, dim), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ParameterError("points contain non-finite values")
    n = len(X)
    if n <= 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    if n <= DENSE_MST_MAX:
        return _mst_dense(X)
    from tqdm.auto import tqdm

    # Prim's algorithm; candidate distances by one BLAS product per step
    # (|x|² + |p|² - 2 x.p on centred data), exact distances recomputed for the chosen edges
    Xc = X - X.mean(axis=0)
    remaining = Xc[1:].copy()
    sq = np.einsum("ij,ij->i", remaining, remaining)
    idx = np.arange(1, n)
    best = sq + float(Xc[0] @ Xc[0]) - 2.0 * (remaining @ Xc[0])
    parent = np.zeros(n - 1, dtype=np.int64)
    deaths = np.empty(n - 1)
    child_out = np.empty(n - 1, dtype=np.int64)
    parent_out = np.empty(n - 1, dtype=np.int64)
    m = n - 1
    bar = tqdm(total=n - 1, desc="H0 (MST)", disable=None if progress is None else not progress,
               leave=False, mininterval=0.5)
    for k in range(n - 1):
        j = int(np.argmin(best[:m]))
        i_new, i_par = int(idx[j]), int(parent[j])
        diff = X[i_new] - X[i_par]
        deaths[k] = float(diff @ diff)  # exact length of the chosen edge
        child_out[k], parent_out[k] = i_new, i_par
        p = remaining[j].copy()
        psq = float(sq[j])
        m -= 1
        # swap-remove j
        remaining[j], sq[j], best[j], parent[j], idx[j] = remaining[m], sq[m], best[m], parent[m], idx[m]
        if m:
            d = sq[:m] + psq - 2.0 * (remaining[:m] @ p)
            closer = d < best[:m]
            best[:m][closer] = d[closer]
            parent[:m][closer] = i_new
        if k % 1024 == 0:
            bar.update(min(1024, n - 1 - k))
    bar.close()
    return child_out, parent_out, np.sqrt(deaths)


DENSE_MST_MAX = 4096  # up to here Prim's algorithm on a distance matrix (<= 128 MiB)


def _mst_dense(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prim's algorithm on the full distance matrix: n cheap vector steps."""
    from scipy.spatial.distance import cdist

    n = len(X)
    D = cdist(X, X, "sqeuclidean")
    best = D[0].copy()
    parent = np.zeros(n, dtype=np.int64)
    best[0] = np.inf
    done = np.zeros(n, dtype=bool)
    done[0] = True
    child_out = np.empty(n - 1, dtype=np.int64)
    parent_out = np.empty(n - 1, dtype=np.int64)
    for k in range(n - 1):
        j = int(np.argmin(best))
        child_out[k], parent_out[k] = j, parent[j]
        done[j] = True
        best[j] = np.inf
        row = D[j]
        closer = (row < best) & ~done
        best[closer] = row[closer]
        parent[closer] = j
    diff = X[child_out] - X[parent_out]
    return child_out, parent_out, np.sqrt(np.einsum("ij,ij->i", diff, diff))


@validate_params(n_points=COUNT_OR_ZERO, cut=Interval(float, finite=False))
def cluster_sizes(n_points: int, mst: tuple[np.ndarray, np.ndarray, np.ndarray], cut: float) -> np.ndarray:
    """Sizes of the single-linkage clusters at scale ``cut`` (MST edges shorter than
    ``cut`` joined), largest first.

    Examples
    --------
    >>> from topo.sampling.persistence import cluster_sizes, minimum_spanning_tree
    >>> pts = [[0.0], [0.1], [0.2], [5.0]]
    >>> cluster_sizes(4, minimum_spanning_tree(pts), 1.0).tolist()
    [3, 1]
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    i, j, length = mst
    keep = length < cut
    adj = sp.coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n_points, n_points))
    _, labels = connected_components(adj, directed=False)
    return np.sort(np.bincount(labels))[::-1]


@dataclass(frozen=True)
class Diagrams:
    """Persistence diagrams: ``diagrams[k]`` is an (n_k, 2) array of (birth, death)
    pairs in dimension k (death ``inf`` for essential classes), as gudhi's
    ``persistence_intervals_in_dimension`` returns them."""

    intervals: list = field(repr=False)
    max_dimension: int = 0
    threshold: float = float("inf")
    scale: float = float("nan")  # diameter of the cloud (bound: twice the largest distance to the mean)

    def __getitem__(self, k: int) -> np.ndarray:
        return self.intervals[k]

    def __len__(self) -> int:
        return len(self.intervals)

    def to_gudhi(self) -> list[tuple[int, tuple[float, float]]]:
        """The list of ``(dimension, (birth, death))`` of ``SimplexTree.persistence()``."""
        return [(k, (float(b), float(d))) for k, arr in enumerate(self.intervals) for b, d in arr]


@validate_params(max_dimension=COUNT_OR_ZERO, threshold=NoneOr(Interval(float, 0, finite=False)),
                 collapse=NoneOr(BOOLEAN), progress=_PROGRESS)
def persistence(
    points: Any,
    *,
    max_dimension: int = 1,
    threshold: float | None = None,
    collapse: bool | None = None,
    progress: bool | None = None,
) -> Diagrams:
    """Vietoris–Rips persistence diagrams of a point cloud.

    Parameters
    ----------
    points : array_like (n_points, dim)
    max_dimension : int
        Highest homology dimension (0 uses only the MST, no gudhi).
    threshold : float, optional
        Largest edge length of the Rips complex for dimensions >= 1 (default: no
        limit).  H0 is always exact and complete.
    collapse : bool, optional
        Collapse edges before expanding (gudhi; exact for persistence).  Default:
        only for ``max_dimension >= 2``; for H1 alone plain expansion was faster in
        ``benchmarks/persistence.py``.
    progress : bool, optional
        Progress bar for H0; shown only on a terminal by default.

    Examples
    --------
    >>> import numpy as np
    >>> from topo.sampling.persistence import persistence
    >>> t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    >>> dgm = persistence(np.c_[np.cos(t), np.sin(t)], max_dimension=1)
    >>> len(dgm[0]), len(dgm[1])          # one component, one loop
    (40, 1)
    """
    X = real_vector(points, "points")
    deaths = mst_h0_deaths(X, progress=progress)
    h0 = np.column_stack([np.zeros(len(deaths) + 1), np.append(deaths, np.inf)]) if len(X) else np.zeros((0, 2))
    intervals = [h0]
    if max_dimension >= 1:
        import gudhi

        thr = np.inf if threshold is None else float(threshold)
        rips = gudhi.RipsComplex(points=X, max_edge_length=thr)
        st = rips.create_simplex_tree(max_dimension=1)
        if collapse or (collapse is None and max_dimension >= 2):
            st.collapse_edges(-1)
        st.expansion(max_dimension + 1)
        st.compute_persistence(homology_coeff_field=11, persistence_dim_max=True)
        for k in range(1, max_dimension + 1):
            arr = np.asarray(st.persistence_intervals_in_dimension(k), dtype=np.float64).reshape(-1, 2)
            intervals.append(arr[np.argsort(arr[:, 0] - arr[:, 1])] if len(arr) else arr)
    scale = 2.0 * float(np.max(np.linalg.norm(X - X.mean(axis=0), axis=1))) if len(X) else 0.0
    return Diagrams(intervals, max_dimension, np.inf if threshold is None else float(threshold), scale)


class UndeterminedWarning(UserWarning):
    """A Betti number was read off a diagram without a clear gap between long and short bars."""


@dataclass(frozen=True)
class BarReading:
    """How many bars of one diagram are long, and how sure the reading is.

    Attributes
    ----------
    count : int
        Number of long finite bars (the best guess, even when not confident).
    cut : float
        Length separating long from short bars (``inf`` when none is long).
    gap : float
        Ratio (shortest long bar) / (longest short bar) at the cut; for ``count == 0``
        the largest ratio between consecutive bars (no cut reached ``min_ratio``).
    margin : float
        How clearly the reading wins: for a cut, its ratio divided by the largest
        ratio anywhere else in the candidate range; for ``count == 0``, ``min_ratio``
        divided by the largest ratio.  ``inf`` when there was nothing to compare.
    confident : bool
        ``margin >= dominance`` (and, for ``count == 0``, the longest bar is fine
        against ``scale`` when a scale is given).
    reason : str
        Why the reading is not confident (empty when it is).
    """

    count: int
    cut: float
    gap: float
    margin: float
    confident: bool
    reason: str = ""


@validate_params(min_ratio=POSITIVE, dominance=POSITIVE, max_long=NoneOr(COUNT_OR_ZERO), min_length=TOLERANCE,
                 scale=NoneOr(TOLERANCE), resolution=POSITIVE)
def read_bars(
    lengths: Any,
    *,
    min_ratio: float = 3.0,
    dominance: float = 3.0,
    max_long: int | None = None,
    min_length: float = 0.0,
    scale: float | None = None,
    resolution: float = 0.1,
) -> BarReading:
    """Count the long bars among finite bar ``lengths`` with a scale-aware gap rule.

    Sort the lengths ``L_1 >= L_2 >= ...`` (lengths below ``1e-9 L_1`` are
    duplicates and dropped).  A cut after the ``k``-th bar has ratio
    ``r_k = L_k / L_{k+1}``; candidates are ``k <= max_long`` in the upper half
    (long bars are a minority).  The cut with the *largest* ratio wins: a gap
    between two noise bars far below the longest bar is small compared with the
    gap between noise and real bars, so it never wins against it.  The reading is
    *confident* when the winning ratio is at least ``min_ratio`` and at least
    ``dominance`` times every other candidate ratio (two comparable gaps mean two
    plausible counts: real bars on several scales, or too few points per
    cluster).  With no ratio reaching ``min_ratio`` no bar counts; that is
    confident when the largest ratio is below ``min_ratio / dominance**0.5`` and,
    if ``scale`` (e.g. the diameter of the cloud) is given, the longest bar is at
    most ``resolution * scale`` (otherwise the sample is too coarse to rule out a
    separation hidden in the noise).

    Examples
    --------
    >>> from topo.sampling.persistence import read_bars
    >>> r = read_bars([1.465, 0.0048, 0.0016, 0.0015, 0.0014, 0.0014])
    >>> r.count, r.confident
    (1, True)
    >>> read_bars([4.0, 3.0, 1.0, 0.9, 0.3, 0.28, 0.27, 0.26]).confident   # two plausible cuts
    False
    """
    L = np.sort(np.asarray(lengths, dtype=np.float64).ravel())[::-1]
    L = L[np.isfinite(L)]
    if len(L):
        L = L[L > 1e-9 * L[0]]
    if len(L) == 0:
        return BarReading(0, float("inf"), float("inf"), float("inf"), True)
    if len(L) == 1:
        if L[0] >= min_length:
            return BarReading(1, 0.5 * float(L[0]), float("inf"), float("inf"), False,
                              "a single finite bar: nothing to compare it with")
        return BarReading(0, float("inf"), float("inf"), float("inf"), True)
    top = max(1, len(L) // 2)
    if max_long is not None:
        top = min(top, max(int(max_long), 0))
    ratios = L[:-1] / L[1:]
    ratios = ratios[:top]
    ratios[L[:top] < min_length] = 0.0
    if len(ratios) == 0:
        return BarReading(0, float("inf"), 1.0, float("inf"), False,
                          "the sample is too small to resolve any long bar")
    k = int(np.argmax(ratios))
    best = float(ratios[k])
    others = np.delete(ratios, k)
    second = max(float(np.max(others, initial=1.0)), 1.0)
    if best >= min_ratio:
        margin = best / second
        confident = margin >= dominance
        reason = "" if confident else (
            f"two comparable gaps (ratios {best:.3g} and {second:.3g}): bars on several scales, "
            "or too few points per cluster")
        return BarReading(k + 1, float(np.sqrt(L[k] * L[k + 1])), best, margin, confident, reason)
    margin = min_ratio / best
    reason = ""
    if margin < dominance**0.5:
        reason = f"largest gap ratio {best:.3g} is close to min_ratio={min_ratio:g}"
    elif scale is not None and L[0] > resolution * scale:
        reason = (f"the longest bar {L[0]:.3g} is not small against the scale {scale:.3g} of the cloud: "
                  "a separation could hide in the sampling noise")
    return BarReading(0, float("inf"), best, margin, not reason, reason)


@dataclass(frozen=True)
class BettiEstimate:
    """Betti numbers read off diagrams (see [`read_bars`][topo.sampling.persistence.read_bars] for the rule).

    Attributes
    ----------
    betti : list[int]
        Per dimension: essential bars plus long finite bars (the best guess).
    cut : list[float]
        The length separating long from short bars, per dimension.
    gap : list[float]
        The ratio (shortest long bar) / (longest short bar) that justifies the cut.
    confident : list[bool]
        Whether each count is backed by a clear gap.
    margin : list[float]
        By how much the chosen gap beats the runner-up (see [`BarReading`][topo.sampling.persistence.BarReading]).
    """

    betti: list
    cut: list
    gap: list
    confident: list = field(default_factory=list)
    margin: list = field(default_factory=list)

    @property
    def all_confident(self) -> bool:
        return all(self.confident)


@validate_params(diagrams=InstanceOf(Diagrams, name="persistence diagrams (topo.persistence(points))"),
                 min_ratio=POSITIVE, min_length=TOLERANCE, rule=Options("auto", "lowest", "largest"),
                 dominance=POSITIVE, warn=BOOLEAN)
def estimate_betti(
    diagrams: Diagrams, *, min_ratio: float = 3.0, min_length: float = 0.0, rule: str = "auto",
    dominance: float = 3.0, warn: bool = True,
) -> BettiEstimate:
    """Count the long bars of each diagram.

    Essential bars (infinite death) always count.  Finite bars are read by
    [`read_bars`][topo.sampling.persistence.read_bars]: the cut goes at the largest ratio between consecutive bar
    lengths (``rule="auto"`` or ``"largest"``), or at the lowest ratio reaching
    ``min_ratio`` (``rule="lowest"``: every scale of long bars counts).  The
    reading is the one [`topo.verify_topology`][topo.sampling.verification.verify_topology] uses; when it is not
    confident (two comparable gaps, or no clear gap) an
    `UndeterminedWarning` says so — pass ``warn=False`` to silence it and
    look at ``confident`` instead.

    Examples
    --------
    >>> import numpy as np
    >>> from topo.sampling.persistence import persistence, estimate_betti
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    >>> est = estimate_betti(persistence(blobs, max_dimension=0))
    >>> est.betti, est.confident
    ([2], [True])
    """
    betti, cuts, gaps, conf, margins = [], [], [], [], []
    for dim, arr in enumerate(diagrams.intervals):
        arr = np.asarray(arr, dtype=np.float64).reshape(-1, 2)
        inf = int(np.sum(~np.isfinite(arr[:, 1])))
        fin = arr[np.isfinite(arr[:, 1])]
        r = read_bars(fin[:, 1] - fin[:, 0], min_ratio=min_ratio, dominance=dominance, min_length=min_length,
                      scale=diagrams.scale if dim == 0 and np.isfinite(diagrams.scale) else None)
        if rule == "lowest" and r.count:
            r = _lowest_cut(fin[:, 1] - fin[:, 0], r, min_ratio, min_length)
        betti.append(inf + r.count)
        cuts.append(r.cut)
        gaps.append(r.gap)
        conf.append(r.confident)
        margins.append(r.margin)
        if warn and not r.confident:
            import warnings

            warnings.warn(f"H{dim}: the count {inf + r.count} is not backed by a clear gap ({r.reason})",
                          UndeterminedWarning, stacklevel=3)  # the caller of the validate_params wrapper
    return BettiEstimate(betti, cuts, gaps, conf, margins)


def _lowest_cut(lengths, reading: BarReading, min_ratio: float, min_length: float) -> BarReading:
    L = np.sort(np.asarray(lengths, dtype=np.float64))[::-1]
    L = L[L > 1e-9 * L[0]]
    top = max(1, len(L) // 2)
    ratios = (L[:-1] / L[1:])[:top]
    ratios[L[:top] < min_length] = 0.0
    k = int(np.flatnonzero(ratios >= min_ratio)[-1])
    return BarReading(k + 1, float(np.sqrt(L[k] * L[k + 1])), float(ratios[k]), reading.margin,
                      reading.confident and k + 1 == reading.count, reading.reason)
