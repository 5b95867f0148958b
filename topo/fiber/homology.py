"""Exact Betti numbers of fibers H(c).

``H(c)`` is the product of the fibers of its independent factors and a Euclidean
factor, so its Poincaré polynomial is the product of the factors' (Künneth, over a
field).  A factor is homotopy equivalent to the polyhedral product
``(D^{k_e}, S^{k_e - 1})^K`` where ``K`` is the simplicial complex on the factor's
edges whose faces are the edge sets that can vanish together on P(c).  Then

* frozen edges are *ghost vertices* of K (never zero): each contributes a factor
  ``S^{k_e - 1}`` (two points for a scalar edge);
* *cone vertices* (edges that can always be added to a face) contribute a disc and
  are dropped;
* on the remaining *core*, Hochster's formula gives the unreduced Betti numbers
  ``β_p = Σ_{J ⊆ core} β̃_{p-1-Σ_{e∈J}(k_e-1)}(K_J)`` with ``β̃_{-1}({∅}) = 1``,
  computed with gudhi over the field Z/11.

A factor made of one node has a closed form: ``c > 0`` gives ``S^{a-1} × ℝ^b``
(``a``/``b`` the numbers of weights entering/leaving), ``c < 0`` gives
``ℝ^a × S^{b-1}``, ``c = 0`` a contractible cone.

With fixed edges everything lives on the quotient graph: a "node" is a constrained
rescaling class, its edges are the trainable edges between classes (those entering
and leaving a class for the closed form), fixed edges are constants of the fiber and a
trainable edge inside a class is a free coordinate (a Euclidean factor).

References
----------
.. [1] A. Bahri, M. Bendersky, F. Cohen, S. Gitler, "The polyhedral product functor",
   Advances in Math. 225, 2010.
.. [2] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, arXiv:2602.00693.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from topo.errors import TopoError
from topo.fiber.balance import incidence_matrix
from topo.fiber.connectivity import REPORT, ConnectivityReport, report_for
from topo.fiber.decompose import decompose
from topo.fiber.flows import feasible_flow
from topo.graph.architecture import ARCH, Architecture
from topo.utils.validation import COUNT_OR_ZERO, TOLERANCE, NoneOr, Options, validate_params

__all__ = ["BettiNumbers", "betti_numbers", "poly_mul", "sphere", "zeroable_complex"]


def poly_mul(a: list[int], b: list[int]) -> list[int]:
    """Product of Poincaré polynomials given as coefficient lists."""
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out


def sphere(k: int) -> list[int]:
    """Poincaré polynomial of S^k (k = 0: two points)."""
    if k == 0:
        return [2]
    out = [0] * (k + 1)
    out[0] = 1
    out[k] = 1
    return out


@dataclass(frozen=True)
class BettiNumbers:
    """Betti numbers of H(c) (``betti[p]`` = β_p), with how each factor was done.

    ``factors`` lists, per independent factor with a non-trivial polynomial, its
    nodes, Poincaré polynomial and method (``"single node"``, ``"hochster"``).
    """

    betti: list
    factors: list = field(repr=False)

    def __getitem__(self, p: int) -> int:
        return self.betti[p] if p < len(self.betti) else 0


def zeroable_complex(arch: Architecture, c: np.ndarray, edges: list[int], *,
                     max_faces: int = 200_000) -> list[frozenset]:
    """All faces of K on ``edges``: the edge sets that can vanish together on P(c).

    Grown level by level from smaller faces (K is closed under subsets); one
    linear program decides each candidate whose facets are all faces.
    """
    B = incidence_matrix(arch)
    faces = [frozenset()]
    fs = {frozenset()}
    level = [frozenset()]
    edges = sorted(edges)
    while level:
        nxt = []
        for f in level:
            top = max(f) if f else -1
            for e in edges:
                if e <= top:
                    continue
                g = f | {e}
                if any((g - {x}) not in fs for x in g):
                    continue
                if feasible_flow(arch, c, zero=sorted(g), B=B) is not None:
                    nxt.append(g)
        fs.update(nxt)
        faces.extend(nxt)
        if len(faces) > max_faces:
            raise TopoError(f"the complex of zeroable edge sets has more than {max_faces} faces")
        level = nxt
    return faces


def _reduced_betti(faces: list[frozenset], J: frozenset) -> dict[int, int]:
    """Reduced Betti numbers of the full subcomplex K_J (K_J = {∅} gives β̃_{-1} = 1)."""
    sub = [f for f in faces if f and f <= J]
    if not sub:
        return {-1: 1}
    import gudhi

    st = gudhi.SimplexTree()
    for f in sub:
        st.insert(sorted(f))
    st.compute_persistence(homology_coeff_field=11, persistence_dim_max=True)
    b = st.betti_numbers()
    out = {p: int(x) for p, x in enumerate(b) if x}
    out[0] = out.get(0, 0) - 1  # reduced
    if out[0] == 0:
        del out[0]
    return out


def _hochster(faces, core: list[int], sizes: np.ndarray) -> list[int]:
    poly: dict[int, int] = {}
    for r in range(len(core) + 1):
        for J in combinations(core, r):
            Jf = frozenset(J)
            shift = int(sum(int(sizes[e]) - 1 for e in J))
            for q, b in _reduced_betti(faces, Jf).items():
                p = q + 1 + shift
                poly[p] = poly.get(p, 0) + b
    top = max(poly) if poly else 0
    return [poly.get(p, 0) for p in range(top + 1)]


def _factor_edges(arch: Architecture, labels: np.ndarray, n_factors: int) -> list[list[int]]:
    """Edges of each factor: the quotient edges (trainable, between two classes) with a
    constrained end in it.  Fixed edges are constants and trainable edges inside a class
    free coordinates (a contractible factor): neither changes the homology."""
    row = arch.node_row
    out: list[list[int]] = [[] for _ in range(n_factors)]
    for e in arch.quotient_edges.tolist():
        r = row[arch.dst[e]] if row[arch.dst[e]] >= 0 else row[arch.src[e]]
        if r >= 0:
            out[int(labels[r])].append(e)
    return out


@validate_params(arch=ARCH, max_core=COUNT_OR_ZERO, tol=NoneOr(TOLERANCE), method=Options("auto", "hochster"),
                 connectivity=REPORT)
def betti_numbers(arch: Architecture, c: Any, *, max_core: int = 12, tol: float | None = None,
                  method: str = "auto", connectivity: ConnectivityReport | None = None) -> BettiNumbers:
    """Exact Betti numbers of the fiber H(c).

    Parameters
    ----------
    arch : Architecture
    c : array_like or mapping
        Balances, aligned with ``arch.constrained`` or ``{node: value}``.
    max_core : int
        Largest core (edges of a factor that are neither frozen nor cone vertices)
        handled by Hochster's formula, which costs ``2^core`` homology computations.
    tol : float, optional
        Tolerance of the frozen-edge decision (see [`topo.fiber.connectivity`][topo.fiber.connectivity.connectivity]).
    method : {"auto", "hochster"}
        ``"auto"`` uses the closed form for single-node factors; ``"hochster"``
        applies Hochster's formula to every factor (a cross-check).
    connectivity : ConnectivityReport, optional
        ``topo.connectivity(arch, c)`` when it is already computed.

    Raises
    ------
    TopoError
        When a factor's core exceeds ``max_core`` (the message names its size).

    Examples
    --------
    One neuron with two inputs: a circle for c > 0, two points for c < 0.

    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> topo.betti_numbers(arch, [1.0]).betti, topo.betti_numbers(arch, [-1.0]).betti
    ([1, 1], [2])
    """
    rep = report_for(arch, c, tol=tol, connectivity=connectivity)
    cv, tol = rep.c, rep.tol
    d = decompose(arch)
    frozen = set(rep.frozen_index.tolist())
    sizes = arch.edge_sizes
    row = arch.node_row
    head, tail = row[arch.dst], row[arch.src]
    labels = d.factor_labels
    factor_edges = _factor_edges(arch, labels, d.n_factors)
    total = [1]
    out_factors = []
    names = arch.constrained
    members: list[list[int]] = [[] for _ in range(d.n_factors)]
    for r, f in enumerate(labels.tolist()):
        members[f].append(r)
    cs = cv.copy()
    cs[np.abs(cs) <= tol] = 0.0
    for f in range(d.n_factors):
        nodes = members[f]
        edges = factor_edges[f]
        if len(nodes) == 1 and method == "auto":
            r = nodes[0]
            a = int(sum(int(sizes[e]) for e in edges if head[e] == r))
            b = int(sum(int(sizes[e]) for e in edges if tail[e] == r))
            if cs[r] > 0:
                poly, how = sphere(a - 1), "single node"
            elif cs[r] < 0:
                poly, how = sphere(b - 1), "single node"
            else:
                poly, how = [1], "single node (cone)"
        else:
            ghosts = [e for e in edges if e in frozen]
            live = [e for e in edges if e not in frozen]
            budget = 2 ** (max_core + 6)
            try:
                faces = zeroable_complex(arch, cs, live, max_faces=budget)
            except TopoError:
                raise TopoError(
                    f"factor with nodes {[names[x] for x in nodes][:6]}: the complex of zeroable edge sets "
                    f"has more than {budget} faces, so its core exceeds max_core={max_core}"
                ) from None
            fs = set(faces)
            cones = [e for e in live if all((g | {e}) in fs for g in faces)]
            core = [e for e in live if e not in cones]
            if len(core) > max_core:
                raise TopoError(
                    f"factor with nodes {[names[x] for x in nodes][:6]} has a core of {len(core)} edges, "
                    f"above max_core={max_core} (Hochster's formula costs 2^core homology computations)"
                )
            core_faces = [g - set(cones) for g in faces]
            core_faces = list(set(core_faces))
            poly = _hochster(core_faces, core, sizes)
            for e in ghosts:
                poly = poly_mul(poly, sphere(int(sizes[e]) - 1))
            how = "hochster"
        if poly != [1]:
            out_factors.append({"nodes": [names[x] for x in nodes], "poincare": poly, "method": how})
        total = poly_mul(total, poly)
    while len(total) > 1 and total[-1] == 0:
        total.pop()
    return BettiNumbers(total, out_factors)
