"""The network model: a DAG of units with parameter groups on its edges.

[`Architecture`][topo.graph.architecture.Architecture] knows structure only: nodes and their roles, edges and the
number of scalar weights each carries, and which hidden nodes carry a conservation
law.  It holds no parameters and no analysis results.  Internally everything is an
integer index array; networkx is used only at the boundary (``from_networkx`` and
``to_networkx``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from topo.errors import CycleError, GraphError, ParameterError
from topo.graph.classes import rescaling_classes
from topo.graph.initializers import BIAS_RULE, SCHEME, draw_parameters
from topo.graph.nodes import BIAS, HIDDEN, INPUT, OUTPUT, ROLE_CODE, ROLES, check_activation, is_homogeneous
from topo.utils.arrays import bincount, chunks
from topo.utils.text import describe_cycle, short
from topo.utils.validation import (
    BOOLEAN,
    LIMITS,
    NAME,
    SEED,
    InstanceOf,
    check_bool,
    check_count,
    check_name,
    check_size_budget,
    first_non_finite,
    real_vector,
    real_vector_of_length,
    validate_params,
)

__all__ = ["Architecture", "DERIVED_RESULTS", "ARCH"]

#: The activation arguments of the constructors: strings (their names are checked by
#: `topo.graph.nodes.check_activation`).
_activations = validate_params(error=GraphError, activation=NAME, output_activation=NAME)

#: The results an `Architecture` caches, each derived from its structure alone and
#: computed once, on first use, by the module that owns it (``Architecture.derived``).
#: Nothing else is ever stored on an architecture: it holds no parameters and no analysis
#: of a parameter point.
DERIVED_RESULTS = {
    "edges": "edge names (u, v) in parameter order (Architecture.edges)",
    "edge_keys": "sorted edge keys for vectorised edge look-ups (Architecture.edge_lookup)",
    "param_edge": "edge index of every scalar parameter (Architecture.param_edge)",
    "incidence": "the sparse incidence matrix over edges (topo.fiber.balance.incidence_matrix)",
    "decomposition": "bottlenecks, regions and factors (topo.fiber.decompose.decompose)",
    "levels": "longest-path level of every node (topo.graph.forward.node_levels)",
    "automorphisms": "the default automorphism group (topo.symmetry.automorphisms.automorphism_group)",
    "class_members": "node indices of every constrained class, as CSR pointers (Architecture.rescaling_classes)",
    "quotient": "trainable edges between distinct classes (Architecture.quotient_edges)",
    "quotient_rows": "rows of the tail and head of every quotient edge (Architecture.quotient_rows)",
    "quotient_graph": "quotient edges between constrained rows as a sparse matrix (topo.fiber.decompose.quotient_graph)",
    "inside_edges": "edges between two members of one constrained class (topo.fiber.balance)",
    "size_runs": "runs of consecutive edges of equal size (topo.fiber.balance, the squared edge norms)",
}

def _topological_order(n: int, src: np.ndarray, dst: np.ndarray, names: Sequence) -> np.ndarray:
    """Kahn's algorithm; keeps the given order when it already is topological, and
    otherwise the topological order closest to it (smallest given position first)."""
    if len(src) == 0 or bool(np.all(src < dst)):
        return np.arange(n)
    indeg = np.bincount(dst, minlength=n).tolist()
    order_by_src = np.argsort(src, kind="stable")
    starts = np.searchsorted(src[order_by_src], np.arange(n + 1)).tolist()
    succ = dst[order_by_src].tolist()
    # a heap keyed by the given position: the topological order closest to the given one
    # (so inputs, outputs and every layer keep their relative order)
    heap = [v for v in range(n) if indeg[v] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        v = heapq.heappop(heap)
        out.append(v)
        for w in succ[starts[v]:starts[v + 1]]:
            indeg[w] -= 1
            if indeg[w] == 0:
                heapq.heappush(heap, w)
    if len(out) < n:
        cycle = [names[v] for v in _find_cycle(n, src, dst, set(out))]
        raise CycleError(cycle, describe_cycle(cycle))
    return np.asarray(out, dtype=np.int64)


def _find_cycle(n, src, dst, done: set) -> list:
    """A directed cycle among the nodes that Kahn's algorithm could not order."""
    succ: dict[int, list[int]] = {}
    pred: dict[int, list[int]] = {}
    for u, v in zip(src.tolist(), dst.tolist()):
        if u not in done and v not in done:
            succ.setdefault(u, []).append(v)
            pred.setdefault(v, []).append(u)
    # nodes downstream of a cycle are left over too: peel off those without a successor
    # (reverse Kahn), so that every remaining node has a remaining successor
    outdeg = {u: len(vs) for u, vs in succ.items()}
    stack = [v for v in range(n) if v not in done and v not in succ]
    removed = set()
    while stack:
        v = stack.pop()
        removed.add(v)
        for u in pred.get(v, ()):
            outdeg[u] -= 1
            if outdeg[u] == 0:
                stack.append(u)
    succ = {u: [v for v in vs if v not in removed] for u, vs in succ.items() if u not in removed}
    start = next(iter(succ))
    seen: dict[int, int] = {}
    path = []
    v = start
    while v not in seen:  # every remaining node has a remaining successor
        seen[v] = len(path)
        path.append(v)
        v = succ[v][0]
    return path[seen[v]:]


