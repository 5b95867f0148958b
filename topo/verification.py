"""Check the theory on data: sample a fiber, compute persistent homology, compare.

:func:`verify_topology` samples H(c), computes Rips persistence of the samples and
compares the Betti numbers read off the diagrams with the exact ones: β₀ from
:func:`topo.connectivity`, higher Betti numbers from :func:`topo.betti_numbers`
when the factors are small enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .architecture import Architecture
from .connectivity import as_balance, connectivity, count_repr
from .decompose import decompose
from .errors import TopoError
from .flows import feasible_flow
from .homology import betti_numbers
from .persistence import BettiEstimate, Diagrams, estimate_betti, persistence
from .sampling import sample_fiber

__all__ = ["TopologyCheck", "verify_topology", "safe_radius"]


def safe_radius(arch: Architecture, c: Any, *, edges: list[int] | None = None) -> float:
    """A window radius large enough to contain, for every edge in ``edges`` (default:
    the non-frozen bottleneck edges), a point of P(c) where that edge vanishes.

    ``R² = 1.2 · max Σq`` over the minimum-norm points of P(c) with ``q_e = 0``: the
    window keeps every gluing face while staying small, so that samples are dense.
    """
    cv = as_balance(arch, c)
    rep = connectivity(arch, cv)
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
class TopologyCheck:
    """Outcome of :func:`verify_topology`.

    Attributes
    ----------
    theory_b0 : int
        Exact number of components (``2 ** frozen scalar edges``).
    exact_betti : list[int] or None
        Exact Betti numbers when computable (full coordinates, small cores).
    estimate : BettiEstimate
        Betti numbers read off the diagrams.
    diagrams : Diagrams
    agree : bool
        Whether every Betti number compared matches.
    compared : list[int]
        The dimensions compared.
    """

    theory_b0: int
    exact_betti: list | None
    estimate: BettiEstimate
    diagrams: Diagrams = field(repr=False)
    agree: bool = False
    compared: list = field(default_factory=list)
    n_samples: int = 0
    coordinates: str = "bottleneck"

    def to_dict(self) -> dict:
        return {
            "n_samples": self.n_samples,
            "coordinates": self.coordinates,
            "theory_b0": count_repr(self.theory_b0),
            "exact_betti": self.exact_betti,
            "ph_betti": self.estimate.betti,
            "ph_gap": [g if np.isfinite(g) else None for g in self.estimate.gap],
            "compared_dimensions": self.compared,
            "agree": self.agree,
        }


def verify_topology(
    arch: Architecture,
    c: Any,
    *,
    n_samples: int = 3000,
    seed: int | None = 0,
    coordinates: str = "bottleneck",
    max_dimension: int = 0,
    method: str = "polytope",
    density: str = "q",
    radius: float | None = None,
    min_ratio: float = 2.5,
    max_core: int = 10,
    progress: bool | None = None,
) -> TopologyCheck:
    """Sample H(c), compute persistent homology and compare with the exact topology.

    With ``coordinates="bottleneck"`` (the default, affordable on large networks)
    only β₀ is compared: the projection keeps the components, not the higher
    homology.  With ``coordinates="all"`` the Betti numbers up to
    ``max_dimension`` are compared with :func:`topo.betti_numbers` when it can
    compute them.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> res = topo.verify_topology(arch, [1.0, -0.5, -2.0], n_samples=600, seed=0)
    >>> res.theory_b0, res.estimate.betti[0], res.agree
    (4, 4, True)
    """
    cv = as_balance(arch, c)
    rep = connectivity(arch, cv)
    R = safe_radius(arch, cv) if radius is None else radius
    pts = sample_fiber(arch, cv, n_samples, radius=R, method=method, coordinates=coordinates, seed=seed,
                       density=density, progress=progress)
    dims = max_dimension if coordinates == "all" else 0
    threshold = None
    if dims >= 1:
        # cap the Rips complex a few sampling spacings above the typical MST edge: loops
        # of the fiber outlive it (essential bars), sampling noise dies below it
        from .persistence import mst_h0_deaths

        threshold = 3.0 * float(np.quantile(mst_h0_deaths(pts), 0.99))
    dgm = persistence(pts, max_dimension=dims, threshold=threshold, progress=progress)
    est = estimate_betti(dgm, min_ratio=min_ratio)
    exact = None
    compared = [0]
    if coordinates == "all" and dims >= 1:
        try:
            exact = betti_numbers(arch, cv, max_core=max_core).betti
            compared = list(range(dims + 1))
        except TopoError:
            exact = None
    agree = est.betti[0] == rep.n_components
    if exact is not None:
        agree = agree and all(est.betti[k] == (exact[k] if k < len(exact) else 0) for k in compared)
    return TopologyCheck(rep.n_components, exact, est, dgm, agree, compared, n_samples, coordinates)
