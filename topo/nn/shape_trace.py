"""torch.fx tracing at the example input's shapes, for models whose ``forward`` branches on shapes.

``torch.fx.symbolic_trace`` gives every tensor a symbolic shape, so ``if x.shape[-1] < 7:`` (timm's
VGG head), ``x.view(x.shape[0], -1)`` feeding a comparison, or a block asserting its input size
cannot be traced.  `shape_trace` traces the same way but keeps, beside every proxy, the value the
operation has on the ``meta`` device for the example (shapes and dtypes, no arithmetic), and
answers ``x.shape``, ``x.size()``, ``x.dim()``, ``x.ndim`` and ``len(x)`` with those concrete
values (and ``x.device``, ``x.dtype`` with the example's).  The graph is then the model's computation at the example's shapes, which is all the
import reads; a branch on tensor *values* still cannot be traced (it raises, and the import falls
back to its forward-hook trace).

The technique is that of Hugging Face's ``HFTracer`` (meta values recorded beside the proxies).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["PLAIN_NAME", "inplace_trace", "meta_copy", "shape_trace"]

#: Tensor methods answered with the example's concrete value instead of a graph node.
_CONCRETE_METHODS = ("size", "dim", "numel", "nelement")


def shape_trace(model, example_input):
    """A ``torch.fx.GraphModule`` of ``model`` traced at the shapes of ``example_input``.

    Parameters
    ----------
    model : torch.nn.Module
    example_input : torch.Tensor

    Returns
    -------
    torch.fx.GraphModule

    Raises
    ------
    Exception
        Whatever torch.fx raises when the model cannot be traced even with concrete shapes
        (control flow on tensor values, operations fx cannot record).

    Examples
    --------
    >>> import torch
    >>> class Head(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         if x.shape[-1] < 4:  # a branch on a shape: symbolic_trace fails on it
    ...             x = torch.nn.functional.pad(x, (0, 4 - x.shape[-1]))
    ...         return self.fc(x)
    >>> gm = shape_trace(Head(), torch.zeros(1, 3))
    >>> [n.op for n in gm.graph.nodes]
    ['placeholder', 'call_function', 'call_module', 'output']
    """
    import torch.fx as fx

    tracer = _ShapeTracer(model, example_input)
    graph = tracer.trace(model)
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def meta_copy(model):
    """A deep copy of ``model`` on the ``meta`` device whose parameters and buffers are made there
    directly (shape, dtype and ``requires_grad`` kept, tied tensors still tied): the weights are
    never copied, so the copy costs the module structure alone, not a second set of weights.

    Examples
    --------
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    >>> c = meta_copy(m)
    >>> c[0].weight.device.type, tuple(c[0].weight.shape), c[1].running_mean.device.type, m[0].weight.device.type
    ('meta', (2, 3), 'meta', 'cpu')
    """
    import torch

    memo: dict = {}
    for t in [*model.parameters(), *model.buffers()]:
        empty = torch.empty_like(t, device="meta")
        memo[id(t)] = torch.nn.Parameter(empty, requires_grad=t.requires_grad) if isinstance(
            t, torch.nn.Parameter) else empty
    return copy.deepcopy(model, memo).to("meta")


_INPLACE_DUNDERS = (("__iadd__", "iadd"), ("__isub__", "isub"), ("__imul__", "imul"), ("__itruediv__", "itruediv"))
#: The in-place operators `inplace_trace` records, with the name of their plain form (``iadd`` -> ``add``).
PLAIN_NAME = {name: name[1:] for _, name in _INPLACE_DUNDERS}


def inplace_trace(model):
    """`torch.fx.symbolic_trace` of ``model``, except that ``a += b`` (and ``-=``, ``*=``, ``/=``) is
    recorded as ``operator.iadd(a, b)``: fx's own proxies have no in-place operators, so Python falls
    back to ``a = a + b`` and the graph loses the change of every other name for the same tensor
    (``identity = out; out += x`` changes ``identity`` too), which `topo.nn.inplace` then follows.

    Examples
    --------
    >>> import operator, torch
    >>> class M(torch.nn.Module):
    ...     def forward(self, x):
    ...         y = x * 1
    ...         y += x
    ...         return y
    >>> operator.iadd in [n.target for n in inplace_trace(M()).graph.nodes]
    True
    """
    import torch.fx as fx

    tracer = _classes()[0]()
    graph = tracer.trace(model)
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _classes():
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _make_classes()
    return _CLASSES


_CLASSES = None


def _make_classes():
    import operator

    import torch
    import torch.fx as fx

    class InplaceProxy(fx.Proxy):
        """A proxy whose ``+=``, ``-=``, ``*=``, ``/=`` are recorded as the in-place operators."""

    def inplace(op, plain):
        def impl(self, other):  # named as fx names the plain operator: the units keep their names
            return self.tracer.create_proxy("call_function", op, (self, other), {}, name=plain)
        return impl

    for dunder, name in _INPLACE_DUNDERS:
        setattr(InplaceProxy, dunder, inplace(getattr(operator, name), name[1:]))

    class InplaceTracer(fx.Tracer):
        def proxy(self, node):
            return InplaceProxy(node, self)

    class ShapeProxy(InplaceProxy):
        """A proxy that knows its value on the meta device (``meta``; None when unknown)."""

        meta: Any = None

        def __getattr__(self, k):
            if self.meta is not None and isinstance(self.meta, torch.Tensor):
                if k == "shape":
                    return self.meta.shape
                if k == "ndim":
                    return self.meta.dim()
                if k == "dtype":
                    return self.meta.dtype
                if k == "device":  # the example's device, not meta's: the model runs there
                    return self.tracer.device
            return super().__getattr__(k)

        def __len__(self):
            if isinstance(self.meta, torch.Tensor) and self.meta.dim():
                return int(self.meta.shape[0])
            return super().__len__()

    class ShapeTracer(fx.Tracer):
        def __init__(self, model, example_input):
            super().__init__()
            self._meta_root = meta_copy(model)
            self._example = example_input.to("meta")
            self.device = example_input.device

        def proxy(self, node):
            return ShapeProxy(node, self)

        def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
            if kind == "call_method" and target in _CONCRETE_METHODS and isinstance(args[0], ShapeProxy):
                value = self._meta_value(kind, target, args, kwargs)
                if value is not None:
                    return value  # a concrete size: the code after it branches on numbers, not proxies
            p = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
            if isinstance(p, ShapeProxy):
                p.meta = self._meta_value(kind, target, args, kwargs)
            return p

        def _meta_value(self, kind, target, args, kwargs):
            """The operation's value on the meta device, or None when it cannot be computed there."""
            unknown = []

            def meta(a):
                if isinstance(a, ShapeProxy):
                    if a.meta is None:
                        unknown.append(a)
                    return a.meta
                if isinstance(a, torch.Tensor) and a.device.type != "meta":  # a buffer fx passes as a constant
                    return a.to("meta")
                return a

            try:
                if kind == "placeholder":
                    return self._example
                if kind == "get_attr":
                    obj = self._meta_root
                    for part in str(target).split("."):
                        obj = getattr(obj, part)
                    return obj
                a, kw = fx.node.map_aggregate(args, meta), fx.node.map_aggregate(kwargs, meta)
                if unknown:
                    return None
                with torch.no_grad():
                    if kind == "call_function":
                        return target(*a, **kw)
                    if kind == "call_method":
                        return getattr(a[0], target)(*a[1:], **kw)
                    if kind == "call_module":  # forward, not __call__: fx patches __call__ while it traces
                        return self._meta_root.get_submodule(target).forward(*a, **kw)
            except Exception:  # noqa: BLE001 - no meta kernel, data-dependent op, ...: the value stays unknown
                return None
            return None

    return InplaceTracer, ShapeTracer


def _ShapeTracer(model, example_input):
    return _classes()[1](model, example_input)
