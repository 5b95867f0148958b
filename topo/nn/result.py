"""What [`topo.from_torch`][topo.nn.trace.from_torch] returns, and the tensor helpers its handlers share.

[`TorchImport`][topo.nn.result.TorchImport] holds the architecture, the flat weight vector and
[`EdgeSources`][topo.nn.result.EdgeSources], the map from every trainable edge back to the model parameter
(and index) its weights come from.  This module does not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.errors import GraphError
from topo.graph.architecture import Architecture
from topo.utils.validation import Options

__all__ = ["LEVEL", "TorchImport", "EdgeSources", "UnsupportedLayerWarning", "to_numpy", "weight_array", "bn_affine",
           "fold_bn", "parameter_name"]

#: Unit granularity of a PyTorch import (``from_torch``, ``topo.audit``, ``topo audit --level``).
LEVEL = Options("auto", "neuron", "channel")


class UnsupportedLayerWarning(UserWarning):
    """A layer topo cannot model: the units it produces are treated as free."""


@dataclass(frozen=True)
class TorchImport:
    """Result of [`from_torch`][topo.nn.trace.from_torch].

    Attributes
    ----------
    architecture : Architecture
    theta : numpy.ndarray
        The model's weights as a flat vector in ``architecture.edges`` order
        (BatchNorm folded in, see `edge_source` notes).
    edge_source : EdgeSources
        ``{(u, v): (module qualified name, parameter name, index)}`` for every
        trainable edge: where the weights of the edge live in the model;
        ``edge_source.note(edge)`` says when the value is derived (folded
        BatchNorm) rather than the parameter itself.
    unsupported : list of (type, name)
        Operations topo does not model (their units are free).
    level : str
    reasons : dict
        Why the import made particular units free (gating, copies), by unit.
    modules : dict
        ``{name: {"type", "output_shape", "n_params", "params"}}`` for every module call
        and operation of the traced graph (``params``: parameter name -> shape), for the
        audit's per-layer table.
    """

    architecture: Architecture
    theta: np.ndarray
    edge_source: Any = field(repr=False)
    unsupported: list = field(default_factory=list)
    level: str = "neuron"
    reasons: dict = field(default_factory=dict, repr=False)
    modules: dict = field(default_factory=dict, repr=False)

    @property
    def free_reasons(self) -> dict:
        """Why each free unit carries no conservation law (the import's own reason when it has one)."""
        arch = self.architecture
        out = arch.free_reasons
        for v in out:
            if v in self.reasons:
                out[v] = self.reasons[v]
        return out


class EdgeSources(Mapping):
    """Lazy ``{(u, v): (module, parameter, index)}``: one record per layer, so that
    millions of edges cost no per-edge Python objects."""

    def __init__(self, arch: Architecture, blocks: list):
        self._arch = arch
        # (start, stop, qual, param, kind, n_cols, k, note, offsets-or-None) in edge order
        self._blocks = blocks
        self._starts = np.asarray([b[0] for b in blocks], dtype=np.int64)

    def _block(self, edge):
        try:
            e = self._arch.edge_index(edge)
        except GraphError:
            raise KeyError(edge) from None
        i = int(np.searchsorted(self._starts, e, side="right") - 1)
        if i < 0 or e >= self._blocks[i][1]:
            raise KeyError(edge)
        return e, self._blocks[i]

    def __getitem__(self, edge):
        e, (start, stop, qual, param, kind, n_cols, k, note, offs) = self._block(edge)
        off = e - start if offs is None else int(offs[e - start])
        if kind == "vector":
            return (qual, param, (off,))
        j, col = divmod(off, n_cols)
        if k == 1 or kind == "conv":
            return (qual, param, (j, col))
        return (qual, param, (j, f"{col * k}:{(col + 1) * k}"))

    def blocks(self) -> list:
        """The layer records ``(start, stop, module, parameter, kind, n_cols, k, note, offsets)``
        in edge order: edges ``[start, stop)`` hold slices of one parameter (edge ``e`` the flat
        slice ``[o·size, (o+1)·size)``, ``o = e − start`` or ``offsets[e − start]`` when the
        import dropped edges of the layer)."""
        return list(self._blocks)

    def parameters(self) -> set:
        """``{(module qualified name, parameter name)}`` of every parameter some edge takes weights from."""
        return {(blk[2], blk[3]) for blk in self._blocks}

    def note(self, edge) -> str | None:
        """How the edge's value derives from the named parameter (None: it is the parameter)."""
        return self._block(edge)[1][7]

    def __iter__(self):
        edges = self._arch.edges
        for start, stop, *_ in self._blocks:
            yield from edges[start:stop]

    def __len__(self) -> int:
        return int(sum(b[1] - b[0] for b in self._blocks))


def parameter_name(qual: str, name: str) -> str:
    """The full name of parameter ``name`` of the module ``qual`` (``""``: the model itself), as
    ``model.get_parameter`` and ``named_parameters`` spell it.

    Examples
    --------
    >>> parameter_name("layer1.0.conv1", "weight"), parameter_name("", "gamma")
    ('layer1.0.conv1.weight', 'gamma')
    """
    return f"{qual}.{name}" if qual else name


# ---------------------------------------------------------------------------- tensor helpers
def to_numpy(t) -> np.ndarray:
    """A tensor as a float64 numpy array (detached, on the CPU)."""
    return t.detach().cpu().double().numpy()


def weight_array(t) -> np.ndarray:
    """A weight tensor as a numpy array: a read-only view of its memory when it is float32 or float64
    (a layer's weights are cast to float64 once, into the flat vector, not copied per layer), else
    a float64 copy."""
    import torch

    t = t.detach().cpu()
    if t.dtype not in (torch.float32, torch.float64):
        return t.double().numpy()
    a = t.numpy()
    a.flags.writeable = False
    return a


def bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BatchNorm as ``y = s x + t`` per channel."""
    n = bn.num_features
    gamma = to_numpy(bn.weight) if bn.weight is not None else np.ones(n)
    beta = to_numpy(bn.bias) if bn.bias is not None else np.zeros(n)
    if bn.running_mean is None:
        raise GraphError(f"BatchNorm without running statistics ({type(bn).__name__}) cannot be imported")
    s = gamma / np.sqrt(to_numpy(bn.running_var) + bn.eps)
    return s, beta - to_numpy(bn.running_mean) * s


def fold_bn(W: np.ndarray, b: np.ndarray, bn) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of a layer followed by an eval-mode BatchNorm, folded."""
    s, t = bn_affine(bn)
    return W * s.reshape((-1,) + (1,) * (W.ndim - 1)), b * s + t
