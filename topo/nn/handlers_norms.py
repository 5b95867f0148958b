"""Torch import handlers of normalisations (BatchNorm folded or as units, LayerNorm, GroupNorm);
a mixin of `topo.nn.handlers.Importer`."""

from __future__ import annotations

import numpy as np

from topo.errors import GraphError
from topo.nn.result import bn_affine, to_numpy
from topo.nn.units import Value


class NormHandlers:
    """Handlers of normalisations: BatchNorm (module and ``F.batch_norm``; folded or a unit per channel), LayerNorm, GroupNorm."""

    def batchnorm(self, n, mod) -> Value:
        x = self.channels(n, first=True)
        if len(x.ids) != mod.num_features or (x.spatial != 1 and len(self.shape(n.args[0])) == 2):
            raise GraphError(f"{type(mod).__name__} {n.target!r} normalises {mod.num_features} features; its "
                             f"input has {len(x.ids)} units x {x.spatial}")
        s, t = bn_affine(mod)
        return self.affine(n, x, s, t, str(n.target), mod.weight is not None)

    def batchnorm_function(self, n) -> Value:
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

    def affine(self, n, x: Value, s: np.ndarray, t: np.ndarray, qual: str, trainable: bool, *,
               batchnorm: bool = True) -> Value:
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

    def layer_norm_module(self, n, mod) -> Value:
        shape = tuple(mod.normalized_shape)
        return self.normalization(n, "LayerNorm", str(n.target), ("layer", shape), mod.weight, mod.bias)

    def group_norm_module(self, n, mod) -> Value:
        return self.normalization(n, "GroupNorm", str(n.target), ("group", mod.num_groups), mod.weight, mod.bias)

    def layer_norm_function(self, n) -> Value:
        shape = self.concrete(self.arg(n, 1, "normalized_shape"))
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self._norm_function(n, "layer_norm", ("layer", shape))

    def group_norm_function(self, n) -> Value:
        return self._norm_function(n, "group_norm", ("group", int(self.concrete(self.arg(n, 1, "num_groups")))))

    def _norm_function(self, n, what: str, kind: tuple) -> Value:
        weight, bias = (self.parameter(self.arg(n, i, k)) for i, k in ((2, "weight"), (3, "bias")))
        qual = weight[0] if weight is not None else n.name
        return self.normalization(n, what, qual, kind, weight and weight[2],
                                  bias[2] if bias is not None and weight is not None and bias[0] == qual else None)

    def normalization(self, n, what: str, qual: str, kind: tuple, weight, bias) -> Value:
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

    def _fold(self, qual: str, x: Value, s: np.ndarray, t: np.ndarray) -> Value:
        wb, bb, layer, outs = x.layer
        b = self.b
        b.scale(wb, s)
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
