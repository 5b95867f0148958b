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

__all__ = ["Diagrams", "persistence", "mst_h0_deaths", "BettiEstimate", "estimate_betti"]


def mst_h0_deaths(points: Any, *, progress: bool | None = None) -> np.ndarray:
    """Finite H0 death times of the Rips filtration: the Euclidean MST edge lengths, sorted.

    Examples
    --------
    >>> from topo.persistence import mst_h0_deaths
    >>> mst_h0_deaths([[0.0], [1.0], [3.0], [3.5]])
    array([0.5, 1. , 2. ])
    """
    X = np.ascontiguousarray(np.asarray(points, dtype=np.float64))
    if X.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n_points, dim), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("points contain non-finite values")
    n = len(X)
    if n <= 1:
        return np.zeros(0)
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
    m = n - 1
    bar = tqdm(total=n - 1, desc="H0 (MST)", disable=None if progress is None else not progress,
               leave=False, mininterval=0.5)
    for k in range(n - 1):
        j = int(np.argmin(best[:m]))
        i_new, i_par = int(idx[j]), int(parent[j])
        diff = X[i_new] - X[i_par]
        deaths[k] = float(diff @ diff)  # exact length of the chosen edge
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
    return np.sort(np.sqrt(deaths))


@dataclass(frozen=True)
class Diagrams:
    """Persistence diagrams: ``diagrams[k]`` is an (n_k, 2) array of (birth, death)
    pairs in dimension k (death ``inf`` for essential classes), as gudhi's
    ``persistence_intervals_in_dimension`` returns them."""

    intervals: list = field(repr=False)
    max_dimension: int = 0
    threshold: float = float("inf")

    def __getitem__(self, k: int) -> np.ndarray:
        return self.intervals[k]

    def __len__(self) -> int:
        return len(self.intervals)

    def to_gudhi(self) -> list[tuple[int, tuple[float, float]]]:
        """The list of ``(dimension, (birth, death))`` of ``SimplexTree.persistence()``."""
        return [(k, (float(b), float(d))) for k, arr in enumerate(self.intervals) for b, d in arr]


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
    >>> from topo.persistence import persistence
    >>> t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    >>> dgm = persistence(np.c_[np.cos(t), np.sin(t)], max_dimension=1)
    >>> len(dgm[0]), len(dgm[1])          # one component, one loop
    (40, 1)
    """
    X = np.asarray(points, dtype=np.float64)
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
    return Diagrams(intervals, max_dimension, np.inf if threshold is None else float(threshold))


@dataclass(frozen=True)
class BettiEstimate:
    """Betti numbers read off diagrams: in each dimension the bars longer than a cut
    placed in the largest gap (ratio) between consecutive bar lengths.

    Attributes
    ----------
    betti : list[int]
    cut : list[float]
        The length separating long from short bars, per dimension.
    gap : list[float]
        The ratio (shortest long bar) / (longest short bar) that justifies the cut
        (``inf`` when there is no short bar, 1.0 when no gap reached ``min_ratio``).
    """

    betti: list
    cut: list
    gap: list


def estimate_betti(
    diagrams: Diagrams, *, min_ratio: float = 3.0, min_length: float = 0.0, rule: str = "auto"
) -> BettiEstimate:
    """Count the long bars of each diagram.

    Essential bars (infinite death) always count.  Among the finite bars (lengths
    below ``1e-9`` times the longest are dropped as duplicates), sorted by length
    ``L_1 >= L_2 >= ...``, the cut goes after the largest ``i`` in the upper half
    with ``L_i / L_{i+1} >= min_ratio`` (and ``L_i >= min_length``): long bars are
    a minority and may live on several scales (``rule="lowest"``), or at the
    largest such ratio (``rule="largest"``, fewer false long bars when some
    short bars are sampling gaps).  ``rule="auto"`` (default) uses "lowest" for
    H0, where components separate at several scales, and "largest" above, where
    noise produces a few short cycles.  Without such a gap no finite bar counts.

    Examples
    --------
    >>> import numpy as np
    >>> from topo.persistence import persistence, estimate_betti
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    >>> estimate_betti(persistence(blobs, max_dimension=0)).betti
    [2]
    """
    if rule not in ("auto", "lowest", "largest"):
        raise ValueError(f"rule must be 'auto', 'lowest' or 'largest', got {rule!r}")
    betti, cuts, gaps = [], [], []
    for dim, arr in enumerate(diagrams.intervals):
        dim_rule = rule if rule != "auto" else ("lowest" if dim == 0 else "largest")
        arr = np.asarray(arr, dtype=np.float64).reshape(-1, 2)
        inf = int(np.sum(~np.isfinite(arr[:, 1])))
        fin = arr[np.isfinite(arr[:, 1])]
        lengths = np.sort(fin[:, 1] - fin[:, 0])[::-1]
        lengths = lengths[lengths > 1e-9 * lengths[0]] if len(lengths) else lengths  # drop duplicates
        count, cut, gap = 0, float("inf"), 1.0
        if len(lengths) == 1:
            if lengths[0] >= min_length:  # a lone finite bar has nothing to be compared with
                count, cut, gap = 1, 0.5 * float(lengths[0]), float("inf")
        elif len(lengths) > 1:
            ratios = lengths[:-1] / lengths[1:]  # gap after the i-th longest bar
            ratios[lengths[:-1] < min_length] = 0.0
            # long bars are the minority: look for gaps in the upper half only, and take
            # the lowest significant one (long bars can live on several scales)
            top = max(1, len(lengths) // 2)
            significant = np.flatnonzero(ratios[:top] >= min_ratio)
            if len(significant):
                i = int(significant[-1]) if dim_rule == "lowest" else int(np.argmax(ratios[:top]))
                count, cut, gap = i + 1, float(np.sqrt(lengths[i] * lengths[i + 1])), float(ratios[i])
        betti.append(inf + count)
        cuts.append(cut)
        gaps.append(gap)
    return BettiEstimate(betti, cuts, gaps)