def _index_array(value, what: str, shape: tuple | None = None, copy: bool = True) -> np.ndarray:
    """A 1-D int64 array from integers (or floats holding whole numbers); never truncates.

    ``copy=False`` returns an int64 array itself (no copy)."""
    if isinstance(value, (str, bytes, Mapping)):
        raise GraphError(f"{what} must be an array of integers, got {short(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise GraphError(f"{what} cannot be read as an array of integers: {short(str(exc))}") from None
    if shape is not None and arr.shape != shape:
        raise GraphError(f"{what} has shape {arr.shape}, expected {shape}")
    arr = arr.reshape(-1)
    kind = arr.dtype.kind
    if kind in "iu":
        if kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise GraphError(f"{what} has a value above 2^63")
        return arr.astype(np.int64, copy=copy)
    if kind == "f":
        whole = np.isfinite(arr) & (np.mod(arr, 1) == 0) & (np.abs(arr) < 2.0**62)
        if not whole.all():
            i = int(np.argmin(whole))
            raise GraphError(f"{what} must hold integers, got {arr[i].item()!r} at position {i}")
        return arr.astype(np.int64)
    if kind == "O" and arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if kind == "b":
        raise GraphError(f"{what} must hold integers, got booleans")
    if kind == "O":
        return np.asarray([check_count(x, f"{what}[{i}]", minimum=-2**62, maximum=2**62)
                           for i, x in enumerate(arr.tolist())], dtype=np.int64)
    raise GraphError(f"{what} must hold integers, got an array of dtype {arr.dtype}")


def _bool_array(value, what: str, copy: bool = True) -> np.ndarray:
    """A 1-D bool array from booleans (or integers 0/1); strings are refused."""
    if isinstance(value, (str, bytes, Mapping)):
        raise GraphError(f"{what} must be an array of booleans, got {short(value)}")
    try:
        arr = np.asarray(value).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise GraphError(f"{what} cannot be read as an array of booleans: {short(str(exc))}") from None
    if arr.dtype.kind == "b":
        return arr.astype(bool, copy=copy)
    if arr.dtype.kind in "iu" and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    if arr.dtype.kind == "O":
        return np.asarray([check_bool(x, f"{what}[{i}]") for i, x in enumerate(arr.tolist())], dtype=bool)
    raise GraphError(f"{what} must hold booleans (True/False), got an array of dtype {arr.dtype}")


def _check_widths(widths) -> list[int]:
    if isinstance(widths, (str, bytes, Mapping)) or not isinstance(widths, Iterable):
        raise GraphError(f"widths must be a list of at least two positive integers, got {short(widths)}")
    widths = list(widths)
    if len(widths) < 2:
        raise GraphError(f"widths must be at least two positive integers, got {short(widths)}")
    if len(widths) > LIMITS.max_nodes:
        raise GraphError(f"{len(widths)} layers; the limit on nodes is {LIMITS.max_nodes}")
    return [check_count(w, f"widths[{i}]", maximum=LIMITS.max_nodes) for i, w in enumerate(widths)]


def _node_index(nodes) -> tuple[list, dict]:
    """Node names as a list and their positions; unhashable or repeated names are refused."""
    if isinstance(nodes, (str, bytes, Mapping)) or not isinstance(nodes, Iterable):
        raise GraphError(f"nodes must be a sequence of node names, got {short(nodes)}")
    names = list(nodes)
    try:
        index = {name: i for i, name in enumerate(names)}
    except TypeError:
        for v in names:
            check_name(v)
        raise
    if len(index) != len(names):
        seen = set()
        dup = next(v for v in names if v in seen or seen.add(v))
        raise GraphError(f"node {short(dup)} is listed twice")
    return names, index


def _edge_arrays(names: list, src, dst, sizes, trainable, copy: bool = True) -> tuple:
    """Validated ``(src, dst, sizes, trainable)`` arrays: index ranges, sizes, no self-loop or duplicate."""
    n = len(names)
    src = _index_array(src, "src", copy=copy)
    dst = _index_array(dst, "dst", copy=copy)
    if src.shape != dst.shape:
        raise GraphError(f"src has shape {src.shape} but dst has shape {dst.shape}")
    n_edges = len(src)
    check_size_budget(n, n_edges)
    if n_edges and (src.min() < 0 or dst.min() < 0 or src.max() >= n or dst.max() >= n):
        raise GraphError(f"edge endpoints must be node indices in [0, {n})")
    if sizes is None:
        sizes = np.ones(n_edges, dtype=np.int64)
    else:
        sizes = _index_array(sizes, "sizes", shape=(n_edges,), copy=copy)
        bad = np.flatnonzero(sizes < 1)
        if len(bad):
            e = int(bad[0])
            raise GraphError(
                f"edge ({short(names[src[e]])}, {short(names[dst[e]])}) has size {sizes[e]}; sizes must be >= 1"
            )
        if n_edges and int(sizes.max()) > LIMITS.max_params:
            raise GraphError(f"an edge size is {int(sizes.max())}; the limit on parameters is "
                             f"{LIMITS.max_params} (topo.LIMITS.max_params)")
        check_size_budget(n, n_edges, int(sizes.sum()))
    if trainable is None:
        trainable = np.ones(n_edges, dtype=bool)
    else:
        trainable = _bool_array(trainable, "trainable", copy=copy)
        if trainable.shape != (n_edges,):
            raise GraphError(f"trainable has shape {trainable.shape}, expected ({n_edges},)")

    loops = np.flatnonzero(src == dst)
    if len(loops):
        raise GraphError(f"self-loop on node {short(names[src[loops[0]]])}")
    if n_edges:
        # head-major keys: layers list their edges row by row, so the keys come in a few ascending
        # runs that a stable (merge) sort joins several times faster than a quicksort of the keys
        keys = dst * n + src
        keys.sort(kind="stable")
        same = np.flatnonzero(keys[1:] == keys[:-1])
        if len(same):
            k = int(keys[same[0]])
            raise GraphError(f"duplicated edge ({short(names[k % n])}, {short(names[k // n])})")
    return src, dst, sizes, trainable


def _assign_roles(names: list, index: dict, roles, indeg: np.ndarray, outdeg: np.ndarray) -> np.ndarray:
    """Role codes: the given ones, else input (no in-edge), output (no out-edge) or hidden."""
    role = np.full(len(names), -1, dtype=np.int8)
    if roles:
        if not isinstance(roles, Mapping):
            raise GraphError(f"roles must be a mapping {{node: role}}, got {short(roles)}")
        for node, r in roles.items():
            if check_name(node) not in index:
                raise GraphError(f"role given for unknown node {short(node)}")
            if not isinstance(r, str) or r not in ROLE_CODE:
                raise GraphError(f"unknown role {short(r)} for node {short(node)}; expected one of {ROLES}")
            role[index[node]] = ROLE_CODE[r]
    unset = role < 0
    isolated = np.flatnonzero(unset & (indeg == 0) & (outdeg == 0))
    if len(isolated):
        raise GraphError(f"node {short(names[isolated[0]])} has no edges (give it an explicit role to keep it)")
    role[unset & (indeg == 0)] = INPUT
    role[unset & (indeg > 0) & (outdeg == 0)] = OUTPUT
    role[unset & (indeg > 0) & (outdeg > 0)] = HIDDEN
    return role


def _assign_activations(names: list, index: dict, role: np.ndarray, activations, activation: str,
                        output_activation: str) -> list[str]:
    """Activation of every node: the given ones, else the hidden/output defaults, ``input``/``bias``."""
    if activations is not None and not isinstance(activations, Mapping):
        raise GraphError(f"activations must be a mapping {{node: activation}}, got {short(activations)}")
    activations = dict(activations or {})
    for name in activations:
        if check_name(name) not in index:
            raise GraphError(f"activation given for unknown node {short(name)}")
    default_hidden = check_activation("<default>", activation)
    default_out = check_activation("<default output>", output_activation)
    by_role = {HIDDEN: default_hidden, OUTPUT: default_out, INPUT: "input"}
    act = [by_role.get(r, "bias") for r in role.tolist()]
    checked: dict = {}  # each distinct given name is checked once (a model has a handful for 10^5 units)
    for name, value in activations.items():
        key = checked.get(value) if isinstance(value, str) else None
        if key is None:
            key = check_activation(name, value)
            checked[value] = key
        act[index[name]] = key
    return act


class Architecture:
    """A feed-forward network as a directed acyclic graph.

    Nodes are units (neurons or channels); an edge ``(u, v)`` carries a group of
    ``size`` scalar weights (1 for a dense layer at neuron level, ``kh*kw`` for a
    convolution at channel level).  Sources are inputs or biases (a bias is a
    constant source node), sinks are outputs, the other nodes are hidden.  A hidden
    node's *rescaling class* is the set of nodes joined to it by fixed (non-trainable)
    edges (a residual stream channel, a unit and its copy); a class is *constrained*
    (it carries one conserved balance under gradient flow) when all its members are
    hidden and positively homogeneous.  The hidden nodes of the other classes are *free*.
    Balance vectors have one row per constrained class (see
    [`rescaling_classes`][topo.graph.architecture.Architecture.rescaling_classes]).

    Build one with [`mlp`][topo.graph.architecture.Architecture.mlp],
    [`from_edges`][topo.graph.architecture.Architecture.from_edges],
    [`from_networkx`][topo.graph.architecture.Architecture.from_networkx],
    [`from_arrays`][topo.graph.architecture.Architecture.from_arrays] (or read a spec file with
    [`topo.read_spec`][topo.graph.spec.read_spec]).  Nodes are stored in a topological order (the given order when it
    already is one); edges keep the given order, which is the order of the flat parameter vector.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> arch.n_params, len(arch.constrained), arch.outputs
    (13, 3, ['y0'])
    >>> arch.edges[:2]
    [('x0', 'h1_0'), ('x1', 'h1_0')]
    """

    __slots__ = (
        "_nodes", "_index", "_src", "_dst", "_sizes", "_offsets", "_trainable",
        "_role", "_activation", "_constrained", "_row", "_free_reason", "_derived", "_label",
    )

    def __init__(
        self,
        *,
        nodes: Sequence[Hashable],
        src: np.ndarray,
        dst: np.ndarray,
        sizes: np.ndarray | None = None,
        trainable: np.ndarray | None = None,
        roles: Mapping[Hashable, str] | None = None,
        activations: Mapping[Hashable, str] | None = None,
        activation: str = "relu",
        output_activation: str = "linear",
        free_reasons: Mapping[Hashable, str] | None = None,
        copy: bool = True,
    ):
        names, index = _node_index(nodes)
        src, dst, sizes, trainable = _edge_arrays(names, src, dst, sizes, trainable, copy)
        n = len(names)
        order = _topological_order(n, src, dst, names)
        if not np.array_equal(order, np.arange(n)):
            inv = np.empty(n, dtype=np.int64)
            inv[order] = np.arange(n)
            names = [names[i] for i in order.tolist()]
            index = {name: i for i, name in enumerate(names)}
            src, dst = inv[src], inv[dst]

        indeg = np.bincount(dst, minlength=n)
        outdeg = np.bincount(src, minlength=n)
        role = _assign_roles(names, index, roles, indeg, outdeg)
        self._check_roles(names, role, indeg, outdeg, src, dst)
        act = _assign_activations(names, index, role, activations, activation, output_activation)

        self._derived: dict = {}
        self._nodes = names
        self._index = index
        self._src = src
        self._dst = dst
        self._sizes = sizes
        self._offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self._offsets[1:])
        self._trainable = trainable
        self._role = role
        self._activation = tuple(act)
        for arr in (self._src, self._dst, self._sizes, self._offsets, self._trainable, self._role):
            arr.flags.writeable = False

        classes = rescaling_classes(names, role, act, src, dst, trainable)
        self._constrained, self._row, self._label = classes.first, classes.row, classes.label
        self._free_reason = classes.free_reason
        if free_reasons:  # the builder's own words (e.g. which operation of a model), for free nodes only
            self._free_reason.update((v, str(r)) for v, r in free_reasons.items() if v in self._free_reason)
        for arr in (self._constrained, self._row, self._label):
            arr.flags.writeable = False

    @staticmethod
    def _check_roles(names, role, indeg, outdeg, src, dst):
        for code, what in ((INPUT, "input"), (BIAS, "bias")):
            bad = np.flatnonzero((role == code) & (indeg > 0))
            if len(bad):
                v = int(bad[0])
                u = int(src[np.argmax(dst == v)])
                raise GraphError(f"{what} node {short(names[v])} has an incoming edge from {short(names[u])}")
        bad = np.flatnonzero((role == OUTPUT) & (outdeg > 0))
        if len(bad):
            v = int(bad[0])
            w = int(dst[np.argmax(src == v)])
            raise GraphError(f"output node {short(names[v])} has an outgoing edge to {short(names[w])}")
        bad = np.flatnonzero((role == OUTPUT) & (indeg == 0))
        if len(bad):
            raise GraphError(f"output node {short(names[bad[0]])} has no incoming edges")
        for deg, what in ((indeg, "incoming"), (outdeg, "outgoing")):
            bad = np.flatnonzero((role == HIDDEN) & (deg == 0))
            if len(bad):
                raise GraphError(
                    f"hidden node {short(names[bad[0]])} is on no input->output path: it has no {what} edges"
                )

    # ------------------------------------------------------------------ constructors
    @classmethod
    @validate_params(error=GraphError, activation=NAME, output_activation=NAME, copy=BOOLEAN)
    def from_arrays(
        cls,
        src: Sequence[int] | np.ndarray,
        dst: Sequence[int] | np.ndarray,
        *,
        nodes: Sequence[Hashable] | int | None = None,
        sizes: Sequence[int] | np.ndarray | None = None,
        trainable: Sequence[bool] | np.ndarray | None = None,
        roles: Mapping[Hashable, str] | None = None,
        activations: Mapping[Hashable, str] | None = None,
        activation: str = "relu",
        output_activation: str = "linear",
        free_reasons: Mapping[Hashable, str] | None = None,
        copy: bool = True,
    ) -> Architecture:
        """Build from integer endpoint arrays (the fast path for large graphs).

        Parameters
        ----------
        src, dst : array_like of int
            Edge ``e`` goes from node ``src[e]`` to node ``dst[e]``; edges are in
            parameter order.
        nodes : sequence or int, optional
            Node names (index ``i`` is ``nodes[i]``) or the number of nodes.  By
            default ``max(src, dst) + 1`` nodes named ``0, 1, ...``.
        sizes, trainable : array_like, optional
            Weights per edge (default 1) and trainability (default True).
        roles, activations : mapping, optional
            Explicit roles (``"input"``, ``"bias"``, ``"hidden"``, ``"output"``)
            and activations by node name; other roles are inferred from degrees.
        activation, output_activation : str
            Default activation of hidden and output nodes.
        free_reasons : mapping, optional
            ``{node: reason}``: why particular nodes are free, in the builder's words (for
            example which operation of a model made them free); it replaces the generic
            reason of free nodes and is ignored for the others.
        copy : bool
            Copy the arrays (the default).  ``copy=False`` lets the architecture take
            over arrays that already have its dtypes (int64 ``src``, ``dst`` and
            ``sizes``, bool ``trainable``) instead of copying them: it shares their
            memory, so they must not be changed afterwards (for builders of large
            graphs that make them for this purpose).

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.from_arrays([0, 1, 2], [1, 2, 3])
        >>> arch.inputs, arch.constrained, arch.outputs
        ([0], [1, 2], [3])
        """
        src = _index_array(src, "src", copy=False)  # __init__ copies them (or not: copy)
        dst = _index_array(dst, "dst", copy=False)
        if nodes is None or isinstance(nodes, (int, np.integer, float, bool, np.bool_)):
            if nodes is not None:
                n = check_count(nodes, "nodes (the number of nodes)", minimum=0, maximum=LIMITS.max_nodes)
            else:
                n = int(max(src.max(initial=-1), dst.max(initial=-1))) + 1
                if n > LIMITS.max_nodes:
                    raise GraphError(f"the largest node index is {n - 1}; the limit on nodes is "
                                     f"{LIMITS.max_nodes} (topo.LIMITS.max_nodes)")
            nodes = list(range(n))
        return cls(
            nodes=nodes, src=src, dst=dst, sizes=sizes, trainable=trainable, roles=roles,
            activations=activations, activation=activation, output_activation=output_activation,
            free_reasons=free_reasons, copy=copy,
        )

    @classmethod
    @_activations
    def from_edges(
        cls,
        edges: Iterable,
        *,
        nodes: Sequence[Hashable] | None = None,
        roles: Mapping[Hashable, str] | None = None,
        activations: Mapping[Hashable, str] | None = None,
        activation: str = "relu",
        output_activation: str = "linear",
    ) -> Architecture:
        """Build from an edge list ``[(u, v)]`` or ``[(u, v, {"size": k, "trainable": b})]``.

        Nodes are taken in first-appearance order unless ``nodes`` is given.

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.from_edges([("x", "h"), ("h", "y", {"size": 4})])
        >>> arch.n_params, arch.edge_sizes.tolist()
        (5, [1, 4])
        """
        if nodes is not None and (isinstance(nodes, (str, bytes, Mapping)) or not isinstance(nodes, Iterable)):
            raise GraphError(f"nodes must be a sequence of node names, got {short(nodes)}")
        if isinstance(edges, (str, bytes, Mapping)) or not isinstance(edges, Iterable):
            raise GraphError(f"edges must be a list of (u, v) or (u, v, attrs), got {short(edges)}")
        names: list = [check_name(v) for v in nodes] if nodes is not None else []
        index = {v: i for i, v in enumerate(names)}
        src, dst, sizes, trainable = [], [], [], []
        for item in edges:
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                raise GraphError(f"an edge must be (u, v) or (u, v, attrs), got {short(item)}")
            u, v = check_name(item[0]), check_name(item[1])
            attrs = item[2] if len(item) == 3 else {}
            where = f"edge ({short(u)}, {short(v)})"
            if not isinstance(attrs, Mapping):
                raise GraphError(f"edge attributes must be a mapping, got {short(attrs)} on {where}")
            unknown = [k for k in attrs if k not in ("size", "trainable", "weight")]
            if unknown:
                raise GraphError(f"unknown edge attribute(s) {short(unknown)} on {where}; "
                                 "expected size, trainable, weight")
            for node in (u, v):
                if node not in index:
                    if nodes is not None:
                        raise GraphError(f"{where} uses node {short(node)}, which is not in nodes")
                    index[node] = len(names)
                    names.append(node)
            src.append(index[u])
            dst.append(index[v])
            size = check_count(attrs.get("size", 1), f"size of {where}", minimum=-(2**62), maximum=LIMITS.max_params)
            if size < 1:
                raise GraphError(f"{where} has size {size}; sizes must be >= 1")
            sizes.append(size)
            trainable.append(check_bool(attrs.get("trainable", True), f"trainable of {where}"))
        return cls(
            nodes=names, src=np.asarray(src, dtype=np.int64), dst=np.asarray(dst, dtype=np.int64),
            sizes=np.asarray(sizes, dtype=np.int64), trainable=np.asarray(trainable, dtype=bool),
            roles=roles, activations=activations, activation=activation,
            output_activation=output_activation,
        )

    @classmethod
    @_activations
    def from_networkx(cls, G, *, activation: str = "relu", output_activation: str = "linear") -> Architecture:
        """Build from a ``networkx.DiGraph``.

        Node attributes: ``activation`` (hidden default ``"relu"``), ``role``
        (optional, e.g. ``"bias"`` for a constant source).  Edge attributes:
        ``size`` (default 1) and ``trainable`` (default True).  Edges are taken in
        ``G.edges`` order, which is the parameter order.

        Examples
        --------
        >>> import networkx as nx, topo
        >>> G = nx.DiGraph([("x", "h"), ("h", "y")])
        >>> G.nodes["h"]["activation"] = "gelu"
        >>> topo.Architecture.from_networkx(G).free
        ['h']
        """
        import networkx as nx

        if not isinstance(G, nx.DiGraph) or G.is_multigraph():
            raise GraphError(
                f"from_networkx expects a networkx.DiGraph, got {type(G).__name__} "
                "(parallel edges are not supported: merge them into one edge with a larger size)"
            )
        names = list(G.nodes)
        roles = {v: d["role"] for v, d in G.nodes(data=True) if "role" in d}
        acts = {v: d["activation"] for v, d in G.nodes(data=True) if "activation" in d}
        edges = []
        for u, v, d in G.edges(data=True):
            attrs = {k: d[k] for k in ("size", "trainable") if k in d}
            edges.append((u, v, attrs))
        return cls.from_edges(
            edges, nodes=names, roles=roles, activations=acts, activation=activation,
            output_activation=output_activation,
        )

    @classmethod
    @validate_params(error=GraphError, bias=BOOLEAN, activation=NAME, output_activation=NAME)
    def mlp(
        cls,
        widths: Sequence[int],
        *,
        bias: bool = True,
        activation: str = "relu",
        output_activation: str = "linear",
    ) -> Architecture:
        """A fully connected network with the given layer widths.

        Nodes are ``x0..`` (inputs), ``b1..bL`` (one bias node per layer),
        ``h{l}_{i}`` (hidden layer ``l``) and ``y0..`` (outputs).  The parameter
        order is that of ``torch.nn.Linear`` layers: for each layer its weight
        matrix (row = output unit) then its bias.

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.mlp([2, 2, 1], bias=False)
        >>> arch.edges
        [('x0', 'h1_0'), ('x1', 'h1_0'), ('x0', 'h1_1'), ('x1', 'h1_1'), ('h1_0', 'y0'), ('h1_1', 'y0')]
        """
        widths = _check_widths(widths)
        n_edges = sum(a * b for a, b in zip(widths, widths[1:])) + (sum(widths[1:]) if bias else 0)
        check_size_budget(sum(widths) + (len(widths) - 1 if bias else 0), n_edges, n_edges,
                          what=f"MLP {short(widths)}")
        L = len(widths) - 1
        names: list[str] = [f"x{i}" for i in range(widths[0])]
        layer_ids = [np.arange(widths[0], dtype=np.int64)]
        bias_ids = []
        for layer in range(1, L + 1):
            if bias:
                bias_ids.append(len(names))
                names.append(f"b{layer}")
            start = len(names)
            if layer < L:
                names.extend(f"h{layer}_{i}" for i in range(widths[layer]))
            else:
                names.extend(f"y{i}" for i in range(widths[layer]))
            layer_ids.append(np.arange(start, start + widths[layer], dtype=np.int64))
        srcs, dsts = [], []
        for layer in range(1, L + 1):
            prev, cur = layer_ids[layer - 1], layer_ids[layer]
            srcs.append(np.tile(prev, len(cur)))
            dsts.append(np.repeat(cur, len(prev)))
            if bias:
                srcs.append(np.full(len(cur), bias_ids[layer - 1], dtype=np.int64))
                dsts.append(cur)
        roles = {f"b{layer}": "bias" for layer in range(1, L + 1)} if bias else None
        return cls(
            nodes=names, src=np.concatenate(srcs), dst=np.concatenate(dsts), roles=roles,
            activation=activation, output_activation=output_activation,
        )

    # ------------------------------------------------------------------ views
    @property
    def nodes(self) -> list:
        """Node names in the stored (topological) order."""
        return list(self._nodes)

    @property
    def n_nodes(self) -> int:
        return len(self._nodes)

    @property
    def n_edges(self) -> int:
        return len(self._src)

    @property
    def n_params(self) -> int:
        """Number of scalar parameters (sum of the edge sizes)."""
        return int(self._offsets[-1])

    def derived(self, key: str, compute: Callable[[], Any]) -> Any:
        """A result derived from the structure alone: computed by ``compute()`` on first use,
        then kept.  ``key`` must be one of `DERIVED_RESULTS` (the declared caches).

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.mlp([2, 1])
        >>> arch.derived("levels", lambda: "computed once") is arch.derived("levels", lambda: "again")
        True
        >>> arch.derived("theta", lambda: None)
        Traceback (most recent call last):
        ...
        KeyError: "'theta' is not a declared derived result of an Architecture"
        """
        try:
            return self._derived[key]
        except KeyError:
            if key not in DERIVED_RESULTS:
                raise KeyError(f"{key!r} is not a declared derived result of an Architecture") from None
        value = self._derived[key] = compute()
        return value

    @property
    def edges(self) -> list[tuple]:
        """Edges ``(u, v)`` in parameter order (a list built once; do not modify it)."""
        def build():
            names = self._nodes
            return [(names[u], names[v]) for u, v in zip(self._src.tolist(), self._dst.tolist())]

        return self.derived("edges", build)

    def edge_names(self, indices) -> list[tuple]:
        """``(u, v)`` of the edges at the given positions (without building
        [`edges`][topo.graph.architecture.Architecture.edges])."""
        names = self._nodes
        idx = np.asarray(indices, dtype=np.int64)
        return [(names[u], names[v]) for u, v in zip(self._src[idx].tolist(), self._dst[idx].tolist())]

    @property
    def edge_sizes(self) -> np.ndarray:
        """Number of scalar weights on each edge (read-only array)."""
        return self._sizes

    @property
    def edge_offsets(self) -> np.ndarray:
        """Start of each edge's group in the flat vector; ``edge_offsets[-1] == n_params``."""
        return self._offsets

    @property
    def edge_trainable(self) -> np.ndarray:
        """Whether each edge is trainable (read-only); fixed edges carry constant weights."""
        return self._trainable

    @property
    def src(self) -> np.ndarray:
        """Tail node index of each edge (read-only)."""
        return self._src

    @property
    def dst(self) -> np.ndarray:
        """Head node index of each edge (read-only)."""
        return self._dst

    def node_names(self, idx) -> list:
        """Names of the nodes at the given indices.

        Examples
        --------
        >>> import topo
        >>> topo.Architecture.mlp([2, 1], bias=False).node_names([2, 0])
        ['y0', 'x0']
        """
        names = self._nodes
        return [names[i] for i in np.asarray(idx).tolist()]

    def role(self, node: Hashable) -> str:
        """Role of a node: ``"input"``, ``"bias"``, ``"hidden"`` or ``"output"``."""
        return ROLES[self._role[self.node_index(node)]]

    def activation(self, node: Hashable) -> str:
        """Activation name of a node (``"input"``/``"bias"`` for sources)."""
        return self._activation[self.node_index(node)]

    @property
    def role_codes(self) -> np.ndarray:
        """Role of every node as a code (read-only int8 array): ``topo.graph.nodes.INPUT``,
        ``BIAS``, ``HIDDEN`` or ``OUTPUT``, indexing `topo.graph.nodes.ROLES`."""
        return self._role

    @property
    def activations(self) -> tuple[str, ...]:
        """Activation name of every node, in node order (a tuple)."""
        return self._activation

    @property
    def inputs(self) -> list:
        """Data source nodes."""
        return self.node_names(np.flatnonzero(self._role == INPUT))

    @property
    def biases(self) -> list:
        """Constant source nodes (value 1)."""
        return self.node_names(np.flatnonzero(self._role == BIAS))

    @property
    def outputs(self) -> list:
        return self.node_names(np.flatnonzero(self._role == OUTPUT))

    @property
    def hidden(self) -> list:
        return self.node_names(np.flatnonzero(self._role == HIDDEN))

    @property
    def constrained(self) -> list:
        """One name per conserved balance, in the order of every balance vector: the first
        member (in topological order) of each constrained class (see
        [`rescaling_classes`][topo.graph.architecture.Architecture.rescaling_classes])."""
        return self.node_names(self._constrained)

    @property
    def constrained_index(self) -> np.ndarray:
        """Node index of the first member of each constrained class (read-only)."""
        return self._constrained

    @property
    def node_row(self) -> np.ndarray:
        """Row of every node in balance vectors: its class's row, -1 for nodes of
        unconstrained classes (read-only)."""
        return self._row

    @property
    def class_label(self) -> np.ndarray:
        """Rescaling class of every node (constrained or not), numbered by first member (read-only)."""
        return self._label

    def _class_csr(self) -> tuple[np.ndarray, np.ndarray]:
        def build():
            on = np.flatnonzero(self._row >= 0)
            members = on[np.argsort(self._row[on], kind="stable")]  # by row, then topological order
            ptr = np.searchsorted(self._row[members], np.arange(self.n_constrained + 1))
            for arr in (members, ptr):
                arr.flags.writeable = False
            return members, ptr

        return self.derived("class_members", build)

    @property
    def rescaling_classes(self) -> list[list]:
        """Members of each constrained class, aligned with
        [`constrained`][topo.graph.architecture.Architecture.constrained] (a singleton for a unit without fixed edges; a
        residual stream channel holds every unit along it).

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.from_edges(
        ...     [("x", "a"), ("a", "b"), ("b", "s"), ("a", "s", {"trainable": False}), ("s", "y")])
        >>> arch.rescaling_classes      # the identity skip a -> s joins a and the sum s
        [['a', 's'], ['b']]
        >>> arch.constrained, arch.constrained_row("s")
        (['a', 'b'], 0)
        """
        members, ptr = self._class_csr()
        names = self.node_names(members)
        return [names[a:b] for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist())]

    def class_members(self, node: Hashable) -> list:
        """All nodes of the rescaling class of ``node`` (constrained or not), in topological order."""
        i = self.node_index(node)
        r = int(self._row[i])
        if r >= 0:  # a constrained class: its slice of the shared member table
            members, ptr = self._class_csr()
            return self.node_names(members[ptr[r]:ptr[r + 1]])
        return self.node_names(np.flatnonzero(self._label == self._label[i]))

    @property
    def class_sizes(self) -> np.ndarray:
        """Number of members of each constrained class, aligned with `constrained`.

        Examples
        --------
        >>> import networkx as nx
        >>> G = nx.DiGraph([("x", "a"), ("a", "s"), ("x", "b"), ("b", "s"), ("s", "y")])
        >>> G.edges["a", "s"]["trainable"] = False
        >>> Architecture.from_networkx(G).class_sizes.tolist()
        [2, 1]
        """
        return np.diff(self._class_csr()[1])

    @property
    def n_shared(self) -> int:
        """Number of constrained classes with more than one member (balances shared by several units)."""
        return int(np.count_nonzero(self.class_sizes > 1))

    @property
    def quotient_edges(self) -> np.ndarray:
        """Indices of the edges that the balances see: trainable edges between two distinct classes
        (an edge inside a class, fixed or not, cancels in its class's balance).  Read-only, int32
        when the edge indices fit."""
        return self._quotient()[0]

    @property
    def quotient_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows (`node_row`) of the tail and of the head of every quotient edge, aligned with
        `quotient_edges`; -1 where that end is an unconstrained class.  Computed once and shared
        by the analyses that walk the quotient graph (int32 when the rows fit, read-only).

        Examples
        --------
        >>> import topo
        >>> tails, heads = topo.Architecture.mlp([1, 2, 1], bias=False).quotient_rows
        >>> tails.tolist(), heads.tolist()
        ([-1, -1, 0, 1], [0, 1, -1, -1])
        """
        return self._quotient()[1]

    def _quotient(self) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """`quotient_edges` and `quotient_rows`, found together in one pass over the edges by chunks
        (each edge's class labels are read once) and cached under both names."""
        if "quotient" in self._derived:
            return self._derived["quotient"], self._derived["quotient_rows"]
        label, src, dst, trainable, n = self._label, self._src, self._dst, self._trainable, self.n_edges
        rdt = np.int32 if self.n_constrained < 2**31 - 1 else np.int64
        row_of = np.full(int(label.max(initial=-1)) + 1, -1, dtype=rdt)  # a class's row, by its label
        row_of[label] = self._row
        ids = np.empty(n, dtype=np.int32 if n < 2**31 - 1 else np.int64)
        tails, heads = np.empty(n, dtype=rdt), np.empty(n, dtype=rdt)
        k = 0
        for s in chunks(n):
            ls, ld = label[src[s]], label[dst[s]]
            i = np.flatnonzero(trainable[s] & (ls != ld))
            j = k + len(i)
            ids[k:j] = i + s.start
            tails[k:j], heads[k:j] = row_of[ls[i]], row_of[ld[i]]
            k = j
        out = [a[:k] if k >= 0.9 * n else a[:k].copy() for a in (ids, tails, heads)]  # views unless much is unused
        for a in out:
            a.flags.writeable = False
        self._derived["quotient"], self._derived["quotient_rows"] = out[0], (out[1], out[2])
        return out[0], (out[1], out[2])

    @property
    def n_constrained(self) -> int:
        return len(self._constrained)

    @property
    def free(self) -> list:
        """Hidden nodes without a conservation law (see
        [`free_reasons`][topo.graph.architecture.Architecture.free_reasons])."""
        return list(self._free_reason)

    @property
    def free_reasons(self) -> dict:
        """Why each free hidden node carries no conservation law."""
        return dict(self._free_reason)

    def node_index(self, node: Hashable) -> int:
        try:
            return self._index[node]
        except (KeyError, TypeError):
            raise GraphError(f"unknown node {short(node)}") from None

    def constrained_row(self, node: Hashable) -> int:
        """Position in balance vectors of the class of a constrained node (any member)."""
        r = int(self._row[self.node_index(node)])
        if r < 0:
            raise GraphError(f"node {short(node)} is not constrained (role {self.role(node)!r})")
        return r

    def _sorted_edge_keys(self) -> tuple[np.ndarray, np.ndarray]:
        def build():
            # head-major keys: layers list their edges row by row, so the keys come in ascending runs
            # that a stable (merge) sort joins several times faster than a quicksort
            keys = self._dst * self.n_nodes + self._src
            order = np.argsort(keys, kind="stable")
            return keys[order], order

        return self.derived("edge_keys", build)

    def edge_lookup(self, tails: np.ndarray, heads: np.ndarray) -> np.ndarray:
        """Edge index of each pair ``(tails[i], heads[i])`` of node indices, -1 where there is no edge
        (vectorised: one binary search per pair).

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.from_edges([("x", "h"), ("h", "y")])
        >>> arch.edge_lookup([1, 0], [2, 2]).tolist()
        [1, -1]
        """
        tails, heads = (x.astype(np.int64, copy=False) if isinstance(x, np.ndarray) and x.dtype.kind in "iu"
                        else _index_array(x, what) for x, what in ((tails, "tails"), (heads, "heads")))
        keys, order = self._sorted_edge_keys()
        key = heads * self.n_nodes + tails
        if not len(keys):
            return np.full(key.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        return np.where(keys[pos] == key, order[pos], -1)

    def edge_index(self, edge: tuple) -> int:
        """Position of edge ``(u, v)`` in [`edges`][topo.graph.architecture.Architecture.edges]."""
        try:
            u, v = edge
        except (TypeError, ValueError):
            raise GraphError(f"an edge is a pair (u, v), got {short(edge)}") from None
        key = self.node_index(v) * self.n_nodes + self.node_index(u)
        keys, order = self._sorted_edge_keys()
        pos = int(np.searchsorted(keys, key))
        if pos == len(keys) or keys[pos] != key:
            raise GraphError(f"({short(u)}, {short(v)}) is not an edge of the architecture")
        return int(order[pos])

    def edge_slice(self, edge: tuple) -> slice:
        """Slice of the flat parameter vector holding the group of ``edge``."""
        e = self.edge_index(edge)
        return slice(int(self._offsets[e]), int(self._offsets[e + 1]))

    @property
    def param_edge(self) -> np.ndarray:
        """Edge index of every scalar parameter (read-only)."""
        def build():
            out = np.repeat(np.arange(self.n_edges, dtype=np.int64), self._sizes)
            out.flags.writeable = False
            return out

        return self.derived("param_edge", build)

    def in_degree(self) -> np.ndarray:
        return bincount(self._dst, minlength=self.n_nodes)

    def out_degree(self) -> np.ndarray:
        return bincount(self._src, minlength=self.n_nodes)

    def __repr__(self) -> str:
        return (
            f"Architecture(nodes={self.n_nodes}, edges={self.n_edges}, params={self.n_params}, "
            f"inputs={int(np.sum(self._role == INPUT))}, outputs={int(np.sum(self._role == OUTPUT))}, "
            f"constrained={self.n_constrained}, free={len(self._free_reason)})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        return (
            self._nodes == other._nodes
            and np.array_equal(self._src, other._src)
            and np.array_equal(self._dst, other._dst)
            and np.array_equal(self._sizes, other._sizes)
            and np.array_equal(self._trainable, other._trainable)
            and np.array_equal(self._role, other._role)
            and self._activation == other._activation
        )

    def __hash__(self) -> int:  # consistent with the structural __eq__
        return hash((len(self._nodes), len(self._src), int(self._offsets[-1])))

    # ------------------------------------------------------------------ conversions
    def to_networkx(self):
        """A ``networkx.DiGraph`` with ``role``/``activation`` node attributes and
        ``size``/``trainable`` edge attributes; ``from_networkx`` inverts it.

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.mlp([1, 1], bias=False)
        >>> G = arch.to_networkx()
        >>> topo.Architecture.from_networkx(G) == arch
        True
        """
        import networkx as nx

        G = nx.DiGraph()
        for i, name in enumerate(self._nodes):
            if self._role[i] in (HIDDEN, OUTPUT):
                G.add_node(name, role=ROLES[self._role[i]], activation=self._activation[i])
            else:
                G.add_node(name, role=ROLES[self._role[i]])
        for (u, v), k, t in zip(self.edges, self._sizes.tolist(), self._trainable.tolist()):
            G.add_edge(u, v, size=k, trainable=t)
        return G

    def _spec_kwargs(self, node_ids: np.ndarray) -> dict:
        keep = set(node_ids.tolist())
        names = [self._nodes[i] for i in node_ids.tolist()]
        roles = {self._nodes[i]: ROLES[self._role[i]] for i in keep}
        acts = {self._nodes[i]: self._activation[i] for i in keep if self._role[i] in (HIDDEN, OUTPUT)}
        return dict(nodes=names, roles=roles, activations=acts)

    def induced(self, nodes: Iterable[Hashable]) -> Architecture:
        """The sub-architecture induced on ``nodes`` (roles and activations kept).

        Raises [`GraphError`][topo.errors.GraphError] when a kept hidden node loses all
        its inputs or outputs (use [`topo.prune`][topo.fiber.singular.prune] to drop such dead units).

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
        >>> sub = arch.induced(["x0", "h1_0", "y0"])
        >>> sub.edges
        [('x0', 'h1_0'), ('h1_0', 'y0')]
        """
        ids = np.unique(np.asarray([self.node_index(v) for v in nodes], dtype=np.int64))
        mask = np.zeros(self.n_nodes, dtype=bool)
        mask[ids] = True
        keep = mask[self._src] & mask[self._dst]
        new = np.full(self.n_nodes, -1, dtype=np.int64)
        new[ids] = np.arange(len(ids))
        return Architecture(
            src=new[self._src[keep]], dst=new[self._dst[keep]], sizes=self._sizes[keep],
            trainable=self._trainable[keep], **self._spec_kwargs(ids),
        )

    # ------------------------------------------------------------------ parameters
    @validate_params(name=NAME)
    def as_vector(self, theta: Any, *, name: str = "theta") -> np.ndarray:
        """Validate parameters and return them as a flat float64 vector.

        ``theta`` is either a flat array of length [`n_params`][topo.graph.architecture.Architecture.n_params] or a
        mapping ``{(u, v): scalar or array of size k}`` with every edge.

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.from_edges([("x", "h"), ("h", "y")])
        >>> arch.as_vector({("x", "h"): 2.0, ("h", "y"): -1.0})
        array([ 2., -1.])
        >>> arch.as_vector([1.0, float("nan")])
        Traceback (most recent call last):
        ...
        topo.errors.ParameterError: theta has a non-finite value nan at parameter 1 (edge ('h', 'y'))
        """
        if isinstance(theta, Mapping):
            vec = np.empty(self.n_params, dtype=np.float64)
            seen = np.zeros(self.n_edges, dtype=bool)
            for edge, value in theta.items():
                e = self.edge_index(edge)
                arr = real_vector(value, f"{name}: value of edge {short(tuple(edge))}")
                k = int(self._sizes[e])
                if arr.size != k:
                    raise ParameterError(
                        f"{name}: edge {short(tuple(edge))} carries {k} weight(s) (shape ({k},)), "
                        f"got shape {arr.shape}"
                    )
                vec[self._offsets[e]:self._offsets[e + 1]] = arr.reshape(-1)
                seen[e] = True
            if not seen.all():
                missing = [self.edges[e] for e in np.flatnonzero(~seen)[:3].tolist()]
                more = int((~seen).sum())
                raise ParameterError(f"{name}: no value for {more} edge(s), e.g. {missing}")
        else:
            vec = real_vector_of_length(theta, name, self.n_params, "parameters")
        i = first_non_finite(vec)
        if i is not None:
            e = int(np.searchsorted(self._offsets, i, side="right") - 1)
            raise ParameterError(
                f"{name} has a non-finite value {vec[i]} at parameter {i} (edge {short(self.edges[e])})"
            )
        return vec

    def to_mapping(self, theta: Any) -> dict:
        """The flat vector as ``{(u, v): float or array}`` (arrays for groups)."""
        vec = self.as_vector(theta)
        out = {}
        for e, (edge, k) in enumerate(zip(self.edges, self._sizes.tolist())):
            block = vec[self._offsets[e]:self._offsets[e + 1]]
            out[edge] = float(block[0]) if k == 1 else block.copy()
        return out

    @validate_params(attr=NAME)
    def parameters_from_networkx(self, G, attr: str = "weight") -> np.ndarray:
        """Read edge attribute ``attr`` of ``G`` as the flat parameter vector.

        Examples
        --------
        >>> import networkx as nx, topo
        >>> G = nx.DiGraph()
        >>> G.add_edge("x", "h", weight=0.5); G.add_edge("h", "y", weight=-2.0)
        >>> arch = topo.Architecture.from_networkx(G)
        >>> arch.parameters_from_networkx(G)
        array([ 0.5, -2. ])
        """
        values = {}
        for u, v, d in G.edges(data=True):
            if attr not in d:
                raise ParameterError(f"edge ({short(u)}, {short(v)}) has no {short(attr)} attribute")
            values[(u, v)] = d[attr]
        return self.as_vector(values, name=f"edge attribute {attr!r}")

    @validate_params(scheme=SCHEME, seed=SEED, bias=BIAS_RULE)
    def init(
        self, scheme: str = "kaiming", *, seed: int | np.random.Generator | None = None, bias: str | None = None,
    ) -> np.ndarray:
        """Random parameters.

        ``"kaiming"``: N(0, 2/fan_in); ``"xavier"``: N(0, 2/(fan_in+fan_out));
        ``"kaiming_uniform"``, ``"xavier_uniform"``: the uniform laws of the same
        variance; ``"normal"``: N(0, 1); ``"uniform"``: U(-1/sqrt(fan_in), 1/sqrt(fan_in));
        ``"pytorch"``: the default of ``torch.nn.Linear`` (U(±1/sqrt(fan_in)) for
        weights and biases, fan_in counting weights only).  ``bias`` chooses the bias
        rule (`topo.graph.initializers`): ``"input"`` (default except for
        ``"pytorch"``: a bias is an input edge, counted in ``fan_in`` and drawn
        like the other input weights), ``"pytorch"`` or ``"zeros"``.

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.mlp([2, 3, 1])
        >>> theta = arch.init("kaiming", seed=0)
        >>> theta.shape, bool((arch.init(seed=0) == theta).all())
        ((13,), True)
        >>> arch.init("kaiming", bias="zeros", seed=0)[6:9].tolist()    # the hidden biases
        [0.0, 0.0, 0.0]
        """
        return draw_parameters(self, scheme, bias=bias, seed=seed)


#: The constraint of every ``arch`` argument of a public function.
ARCH = InstanceOf(Architecture, name="an Architecture (e.g. topo.Architecture.mlp([2, 8, 1]))")
