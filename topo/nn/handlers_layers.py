"""Torch import handlers of layers with parameters (``Linear``, ``Conv*``, ``F.linear``, ``F.conv*``);
a mixin of `topo.nn.handlers.Importer`."""

from __future__ import annotations

import numpy as np

from topo.errors import GraphError
from topo.nn.result import to_numpy, weight_array
from topo.nn.units import Value, attribute, op_name, positions


class LayerHandlers:
    """Handlers of layers with parameters: ``Linear``, convolutions, their functional forms, weights computed from parameters."""

    def linear(self, n, mod) -> Value:
        return self.dense(n, self.channels(n), mod.weight, mod.bias, str(n.target))

    def linear_function(self, n) -> Value:
        """``F.linear(x, weight, bias)`` with weights held by a module (timm's ``Linear``, ...)."""
        return self._functional_layer(n, self.dense, "linear")

    def conv(self, n, mod) -> Value:
        v = self.value(n)
        if v.labels is None and v.cdim >= 2:
            return self._conv_across_units(n, mod, v)
        return self.convolution(n, self.channels(n, first=True), mod.weight, mod.bias, str(n.target),
                                mod.groups)

    #: One-hot elements `_conv_across_units` may run through a convolution to find its dependencies.
    MAX_PATTERN_ELEMENTS = 1 << 24

    def _conv_across_units(self, n, mod, x: Value) -> Value:
        """A convolution whose sliding dimension runs over the units (ECA attention's ``Conv1d`` over the
        channels of a pooled ``(batch, 1, channels)`` view): it mixes neighbouring units, so its outputs
        are free units, each fed by fixed edges from exactly the units its window reads; the dependencies
        come from one run of the module with ``|weights|`` on one-hot inputs (padding, stride and
        dilation as the module has them)."""
        import torch
        from torch.func import functional_call

        qual, what = str(n.target), type(mod).__name__
        shape = self.shape(n.args[0])
        C = len(x.ids)
        if C * int(np.prod(shape[1:])) > self.MAX_PATTERN_ELEMENTS:
            raise GraphError(f"{what} {qual!r} convolves along dimension {x.cdim}, which runs over its {C} units "
                             "(token mixing), on a tensor too large to map; topo cannot import it")
        unit = positions(shape, x)[0]  # the unit of every element of one sample
        onehot = (unit.unsqueeze(0) == torch.arange(C).view((C,) + (1,) * unit.dim())).to(mod.weight.dtype)
        params = {k: (p.detach().abs() if k != "bias" else torch.zeros_like(p)) for k, p in mod.named_parameters()}
        with torch.no_grad():
            out = functional_call(mod, params, (onehot,))
        cdim = x.cdim
        pattern = out.movedim(cdim, 1).reshape(C, out.shape[cdim], -1).abs().amax(dim=2) > 0
        reason = (f"{what} {qual!r} slides along dimension {cdim}, which runs over the units (a convolution "
                  "across channels, as ECA attention does): it mixes units, which carries no rescaling law")
        return self._free(n, what, qual, dense=False, reason=reason, pattern=pattern.numpy())

    def conv_function(self, n) -> Value:
        """``F.conv1d/2d/3d(x, weight, bias, stride, padding, dilation, groups)`` with module weights."""
        groups = self.concrete(self.arg(n, 6, "groups", 1))
        return self._functional_layer(n, lambda n, x, W, b, q: self.convolution(n, x, W, b, q, groups), "conv")

    def _functional_layer(self, n, build, kind: str) -> Value:
        x = self.channels(n, first=kind == "conv")
        w_node, b_node = self.arg(n, 1, "weight"), self.arg(n, 2, "bias")
        weight = self.parameter(w_node)
        bias = self.parameter(b_node) if b_node is not None else ("", "", None)
        if weight is None or bias is None or weight[1] != "weight" or (bias[2] is not None and bias[0] != weight[0]):
            return self.derived_weights(n, x, w_node, kind)
        return build(n, x, weight[2], bias[2], weight[0])

    def dense(self, n, x: Value, weight, bias, qual: str) -> Value:
        """Dense layer on (batch, features), or on channel-last tensors (a 1x1 convolution over the units)."""
        shp = self.shape(n.args[0])
        if len(shp) != 2 and x.cdim != len(shp) - 1:
            raise GraphError(f"Linear {qual!r} acts on the last dimension of a tensor of shape {shp} whose units "
                             f"run along dimension {x.cdim}: it mixes tokens or positions (token mixing), which "
                             "cannot be expressed at channel level; topo cannot import it")
        self.claim(qual, "weight", weight)
        W, b = weight_array(weight), (to_numpy(bias) if bias is not None else None)
        k = x.spatial if len(shp) == 2 else 1
        if W.shape[1] != len(x.ids) * k:
            raise GraphError(f"Linear {qual!r} expects {W.shape[1]} features, its input has "
                             f"{len(x.ids)} units x {k}")
        outs = self.b.units(qual, W.shape[0])
        m = len(x.ids)
        ins = np.asarray(x.ids, dtype=np.int64)  # every input to every output: broadcast views, no copies
        wb = self.b.edges(np.broadcast_to(ins[None, :], (len(outs), m)),
                          np.broadcast_to(outs[:, None], (len(outs), m)), W, size=k,
                          source=(qual, "weight", "dense", m, k, None))
        bb = None
        if b is not None:
            bb = self.b.bias(qual, outs, b, source=(qual, "bias", "vector", 1, 1, None))
        spatial = 1 if len(shp) == 2 else x.spatial
        return x.like(outs, spatial=spatial, fresh=True, layer=(wb, bb, qual, outs))

    def convolution(self, n, x: Value, weight, bias, qual: str, groups: int) -> Value:
        shp = self.shape(n.args[0])
        W = weight_array(weight)
        cout, per_in = W.shape[0], W.shape[1]
        cin = per_in * int(groups)
        if len(x.ids) != cin or len(shp) < 3:
            raise GraphError(f"convolution {qual!r} expects {cin} channels, got {len(x.ids)} units "
                             f"(input shape {shp})")
        self.claim(qual, "weight", weight)
        per_out = cout // int(groups)
        kk = int(np.prod(W.shape[2:]))
        outs = self.b.units(qual, cout)
        g, shape = int(groups), (int(groups), per_out, per_in)  # edge (o, i) of group o // per_out
        ins = np.asarray(x.ids, dtype=np.int64).reshape(g, 1, per_in)
        wb = self.b.edges(np.broadcast_to(ins, shape), np.broadcast_to(outs.reshape(g, per_out, 1), shape), W,
                          size=kk, source=(qual, "weight", "conv", per_in, kk, None))
        bb = None
        if bias is not None:
            bb = self.b.bias(qual, outs, to_numpy(bias), source=(qual, "bias", "vector", 1, 1, None))
        return Value(outs, spatial=int(np.prod(self.shape(n)[2:])), fresh=True, layer=(wb, bb, qual, outs))

    def derived_weights(self, n, x: Value, w_node, kind: str) -> Value:
        """A linear/convolution whose weights are computed from parameters (weight standardisation, ...) or
        are constants: its units are free, with the reason; a constant filter per channel is a pooling."""
        params, norm = self._weight_ancestry(w_node)
        constant = self._constant(params)
        if kind == "conv" and not norm and constant and self._depthwise_identity_shape(x, w_node):
            # a fixed filter per channel (timm's BlurPool2d: a buffer expanded to every channel): a channel-wise
            # linear map, homogeneous of degree one as a pooling is, so each channel keeps its unit
            return self.pool(n)
        owner = params[0].rpartition(".")[0] if params else ""
        owner = owner if owner in self.modules and owner else n.name  # fx's folded constants belong to no module
        what = type(self.modules[owner]).__name__ if owner in self.modules else kind
        if what == "Module":  # fx keeps the modules it traces through as plain holders of their attributes
            what = kind
        if norm:
            reason = (f"the weights of {what} {owner!r} are standardised ({norm}): scale-invariant weights: "
                      "no rescaling law")
        elif constant:
            reason = (f"the weights of {what} {owner!r} are constants, not parameters, and mix channels: a fixed "
                      "map across channels has no rescaling law per unit")
        else:
            reason = f"the weights of {what} {owner!r} are computed from parameters, not parameters: no rescaling law"
        groups = len(x.ids) // self.shape(w_node)[1] if kind == "conv" else None
        return self._free(n, what, owner, dense=True, reason=reason, groups=groups)

    def _constant(self, targets: list) -> bool:
        """Whether the tensors read by ``get_attr`` at ``targets`` are all constants (buffers or plain
        tensors, no parameter the optimiser trains)."""
        import torch

        return bool(targets) and not any(isinstance(attribute(self.gm, t), torch.nn.Parameter) for t in targets)

    def _depthwise_identity_shape(self, x: Value, w_node) -> bool:
        """A convolution weight of shape ``(C, 1, ...)`` over ``C`` input channels (one filter per channel)."""
        shp = self.shape(w_node)
        return len(shp) >= 3 and shp[0] == len(x.ids) and shp[1] == 1

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
            name = op_name(a)
            if norm is None and any(k in name for k in ("norm", "std", "var")):
                norm = name
            fx.node.map_arg((a.args, a.kwargs), stack.append)
        return sorted(params), norm
