"""Exact connectivity of the fiber H(c) = {θ : B̃ q(θ) = c}, with certificates.

An edge is *frozen* when ``q_e > 0`` on the whole polyhedron
``P(c) = {q >= 0 : B̃ q = c}``: its weight can never reach zero, so a scalar frozen
edge keeps its sign along gradient flow.  Each sign orthant of H(c) is a copy of
the convex P(c) and orthants meet where edges vanish, hence
``β₀(H(c)) = 2^(number of frozen scalar edges)``.

By the flow feasibility theorem (Gale/Hoffman) with infinite capacities, edge
``e = (u -> v)`` is frozen iff

* (in)  some set ``S`` of constrained nodes containing ``v`` has ``e`` as its only
  entering edge and ``Σ_S c > 0``, or
* (out) some set ``S`` containing ``u`` has ``e`` as its only leaving edge and
  ``Σ_S c < 0``.

Such ``S`` lie in the region of a bottleneck (see `topo.fiber.decompose`); the best
one is a maximum-weight closure (`topo.fiber.closure`).  No linear program is solved
to decide frozenness; one is solved on demand for the certificate of a non-frozen
edge ([`ConnectivityReport.zero_flow`][topo.fiber.connectivity.ConnectivityReport.zero_flow]).

References
----------
.. [1] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, "Topology and geometry of the
   learning space of ReLU networks: connectivity and singularities", ICLR 2026,
   arXiv:2602.00693.
.. [2] D. Gale, "A theorem on flows in networks", Pacific J. Math. 7, 1957.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.errors import FiberError, GraphError, ParameterError
from topo.fiber.balance import (
    as_balance,
    check_same_fiber,
    check_tol,
    default_tol,
    edge_norms,
    power_of_two_scale,
    scaled_balance,
)
from topo.fiber.closure import RegionClosures
from topo.fiber.decompose import Decomposition, decompose
from topo.fiber.flows import feasible_flow
from topo.graph.architecture import ARCH, Architecture
from topo.utils.text import count_repr
from topo.utils.validation import COUNT_OR_ZERO, TOLERANCE, InstanceOf, NoneOr, validate_params

__all__ = [
    "Witness",
    "ConnectivityReport",
    "connectivity",
    "component_label",
    "same_component",
    "report_for",
    "REPORT",
]


@dataclass(frozen=True)
class Witness:
    """Certificate that an edge is frozen.

    ``nodes`` is a set S of constrained nodes whose only entering (``kind="in"``)
    or only leaving (``kind="out"``) edge is ``edge``; ``total`` is Σ_S c, which is
    ``> tol`` (in) or ``< -tol`` (out).  Any point of the fiber then has
    ``q_edge >= |total|``; the reported witness is the strongest one, so that
    ``|total|`` is the minimum of ``q_edge`` over the fiber (flow duality).
    """

    edge: tuple
    kind: str
    nodes: tuple
    total: float
    #: the other members of each class of S with several members (``{node: members}``)
    classes: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        extra = f", classes={self.classes!r}" if self.classes else ""
        return (f"Witness(edge={self.edge!r}, kind={self.kind!r}, nodes={self.nodes!r}, "
                f"total={self.total!r}{extra})")

    def to_dict(self) -> dict:
        return {
            "edge": [str(x) for x in self.edge],
            "kind": self.kind,
            "nodes": [str(x) for x in self.nodes],
            "sum_c": self.total,
        } | ({"classes": {str(k): [str(v) for v in m] for k, m in self.classes.items()}} if self.classes else {})


class ConnectivityReport:
    """Frozen edges and the number of connected components of H(c).

    Attributes
    ----------
    frozen_edges : list of (u, v)
        Edges with ``q_e > 0`` everywhere on the fiber, in parameter order.
    n_frozen_scalar : int
        Frozen edges carrying a single weight (each doubles the components).
    n_components : int
        ``2 ** n_frozen_scalar``, exact.
    factors : list of dict
        Per independent factor: its constrained nodes, frozen edges and components.
    tol : float
        Sums ``Σ_S c`` within ``tol`` of zero count as zero.
    """

    def __init__(self, arch: Architecture, c: np.ndarray, tol: float, decomposition: Decomposition):
        self.arch = arch
        self.c = c
        self.tol = tol
        self.decomposition = decomposition
        d = decomposition
        self._in = RegionClosures(d.in_forest, c)
        self._out = RegionClosures(d.out_forest, -c)
        # each frozen edge keeps its strongest witness: q_e >= best on the whole fiber
        frozen: dict[int, tuple[str, int]] = {}
        margin: dict[int, float] = {}
        for forest, closures, kind in ((d.in_forest, self._in, "in"), (d.out_forest, self._out, "out")):
            best = closures.best
            for r, e in forest.edge.items():
                if best[r] > tol and best[r] > margin.get(e, 0.0):
                    frozen[e] = (kind, r)
                    margin[e] = best[r]
        self._frozen = frozen
        self.frozen_index = np.asarray(sorted(frozen), dtype=np.int64)
        self.frozen_edges = arch.edge_names(self.frozen_index)
        sizes = arch.edge_sizes
        scalar = sizes[self.frozen_index] == 1 if len(self.frozen_index) else np.zeros(0, bool)
        self.n_frozen_scalar = int(scalar.sum())
        self.n_components = 2 ** self.n_frozen_scalar
        per_factor: list[list[int]] = [[] for _ in range(d.n_factors)]
        labels = d.factor_labels
        for e, (kind, r) in frozen.items():
            per_factor[int(labels[r])].append(e)
        names = arch.constrained
        members: list[list] = [[] for _ in range(d.n_factors)]
        for r, f in enumerate(labels.tolist()):
            members[f].append(names[r])
        self.factors = []
        for f in range(d.n_factors):
            fe = sorted(per_factor[f])
            k = int(np.sum(sizes[fe] == 1)) if fe else 0
            self.factors.append({
                "nodes": members[f],
                "frozen_edges": arch.edge_names(fe),
                "n_frozen_scalar": k,
                "n_components": 2 ** k,
            })

    def is_frozen(self, edge: tuple) -> bool:
        return self.arch.edge_index(edge) in self._frozen

    def witness(self, edge: tuple) -> Witness:
        """The certificate of a frozen edge: a set S and Σ_S c.

        Raises ``ValueError`` if the edge is not frozen (see
        [`zero_flow`][topo.fiber.connectivity.ConnectivityReport.zero_flow]).
        """
        e = self.arch.edge_index(edge)
        if e not in self._frozen:
            raise GraphError(f"edge {tuple(edge)!r} is not frozen; zero_flow(edge) certifies that")
        return self._witness_at(e)

    def _witness_at(self, e: int) -> Witness:
        """`witness` of the frozen edge of index ``e``."""
        kind, r = self._frozen[e]
        closures = self._in if kind == "in" else self._out
        rows = sorted(closures.witness(r))
        names = self.arch.node_names(self.arch.constrained_index[rows])  # the certificate's rows only
        total = float(np.sum(self.c[rows]))
        sizes = self.arch.class_sizes[rows]
        shared = {v: tuple(self.arch.class_members(v)) for v, k in zip(names, sizes.tolist()) if k > 1}
        return Witness(edge=self.arch.edge_names([e])[0], kind=kind, nodes=tuple(names), total=total,
                       classes=shared)

    def zero_flow(self, edge: tuple) -> np.ndarray:
        """The certificate of a non-frozen edge: ``q >= 0`` with ``B̃ q = c`` and ``q_edge = 0``.

        Solves one linear program (on demand).  Raises ``ValueError`` if the edge is
        frozen (see [`witness`][topo.fiber.connectivity.ConnectivityReport.witness]).
        """
        e = self.arch.edge_index(edge)
        if e in self._frozen:
            raise GraphError(f"edge {tuple(edge)!r} is frozen; witness(edge) certifies that")
        q = feasible_flow(self.arch, self.c, zero=[e])
        if q is None:  # only possible when |Σ_S c| is within tol of zero
            q = feasible_flow(self.arch, self._snap(), zero=[e])
            if q is None:
                raise FiberError(f"no point of P(c) with q_{edge} = 0 was found; increase tol")
        return q

    def label(self, theta: Any) -> tuple[int, ...]:
        """Component label of a point of this fiber: the signs (+1/-1) of ``theta`` on the
        frozen scalar edges, in parameter order (see [`component_label`][topo.fiber.connectivity.component_label]).

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
        >>> topo.connectivity(arch, [-2.0]).label([1.0, 1.0, -2.0])
        (-1,)
        """
        vec = self.arch.as_vector(theta)
        idx = self.frozen_index
        scalar = idx[self.arch.edge_sizes[idx] == 1]
        return tuple(int(s) for s in np.sign(vec[self.arch.edge_offsets[scalar]]).tolist())

    def _snap(self) -> np.ndarray:
        """c with entries within tol of zero set to zero (used only for near-ties)."""
        c = self.c.copy()
        c[np.abs(c) <= self.tol] = 0.0
        return c

    @validate_params(max_witnesses=NoneOr(COUNT_OR_ZERO))
    def to_dict(self, *, max_witnesses: int | None = 1000) -> dict:
        index = self.frozen_index.tolist()
        frozen = index if max_witnesses is None else index[:max_witnesses]
        return {
            "n_frozen_edges": len(self.frozen_edges),
            "n_frozen_scalar_edges": self.n_frozen_scalar,
            "n_components": count_repr(self.n_components),
            "log2_n_components": self.n_frozen_scalar,
            "tol": self.tol,
            "frozen_edges": [self._witness_at(e).to_dict() | {"size": int(self.arch.edge_sizes[e])}
                             for e in frozen],
            "frozen_edges_truncated": len(frozen) < len(self.frozen_edges),
            "factors": [
                {
                    "nodes": [str(v) for v in f["nodes"]],
                    "frozen_edges": [[str(x) for x in e] for e in f["frozen_edges"]],
                    "n_components": count_repr(f["n_components"]),
                }
                for f in self.factors
            ],
        }

    def __repr__(self) -> str:
        return (
            f"ConnectivityReport(frozen_edges={len(self.frozen_edges)}, "
            f"n_components=2**{self.n_frozen_scalar})"
        )


#: The constraint of a ``connectivity`` argument: a report to reuse, or None to build one.
REPORT = NoneOr(InstanceOf(ConnectivityReport, name="a ConnectivityReport (topo.connectivity(arch, c))"))


@validate_params(arch=ARCH, tol=NoneOr(TOLERANCE))
def connectivity(arch: Architecture, c: Any, *, tol: float | None = None) -> ConnectivityReport:
    """Frozen edges and number of connected components of the fiber H(c).

    Parameters
    ----------
    arch : Architecture
    c : array_like or mapping
        Balances aligned with ``arch.constrained`` (e.g. ``topo.balance(arch, θ)``)
        or ``{node: value}``.
    tol : float, optional
        A sum ``Σ_S c`` counts as positive only above ``tol``.  Default
        ``1e-9 * max|c|``.

    Returns
    -------
    ConnectivityReport

    Notes
    -----
    Decides every edge exactly with the closure criterion: tree-shaped regions of
    bottlenecks (chains, trees) by a linear-time dynamic programme, regions with
    merges by one minimum cut per region.  No linear program is solved.

    Examples
    --------
    The shallow scalar-output network of the 2024 paper: each hidden neuron with
    negative balance freezes its output weight.

    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> rep = topo.connectivity(arch, [1.0, -0.5, -2.0])
    >>> rep.frozen_edges, rep.n_components
    ([('h1_1', 'y0'), ('h1_2', 'y0')], 4)
    >>> rep.witness(("h1_2", "y0"))
    Witness(edge=('h1_2', 'y0'), kind='out', nodes=('h1_2',), total=-2.0)

    A chain where the local rule fails: h5 has negative balance, but {h5, h7}
    has positive total and h3 -> h5 is its only entering edge.

    >>> chain = topo.Architecture.from_edges(
    ...     [("x", "h3"), ("x2", "h3"), ("h3", "h5"), ("h5", "h7"), ("h7", "y"), ("h7", "y2")])
    >>> rep = topo.connectivity(chain, {"h3": 0.0, "h5": -1.0, "h7": 2.0})
    >>> rep.frozen_edges, rep.witness(("h3", "h5")).nodes
    ([('h3', 'h5'), ('h5', 'h7')], ('h5', 'h7'))
    """
    c = as_balance(arch, c)
    return ConnectivityReport(arch, c, check_tol(tol, c), decompose(arch))


@validate_params(arch=ARCH, tol=NoneOr(TOLERANCE), connectivity=REPORT)
def report_for(arch: Architecture, c: Any, *, tol: float | None = None,
               connectivity: ConnectivityReport | None = None) -> ConnectivityReport:
    """The connectivity report of ``(arch, c)``: ``connectivity`` when one is given (an analysis
    that receives the audit's report does not build another), else a new one.

    A given report must be of this architecture and these balances (and of ``tol`` when
    ``tol`` is given); anything else is a [`ParameterError`][topo.errors.ParameterError], never a
    silent mix of two fibers.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> rep = topo.connectivity(arch, [-1.0])
    >>> report_for(arch, [-1.0], connectivity=rep) is rep
    True
    >>> report_for(arch, [2.0], connectivity=rep)
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: the connectivity report given is of other balances than c
    """
    if connectivity is None:
        cv = as_balance(arch, c)
        return ConnectivityReport(arch, cv, check_tol(tol, cv), decompose(arch))
    if connectivity.arch is not arch and connectivity.arch != arch:
        raise ParameterError("the connectivity report given is of another architecture")
    if c is not None and not np.array_equal(as_balance(arch, c), connectivity.c):
        raise ParameterError("the connectivity report given is of other balances than c")
    if tol is not None and check_tol(tol, connectivity.c) != connectivity.tol:
        raise ParameterError(f"the connectivity report given has tol={connectivity.tol!r}, not {tol!r}")
    return connectivity


def _theta_report(arch: Architecture, theta: Any) -> tuple[np.ndarray, np.ndarray, ConnectivityReport]:
    # decisions on balances rescaled by a power of two: invariant under θ -> 2^k θ, and
    # no square underflows (weights of 1e-170) or overflows (1e170)
    vec = arch.as_vector(theta)
    scaled, _ = power_of_two_scale(vec)
    q = edge_norms(arch, scaled)
    c, _ = scaled_balance(arch, scaled)
    rep = connectivity(arch, c, tol=default_tol(c, float(np.max(q, initial=0.0))))
    return vec, q, rep


@validate_params(arch=ARCH)
def component_label(arch: Architecture, theta: Any) -> tuple[int, ...]:
    """Label of the connected component of H(balance(θ)) holding θ.

    The signs (+1/-1) of θ on the frozen scalar edges, in parameter order.  Two
    points with the same balances are in the same component iff their labels
    agree.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> topo.component_label(arch, [1.0, 1.0, -2.0])    # c = -2: the output weight is frozen
    (-1,)
    """
    vec, _, rep = _theta_report(arch, theta)
    return rep.label(vec)


@validate_params(arch=ARCH, rtol=TOLERANCE)
def same_component(arch: Architecture, theta0: Any, theta1: Any, *, rtol: float = 1e-9) -> bool:
    """Whether two parameter points lie in the same component of one fiber.

    Raises [`FiberError`][topo.errors.FiberError] when their balances differ (beyond
    ``rtol`` relative to the largest squared edge norm): they are then on
    different fibers, and gradient flow never connects them.

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    >>> a = np.array([1.0, 1.0, 2.0])          # c = 1 + 1 - 4 = -2: output weight frozen
    >>> topo.same_component(arch, a, a * [1, 1, -1])
    False
    >>> topo.same_component(arch, a, a * [-1, 1, 1])
    True
    """
    v0, q0, rep = _theta_report(arch, theta0)
    v1 = arch.as_vector(theta1, name="theta1")
    check_same_fiber(arch, v0, v1, rtol)
    return rep.label(v0) == rep.label(v1)
