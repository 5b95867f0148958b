"""The interpreter behind :func:`topo.from_torch`: a handler per fx node kind.

:class:`Importer` walks a traced ``torch.fx`` graph like :class:`torch.fx.Interpreter`,
but its values are the DAG units (neurons or channels) holding each tensor.  The
tables at the end map module types, functions and tensor-method names to handlers;
supporting a new block is adding a handler there.  Shape operations (split, shuffle,
flatten, ...) are handled once, generically, by applying the operation itself to a
tensor of unit labels (:meth:`Importer.relabel`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.errors import GraphError
from topo.graph.architecture import Architecture
from topo.graph.nodes import DEFAULT_LEAKY_SLOPE, leaky_name, negative_slope
from topo.nn.result import EdgeSources, TorchImport, bn_affine, to_numpy

#: Dense fixed edges an unmodelled operation may create before the import gives up.
MAX_DENSE_FIXED_EDGES = 4_000_000


class _Builder:
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
        self.weights: list[np.ndarray] = []
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
        """Edges ``u[i] -> v[i]`` carrying ``size`` weights each of the flat ``w``; the batch number."""
        n = len(u)
        self.src.append(np.asarray(u, dtype=np.int64))
        self.dst.append(np.asarray(v, dtype=np.int64))
        self.sizes.append(int(size))
        self.trainable.append(bool(trainable))
        self.counts.append(n)
        self.weights.append(np.asarray(w, dtype=np.float64).reshape(-1))
        self.edge_start.append(self.n_edges)
        if source is not None:
            self.blocks.append([self.n_edges, self.n_edges + n, *source])
        self.n_edges += n
        return len(self.src) - 1

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

    def bias(self, qual: str, outs: np.ndarray, b: np.ndarray, *, source=None) -> int:
        """A constant source ``{qual}.bias`` with an edge to every unit of ``outs``."""
        bn = self.units(qual, 1, role="bias", act="bias", names=[f"{qual}.bias"])
        return self.edges(np.repeat(bn, len(outs)), outs, b, source=source)


@dataclass
class _Value:
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

    def like(self, ids, **kw) -> "_Value":
        """Units ``ids`` laid out like this value (same spatial size and channel dimension)."""
        kw.setdefault("spatial", self.spatial)
        return _Value(ids, cdim=self.cdim, **kw)


@dataclass
class _Const:
    """A non-unit argument: a Python value, or a tensor held by the model (``get_attr``)."""

    value: Any = None
    name: str = ""


def _compose(prev: str, new: str) -> str | None:
    """Activation of ``new ∘ prev`` on one unit, or None when it is not a single activation."""
    if prev in ("linear", "identity", "sum"):
        return new
    slope_p, slope_n = negative_slope(prev), negative_slope(new)
    if slope_p is None or slope_n is None:
        return None
    if slope_p < 0 or slope_n < 0:
        return None
    return leaky_name(slope_p * slope_n)


def _positions(shape, value: _Value):
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


def _canonical(T, ids: np.ndarray) -> _Value:
    """Read a tensor of unit positions as units: one dimension running over the units (channels
    first, or channel-last after a permute), each unit's elements along the others; else labels.

    A unit may appear more than once (space-to-depth, ``cat([x, x])``): :meth:`Importer._dedupe`
    turns the repeats into copies joined by fixed edges.
    """
    ids = np.asarray(ids)
    if T.dim() < 2 or not bool((T == T[:1]).all()):
        return _Value(ids, labels=T)
    row = T[0]
    if row.dim() == 1:
        change = np.flatnonzero(np.diff(row.numpy()) != 0)
        k = int(change[0]) + 1 if len(change) else len(row)
        blocks = row.view(-1, k) if len(row) % k == 0 else None
        if blocks is None or not bool((blocks == blocks[:, :1]).all()):
            return _Value(ids, labels=T)
        return _Value(ids[blocks[:, 0].numpy()], spatial=k)
    for d in range(row.dim()):  # the channel dimension first
        r = row.movedim(d, 0).reshape(row.shape[d], -1)
        if bool((r == r[:, :1]).all()):
            return _Value(ids[r[:, 0].numpy()], spatial=r.shape[1], cdim=d + 1)
    return _Value(ids, labels=T)


def _attribute(gm, target: str):
    """The tensor (parameter, buffer or constant) a ``get_attr`` node reads."""
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _grouped(ins: np.ndarray, outs: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges from every unit of ``ins`` to every unit of ``outs`` in the same of ``groups`` groups."""
    per_in, per_out = len(ins) // groups, len(outs) // groups
    o = np.arange(len(outs))
    pos = ((o // per_out) * per_in)[:, None] + np.arange(per_in)[None, :]
    return ins[pos].ravel(), np.repeat(outs, per_in)


def _op_name(n) -> str:
    return n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))


def _dim(arg, ndim: int) -> int:
    return int(arg) % ndim if ndim else 0


