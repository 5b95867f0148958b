"""Torch import handlers of normalisations (BatchNorm folded or as units, LayerNorm, GroupNorm);
a mixin of `topo.nn.handlers.Importer`."""

from __future__ import annotations

import numpy as np

from topo.errors import GraphError
from topo.nn.result import bn_affine, to_numpy
from topo.nn.units import Value


class NormHandlers:
    """Handlers of normalisations: BatchNorm (module and ``F.batch_norm``; folded, a unit per channel,
    or with batch statistics), LayerNorm, GroupNorm."""

    def batchnorm(self, n, mod) -> Value:
        x = self.channels(n, first=True)
        if len(x.ids) != mod.num_features or (x.spatial != 1 and len(self.shape(n.args[0])) == 2):
            raise GraphError(f"{type(mod).__name__} {n.target!r} normalises {mod.num_features} features; its "
                             f"input has {len(x.ids)} units x {x.spatial}")
        if self.batch_statistics:
            return self._batch_statistics(n, x, str(n.target), mod.weight, mod.bias)
        s, t = bn_affine(mod)
        return self.affine(n, x, s, t, str(n.target), gamma=mod.weight is not None, beta=mod.bias is not None)

    def _batch_statistics(self, n, x: Value, qual: str, weight, bias) -> Value:
        """A BatchNorm as it trains (``from_torch(batch_statistics=True)``): each channel divided by its
        batch's spread, free units (the channels it reads free too), then γ and β as a unit per channel
        with γ's edge and β's bias, exactly as a LayerNorm's affine part."""
        reason = (f"BatchNorm {qual!r} with batch statistics divides each channel by its batch's spread: "
                  "scale-invariant in its input, not homogeneous per unit: no rescaling law")
        normed = self._free(n, "batch_norm", qual, dense=True, reason=reason, groups=len(x.ids),
                            prefix=f"{n.name}.normed", modelled=True)
        return normed if weight is None and bias is None else self._own_gamma_beta(n, normed, qual, weight, bias)

    def _own_gamma_beta(self, n, normed: Value, qual: str, weight, bias) -> Value:
        """A norm layer's own γ and β (tensors, or None for a missing one: γ = 1, β = 0) after its
        normalised units: a unit per channel with γ's edge and β's bias."""
        if weight is not None:
            self.claim(qual, "weight", weight)
        s = to_numpy(weight) if weight is not None else np.ones(len(normed.ids))
        t = to_numpy(bias) if bias is not None else np.zeros(len(normed.ids))
        return self.affine(n, normed, s, t, qual, gamma=weight is not None, beta=bias is not None, batchnorm=False)

    def batchnorm_function(self, n) -> Value:
        """``F.batch_norm`` (timm's ``BatchNormAct2d`` and other norm-act modules): in eval mode, with
        running statistics of a module, the same per-channel affine map as the module form."""
        x = self.channels(n, first=True)
        stats = [self.parameter(self.arg(n, i, k)) for i, k in ((1, "running_mean"), (2, "running_var"))]
        weight, bias = (self.parameter(self.arg(n, i, k)) for i, k in ((3, "weight"), (4, "bias")))
        training = self.concrete(self.arg(n, 5, "training", False))
        eps = float(self.concrete(self.arg(n, 7, "eps", 1e-5)))
        owner = (weight or stats[0] or bias or (n.name,))[0]  # the module whose γ and β these should be
        own = self._own_affine(n, weight, bias, owner)
        if self.batch_statistics and own:
            return self._batch_statistics(n, x, owner, weight and weight[2], bias and bias[2])
        if training is not False or None in stats:
            return self._free(n, "batch_norm", n.name, dense=False,
                              reason="batch_norm with batch statistics (training mode or no running statistics): "
                                     "it mixes the batch, not a per-channel affine map")
        if not own:
            return self._free(n, "batch_norm", n.name, dense=False,
                              reason=f"batch_norm ({n.name!r}) whose γ or β is computed, or belongs to another module "
                                     f"than {owner!r}: topo cannot name the parameters behind its edges")
        mean, var = to_numpy(stats[0][2]), to_numpy(stats[1][2])
        if len(mean) != len(x.ids):
            raise GraphError(f"batch_norm ({n.name!r}) normalises {len(mean)} channels; its input has {len(x.ids)}")
        gamma = to_numpy(weight[2]) if weight is not None else np.ones(len(mean))
        beta = to_numpy(bias[2]) if bias is not None else np.zeros(len(mean))
        s = gamma / np.sqrt(var + eps)
        return self.affine(n, x, s, beta - mean * s, owner, gamma=weight is not None, beta=bias is not None)

    def _own_affine(self, n, weight, bias, owner: str) -> bool:
        """Whether ``F.batch_norm``'s γ and β (when passed) are the ``weight`` and ``bias`` parameters of
        the module ``owner``: else topo cannot name them."""
        return not any((self.arg(n, i, k) is not None and p is None) or (p is not None and (p[0] != owner or p[1] != k))
                       for i, k, p in ((3, "weight", weight), (4, "bias", bias)))

    def affine(self, n, x: Value, s: np.ndarray, t: np.ndarray, qual: str, *, gamma: bool, beta: bool,
               batchnorm: bool = True) -> Value:
        """Per-channel ``s x + t`` (eval-mode BatchNorm; ``batchnorm=False``: a norm layer's own γ and β):
        a BatchNorm is folded into the layer before it when nothing else reads that layer; else a unit per
        channel with one scaled incoming edge and a bias.  ``gamma`` / ``beta``: whether the scale / the
        shift has a parameter of its own (γ, β); without one the edge is fixed (a BatchNorm without
        affine parameters: its constant scale joins the unit to its input, a nonzero constant shift is a
        fixed bias, which breaks the rescaling symmetry, and a zero one is no edge at all)."""
        if batchnorm and self.fold_batchnorm and x.layer is not None and x.fresh and self.single_user(n):
            return self._fold(qual, x, s, t, gamma=gamma, beta=beta)
        outs = self.b.units(qual, len(x.ids))
        sc = "γ/√(running_var+ε)" if gamma else "1/√(running_var+ε)"
        note_s = f"BatchNorm scale {sc} of {qual!r} (eval mode), not γ itself" if batchnorm else None
        self.b.edges(x.ids, outs, s, trainable=gamma,
                     source=(qual, "weight", "vector", 1, 1, note_s) if gamma else None)
        note_t = (f"β − running_mean·{sc} of BatchNorm {qual!r} (eval mode), not β itself"
                  if batchnorm else None)
        if beta or np.any(t != 0):
            self.b.bias(qual, outs, t, trainable=beta, source=(qual, "bias", "vector", 1, 1, note_t) if beta else None)
            if not beta:
                for i in outs.tolist():
                    self.b.reasons[i] = (f"a constant shift −running_mean·{sc} from {qual!r}, which has no β: a fixed "
                                         "bias breaks the rescaling symmetry")
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
        return self._own_gamma_beta(n, normed, qual, weight, bias)

    def _fold(self, qual: str, x: Value, s: np.ndarray, t: np.ndarray, *, gamma: bool, beta: bool) -> Value:
        """The layer's weight times ``s``; its bias ``b s + t`` (β's edges when the BatchNorm has a β;
        else the layer's own bias, or a fixed bias when the layer has none and ``t`` is not zero)."""
        wb, bb, layer, outs = x.layer
        b = self.b
        sc = "·γ/√(running_var+ε)" if gamma else "/√(running_var+ε)"
        b.scale(wb, s)
        self._note(wb, f"folded with BatchNorm {qual!r}: weight{sc}")
        note = (f"folded bias of {layer!r} and BatchNorm {qual!r}: "
                + ("(bias − running_mean)" if bb is not None else "−running_mean") + sc + (" + β" if beta else ""))
        if bb is None:
            if beta:
                b.bias(layer, outs, t, source=(qual, "bias", "vector", 1, 1, note))
            elif np.any(t != 0):  # −running_mean·s with no parameter to hold it: a constant
                b.bias(layer, outs, t, trainable=False)
                for i in outs.tolist():
                    b.reasons[i] = (f"a constant shift −running_mean{sc} from BatchNorm {qual!r}, which has no β "
                                    f"(and {layer!r} no bias): a fixed bias breaks the rescaling symmetry")
        else:
            b.weights[bb] = b.weights[bb] * s + t
            if beta:
                for blk in b.blocks:
                    if blk[0] == b.edge_start[bb]:
                        blk[2:8] = [qual, "bias", "vector", 1, 1, note]
            else:  # the layer's bias is the only parameter behind it: its source stays
                self._note(bb, note)
        return x.like(x.ids, fresh=True)

    def _note(self, batch: int, note: str) -> None:
        b = self.b
        for blk in b.blocks:
            if blk[0] == b.edge_start[batch]:
                blk[7] = note
