"""Singular points of fibers, the induced sub-networks they correspond to, and pruning.

The Jacobian of ``F(θ) = B̃ q(θ)`` is ``2 B̃ diag(θ)`` on scalar edges (one row per
constrained rescaling class, one column per trainable edge between classes).  Its rank
is the number of constrained classes minus the number of *floating clusters*:
connected components of the support graph (the trainable edges with a non-zero weight
group, and every fixed edge) that hold no member of an unconstrained class (no input,
output, bias or free unit).  Fixed edges join the members of a class, so a cluster is
a union of whole classes.  A floating cluster ``C`` is cut off from the inputs and
outputs by zero weights, so at such a point the network computes exactly the function
of the induced sub-network on ``V ∖ C``: singular strata are pruned networks.

A stratum is indexed by a connected set ``C`` of constrained classes; its boundary
``∂C`` is the set of trainable edges with exactly one end among the members of ``C``
(no fixed edge leaves a class).  ``H(c)`` contains a point with ``θ_∂C = 0`` iff the
flow problem with ``∂C`` removed is feasible: the inner problem on the edges inside
``C`` (it forces ``Σ_C c = 0``) and the outer one on the rest.  Weight decay drives ``c`` to 0, where every stratum is present;
the distance ``||θ_∂C||`` of a parameter point to the stratum of ``C`` is a
prunability score.

References
----------
.. [1] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, "Topology and geometry of the
   learning space of ReLU networks: connectivity and singularities", ICLR 2026,
   arXiv:2602.00693.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from topo.errors import GraphError
from topo.fiber.balance import as_balance, check_tol, edge_norms, incidence_matrix
from topo.fiber.flows import feasible_flow
from topo.graph.architecture import ARCH, Architecture
from topo.graph.nodes import HIDDEN
from topo.utils.text import short
from topo.utils.validation import COUNT, COUNT_OR_ZERO, SEED, TOLERANCE, NoneOr, Options, validate_params

__all__ = [
    "floating_clusters",
    "jacobian_rank",
    "Stratum",
    "StrataSearch",
    "singular_strata",
    "has_singularities",
    "Prunability",
    "prunability",
    "prune",
    "ZERO_PRESERVING",
]

#: Activations with ``f(0) = 0``: a hidden unit left without inputs by pruning
#: outputs 0 and can be dropped with its outgoing edges.
ZERO_PRESERVING = frozenset(
    {"relu", "leaky_relu", "linear", "identity", "sum", "maxpool", "avgpool", "gelu", "tanh", "silu",
     "swish", "elu", "selu", "square", "sin", "softsign", "hardtanh"}
)


def _support(arch: Architecture, theta: Any, tol: float) -> np.ndarray:
    vec = arch.as_vector(theta)
    group_max = np.zeros(arch.n_edges)
    np.maximum.at(group_max, arch.param_edge, np.abs(vec))
    return group_max > tol


@validate_params(arch=ARCH, tol=TOLERANCE)
def floating_clusters(arch: Architecture, theta: Any, *, tol: float = 0.0) -> list[list]:
    """Connected components of the support graph that hold no member of an unconstrained class.

    An edge is in the support when it is fixed (a fixed weight is never zero) or when
    some weight of its group exceeds ``tol`` in absolute value (a group counts as zero
    only when all of it is).  A cluster is a union of whole rescaling classes; it is
    listed with all its members, in topological order.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> topo.floating_clusters(arch, [1.0, 0.0, 1.0, 0.0])   # h1_1 is cut off
    [['h1_1']]
    >>> res = topo.Architecture.from_edges(
    ...     [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
    >>> topo.floating_clusters(res, [0.0, 1.0, 1.0, 1.0, 0.0])   # the class {a, s} holds b
    [['a', 'b', 's']]
    """
    keep = _support(arch, theta, tol) | ~arch.edge_trainable
    n = arch.n_nodes
    g = sp.coo_matrix((np.ones(int(keep.sum())), (arch.src[keep], arch.dst[keep])), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    anchored = np.zeros(labels.max() + 1 if n else 0, dtype=bool)
    anchored[labels[arch.node_row < 0]] = True
    out: dict[int, list] = {}
    names = arch.nodes
    for v in np.flatnonzero(~anchored[labels]).tolist():
        out.setdefault(int(labels[v]), []).append(names[v])
    return sorted(out.values(), key=lambda c: (len(c), [str(x) for x in c]))


@validate_params(arch=ARCH, tol=TOLERANCE)
def jacobian_rank(arch: Architecture, theta: Any, *, tol: float = 0.0) -> int:
    """Rank of the Jacobian of ``θ ↦ B̃ q(θ)`` at ``θ``, combinatorially.

    Equals ``n_constrained - len(floating_clusters(arch, theta, tol=tol))`` (the number
    of constrained classes minus the floating clusters); ``θ`` is a singular point of
    its fiber iff the rank is not full.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> topo.jacobian_rank(arch, [1.0, 0.0, 1.0, 0.0]), arch.n_constrained
    (1, 2)
    """
    return arch.n_constrained - len(floating_clusters(arch, theta, tol=tol))


def _boundary(arch: Architecture, mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask[arch.src] != mask[arch.dst])


@dataclass(frozen=True)
class Stratum:
    """A stratum of the singular locus: points where the classes ``classes`` are cut off.

    Attributes
    ----------
    nodes : tuple
        Every member of the cut-off set C, in topological order (C is a connected set
        of constrained rescaling classes, each taken whole).
    boundary_edges : list of (u, v)
        The trainable edges ∂C with exactly one end in C (all zero on the stratum).
    point_q : ndarray
        A point of P(c) on the stratum (squared edge norms), a certificate.
    classes : tuple of tuples
        The members of each class of C (a singleton for an ordinary unit, every unit of
        a residual stream channel for a stream class).
    """

    arch: Architecture = field(repr=False)
    nodes: tuple
    boundary_edges: list
    point_q: np.ndarray = field(repr=False)
    classes: tuple = ()

    @property
    def subnetwork(self) -> Architecture:
        """The pruned network: ``arch`` without C (and the units pruning leaves dead)."""
        return _pruned_architecture(self.arch, self.nodes)[0]

    @validate_params(seed=SEED)
    def point(self, seed: int | None = 0) -> np.ndarray:
        """A parameter point of the fiber on this stratum (random signs, seeded).

        Trainable edges get norms ``sqrt(point_q)``; fixed edges, whose weights the
        balances never see, get weight 1 (an identity skip)."""
        rng = np.random.default_rng(seed)
        sizes = self.arch.edge_sizes
        trainable = self.arch.edge_trainable
        theta = np.empty(self.arch.n_params)
        for e in range(self.arch.n_edges):
            a, b = int(self.arch.edge_offsets[e]), int(self.arch.edge_offsets[e + 1])
            if not trainable[e]:
                theta[a:b] = 1.0
                continue
            d = rng.standard_normal(int(sizes[e]))
            theta[a:b] = np.sqrt(self.point_q[e]) * d / np.linalg.norm(d)
        return theta

    def to_dict(self) -> dict:
        return {"nodes": [str(v) for v in self.nodes],
                "classes": [[str(v) for v in k] for k in self.classes],
                "boundary_edges": [[str(u), str(v)] for u, v in self.boundary_edges]}


@dataclass(frozen=True)
class StrataSearch:
    """Result of [`singular_strata`][topo.fiber.singular.singular_strata]: the strata found and what was searched.

    ``complete`` is True when every connected cluster up to ``max_size`` was
    examined (so "no stratum" is a proof for those sizes); ``n_examined`` counts
    clusters examined and ``largest_size`` the largest size fully covered.
    ``stopped`` says why an incomplete search stopped (``""`` when it did not).
    """

    strata: list
    n_examined: int
    largest_size: int
    complete: bool
    stopped: str = ""

    def __iter__(self):
        return iter(self.strata)

    def __len__(self) -> int:
        return len(self.strata)

    def __getitem__(self, i):
        return self.strata[i]


#: Default bound on the work of `singular_strata`, in edge visits (each
#: linear program over the whole graph costs its number of edges and nodes).
MAX_STRATA_WORK = 20_000_000


def _class_pool(arch: Architecture, hidden: str = "constrained") -> np.ndarray:
    """Class labels of the units of pruning: the constrained classes (in row order), or
    (``"all"``) every class whose members are all hidden."""
    label = arch.class_label
    if hidden == "constrained":
        return label[arch.constrained_index]
    n_classes = int(label.max()) + 1 if len(label) else 0
    anchored = np.zeros(n_classes, dtype=bool)
    anchored[label[arch.role_codes != HIDDEN]] = True
    return np.flatnonzero(~anchored)


def _pool_positions(arch: Architecture, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position in ``pool`` of the class of each edge's tail and head (-1 outside the pool)."""
    label = arch.class_label
    pos = np.full(int(label.max()) + 1 if len(label) else 0, -1, dtype=np.int64)
    pos[pool] = np.arange(len(pool))
    return pos[label[arch.src]], pos[label[arch.dst]]


def _adjacency(arch: Architecture, pool: np.ndarray) -> list[list[int]]:
    """Undirected adjacency among the classes ``pool`` (by position in ``pool``): two classes
    are adjacent when an edge joins a member of one to a member of the other."""
    a, b = _pool_positions(arch, pool)
    both = (a >= 0) & (b >= 0) & (a != b)
    adj: list[set] = [set() for _ in range(len(pool))]
    for x, y in zip(a[both].tolist(), b[both].tolist()):
        adj[x].add(y)
        adj[y].add(x)
    return [sorted(t) for t in adj]


def _class_members(arch: Architecture, pool: np.ndarray) -> list[tuple]:
    """Member names of each class of ``pool``, in topological order."""
    label = arch.class_label
    order = np.argsort(label, kind="stable")
    ptr = np.searchsorted(label[order], np.arange(int(label.max()) + 2 if len(label) else 1))
    names = arch.nodes
    return [tuple(names[i] for i in order[ptr[k]:ptr[k + 1]].tolist()) for k in pool.tolist()]


def _members_mask(arch: Architecture, pool: np.ndarray, S: Iterable[int]) -> np.ndarray:
    """Boolean node mask of the members of the classes ``pool[S]``."""
    return np.isin(arch.class_label, pool[list(S)])


def _union(members: list[tuple], S: Iterable[int], arch: Architecture) -> tuple:
    index = arch.node_index
    return tuple(sorted((v for i in S for v in members[i]), key=index))


def _connected_sets(adj: list[list[int]], max_size: int) -> Iterator[tuple[int, ...]]:
    """Connected vertex sets in order of size (each once), breadth first."""
    level = [(v,) for v in range(len(adj))]
    size = 1
    while level and size <= max_size:
        yield from level
        if size == max_size:
            return
        seen = set()
        nxt = []
        for s in level:
            members = set(s)
            frontier = {w for v in s for w in adj[v]} - members
            for w in sorted(frontier):
                t = tuple(sorted(members | {w}))
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        level = nxt
        size += 1


@validate_params(arch=ARCH, tol=NoneOr(TOLERANCE), max_size=NoneOr(COUNT), limit=NoneOr(COUNT_OR_ZERO),
                 max_work=NoneOr(TOLERANCE))
def singular_strata(
    arch: Architecture,
    c: Any,
    *,
    tol: float | None = None,
    max_size: int | None = None,
    limit: int | None = None,
    max_work: float | None = MAX_STRATA_WORK,
) -> StrataSearch:
    """Clusters C for which the fiber H(c) has a singular point floating on C.

    Examines connected sets of constrained rescaling classes, smallest first (a
    class is taken whole: cutting off one member of a residual stream cuts off the
    stream channel): C qualifies when ``|Σ_C c| <= tol`` and the flow problem with
    ``∂C`` (the trainable edges with exactly one end in C) removed is feasible (one
    linear program, only for the zero-sum candidates).  Each stratum names every
    member of C (``nodes``) and its classes (``classes``).

    The cost is estimated before each step: listing the clusters of more than one
    unit visits the edges between constrained units, and each linear program
    costs the size of the graph.  When the next step would exceed ``max_work``
    the search stops, with ``complete=False`` and ``stopped`` naming the bound
    (``max_work`` here, ``max_strata_work`` in [`topo.audit`][topo.auditing.audit],
    ``--max-strata-work`` on the command line).

    Parameters
    ----------
    arch : Architecture
    c : array_like or mapping
        Balances.
    tol : float, optional
        Zero-sum tolerance, default ``1e-9 * max|c|`` (`topo.fiber.balance.default_tol`).
    max_size : int, optional
        Largest cluster examined, in classes (default: all sizes — exponential for c = 0).
    limit : int, optional
        Stop after this many strata.
    max_work : float, optional
        Bound on the work in edge visits (default `MAX_STRATA_WORK`;
        None: unbounded).

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> res = topo.singular_strata(arch, [0.0, 1.0])
    >>> [s.nodes for s in res], res.complete
    ([('h1_0',)], True)
    >>> res[0].subnetwork.nodes
    ['x0', 'h1_1', 'y0']
    >>> res = topo.singular_strata(arch, [0.0, 0.0], max_work=1)
    >>> res.complete, res.stopped.split(":")[0]
    (False, 'stopped before a linear program of 8 edge visits (max_work=1)')
    >>> res = topo.Architecture.from_edges(
    ...     [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
    >>> [(s.nodes, s.classes) for s in topo.singular_strata(res, [0.0, 0.0], max_size=1)]
    [(('a', 's'), (('a', 's'),)), (('b',), (('b',),))]
    """
    cv = as_balance(arch, c)
    tol = check_tol(tol, cv)
    m = arch.n_constrained
    max_size = m if max_size is None else int(max_size)
    budget = _Budget(max_work)
    pool = _class_pool(arch)  # position in the pool = balance row
    if max_size > 1:
        row = arch.node_row
        if not budget.spend(int(np.sum((row[arch.src] >= 0) & (row[arch.dst] >= 0))), "listing clusters"):
            return StrataSearch([], 0, 0, False, budget.stopped)
        sets = _connected_sets(_adjacency(arch, pool), max_size)
    else:
        sets = ((v,) for v in range(m))
    B = None  # built for the first linear program only (it is as large as the graph)
    members = _class_members(arch, pool)
    lp_cost = arch.n_edges + arch.n_nodes
    strata = []
    examined = 0
    cur_size = 0
    for S in sets:
        cur_size = len(S)
        if abs(float(cv[list(S)].sum())) > tol:
            examined += 1
            continue
        if not budget.spend(lp_cost, "a linear program"):
            return StrataSearch(strata, examined, cur_size - 1, False, budget.stopped)
        examined += 1
        bnd = _boundary(arch, _members_mask(arch, pool, S))
        B = incidence_matrix(arch) if B is None else B
        q = feasible_flow(arch, cv, zero=bnd.tolist(), B=B)
        if q is None:
            continue
        strata.append(Stratum(arch=arch, nodes=_union(members, S, arch), boundary_edges=arch.edge_names(bnd),
                              point_q=q, classes=tuple(members[i] for i in S)))
        if limit is not None and len(strata) >= limit:
            # sizes below the current one were fully examined
            return StrataSearch(strata, examined, cur_size - 1, False, f"stopped at the limit of {limit} strata")
    return StrataSearch(strata, examined, min(max_size, m), True)


class _Budget:
    """Work counter of the strata search: refuses a step that would exceed the bound."""

    def __init__(self, max_work: float | None):
        self.max_work = max_work
        self.used = 0
        self.stopped = ""

    def spend(self, cost: int, what: str) -> bool:
        if self.max_work is not None and self.used + cost > self.max_work:
            self.stopped = (f"stopped before {what} of {cost:,} edge visits (max_work={self.max_work:,}): "
                            "raise max_work (max_strata_work in topo.audit, --max-strata-work in the CLI) "
                            "to search further")
            return False
        self.used += cost
        return True


@validate_params(arch=ARCH, tol=NoneOr(TOLERANCE), max_size=NoneOr(COUNT))
def has_singularities(arch: Architecture, c: Any, *, tol: float | None = None, max_size: int | None = None) -> bool:
    """Whether H(c) has a singular point floating on a cluster of at most ``max_size`` nodes.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> topo.has_singularities(arch, [0.3, -1.2, 2.0]), topo.has_singularities(arch, [0.0, 1.0, 1.0])
    (False, True)
    """
    return len(singular_strata(arch, c, tol=tol, max_size=max_size, limit=1)) > 0


@dataclass(frozen=True)
class Prunability:
    """Distance ``||θ_∂C||`` of a parameter point to the stratum where C is cut off
    (``nodes``: every member of C)."""

    nodes: tuple
    distance: float


@validate_params(arch=ARCH, max_size=COUNT, hidden=Options("constrained", "all"))
def prunability(arch: Architecture, theta: Any, *, max_size: int = 1, hidden: str = "constrained") -> list[Prunability]:
    """Distances to the pruned strata, smallest first.

    For every rescaling class of hidden units (and every connected cluster of up to
    ``max_size`` classes), the norm of the weights on its boundary edges (the
    trainable edges with exactly one end among its members): setting those to zero
    (moving by exactly that distance) cuts the cluster off, after which
    [`prune`][topo.fiber.singular.prune] removes it without changing the outputs.  ``nodes`` lists every
    member of the cluster (a fixed edge cannot be cut: a class goes whole).

    Parameters
    ----------
    hidden : {"constrained", "all"}
        Clusters of constrained classes only (the strata of the fiber), or of any
        classes made only of hidden nodes (free units included).

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> [(p.nodes, round(p.distance, 3)) for p in topo.prunability(arch, [1.0, 0.1, 1.0, 0.2])]
    [(('h1_1',), 0.224), (('h1_0',), 1.414)]
    """
    q = edge_norms(arch, theta)
    pool = _class_pool(arch, hidden)
    members = _class_members(arch, pool)
    if max_size == 1:
        tail, head = _pool_positions(arch, pool)
        cross = tail != head  # edges inside a class are not on its boundary
        d = np.sqrt(np.bincount(head[cross & (head >= 0)], weights=q[cross & (head >= 0)], minlength=len(pool))
                    + np.bincount(tail[cross & (tail >= 0)], weights=q[cross & (tail >= 0)], minlength=len(pool)))
        order = np.argsort(d, kind="stable")
        return [Prunability(members[i], float(d[i])) for i in order.tolist()]
    res = []
    for S in _connected_sets(_adjacency(arch, pool), max_size):
        d = float(np.sqrt(q[_boundary(arch, _members_mask(arch, pool, S))].sum()))
        res.append(Prunability(_union(members, S, arch), d))
    res.sort(key=lambda p: p.distance)
    return res


def _pruned_architecture(arch: Architecture, cluster: Iterable[Hashable]) -> tuple[Architecture, np.ndarray]:
    """Remove C with every member of its classes, then hidden units left without outputs or
    (zero-preserving) inputs."""
    keep = np.ones(arch.n_nodes, dtype=bool)
    if isinstance(cluster, (str, bytes)) or not isinstance(cluster, Iterable):
        raise GraphError(f"cluster must be a list of hidden nodes, got {short(cluster)}")
    label = arch.class_label
    for v in cluster:
        i = arch.node_index(v)
        if arch.role_codes[i] != HIDDEN:
            raise GraphError(f"only hidden nodes can be pruned; {v!r} is an {arch.role(v)}")
        whole = np.flatnonzero(label == label[i])  # pruning a unit removes its whole rescaling class
        bad = whole[arch.role_codes[whole] != HIDDEN]
        if len(bad):
            w = arch.nodes[int(bad[0])]
            raise GraphError(f"{v!r} cannot be pruned: fixed edges join it to {arch.role(w)} {w!r} "
                             "(pruning a unit removes its whole rescaling class)")
        keep[whole] = False
    hidden = arch.role_codes == HIDDEN
    while True:
        alive = keep[arch.src] & keep[arch.dst]
        indeg = np.bincount(arch.dst[alive], minlength=arch.n_nodes)
        outdeg = np.bincount(arch.src[alive], minlength=arch.n_nodes)
        dead_out = keep & hidden & (outdeg == 0)
        dead_in = keep & hidden & (indeg == 0)
        for i in np.flatnonzero(dead_in).tolist():
            if arch.activations[i] not in ZERO_PRESERVING:
                raise GraphError(
                    f"pruning leaves node {arch.nodes[i]!r} without inputs, and its activation "
                    f"{arch.activations[i]!r} does not map 0 to 0 (it would become a constant)"
                )
        dead = dead_out | dead_in
        if not dead.any():
            break
        keep &= ~dead
    outputs = np.flatnonzero((arch.role_codes == 3) & keep)
    alive = keep[arch.src] & keep[arch.dst]
    indeg = np.bincount(arch.dst[alive], minlength=arch.n_nodes)
    orphan = outputs[indeg[outputs] == 0]
    if len(orphan):
        raise GraphError(f"pruning cuts output {arch.nodes[int(orphan[0])]!r} off from every input")
    kept_nodes = [arch.nodes[i] for i in np.flatnonzero(keep).tolist()]
    return arch.induced(kept_nodes), np.flatnonzero(alive)


@validate_params(arch=ARCH)
def prune(arch: Architecture, theta: Any, cluster: Iterable[Hashable]) -> tuple[Architecture, np.ndarray]:
    """Remove the hidden nodes ``cluster`` with their rescaling classes (and units this leaves dead).

    A unit joined by fixed edges to others cannot be cut off alone: pruning it removes
    every member of its class (a class holding an input or output cannot be pruned).
    Hidden units left with no outgoing edge are removed; units left with no
    incoming edge are removed when their activation maps 0 to 0.  When the
    weights on the cluster's boundary are zero, the pruned network computes
    exactly the same outputs.

    Returns
    -------
    (Architecture, numpy.ndarray)
        The pruned architecture and its parameters (the kept edges' weights).

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> theta = np.array([1.0, 0.0, 2.0, 0.0])            # h1_1 is cut off
    >>> small, t = topo.prune(arch, theta, ["h1_1"])
    >>> small.edges, t
    ([('x0', 'h1_0'), ('h1_0', 'y0')], array([1., 2.]))
    >>> X = np.array([[1.0], [-2.0], [3.0]])
    >>> bool(np.allclose(topo.forward(arch, theta, X), topo.forward(small, t, X)))
    True
    >>> res = topo.Architecture.from_edges([("x", "h"), ("x", "a"), ("a", "s"), ("h", "s", {"trainable": False}),
    ...                                     ("s", "y"), ("x", "y")])
    >>> topo.prune(res, [1.0, 0.0, 1.0, 1.0, 0.0, 2.0], ["s"])[0].nodes   # s goes with h, then a is dead
    ['x', 'y']
    """
    vec = arch.as_vector(theta)
    sub, kept_edges = _pruned_architecture(arch, cluster)
    offsets = arch.edge_offsets
    parts = [vec[offsets[e]:offsets[e + 1]] for e in kept_edges.tolist()]
    sub_theta = np.concatenate(parts) if parts else np.zeros(0)
    # the induced architecture keeps the kept edges in their original order
    return sub, sub_theta
