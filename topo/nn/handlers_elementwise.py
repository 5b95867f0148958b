"""Torch import handlers of arithmetic and of unmodelled operations; a mixin of
`topo.nn.handlers.Importer`."""

from __future__ import annotations

import numpy as np

from topo.errors import GraphError
from topo.nn.units import MAX_DENSE_FIXED_EDGES, Const, Value, grouped, op_name, positions


class ElementwiseHandlers:
    """Handlers of arithmetic (residual sums, scaling by a number) and of what topo does not model (every input kept as fixed edges, the units free)."""

    def add(self, n, sign: float = 1.0):
        if len(n.args) < 2 or n.kwargs:
            return self.elementwise(n)
        a, c = (self.env.get(x.name) if hasattr(x, "name") else None for x in n.args[:2])
        if isinstance(a, Value) and isinstance(c, Value) and a.labels is None and c.labels is None and (
                a.cdim == c.cdim and self.meta[n.args[0].name] == self.meta[n.args[1].name] == self.meta[n.name]):
            outs = self.b.units(n.name, len(a.ids), act="sum")
            self.b.fixed(np.concatenate([a.ids, c.ids]), np.concatenate([outs, outs]),
                         np.concatenate([np.ones(len(outs)), np.full(len(outs), sign)]))
            return a.like(outs, fresh=True)
        return self.elementwise(n)

    def sub(self, n):
        return self.add(n, -1.0)

    def scale(self, n):
        """``x * c``, ``c * x``, ``x / c``, ``-x`` with a number ``c``: a copy joined by a fixed edge of weight c;
        ``x * γ`` with one entry of a 1-d parameter or buffer per unit: see `channel_scale`."""
        args = [self.env.get(a.name) if hasattr(a, "name") else Const(a) for a in n.args]
        units = [a for a in args if isinstance(a, Value)]
        consts = [a.value for a in args if isinstance(a, Const)]
        if len(units) == 1 and len(args) == 2 and not n.kwargs and units[0].labels is None and op_name(n) in (
                "mul", "imul", "mul_"):
            other = n.args[1] if isinstance(args[0], Value) else n.args[0]
            done = self.channel_scale(n, units[0], n.args[0] if isinstance(args[0], Value) else n.args[1], other)
            if done is not None:
                return done
        if (len(units) != 1 or n.kwargs or units[0].labels is not None
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in consts)):
            return self.elementwise(n)
        op = op_name(n).strip("_").lstrip("i") if op_name(n) != "imul" else "mul"
        if op == "neg":
            factor = -1.0
        elif op in ("truediv", "div"):
            if not isinstance(args[0], Value) or float(consts[0]) == 0.0:
                return self.elementwise(n)
            factor = 1.0 / float(consts[0])
        else:
            factor = float(consts[0])
        x = units[0]
        outs = self.b.units(n.name, len(x.ids))
        self.b.fixed(x.ids, outs, factor)
        return x.like(outs, fresh=True)

    def channel_scale(self, n, x: Value, x_node, factor_node) -> Value | None:
        """``x * γ`` where ``γ`` is a parameter (or buffer) with one entry per unit, broadcast along the unit
        dimension (ConvNeXt's and CaiT's layer scale ``x * gamma.view(1, -1, 1, 1)``; torchvision's ConvNeXt
        holds it as a ``(C, 1, 1)`` parameter): a unit per
        channel fed by one edge of weight ``γ_c``, trainable and named at ``γ`` for a parameter (like an
        unfolded BatchNorm's scale), fixed for a buffer or a constant (torch.fx folds ``buffer.view(...)``
        into a constant of that shape).  None when ``factor_node`` is anything else (the
        caller then treats the product as it did)."""
        import torch

        root = factor_node
        while (getattr(root, "op", None) in ("call_method", "call_function") and op_name(root) in _RESHAPES
               and root.args):
            root = root.args[0]
        found = self.parameter(root)
        if found is None or not isinstance(found[2], torch.Tensor):
            return None
        qual, pname, gamma = found
        C = len(x.ids)
        xs, fs, out = self.shape(x_node), self.meta[factor_node.name], self.meta[n.name]
        trainable = isinstance(gamma, torch.nn.Parameter)
        # a parameter's entries must run along its first dimension ((C,), or torchvision's (C, 1, 1)): its edges
        # are named by one index; a constant may be (1, C, 1, 1)
        lead = gamma.shape[0] if gamma.dim() else 0
        one_axis = lead == gamma.numel() if trainable else max(gamma.shape, default=0) == gamma.numel()
        if not one_axis or gamma.numel() != C or fs[0] != "tensor" or tuple(out[1]) != tuple(xs):
            return None
        fshape = (1,) * (len(xs) - len(fs[1])) + tuple(fs[1])
        unit_dim = x.cdim if len(xs) >= 3 else 1
        if len(xs) < 2 or (len(xs) == 2 and x.spatial != 1) or fshape[unit_dim] != C or (
                int(np.prod(fshape)) != C):
            return None
        outs = self.b.units(n.name, C)
        if trainable:
            self.claim(qual, pname, gamma)
            self.b.edges(x.ids, outs, gamma.detach(), trainable=True, source=(qual, pname, "vector", 1, 1, None))
        else:
            self.b.fixed(x.ids, outs, gamma.detach().cpu().double().numpy().reshape(-1))
        return x.like(outs, fresh=True)

    # -- what topo does not model
    def elementwise(self, n) -> Value:
        """An elementwise operation topo does not model (gating ``x * s``, ...): every input kept."""
        return self._free(n, self._name(n), self._qual(n), dense=False)

    def unmodelled(self, n, what: str, qual: str) -> Value:
        return self._free(n, what, qual, dense=True)

    def _name(self, n, rest=()) -> str:
        if n.op == "call_module":
            return type(self.modules[n.target]).__name__
        return getattr(n.target, "__name__", str(n.target))

    def _qual(self, n) -> str:
        return str(n.target) if n.op == "call_module" else n.name

    def _free(self, n, what: str, qual: str, *, dense: bool, reason: str | None = None,
              groups: int | None = None, prefix: str | None = None, pattern: np.ndarray | None = None,
              modelled: bool = False) -> Value:
        """New free units for the output of ``n``, with a fixed edge from every input unit they depend on
        (elementwise: the units at the same position after broadcasting; ``groups``: every unit of the
        same channel group, as a convolution reads; ``pattern``: the True entries of an (input unit,
        output unit) matrix, for a single input; else every input unit).  ``reason`` says why the
        units carry no law (default: an operation topo does not model, listed as unsupported);
        ``modelled``: free by design, so not refused under ``strict``."""
        if self.strict and not modelled:
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
            if pattern is not None:  # (input unit, output unit) dependencies, known exactly
                i, j = np.nonzero(pattern)
                u, w = v.ids[i], outs[j]
            elif groups:
                u, w = grouped(v.ids, outs, groups)
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
        return Value(outs, spatial=spatial, cdim=cdim)

    def _tensor_inputs(self, n) -> list:
        """``(fx node or None, value)`` of every tensor read by ``n``; a tuple of tensors (chunk/split
        output) contributes all its units, with no shape (read densely)."""
        import torch.fx as fx

        inputs = []
        fx.node.map_arg((n.args, n.kwargs), lambda a: inputs.append(a))
        vals = []
        for a in dict.fromkeys(inputs):
            v = self.env.get(a.name)
            if isinstance(v, Value):
                vals.append((a, v))
            elif isinstance(v, list) and any(isinstance(x, Value) for x in v):
                vals.append((None, Value(np.concatenate([x.ids for x in v if isinstance(x, Value)]))))
        return vals

    @staticmethod
    def _dependencies(v: Value, shape, out, outs, dense: bool, what: str, qual: str, cdim: int = 1):
        """Edges (input unit -> output unit) for one input of an unmodelled operation."""
        import torch

        L = None
        if not dense and shape is not None:
            try:
                L = positions(shape, v).expand(out)
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


#: Operations that only reshape a tensor (same elements, same order): a per-unit factor may pass through them.
_RESHAPES = {"view", "reshape", "unsqueeze", "expand", "expand_as", "view_as", "reshape_as"}
