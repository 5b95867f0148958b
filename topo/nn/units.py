"""The values of the torch import: units and edges as index arrays (`Builder`), the units
holding a tensor (`Value`), non-unit arguments (`Const`), and the helpers the
handlers share (reading a tensor of unit labels as units, grouped edges, activation composition)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.errors import GraphError
from topo.graph.nodes import leaky_name, negative_slope

__all__ = ["MAX_DENSE_FIXED_EDGES", "Builder", "Const", "Value", "attribute", "axis", "canonical", "compose",
           "distinct", "grouped", "op_name", "positions"]

#: Dense fixed edges an unmodelled operation may create before the import gives up.
MAX_DENSE_FIXED_EDGES = 4_000_000


class Builder:
    """Accumulates units and edges as index arrays, one block per layer."""

    def __init__(self):
        self.nodes: list[str] = []
        self.index: dict[str, int] = {}
        self.roles: dict[int, str] = {}
        self.acts: list[str] = []
        self.src: list[np.ndarray] = []
        self.dst: list[np.ndarray] = []
        self.sizes: list[int] = []  # per batch: weights per edge, whether trainable, number of edges
        self.trainable: list[bool] = []
        self.counts: list[int] = []
        self.weights: list[np.ndarray] = []  # per batch, as given (float32 views of the model's parameters)
        self.scales: dict[int, np.ndarray] = {}  # per batch: row scales (a folded BatchNorm)
        self.edge_start: list[int] = []  # first edge of each batch
        self.blocks: list[list] = []  # [start, stop, qual, param, kind, n_cols, k, note]
        self.n_edges = 0
        self.reasons: dict[int, str] = {}

    def units(self, prefix: str, n: int, *, role: str | None = None, act: str = "linear",
              names: list | None = None) -> np.ndarray:
        """``n`` new units ``{prefix}.{i}`` (made unique if taken); their indices."""
        start = len(self.nodes)
        names = list(names) if names is not None else [f"{prefix}.{i}" for i in range(n)]
        if not self.index.keys().isdisjoint(names) or len(set(names)) < n:
            for i, name in enumerate(names):  # rare: make taken names unique, one by one
                if name in self.index:
                    k = 2
                    while f"{name}~{k}" in self.index:
                        k += 1
                    names[i] = name = f"{name}~{k}"
                self.index[name] = start + i
        else:
            self.index.update(zip(names, range(start, start + n)))
        self.nodes.extend(names)
        self.acts.extend([act] * n)
        if role:
            self.roles.update((i, role) for i in range(start, start + n))
        return np.arange(start, start + n, dtype=np.int64)

    def edges(self, u, v, w, *, size: int = 1, trainable: bool = True, source=None) -> int:
        """Edges ``u.flat[i] -> v.flat[i]`` carrying ``size`` weights each of ``w`` (C order); the batch number.

        ``u`` and ``v`` may be broadcast views (``np.broadcast_to``: a layer's every input to every output)
        and ``w`` a read-only view of the model's parameter: no array as long as the edge list is
        allocated before `topo.nn.assembly.Assembly.result` writes the final arrays once.
        """
        u, v = _ends(u), _ends(v)
        if u.shape != v.shape:
            raise GraphError(f"internal: edge ends of shapes {u.shape} and {v.shape}")
        n = u.size
        if len(self.nodes) >= 2**31 - 1:
            raise GraphError(f"the import has {len(self.nodes):,} units: more than its int32 unit labels hold")
        self.src.append(u)
        self.dst.append(v)
        self.sizes.append(int(size))
        self.trainable.append(bool(trainable))
        self.counts.append(n)
        w = np.asarray(w)
        if w.dtype not in (np.float32, np.float64):
            w = w.astype(np.float64)
        if w.size != n * size:
            raise GraphError(f"internal: {w.size} weights for {n} edges of {size}")
        self.weights.append(w)
        self.edge_start.append(self.n_edges)
        if source is not None:
            self.blocks.append([self.n_edges, self.n_edges + n, *source])
        self.n_edges += n
        return len(self.src) - 1

    def scale(self, batch: int, s: np.ndarray) -> None:
        """Scale the weights of ``batch`` row by row (``s[r]`` multiplies the weights of output ``r``):
        a folded BatchNorm, applied when the flat vector is written."""
        s = np.asarray(s, dtype=np.float64)
        self.scales[batch] = self.scales[batch] * s if batch in self.scales else s

    def fixed(self, u, v, w=1.0):
        """Fixed (non-trainable) edges; parallel pairs are merged by adding their weights."""
        u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
        w = np.broadcast_to(np.asarray(w, dtype=np.float64), u.shape)
        keys = u * (len(self.nodes) + 1) + v
        uniq, inv = np.unique(keys, return_inverse=True)
        if len(uniq) < len(keys):
            w = np.bincount(inv, weights=w, minlength=len(uniq))
            u, v = uniq // (len(self.nodes) + 1), uniq % (len(self.nodes) + 1)
        self.edges(u, v, w, trainable=False)

    def bias(self, qual: str, outs: np.ndarray, b: np.ndarray, *, source=None, trainable: bool = True) -> int:
        """A constant source ``{qual}.bias`` with an edge to every unit of ``outs`` (``trainable=False``: a
        constant shift with no parameter behind it, a fixed bias)."""
        bn = self.units(qual, 1, role="bias", act="bias", names=[f"{qual}.bias"])
        return self.edges(np.repeat(bn, len(outs)), outs, b, trainable=trainable, source=source)


def _ends(a) -> np.ndarray:
    """Edge ends as stored: a broadcast view (a zero stride) as it is, other arrays as int32 (half the memory)."""
    a = np.asarray(a)
    if a.ndim and a.size > 1 and 0 in a.strides:
        return a if a.dtype == np.int64 else np.broadcast_to(distinct(a)[0].astype(np.int64), a.shape)
    return a.astype(np.int32, copy=False).reshape(-1)


def distinct(a: np.ndarray) -> tuple[np.ndarray, int]:
    """The entries of a broadcast view once (size 1 along its repeated dimensions, so that the result
    broadcasts back to ``a.shape``) and how often each is repeated; ``(a, 1)`` for other arrays."""
    if not a.ndim or 0 not in a.strides:
        return a, 1
    core = a[tuple(slice(0, 1) if st == 0 else slice(None) for st in a.strides)]
    return core, a.size // max(core.size, 1)


@dataclass
class Value:
    """The units holding a tensor: one per channel (``spatial`` elements each) or per feature.

    ``labels`` (positions into ``ids``, shaped like the tensor) replaces ``ids``'s
    plain channel-major reading after shape operations that leave that layout.
    """

    ids: np.ndarray
    spatial: int = 1
    fresh: bool = False  # the units were made by this value's producer and nothing else reads them
    labels: Any = None
    layer: Any = None  # (weight batch, bias batch or None, qual) of the layer that made the units
    cdim: int = 1  # the tensor dimension that runs over the units (1: channels first; -1-like: channel-last)

    def like(self, ids, **kw) -> "Value":
        """Units ``ids`` laid out like this value (same spatial size and channel dimension)."""
        kw.setdefault("spatial", self.spatial)
        return Value(ids, cdim=self.cdim, **kw)


@dataclass
class Const:
    """A non-unit argument: a Python value, or a tensor held by the model (``get_attr``)."""

    value: Any = None
    name: str = ""


def compose(prev: str, new: str) -> str | None:
    """Activation of ``new ∘ prev`` on one unit, or None when it is not a single activation."""
    if prev in ("linear", "identity", "sum"):
        return new
    slope_p, slope_n = negative_slope(prev), negative_slope(new)
    if slope_p is None or slope_n is None:
        return None
    if slope_p < 0 or slope_n < 0:
        return None
    return leaky_name(slope_p * slope_n)


def positions(shape, value: Value):
    """Unit positions (into ``value.ids``) of every element of a tensor of ``shape``."""
    import torch

    if value.labels is not None:
        return value.labels
    C = len(value.ids)
    if len(shape) >= 3:
        view = [1] * len(shape)
        view[value.cdim] = C
        return torch.arange(C).view(view).expand(shape)
    if len(shape) == 2:
        if shape[1] != C * value.spatial:
            raise GraphError(f"internal: {C} units x {value.spatial} do not make {shape[1]} features")
        return torch.arange(C).repeat_interleave(value.spatial).view(1, -1).expand(shape)
    raise GraphError(f"a tensor of shape {tuple(shape)} has no unit dimension (batch first, then units)")


def canonical(T, ids: np.ndarray) -> Value:
    """Read a tensor of unit positions as units: one dimension running over the units (channels
    first, or channel-last after a permute), each unit's elements along the others; else labels.

    A unit may appear more than once (space-to-depth, ``cat([x, x])``): `Importer._dedupe`
    turns the repeats into copies joined by fixed edges.
    """
    ids = np.asarray(ids)
    if T.numel() == 0:  # an empty slice (ViT's x[:, :0] without prefix tokens): no element, no unit
        return Value(ids[:0], labels=T)
    if T.dim() < 2 or not bool((T == T[:1]).all()):
        return Value(ids, labels=T)
    row = T[0]
    if row.dim() == 1:
        change = np.flatnonzero(np.diff(row.numpy()) != 0)
        k = int(change[0]) + 1 if len(change) else len(row)
        blocks = row.view(-1, k) if len(row) % k == 0 else None
        if blocks is None or not bool((blocks == blocks[:, :1]).all()):
            return Value(ids, labels=T)
        return Value(ids[blocks[:, 0].numpy()], spatial=k)
    found = None
    for d in range(row.dim()):  # the channel dimension first
        r = row.movedim(d, 0).reshape(row.shape[d], -1)
        if bool((r == r[:, :1]).all()):
            first = r[:, 0].numpy()
            if len(np.unique(first)) == len(first):  # one position per unit along d: the unit dimension
                return Value(ids[first], spatial=r.shape[1], cdim=d + 1)
            # a dimension along which a single unit repeats (a spatial one, when there is one unit): kept
            # only if no dimension holds each unit once (space-to-depth repeats units on every dimension)
            found = found or Value(ids[first], spatial=r.shape[1], cdim=d + 1)
    return found or Value(ids, labels=T)


def attribute(gm, target: str):
    """The tensor (parameter, buffer or constant) a ``get_attr`` node reads."""
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def grouped(ins: np.ndarray, outs: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges from every unit of ``ins`` to every unit of ``outs`` in the same of ``groups`` groups."""
    per_in, per_out = len(ins) // groups, len(outs) // groups
    o = np.arange(len(outs))
    pos = ((o // per_out) * per_in)[:, None] + np.arange(per_in)[None, :]
    return ins[pos].ravel(), np.repeat(outs, per_in)


def op_name(n) -> str:
    return n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))


def axis(arg, ndim: int) -> int:
    return int(arg) % ndim if ndim else 0
