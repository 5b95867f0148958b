"""The interpreter behind `topo.from_torch`: a handler per fx node kind.

`Importer` walks a traced ``torch.fx`` graph like `torch.fx.Interpreter`,
but its values are the DAG units (neurons or channels) holding each tensor.  The
tables at the end map module types, functions and tensor-method names to handlers;
supporting a new block is adding a handler there.  Shape operations (split, shuffle,
flatten, ...) are handled once, generically, by applying the operation itself to a
tensor of unit labels (`Importer.relabel`).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from topo.errors import GraphError
from topo.nn.assembly import Assembly
from topo.nn.handlers_activations import FREE_FUNCTION_LABELS, ActivationHandlers
from topo.nn.handlers_elementwise import ElementwiseHandlers
from topo.nn.handlers_layers import LayerHandlers
from topo.nn.handlers_norms import NormHandlers
from topo.nn.handlers_shapes import ShapeHandlers
from topo.nn.units import Builder, Const, Value, attribute

__all__ = ["Importer"]


class Importer(LayerHandlers, NormHandlers, ActivationHandlers, ShapeHandlers, ElementwiseHandlers,
               Assembly):
    """Walks the fx graph; ``env`` maps node names to `Value`, `Const` or lists."""

    def __init__(self, gm, meta: dict, level: str, *, strict: bool, fold_batchnorm: bool,
                 batch_statistics: bool = False):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.meta = meta
        self.level = level
        self.strict = strict
        self.fold_batchnorm = fold_batchnorm
        self.batch_statistics = batch_statistics
        self.b = Builder()
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
            return Const(None, n.name)
        if kind == "value" and n.op != "get_attr":
            return Const(self.meta[n.name][1], n.name) if n.name in self.meta else Const(None, n.name)
        if n.op == "placeholder":
            if self.meta.get(n.name, ("tensor",))[0] != "tensor":  # an optional argument left at None, ...
                return Const(self.meta[n.name][1], n.name)
            return self.placeholder(n)
        if n.op == "output":
            return self.output(n)
        if n.op == "get_attr":
            return Const(attribute(self.gm, str(n.target)), str(n.target))
        if not self._reads_units(n):
            return Const(None, n.name)
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
        else:  # an in-place method (``h.mul_(2)``) as its out-of-place form: `topo.nn.inplace` rewired its readers
            handler = methods.get(n.target) or (methods.get(n.target[:-1]) if n.target.endswith("_") else None)
            name = str(n.target)
        if handler is None and n.op == "call_function" and name == "stochastic_depth":
            handler = type(self).stochastic_depth  # torchvision.ops' function (its module calls it): by name
        if handler is not None:
            return handler(self, n)
        return self.unmodelled(n, name, n.name)

    def stochastic_depth(self, n) -> Value:
        """``torchvision.ops.stochastic_depth(x, p, mode, training)``: the identity in eval mode or at p = 0
        (a dropped residual branch at random otherwise: not modelled)."""
        p, training = self.concrete(self.arg(n, 1, "p", 0.0)), self.concrete(self.arg(n, 3, "training", True))
        if training is False or p == 0.0:
            return self.passthrough(n)
        return self.unmodelled(n, "stochastic_depth (training mode)", n.name)

    def _reads_units(self, n) -> bool:
        import torch.fx as fx

        found = []
        fx.node.map_arg((n.args, n.kwargs), lambda a: found.append(isinstance(self.env.get(a.name), (Value, list))))
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

    def value(self, n, i: int = 0) -> Value:
        """The i-th argument of node ``n`` as units, with a clear error for anything else."""
        arg = n.args[i] if i < len(n.args) else None
        v = self.env.get(arg.name) if hasattr(arg, "name") else None
        if not isinstance(v, Value):
            raise GraphError(f"{self.what(n)} expects a tensor of units as argument {i}")
        return v

    def channels(self, n, i: int = 0, *, first: bool = False) -> Value:
        """Argument ``i`` as units, one dimension running over them (no pending relabelling);
        ``first``: that dimension must be dimension 1 (channels first, as convolutions read)."""
        v = self.value(n, i)
        if v.labels is not None:
            if self.level == "neuron" and v.labels.dim() > 2:
                raise GraphError(f"{self.what(n)} reads a {v.labels.dim()}-d tensor along a dimension other than "
                                 "its features: at neuron level layers read (batch, features) tensors; import with "
                                 "level='channel' (a Linear over the channels of a channel-last tensor is a 1x1 "
                                 "convolution there)")
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
                return v.value if isinstance(v, Const) else x
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
    def placeholder(self, n) -> Value:
        import torch

        if n.name not in self.meta:
            raise GraphError(f"input {n.name!r} of the model was not given an example")
        shp = self.shape(n)
        if len(shp) < 2:
            raise GraphError(f"input {n.name!r} has shape {shp}; expected a batch (batch, features or channels, ...)")
        if self.level == "channel" and len(shp) >= 3:
            ids = self.b.units(n.name, shp[1], role="input", names=[f"{n.name}.c{i}" for i in range(shp[1])])
            return Value(ids, spatial=int(np.prod(shp[2:])))
        width = int(np.prod(shp[1:]))
        ids = self.b.units(n.name, width, role="input")
        if len(shp) == 2:
            return Value(ids)
        return Value(ids, labels=torch.arange(width).view((1,) + tuple(shp[1:])).expand(shp))

    def output(self, n):
        import torch.fx as fx

        found = []
        fx.node.map_arg(n.args[0], lambda a: found.append(a))
        for a in found:
            v = self.env.get(a.name)
            if isinstance(v, Value):
                if v.labels is not None:
                    raise GraphError(f"the output {a.name!r} does not come channel by channel; topo cannot import it")
                self.outputs.append(v.ids)
            elif isinstance(v, list):
                self.outputs.extend(x.ids for x in v if isinstance(x, Value))
        if not self.outputs:
            raise GraphError("the model returns no tensor")
        return None


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
        torch.relu_: I.relu_function, F.relu_: I.relu_function, F.leaky_relu_: I.leaky_function,
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
        torch.channel_shuffle: I.relabel, F.channel_shuffle: I.relabel, torch.broadcast_to: I.relabel,
        torch.unbind: I.relabel,
        F.max_pool1d: I.pool, F.max_pool2d: I.pool, F.avg_pool1d: I.pool, F.avg_pool2d: I.pool,
        F.adaptive_avg_pool1d: I.pool, F.adaptive_avg_pool2d: I.pool, F.adaptive_max_pool2d: I.pool,
        torch.max_pool2d: I.pool, torch.avg_pool1d: I.pool, torch.adaptive_avg_pool1d: I.pool,
        F.pad: I.pool, F.interpolate: I.pool, F.dropout: I.passthrough,
        torch.mean: I.reduce_spatial, torch.sum: I.reduce_spatial, torch.amax: I.reduce_spatial,
    }
    for name in ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool", "dropout"):
        for d in (1, 2, 3):  # every dimension, from both namespaces where they exist
            for ns in (F, torch):
                fn = getattr(ns, f"{name}{d}d", None)
                if fn is not None:
                    functions.setdefault(fn, I.passthrough if name == "dropout" else I.pool)
    for name in FREE_FUNCTION_LABELS:
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
        "expand": I.relabel, "expand_as": I.relabel, "unbind": I.relabel,
        "contiguous": I.passthrough, "clone": I.passthrough, "float": I.passthrough, "double": I.passthrough,
        "add": I.add, "add_": I.add, "sub": I.sub, "mul": I.scale, "div": I.scale, "neg": I.scale,
        "mean": I.reduce_spatial, "sum": I.reduce_spatial, "amax": I.reduce_spatial,
        "sigmoid": I.free_activation_function, "tanh": I.free_activation_function,
    }
    _TABLES = (modules, functions, methods)
    return _TABLES
