"""Torch import handlers of shape operations: channel-wise maps that keep units, and relabellings
computed by applying the operation to a tensor of unit labels; a mixin of
`topo.nn.handlers.Importer`."""

from __future__ import annotations

import numpy as np

from topo.nn.units import Const, Value, axis, canonical, positions


class ShapeHandlers:
    """Handlers of channel-wise maps that keep units (pooling, dropout, spatial means) and of relabellings (cat, split, shuffle, flatten, ...)."""

    def passthrough(self, n, *rest) -> Value:
        x = self.value(n)
        out = self.shape(n)
        if x.labels is not None and tuple(x.labels.shape) == tuple(out):
            return x  # contiguous(), clone(), ... of a relabelled tensor
        if (x.labels is not None or len(out) <= x.cdim
                or out[x.cdim] != len(x.ids) * (x.spatial if len(out) == 2 else 1)):
            return self.unmodelled(n, self._name(n), self._qual(n))
        spatial = int(np.prod([d for i, d in enumerate(out) if i not in (0, x.cdim)])) if len(out) >= 3 else x.spatial
        return x.like(x.ids, spatial=spatial, fresh=x.fresh and self.single_user(n))

    def pool(self, n, *rest) -> Value:
        x = self.value(n)
        if len(self.shape(n.args[0])) < 3 or x.labels is not None or x.cdim != 1:
            return self.unmodelled(n, self._name(n, rest), self._qual(n))
        return self.passthrough(n)

    def reduce_spatial(self, n) -> Value:
        """``x.mean(dims)`` / ``x.sum(dims)`` / ``x.amax(dims)`` over spatial dimensions only."""
        shp = self.shape(n.args[0])
        dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
        dims = self.concrete(dims)
        dims = [dims] if isinstance(dims, int) else list(dims) if dims is not None else []
        x = self.value(n)
        if len(shp) >= 3 and dims and all(axis(d, len(shp)) >= 2 for d in dims) and x.cdim == 1 and x.labels is None:
            out = self.shape(n)
            return Value(x.ids, spatial=int(np.prod(out[2:])) if len(out) > 2 else 1)
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
            if isinstance(v, Value):
                pos = positions(self.shape(a), v).contiguous() + offset
                ids_parts.append(v.ids)
                offset += len(v.ids)
                return pos
            if isinstance(v, list):  # a tuple of values (chunk/split output)
                return [labels_of_value(x, s) for x, s in zip(v, self.meta[a.name][1])]
            return v.value if isinstance(v, Const) else None

        def labels_of_value(v, shape):
            nonlocal offset
            pos = positions(shape, v).contiguous() + offset
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
            return self._dedupe(n, canonical(out, ids))
        return [self._dedupe(n, canonical(t, ids)) for t in out]

    def _reads_tensor_constant(self, n) -> bool:
        """Whether ``n`` reads a tensor that holds no units (a parameter, or a value computed from them)."""
        import torch.fx as fx

        found = []
        fx.node.map_arg((n.args, n.kwargs), lambda a: found.append(
            isinstance(self.env.get(a.name), Const) and self.meta.get(a.name, ("value",))[0] != "value"))
        return any(found)

    def _dedupe(self, n, v: Value) -> Value:
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

    def cat(self, n) -> Value:
        parts = n.args[0] if n.args else n.kwargs.get("tensors")
        dim = self.concrete(n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0))
        out = self.shape(n)
        vals = [self.env.get(p.name) for p in parts]
        if (all(isinstance(v, Value) and v.labels is None and v.cdim == 1 for v in vals) and axis(dim, len(out)) == 1
                and (len(out) >= 3 or len({v.spatial for v in vals}) == 1)):
            ids = np.concatenate([v.ids for v in vals])
            fresh = all(v.fresh for v in vals) and all(len(p.users) == 1 for p in parts)
            spatial = int(np.prod(out[2:])) if len(out) >= 3 else vals[0].spatial
            v = self._dedupe(n, Value(ids, spatial=spatial, fresh=fresh))
            return v
        return self.relabel(n)

    def getitem(self, n):
        seq = self.env.get(n.args[0].name)
        if isinstance(seq, list):
            return seq[self.concrete(n.args[1])]
        if isinstance(seq, Const):
            return Const(None, n.name)
        return self.relabel(n)