class Importer:
    """Walks the fx graph; ``env`` maps node names to :class:`_Value`, :class:`_Const` or lists."""

    def __init__(self, gm, meta: dict, level: str, *, strict: bool, fold_batchnorm: bool):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.meta = meta
        self.level = level
        self.strict = strict
        self.fold_batchnorm = fold_batchnorm
        self.b = _Builder()
        self.env: dict[str, Any] = {}
        self.unsupported: list[tuple[str, str]] = []
        self.outputs: list[np.ndarray] = []
        self.tables = _tables()
        self._claimed: dict[int, str] = {}
        self._claims: set = set()

    # -- running
    def run(self) -> None:
        self._check_sharing()
        for n in self.gm.graph.nodes:
            self.env[n.name] = self.dispatch(n)

    def dispatch(self, n):
        kind = self.meta.get(n.name, ("value", None))[0] if n.op not in ("placeholder", "output") else "tensor"
        if kind == "nested" and n.op != "get_attr":
            if self._reads_units(n):
                raise GraphError(f"{self.what(n)} returns a nested structure of tensors (as an LSTM's "
                                 "(output, (h, c))); topo imports operations returning a tensor or a flat tuple "
                                 "of tensors, and cannot import it")
            return _Const(None, n.name)
        if kind == "value" and n.op != "get_attr":
            return _Const(self.meta[n.name][1], n.name) if n.name in self.meta else _Const(None, n.name)
        if n.op == "placeholder":
            if self.meta.get(n.name, ("tensor",))[0] != "tensor":  # an optional argument left at None, ...
                return _Const(self.meta[n.name][1], n.name)
            return self.placeholder(n)
        if n.op == "output":
            return self.output(n)
        if n.op == "get_attr":
            return _Const(_attribute(self.gm, str(n.target)), str(n.target))
        if not self._reads_units(n):
            return _Const(None, n.name)
        modules, functions, methods = self.tables
        if n.op == "call_module":
            mod = self.modules[n.target]
            for cls in type(mod).__mro__:
                if cls in modules:
                    return modules[cls](self, n, mod)
            return self.unmodelled(n, type(mod).__name__, str(n.target))
        if n.op == "call_function":
            handler = functions.get(n.target)
            name = getattr(n.target, "__name__", str(n.target))
        else:
            handler = methods.get(n.target)
            name = str(n.target)
        if handler is not None:
            return handler(self, n)
        return self.unmodelled(n, name, n.name)

    def _reads_units(self, n) -> bool:
        import torch.fx as fx

        found = []
        fx.node.map_arg((n.args, n.kwargs), lambda a: found.append(isinstance(self.env.get(a.name), (_Value, list))))
        return any(found)

    def _check_sharing(self) -> None:
        calls: dict[str, int] = {}
        owner: dict[int, str] = {}
        for n in self.gm.graph.nodes:
            if n.op == "call_module":
                calls[n.target] = calls.get(n.target, 0) + 1
        for qual, k in calls.items():
            mod = self.modules[qual]
            params = list(mod.parameters(recurse=False))
            if params and k > 1:
                raise GraphError(
                    f"module {qual!r} ({type(mod).__name__}) is called {k} times: its weights are shared, and "
                    "topo models every edge as its own parameters (weight sharing cannot be imported)")
            for p in params:
                if id(p) in owner and owner[id(p)] != qual:
                    raise GraphError(f"modules {owner[id(p)]!r} and {qual!r} share a parameter (tied weights "
                                     "cannot be imported: topo models every edge as its own parameters)")
                owner[id(p)] = qual

    # -- argument access
    def shape(self, n) -> tuple:
        kind, shp = self.meta[n.name]
        if kind != "tensor":
            raise GraphError(f"node {n.name!r} does not produce a single tensor")
        return shp

    def value(self, n, i: int = 0) -> _Value:
        """The i-th argument of node ``n`` as units, with a clear error for anything else."""
        arg = n.args[i] if i < len(n.args) else None
        v = self.env.get(arg.name) if hasattr(arg, "name") else None
        if not isinstance(v, _Value):
            raise GraphError(f"{self.what(n)} expects a tensor of units as argument {i}")
        return v

    def channels(self, n, i: int = 0, *, first: bool = False) -> _Value:
        """Argument ``i`` as units, one dimension running over them (no pending relabelling);
        ``first``: that dimension must be dimension 1 (channels first, as convolutions read)."""
        v = self.value(n, i)
        if v.labels is not None:
            raise GraphError(f"{self.what(n)} reads a tensor whose elements do not come channel by channel "
                             "(after a view/transpose that mixes units); topo cannot import it")
        if first and v.cdim != 1:
            raise GraphError(f"{self.what(n)} reads a channel-last tensor (units along dimension {v.cdim}) "
                             "as channels first; topo cannot import it")
        return v

    def arg(self, n, i: int, name: str, default=None):
        """Argument ``i`` (or keyword ``name``) of node ``n`` as an fx node or a Python value."""
        if i < len(n.args):
            return n.args[i]
        return n.kwargs.get(name, default)

    def parameter(self, node):
        """``(qual, name, tensor)`` of a model parameter or buffer read by a ``get_attr`` node; None for
        anything else (a value computed from parameters, a constant, ``None``)."""
        if getattr(node, "op", None) != "get_attr":
            return None
        qual, _, name = str(node.target).rpartition(".")
        return qual, name, self.env[node.name].value

    def claim(self, qual: str, name: str, tensor) -> None:
        """Record that a layer's edges take the weights of ``tensor``: a second claim is weight sharing."""
        owner = self._claimed.setdefault(id(tensor), f"{qual}.{name}")
        if owner != f"{qual}.{name}" or (qual, name) in self._claims:
            raise GraphError(f"parameter {qual}.{name} is used by two layers: its weights are shared, and topo "
                             "models every edge as its own parameters (weight sharing cannot be imported)")
        self._claims.add((qual, name))

    def concrete(self, a):
        import torch.fx as fx

        def get(x):
            if isinstance(x, fx.Node):
                v = self.env.get(x.name)
                return v.value if isinstance(v, _Const) else x
            return x

        return fx.node.map_aggregate(a, get)

    def what(self, n) -> str:
        if n.op == "call_module":
            return f"{type(self.modules[n.target]).__name__} {n.target!r}"
        return f"{getattr(n.target, '__name__', n.target)} ({n.name!r})"

    def single_user(self, n, i: int = 0) -> bool:
        arg = n.args[i]
        return hasattr(arg, "users") and len(arg.users) == 1

    # -- sources and sinks
    def placeholder(self, n) -> _Value:
        import torch

        if n.name not in self.meta:
            raise GraphError(f"input {n.name!r} of the model was not given an example")
        shp = self.shape(n)
        if len(shp) < 2:
            raise GraphError(f"input {n.name!r} has shape {shp}; expected a batch (batch, features or channels, ...)")
        if self.level == "channel" and len(shp) >= 3:
            ids = self.b.units(n.name, shp[1], role="input", names=[f"{n.name}.c{i}" for i in range(shp[1])])
            return _Value(ids, spatial=int(np.prod(shp[2:])))
        width = int(np.prod(shp[1:]))
        ids = self.b.units(n.name, width, role="input")
        if len(shp) == 2:
            return _Value(ids)
        return _Value(ids, labels=torch.arange(width).view((1,) + tuple(shp[1:])).expand(shp))

    def output(self, n):
        import torch.fx as fx

        found = []
        fx.node.map_arg(n.args[0], lambda a: found.append(a))
        for a in found:
            v = self.env.get(a.name)
            if isinstance(v, _Value):
                if v.labels is not None:
                    raise GraphError(f"the output {a.name!r} does not come channel by channel; topo cannot import it")
                self.outputs.append(v.ids)
            elif isinstance(v, list):
                self.outputs.extend(x.ids for x in v if isinstance(x, _Value))
        if not self.outputs:
            raise GraphError("the model returns no tensor")
        return None

    # -- layers with parameters
    def linear(self, n, mod) -> _Value:
        return self.dense(n, self.channels(n), mod.weight, mod.bias, str(n.target))

    def linear_function(self, n) -> _Value:
        """``F.linear(x, weight, bias)`` with weights held by a module (timm's ``Linear``, ...)."""
        return self._functional_layer(n, self.dense, "linear")

    def conv(self, n, mod) -> _Value:
        return self.convolution(n, self.channels(n, first=True), mod.weight, mod.bias, str(n.target),
                                mod.groups)

    def conv_function(self, n) -> _Value:
        """``F.conv1d/2d/3d(x, weight, bias, stride, padding, dilation, groups)`` with module weights."""
        groups = self.concrete(self.arg(n, 6, "groups", 1))
        return self._functional_layer(n, lambda n, x, W, b, q: self.convolution(n, x, W, b, q, groups), "conv")

    def _functional_layer(self, n, build, kind: str) -> _Value:
        x = self.channels(n, first=kind == "conv")
        w_node, b_node = self.arg(n, 1, "weight"), self.arg(n, 2, "bias")
        weight = self.parameter(w_node)
        bias = self.parameter(b_node) if b_node is not None else ("", "", None)
        if weight is None or bias is None or weight[1] != "weight" or (bias[2] is not None and bias[0] != weight[0]):
            return self.derived_weights(n, x, w_node, kind)
        return build(n, x, weight[2], bias[2], weight[0])

    def dense(self, n, x: _Value, weight, bias, qual: str) -> _Value:
        """Dense layer on (batch, features), or on channel-last tensors (a 1x1 convolution over the units)."""
        shp = self.shape(n.args[0])
        if len(shp) != 2 and x.cdim != len(shp) - 1:
            raise GraphError(f"Linear {qual!r} acts on the last dimension of a tensor of shape {shp} whose units "
                             f"run along dimension {x.cdim}: it mixes tokens or positions (token mixing), which "
                             "cannot be expressed at channel level; topo cannot import it")
        self.claim(qual, "weight", weight)
        W, b = to_numpy(weight), (to_numpy(bias) if bias is not None else None)
        k = x.spatial if len(shp) == 2 else 1
        if W.shape[1] != len(x.ids) * k:
            raise GraphError(f"Linear {qual!r} expects {W.shape[1]} features, its input has "
                             f"{len(x.ids)} units x {k}")
        outs = self.b.units(qual, W.shape[0])
        m = len(x.ids)
        wb = self.b.edges(np.tile(x.ids, len(outs)), np.repeat(outs, m), W, size=k,
                          source=(qual, "weight", "dense", m, k, None))
        bb = None
        if b is not None:
            bb = self.b.bias(qual, outs, b, source=(qual, "bias", "vector", 1, 1, None))
        spatial = 1 if len(shp) == 2 else x.spatial
        return x.like(outs, spatial=spatial, fresh=True, layer=(wb, bb, qual, outs))

    def convolution(self, n, x: _Value, weight, bias, qual: str, groups: int) -> _Value:
        shp = self.shape(n.args[0])
        W = to_numpy(weight)
        cout, per_in = W.shape[0], W.shape[1]
        cin = per_in * int(groups)
        if len(x.ids) != cin or len(shp) < 3:
            raise GraphError(f"convolution {qual!r} expects {cin} channels, got {len(x.ids)} units "
                             f"(input shape {shp})")
        self.claim(qual, "weight", weight)
        per_out = cout // int(groups)
        kk = int(np.prod(W.shape[2:]))
        outs = self.b.units(qual, cout)
        o = np.arange(cout)
        pos = ((o // per_out) * per_in)[:, None] + np.arange(per_in)[None, :]
        wb = self.b.edges(x.ids[pos].ravel(), np.repeat(outs, per_in), W, size=kk,
                          source=(qual, "weight", "conv", per_in, kk, None))
        bb = None
        if bias is not None:
            bb = self.b.bias(qual, outs, to_numpy(bias), source=(qual, "bias", "vector", 1, 1, None))
        return _Value(outs, spatial=int(np.prod(self.shape(n)[2:])), fresh=True, layer=(wb, bb, qual, outs))

    def derived_weights(self, n, x: _Value, w_node, kind: str) -> _Value:
        """A linear/convolution whose weights are computed from parameters (weight standardisation, ...):
        its units are free, with the reason."""
        params, norm = self._weight_ancestry(w_node)
        owner = params[0].rpartition(".")[0] if params else n.name
        what = type(self.modules[owner]).__name__ if owner in self.modules else kind
        if norm:
            reason = (f"the weights of {what} {owner!r} are standardised ({norm}): scale-invariant weights: "
                      "no rescaling law")
        else:
            reason = f"the weights of {what} {owner!r} are computed from parameters, not parameters: no rescaling law"
        groups = len(x.ids) // self.shape(w_node)[1] if kind == "conv" else None
        return self._free(n, what, owner, dense=True, reason=reason, groups=groups)

    def _weight_ancestry(self, node) -> tuple[list, str | None]:
        """Parameters the value ``node`` is computed from, and the first normalisation on the way."""
        import torch.fx as fx

        params, norm, stack, seen = [], None, [node], set()
        while stack:
            a = stack.pop()
            if not isinstance(a, fx.Node) or a.name in seen:
                continue
            seen.add(a.name)
            if a.op == "get_attr":
                params.append(str(a.target))
                continue
            name = _op_name(a)
            if norm is None and any(k in name for k in ("norm", "std", "var")):
                norm = name
            fx.node.map_arg((a.args, a.kwargs), stack.append)
        return sorted(params), norm

    def batchnorm(self, n, mod) -> _Value:
        x = self.channels(n, first=True)
        if len(x.ids) != mod.num_features or (x.spatial != 1 and len(self.shape(n.args[0])) == 2):
            raise GraphError(f"{type(mod).__name__} {n.target!r} normalises {mod.num_features} features; its "
                             f"input has {len(x.ids)} units x {x.spatial}")
        s, t = bn_affine(mod)
        return self.affine(n, x, s, t, str(n.target), mod.weight is not None)

    def batchnorm_function(self, n) -> _Value:
        """``F.batch_norm`` (timm's ``BatchNormAct2d`` and other norm-act modules): in eval mode, with
        running statistics of a module, the same per-channel affine map as the module form."""
        x = self.channels(n, first=True)
        stats = [self.parameter(self.arg(n, i, k)) for i, k in ((1, "running_mean"), (2, "running_var"))]
        weight, bias = (self.parameter(self.arg(n, i, k)) for i, k in ((3, "weight"), (4, "bias")))
        training = self.concrete(self.arg(n, 5, "training", False))
        eps = float(self.concrete(self.arg(n, 7, "eps", 1e-5)))
        if training is not False or None in stats or self.arg(n, 3, "weight") is not None and weight is None:
            return self._free(n, "batch_norm", n.name, dense=False,
                              reason="batch_norm with batch statistics (training mode or no running statistics): "
                                     "it mixes the batch, not a per-channel affine map")
        mean, var = to_numpy(stats[0][2]), to_numpy(stats[1][2])
        if len(mean) != len(x.ids):
            raise GraphError(f"batch_norm ({n.name!r}) normalises {len(mean)} channels; its input has {len(x.ids)}")
        gamma = to_numpy(weight[2]) if weight is not None else np.ones(len(mean))
        beta = to_numpy(bias[2]) if bias is not None else np.zeros(len(mean))
        s = gamma / np.sqrt(var + eps)
        qual = (weight or stats[0])[0]
        return self.affine(n, x, s, beta - mean * s, qual, weight is not None)

    def affine(self, n, x: _Value, s: np.ndarray, t: np.ndarray, qual: str, trainable: bool, *,
               batchnorm: bool = True) -> _Value:
        """Per-channel ``s x + t`` (eval-mode BatchNorm; ``batchnorm=False``: a norm layer's own γ and β):
        a BatchNorm is folded into the layer before it when nothing else reads that layer; else a unit per
        channel with one scaled incoming edge and a bias."""
        if batchnorm and self.fold_batchnorm and x.layer is not None and x.fresh and self.single_user(n):
            return self._fold(qual, x, s, t)
        outs = self.b.units(qual, len(x.ids))
        note_s = f"BatchNorm scale γ/√(running_var+ε) of {qual!r} (eval mode), not γ itself" if batchnorm else None
        self.b.edges(x.ids, outs, s, trainable=trainable,
                     source=(qual, "weight", "vector", 1, 1, note_s) if trainable else None)
        note_t = (f"β − running_mean·γ/√(running_var+ε) of BatchNorm {qual!r} (eval mode), not β itself"
                  if batchnorm else None)
        bn = self.b.units(qual, 1, role="bias", act="bias", names=[f"{qual}.bias"])
        self.b.edges(np.repeat(bn, len(outs)), outs, t, trainable=trainable,
                     source=(qual, "bias", "vector", 1, 1, note_t) if trainable else None)
        return x.like(outs, fresh=True)

    def layer_norm_module(self, n, mod) -> _Value:
        shape = tuple(mod.normalized_shape)
        return self.normalization(n, "LayerNorm", str(n.target), ("layer", shape), mod.weight, mod.bias)

    def group_norm_module(self, n, mod) -> _Value:
        return self.normalization(n, "GroupNorm", str(n.target), ("group", mod.num_groups), mod.weight, mod.bias)

    def layer_norm_function(self, n) -> _Value:
        shape = self.concrete(self.arg(n, 1, "normalized_shape"))
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self._norm_function(n, "layer_norm", ("layer", shape))

    def group_norm_function(self, n) -> _Value:
        return self._norm_function(n, "group_norm", ("group", int(self.concrete(self.arg(n, 1, "num_groups")))))

    def _norm_function(self, n, what: str, kind: tuple) -> _Value:
        weight, bias = (self.parameter(self.arg(n, i, k)) for i, k in ((2, "weight"), (3, "bias")))
        qual = weight[0] if weight is not None else n.name
        return self.normalization(n, what, qual, kind, weight and weight[2],
                                  bias[2] if bias is not None and weight is not None and bias[0] == qual else None)

    def normalization(self, n, what: str, qual: str, kind: tuple, weight, bias) -> _Value:
        """LayerNorm / GroupNorm: the normalised units are free (a normalisation across channels is
        scale-invariant in its input, not homogeneous per channel); a per-channel γ, β after it is a unit
        per channel with a trainable scaled edge and a bias, as an unfolded BatchNorm."""
        x = self.channels(n)
        ndim = len(self.shape(n.args[0]))
        if kind[0] == "group":
            if x.cdim != 1:
                raise GraphError(f"{what} {qual!r} reads a channel-last tensor; topo cannot import it")
            groups, across = kind[1], "the channels of each of its groups"
        elif x.cdim >= ndim - len(kind[1]):
            groups, across = 1, "all channels"
        else:
            groups, across = len(x.ids), "each channel's own elements"
        reason = (f"{what} {qual!r} normalises across {across}: scale-invariant in its input, not "
                  "homogeneous per unit: no rescaling law")
        normed = self._free(n, what, qual, dense=True, reason=reason, groups=groups, prefix=f"{n.name}.normed")
        if weight is None or tuple(weight.shape) != (len(x.ids),):
            return normed
        self.claim(qual, "weight", weight)
        t = to_numpy(bias) if bias is not None else np.zeros(len(x.ids))
        return self.affine(n, normed, to_numpy(weight), t, qual, True, batchnorm=False)

    def _fold(self, qual: str, x: _Value, s: np.ndarray, t: np.ndarray) -> _Value:
        wb, bb, layer, outs = x.layer
        b = self.b
        b.weights[wb] = (b.weights[wb].reshape(len(outs), -1) * s[:, None]).reshape(-1)
        for blk in b.blocks:
            if blk[0] == b.edge_start[wb]:
                blk[7] = f"folded with BatchNorm {qual!r}: weight·γ/√(running_var+ε)"
        note = (f"folded bias of {layer!r} and BatchNorm {qual!r}: "
                + ("(bias − running_mean)" if bb is not None else "−running_mean") + "·γ/√(running_var+ε) + β")
        if bb is None:
            b.bias(layer, outs, t, source=(qual, "bias", "vector", 1, 1, note))
        else:
            b.weights[bb] = b.weights[bb] * s + t
            for blk in b.blocks:
                if blk[0] == b.edge_start[bb]:
                    blk[2:8] = [qual, "bias", "vector", 1, 1, note]
        return x.like(x.ids, fresh=True)

    # -- elementwise activations
    def activation(self, n, act: str, homogeneous: bool, *, what: str | None = None) -> _Value:
        x = self.channels(n)
        if not homogeneous:
            if self.strict:
                raise GraphError(f"unsupported layer {what} ({self._qual(n)!r})")
            self.unsupported.append((what, self._qual(n)))
        if x.fresh and self.single_user(n):
            acts = self.b.acts
            new = [_compose(acts[i], act) for i in x.ids.tolist()]
            if all(a is not None for a in new):
                for i, a in zip(x.ids.tolist(), new):
                    acts[i] = a
                return x.like(x.ids, fresh=True)
        outs = self.b.units(n.name, len(x.ids), act=act)
        self.b.fixed(x.ids, outs)
        for i in outs.tolist():
            self.b.reasons[i] = (f"{act} applied to units that are also read elsewhere ({n.name!r}): "
                                 "a copy joined by a fixed identity edge")
        return x.like(outs, fresh=True)

    def relu_module(self, n, mod) -> _Value:
        return self.activation(n, "relu", True)

    def leaky_module(self, n, mod) -> _Value:
        return self.activation(n, leaky_name(float(mod.negative_slope)), True)

    def relu_function(self, n) -> _Value:
        return self.activation(n, "relu", True)

    def leaky_function(self, n) -> _Value:
        slope = self.concrete(n.args[1]) if len(n.args) > 1 else self.concrete(n.kwargs.get("negative_slope", DEFAULT_LEAKY_SLOPE))
        return self.activation(n, leaky_name(float(slope)), True)

    def free_activation_module(self, n, mod) -> _Value:
        return self.activation(n, _free_label(mod), False, what=type(mod).__name__)

    def free_activation_function(self, n) -> _Value:
        name = _op_name(n)
        label = _FREE_FUNCTION_LABELS.get(name, f"free:{name}")
        if n.kwargs or len(n.args) > 1:
            label = f"free:{name}"
        return self.activation(n, label, False, what=name)

    # -- channel-wise maps that keep units
    def passthrough(self, n, *rest) -> _Value:
        x = self.value(n)
        out = self.shape(n)
        if x.labels is not None and tuple(x.labels.shape) == tuple(out):
            return x  # contiguous(), clone(), ... of a relabelled tensor
        if (x.labels is not None or len(out) <= x.cdim
                or out[x.cdim] != len(x.ids) * (x.spatial if len(out) == 2 else 1)):
            return self.unmodelled(n, self._name(n), self._qual(n))
        spatial = int(np.prod([d for i, d in enumerate(out) if i not in (0, x.cdim)])) if len(out) >= 3 else x.spatial
        return x.like(x.ids, spatial=spatial, fresh=x.fresh and self.single_user(n))

    def pool(self, n, *rest) -> _Value:
        x = self.value(n)
        if len(self.shape(n.args[0])) < 3 or x.labels is not None or x.cdim != 1:
            return self.unmodelled(n, self._name(n, rest), self._qual(n))
        return self.passthrough(n)

    def reduce_spatial(self, n) -> _Value:
        """``x.mean(dims)`` / ``x.sum(dims)`` / ``x.amax(dims)`` over spatial dimensions only."""
        shp = self.shape(n.args[0])
        dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
        dims = self.concrete(dims)
        dims = [dims] if isinstance(dims, int) else list(dims) if dims is not None else []
        x = self.value(n)
        if len(shp) >= 3 and dims and all(_dim(d, len(shp)) >= 2 for d in dims) and x.cdim == 1 and x.labels is None:
            out = self.shape(n)
            return _Value(x.ids, spatial=int(np.prod(out[2:])) if len(out) > 2 else 1)
        return self.unmodelled(n, str(getattr(n.target, "__name__", n.target)), n.name)

    # -- relabelling (cat, split, shuffle, flatten, ...)
    def relabel(self, n, *rest):
        """Apply the operation itself to tensors of unit labels and read the result as units."""
        import torch

        ids_parts, offset = [], 0
        env = self.env

        def labels_of(a):
            nonlocal offset
            v = env.get(a.name)
            if isinstance(v, _Value):
                pos = _positions(self.shape(a), v).contiguous() + offset
                ids_parts.append(v.ids)
                offset += len(v.ids)
                return pos
            if isinstance(v, list):  # a tuple of values (chunk/split output)
                return [labels_of_value(x, s) for x, s in zip(v, self.meta[a.name][1])]
            return v.value if isinstance(v, _Const) else None

        def labels_of_value(v, shape):
            nonlocal offset
            pos = _positions(shape, v).contiguous() + offset
            ids_parts.append(v.ids)
            offset += len(v.ids)
            return pos

        import torch.fx as fx

        if self._reads_tensor_constant(n):  # cat([class_token, x]), x + pos_embed as a view, ...
            return self.elementwise(n)
        args = fx.node.map_arg(n.args, labels_of)
        kwargs = fx.node.map_arg(n.kwargs, labels_of)
        if n.op == "call_module":
            out = self.modules[n.target](*args, **kwargs)
        elif n.op == "call_method":
            out = getattr(args[0], n.target)(*args[1:], **kwargs)
        else:
            out = n.target(*args, **kwargs)
        ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64)
        if isinstance(out, torch.Tensor):
            return self._dedupe(n, _canonical(out, ids))
        return [self._dedupe(n, _canonical(t, ids)) for t in out]

    def _reads_tensor_constant(self, n) -> bool:
        """Whether ``n`` reads a tensor that holds no units (a parameter, or a value computed from them)."""
        import torch.fx as fx

        found = []
        fx.node.map_arg((n.args, n.kwargs), lambda a: found.append(
            isinstance(self.env.get(a.name), _Const) and self.meta.get(a.name, ("value",))[0] != "value"))
        return any(found)

    def _dedupe(self, n, v: _Value) -> _Value:
        """Repeated units (one tensor read twice, e.g. ``cat([x, x])``) become copies joined by fixed edges."""
        if v.labels is not None:
            return v
        _, first = np.unique(v.ids, return_index=True)
        if len(first) == len(v.ids):
            return v
        rep = np.setdiff1d(np.arange(len(v.ids)), first)
        copies = self.b.units(n.name, len(rep))
        self.b.fixed(v.ids[rep], copies)
        ids = v.ids.copy()
        ids[rep] = copies
        return v.like(ids)

    def cat(self, n) -> _Value:
        parts = n.args[0] if n.args else n.kwargs.get("tensors")
        dim = self.concrete(n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0))
        out = self.shape(n)
        vals = [self.env.get(p.name) for p in parts]
        if (all(isinstance(v, _Value) and v.labels is None and v.cdim == 1 for v in vals) and _dim(dim, len(out)) == 1
                and (len(out) >= 3 or len({v.spatial for v in vals}) == 1)):
            ids = np.concatenate([v.ids for v in vals])
            fresh = all(v.fresh for v in vals) and all(len(p.users) == 1 for p in parts)
            spatial = int(np.prod(out[2:])) if len(out) >= 3 else vals[0].spatial
            v = self._dedupe(n, _Value(ids, spatial=spatial, fresh=fresh))
            return v
        return self.relabel(n)

    def getitem(self, n):
        seq = self.env.get(n.args[0].name)
        if isinstance(seq, list):
            return seq[self.concrete(n.args[1])]
        if isinstance(seq, _Const):
            return _Const(None, n.name)
        return self.relabel(n)

    # -- arithmetic
    def add(self, n, sign: float = 1.0):
        if len(n.args) < 2 or n.kwargs:
            return self.elementwise(n)
        a, c = (self.env.get(x.name) if hasattr(x, "name") else None for x in n.args[:2])
        if isinstance(a, _Value) and isinstance(c, _Value) and a.labels is None and c.labels is None and (
                a.cdim == c.cdim and self.meta[n.args[0].name] == self.meta[n.args[1].name] == self.meta[n.name]):
            outs = self.b.units(n.name, len(a.ids), act="sum")
            self.b.fixed(np.concatenate([a.ids, c.ids]), np.concatenate([outs, outs]),
                         np.concatenate([np.ones(len(outs)), np.full(len(outs), sign)]))
            return a.like(outs, fresh=True)
        return self.elementwise(n)

    def sub(self, n):
        return self.add(n, -1.0)

    def scale(self, n):
        """``x * c``, ``c * x``, ``x / c``, ``-x`` with a number ``c``: a copy joined by a fixed edge of weight c."""
        args = [self.env.get(a.name) if hasattr(a, "name") else _Const(a) for a in n.args]
        units = [a for a in args if isinstance(a, _Value)]
        consts = [a.value for a in args if isinstance(a, _Const)]
        if (len(units) != 1 or n.kwargs or units[0].labels is not None
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in consts)):
            return self.elementwise(n)
        op = _op_name(n).strip("_").lstrip("i") if _op_name(n) != "imul" else "mul"
        if op == "neg":
            factor = -1.0
        elif op in ("truediv", "div"):
            if not isinstance(args[0], _Value) or float(consts[0]) == 0.0:
                return self.elementwise(n)
            factor = 1.0 / float(consts[0])
        else:
            factor = float(consts[0])
        x = units[0]
        outs = self.b.units(n.name, len(x.ids))
        self.b.fixed(x.ids, outs, factor)
        return x.like(outs, fresh=True)

    # -- what topo does not model
    def elementwise(self, n) -> _Value:
        """An elementwise operation topo does not model (gating ``x * s``, ...): every input kept."""
        return self._free(n, self._name(n), self._qual(n), dense=False)

    def unmodelled(self, n, what: str, qual: str) -> _Value:
        return self._free(n, what, qual, dense=True)

    def _name(self, n, rest=()) -> str:
        if n.op == "call_module":
            return type(self.modules[n.target]).__name__
        return getattr(n.target, "__name__", str(n.target))

    def _qual(self, n) -> str:
        return str(n.target) if n.op == "call_module" else n.name

    def _free(self, n, what: str, qual: str, *, dense: bool, reason: str | None = None,
              groups: int | None = None, prefix: str | None = None) -> _Value:
        """New free units for the output of ``n``, with a fixed edge from every input unit they depend on
        (elementwise: the units at the same position after broadcasting; ``groups``: every unit of the
        same channel group, as a convolution reads; else every input unit).  ``reason`` says why the
        units carry no law (default: an operation topo does not model, listed as unsupported)."""
        if self.strict:
            raise GraphError(f"unsupported layer {what} ({qual!r})" + (f": {reason}" if reason else ""))
        kind, out = self.meta[n.name]
        if kind != "tensor" or len(out) < 2:
            raise GraphError(f"unsupported operation {what} ({qual!r}) with output {self.meta[n.name][1]!r}: "
                             "topo cannot import it")
        vals = self._tensor_inputs(n)
        if not vals:
            raise GraphError(f"unsupported operation {what} ({qual!r}) with no tensor input")
        first = vals[0][1]
        cdim = first.cdim if first.labels is None and first.cdim < len(out) else 1
        if reason is None:
            self.unsupported.append((what, qual))
        outs = self.b.units(prefix or n.name, out[cdim], act=f"free:{what}")
        us, vs = [], []
        for a, v in vals:
            if groups:
                u, w = _grouped(v.ids, outs, groups)
            else:
                u, w = self._dependencies(v, self.shape(a) if a is not None else None, out, outs, dense, what,
                                          qual, cdim)
            us.append(u)
            vs.append(w)
        self.b.fixed(np.concatenate(us), np.concatenate(vs))
        names = ", ".join(repr(a.name) for a, _ in vals if a is not None)
        for _, v in vals:
            for i in v.ids.tolist():
                self.b.reasons.setdefault(i, reason or f"input of {what} ({qual!r}), which topo does not model: "
                                                       "rescaling it would change the function")
        for i in outs.tolist():
            self.b.reasons[i] = reason or f"output of {what} ({qual!r}) of {names}, which topo does not model"
        spatial = int(np.prod([d for i, d in enumerate(out) if i not in (0, cdim)]))
        return _Value(outs, spatial=spatial, cdim=cdim)

    def _tensor_inputs(self, n) -> list:
        """``(fx node or None, value)`` of every tensor read by ``n``; a tuple of tensors (chunk/split
        output) contributes all its units, with no shape (read densely)."""
        import torch.fx as fx

        inputs = []
        fx.node.map_arg((n.args, n.kwargs), lambda a: inputs.append(a))
        vals = []
        for a in dict.fromkeys(inputs):
            v = self.env.get(a.name)
            if isinstance(v, _Value):
                vals.append((a, v))
            elif isinstance(v, list) and any(isinstance(x, _Value) for x in v):
                vals.append((None, _Value(np.concatenate([x.ids for x in v if isinstance(x, _Value)]))))
        return vals

    @staticmethod
    def _dependencies(v: _Value, shape, out, outs, dense: bool, what: str, qual: str, cdim: int = 1):
        """Edges (input unit -> output unit) for one input of an unmodelled operation."""
        import torch

        L = None
        if not dense and shape is not None:
            try:
                L = _positions(shape, v).expand(out)
            except RuntimeError:  # not broadcastable to the output: read densely
                L = None
        if L is None:
            if len(v.ids) * len(outs) > MAX_DENSE_FIXED_EDGES:
                raise GraphError(f"unsupported operation {what} ({qual!r}) mixes {len(v.ids)} units into "
                                 f"{len(outs)}: too large to keep as fixed edges; topo cannot import it")
            return np.tile(v.ids, len(outs)), np.repeat(outs, len(v.ids))
        view = [1] * len(out)
        view[cdim] = len(outs)
        cols = torch.arange(len(outs)).view(view).expand(out)
        key = torch.unique(cols.reshape(-1) * len(v.ids) + L.reshape(-1)).numpy()
        return v.ids[key % len(v.ids)], outs[key // len(v.ids)]

    # -- assembling the architecture
    def result(self, level: str) -> TorchImport:
        b = self.b
        outputs = self._output_units()
        src, dst = np.concatenate(b.src), np.concatenate(b.dst)
        counts = np.asarray(b.counts, dtype=np.int64)
        sizes = np.repeat(np.asarray(b.sizes, dtype=np.int64), counts)
        trainable = np.repeat(np.asarray(b.trainable, dtype=bool), counts)
        theta = np.concatenate(b.weights)
        b.src = b.dst = b.weights = None  # peak memory: one copy of each array
        keep_node, keep_edge = self._reaching_outputs(src, dst, outputs)
        # sources first, then the units in creation order (a topological order: a unit is made after its inputs)
        source = np.zeros(len(b.nodes), dtype=bool)
        source[list(b.roles)] = True
        kept = np.concatenate([np.flatnonzero(keep_node & source), np.flatnonzero(keep_node & ~source)])
        new = np.full(len(b.nodes), -1, dtype=np.int64)
        new[kept] = np.arange(len(kept))
        names = [b.nodes[i] for i in kept.tolist()]
        roles = {b.nodes[i]: r for i, r in b.roles.items() if keep_node[i]}
        roles.update((b.nodes[i], "output") for i in outputs.tolist())
        acts = {b.nodes[i]: b.acts[i] for i in kept.tolist() if b.roles.get(i) not in ("input", "bias")}
        if not keep_edge.all():
            theta = theta[np.repeat(keep_edge, sizes)]
            src, dst, sizes, trainable = src[keep_edge], dst[keep_edge], sizes[keep_edge], trainable[keep_edge]
        src, dst = new[src], new[dst]
        reasons = {b.nodes[i]: r for i, r in b.reasons.items() if keep_node[i]}
        # the import's precise reason (which operation made a unit free) replaces the generic one
        arch = Architecture.from_arrays(src, dst, nodes=names, sizes=sizes, trainable=trainable,
                                        roles=roles, activations=acts, free_reasons=reasons)
        return TorchImport(arch, theta, EdgeSources(arch, self._blocks(keep_edge)), self.unsupported, level,
                           reasons)

    def _output_units(self) -> np.ndarray:
        """The model's output units; those also read by other units (or inputs) get copies by fixed edges."""
        b = self.b
        outputs = np.unique(np.concatenate(self.outputs))
        has_out = np.zeros(len(b.nodes), dtype=bool)
        for s in b.src:
            has_out[s] = True
        bad = outputs[has_out[outputs] | np.isin(outputs, list(b.roles))]
        if len(bad):
            copies = b.units("output", len(bad))
            b.fixed(bad, copies)
            outputs = np.concatenate([np.setdiff1d(outputs, bad), copies])
        return outputs

    def _reaching_outputs(self, src, dst, outputs) -> tuple[np.ndarray, np.ndarray]:
        """Units (and edges) on a path to an output; inputs are kept whatever they feed."""
        n = len(self.b.nodes)
        protected = np.zeros(n, dtype=bool)
        protected[outputs] = True
        protected[[i for i, r in self.b.roles.items() if r == "input"]] = True
        alive = np.ones(n, dtype=bool)
        keep_edge = None  # all edges, until a round drops some
        while True:  # drop sinks that are not outputs, until none is left (usually no round at all)
            outdeg = np.bincount(src if keep_edge is None else src[keep_edge], minlength=n)
            dead = alive & (outdeg == 0) & ~protected
            if not dead.any():
                return alive, np.ones(len(src), dtype=bool) if keep_edge is None else keep_edge
            alive &= ~dead
            keep_edge = alive[dst] if keep_edge is None else keep_edge & alive[dst]

    def _blocks(self, keep_edge: np.ndarray) -> list:
        pos = np.concatenate([[0], np.cumsum(keep_edge)])
        out = []
        for start, stop, *rest in sorted(self.b.blocks, key=lambda blk: blk[0]):
            a, z = int(pos[start]), int(pos[stop])
            if z == a:
                continue
            offs = None if z - a == stop - start else np.flatnonzero(keep_edge[start:stop])
            out.append((a, z, *rest, offs))
        return out


_FREE_MODULE_LABELS = {
    "GELU": "gelu", "SiLU": "silu", "Sigmoid": "sigmoid", "Tanh": "tanh", "ReLU6": "relu6",
    "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid", "Mish": "mish", "Softsign": "softsign",
    "SELU": "selu",
}


_FREE_FUNCTION_LABELS = {
    "gelu": "gelu", "silu": "silu", "sigmoid": "sigmoid", "tanh": "tanh", "relu6": "relu6",
    "hardswish": "hardswish", "hardsigmoid": "hardsigmoid", "mish": "mish", "softsign": "softsign",
    "selu": "selu", "elu": "elu", "softplus": "softplus",
}


def _free_label(mod) -> str:
    """Activation label of a non-homogeneous activation module (``free:...`` when parametrised off-default)."""
    name = type(mod).__name__
    if name == "GELU" and getattr(mod, "approximate", "none") != "none":
        return "free:gelu(tanh)"
    if name == "ELU":
        return "elu" if mod.alpha == 1.0 else f"free:elu(alpha={mod.alpha})"
    if name == "Softplus":
        return "softplus" if mod.beta == 1.0 else f"free:softplus(beta={mod.beta})"
    if name == "Hardtanh" and not isinstance(mod, __import__("torch").nn.ReLU6):
        return "hardtanh" if (mod.min_val, mod.max_val) == (-1.0, 1.0) else f"free:hardtanh({mod.min_val},{mod.max_val})"
    return _FREE_MODULE_LABELS.get(name, f"free:{name.lower()}")


_TABLES: tuple | None = None


def _tables() -> tuple[dict, dict, dict]:
    """Handler tables (module type, function, method name) -> handler; built once, on first use."""
    global _TABLES
    if _TABLES is not None:
        return _TABLES
    import torch
    import torch.nn.functional as F

    nn = torch.nn
    I = Importer
    modules = {
        nn.Linear: I.linear,
        nn.Conv1d: I.conv, nn.Conv2d: I.conv, nn.Conv3d: I.conv,
        nn.modules.batchnorm._BatchNorm: I.batchnorm,
        nn.LayerNorm: I.layer_norm_module, nn.GroupNorm: I.group_norm_module,
        nn.ReLU: I.relu_module, nn.LeakyReLU: I.leaky_module,
        nn.ReLU6: I.free_activation_module, nn.Hardtanh: I.free_activation_module,
        nn.GELU: I.free_activation_module, nn.SiLU: I.free_activation_module, nn.Sigmoid: I.free_activation_module,
        nn.Tanh: I.free_activation_module, nn.Hardswish: I.free_activation_module,
        nn.Hardsigmoid: I.free_activation_module, nn.Mish: I.free_activation_module, nn.ELU: I.free_activation_module,
        nn.SELU: I.free_activation_module, nn.Softplus: I.free_activation_module, nn.Softsign: I.free_activation_module,
        nn.modules.pooling._MaxPoolNd: I.pool, nn.modules.pooling._AvgPoolNd: I.pool,
        nn.modules.pooling._AdaptiveAvgPoolNd: I.pool, nn.modules.pooling._AdaptiveMaxPoolNd: I.pool,
        nn.modules.padding._ConstantPadNd: I.pool, nn.modules.padding._ReflectionPadNd: I.pool,
        nn.modules.padding._ReplicationPadNd: I.pool, nn.Upsample: I.pool,
        nn.modules.dropout._DropoutNd: I.passthrough, nn.Identity: I.passthrough,
        nn.Flatten: I.relabel, nn.Unflatten: I.relabel, nn.ChannelShuffle: I.relabel,
    }
    functions = {
        F.linear: I.linear_function, torch.conv1d: I.conv_function, torch.conv2d: I.conv_function,
        torch.conv3d: I.conv_function, F.conv1d: I.conv_function, F.conv2d: I.conv_function,
        F.conv3d: I.conv_function,
        F.batch_norm: I.batchnorm_function, F.layer_norm: I.layer_norm_function,
        F.group_norm: I.group_norm_function,
        torch.relu: I.relu_function, F.relu: I.relu_function, F.leaky_relu: I.leaky_function,
        torch.cat: I.cat, torch.concat: I.cat, torch.concatenate: I.cat,
        operator.getitem: I.getitem,
        operator.add: I.add, operator.iadd: I.add, torch.add: I.add,
        operator.sub: I.sub, operator.isub: I.sub, torch.sub: I.sub,
        operator.mul: I.scale, operator.imul: I.scale, torch.mul: I.scale,
        operator.truediv: I.scale, operator.itruediv: I.scale, torch.div: I.scale,
        operator.neg: I.scale, torch.neg: I.scale,
        torch.flatten: I.relabel, torch.reshape: I.relabel, torch.transpose: I.relabel, torch.permute: I.relabel,
        torch.chunk: I.relabel, torch.split: I.relabel, torch.squeeze: I.relabel, torch.unsqueeze: I.relabel,
        torch.narrow: I.relabel, torch.movedim: I.relabel, torch.swapaxes: I.relabel,
        torch.channel_shuffle: I.relabel, F.channel_shuffle: I.relabel,
        F.max_pool1d: I.pool, F.max_pool2d: I.pool, F.avg_pool1d: I.pool, F.avg_pool2d: I.pool,
        F.adaptive_avg_pool1d: I.pool, F.adaptive_avg_pool2d: I.pool, F.adaptive_max_pool2d: I.pool,
        torch.max_pool2d: I.pool, torch.avg_pool1d: I.pool, torch.adaptive_avg_pool1d: I.pool,
        F.pad: I.pool, F.interpolate: I.pool, F.dropout: I.passthrough,
        torch.mean: I.reduce_spatial, torch.sum: I.reduce_spatial, torch.amax: I.reduce_spatial,
    }
    for name in _FREE_FUNCTION_LABELS:
        for ns in (F, torch):
            fn = getattr(ns, name, None)
            if fn is not None:
                functions.setdefault(fn, I.free_activation_function)
    functions = {k: v for k, v in functions.items() if v is not None}
    methods = {
        "relu": I.relu_function,
        "view": I.relabel, "reshape": I.relabel, "flatten": I.relabel, "transpose": I.relabel, "permute": I.relabel,
        "chunk": I.relabel, "split": I.relabel, "squeeze": I.relabel, "unsqueeze": I.relabel, "narrow": I.relabel,
        "unflatten": I.relabel, "movedim": I.relabel, "t": I.relabel, "view_as": I.relabel, "reshape_as": I.relabel,
        "contiguous": I.passthrough, "clone": I.passthrough, "float": I.passthrough, "double": I.passthrough,
        "add": I.add, "add_": I.add, "sub": I.sub, "mul": I.scale, "div": I.scale, "neg": I.scale,
        "mean": I.reduce_spatial, "sum": I.reduce_spatial, "amax": I.reduce_spatial,
        "sigmoid": I.free_activation_function, "tanh": I.free_activation_function,
    }
    _TABLES = (modules, functions, methods)
    return _TABLES
