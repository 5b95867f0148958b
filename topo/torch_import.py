"""Import PyTorch models as architectures (neuron or channel level).

:func:`from_torch` traces the model with ``torch.fx`` and walks its graph, keeping
for every intermediate tensor the list of DAG units (neurons or channels) that
hold it.  Supported: ``Linear``, ``Conv1d``/``Conv2d`` (channel level: one edge
per (input channel, output channel) pair carrying the kernel slice; grouped and
depthwise convolutions), ``ReLU``/``LeakyReLU`` (module and functional forms),
``MaxPool``/``AvgPool``/``AdaptiveAvgPool`` (positively homogeneous: they keep a
channel constrained), ``Flatten`` (channel -> neuron edges carrying H·W weights),
``Dropout``/``Identity``, residual ``+`` (a free sum node per unit, fed by fixed
identity edges) and ``torch.cat``; eval-mode ``BatchNorm`` is folded into the
preceding convolution or linear layer.  Any other module or function makes the
units it produces free (one warning lists them; ``strict=True`` raises).
"""

from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

import numpy as np

from .architecture import Architecture
from .errors import GraphError

__all__ = ["TorchImport", "from_torch", "UnsupportedLayerWarning"]


class UnsupportedLayerWarning(UserWarning):
    """A layer topo cannot model: the units it produces are treated as free."""


@dataclass(frozen=True)
class TorchImport:
    """Result of :func:`from_torch`.

    Attributes
    ----------
    architecture : Architecture
    theta : numpy.ndarray
        The model's weights as a flat vector in ``architecture.edges`` order
        (BatchNorm folded in when asked).
    edge_source : dict
        ``{(u, v): (module qualified name, parameter name, index)}`` for every
        trainable edge: where the weights of the edge live in the model.
    unsupported : list of (type, qualified name)
    level : str
    """

    architecture: Architecture
    theta: np.ndarray
    edge_source: dict = field(repr=False)
    unsupported: list = field(default_factory=list)
    level: str = "neuron"


class EdgeSources(Mapping):
    """Lazy ``{(u, v): (module, parameter, index)}``: one record per layer, so that
    millions of edges cost no per-edge Python objects."""

    def __init__(self, arch: Architecture, blocks: list):
        self._arch = arch
        self._blocks = blocks  # (start, stop, qual, param, n_cols, k) in edge order
        self._starts = np.asarray([b[0] for b in blocks], dtype=np.int64)

    def _locate(self, e: int):
        i = int(np.searchsorted(self._starts, e, side="right") - 1)
        if i < 0:
            return None
        start, stop, qual, param, n_cols, k = self._blocks[i]
        if e >= stop:
            return None
        off = e - start
        if param == "bias":
            return (qual, "bias", (off,))
        j, col = divmod(off, n_cols)
        if k == 1 or param == "conv":
            return (qual, "weight", (j, col))
        return (qual, "weight", (j, f"{col * k}:{(col + 1) * k}"))

    def __getitem__(self, edge):
        try:
            e = self._arch.edge_index(edge)
        except GraphError:
            raise KeyError(edge) from None
        src = self._locate(e)
        if src is None:
            raise KeyError(edge)
        return src

    def __iter__(self):
        edges = self._arch.edges
        for start, stop, *_ in self._blocks:
            yield from edges[start:stop]

    def __len__(self) -> int:
        return int(sum(b[1] - b[0] for b in self._blocks))


class _Builder:
    """Accumulates nodes and edges as index arrays, one block per layer."""

    def __init__(self, level: str):
        self.level = level
        self.nodes: list[str] = []
        self.index: dict[str, int] = {}
        self.roles: dict[str, str] = {}
        self.acts: dict[str, str] = {}
        self.src: list[np.ndarray] = []
        self.dst: list[np.ndarray] = []
        self.sizes: list[np.ndarray] = []
        self.trainable: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        self.blocks: list[tuple] = []
        self.n_edges = 0
        self.consumed: set[str] = set()

    def node(self, name: str, role: str | None = None, act: str = "linear") -> str:
        self.index[name] = len(self.nodes)
        self.nodes.append(name)
        if role:
            self.roles[name] = role
        self.acts[name] = act
        return name

    def ids(self, names: list) -> np.ndarray:
        return np.fromiter((self.index[u] for u in names), dtype=np.int64, count=len(names))

    def edges(self, us, vs, w, *, size: int = 1, trainable: bool = True, source=None):
        """Edges us[i] -> vs[i] (names or index arrays), each carrying ``size`` weights of the flat ``w``."""
        u_idx = us if isinstance(us, np.ndarray) else self.ids(us)
        v_idx = vs if isinstance(vs, np.ndarray) else self.ids(vs)
        self.consumed.update(self.nodes[i] for i in np.unique(u_idx).tolist())
        n = len(u_idx)
        self.src.append(u_idx)
        self.dst.append(v_idx)
        self.sizes.append(np.full(n, size, dtype=np.int64))
        self.trainable.append(np.full(n, trainable, dtype=bool))
        self.weights.append(np.asarray(w, dtype=np.float64).reshape(-1))
        if source is not None:
            self.blocks.append((self.n_edges, self.n_edges + n) + tuple(source))
        self.n_edges += n

    def bias(self, qual: str, outs: list, bias: np.ndarray | None):
        """A constant source ``{qual}.bias`` with an edge to every output unit."""
        if bias is not None:
            bn = self.node(f"{qual}.bias", role="bias", act="bias")
            self.edges([bn] * len(outs), outs, bias, source=(qual, "bias", 1, 1))

    def dense(self, ins: list, outs: list, W: np.ndarray, k: int, qual: str, param: str = "weight"):
        """All edges in -> out, out-major (edge (j, i) carries W[j, i*k:(i+1)*k])."""
        i_idx, o_idx = self.ids(ins), self.ids(outs)
        self.edges(np.tile(i_idx, len(o_idx)), np.repeat(o_idx, len(i_idx)), W, size=k,
                   source=(qual, param, len(ins), k))


@dataclass
class _Value:
    units: list  # unit names
    spatial: int = 1  # weights per unit when flattened into a linear layer (H*W at channel level)


def _fold_bn(W: np.ndarray, b: np.ndarray, bn) -> tuple[np.ndarray, np.ndarray]:
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones(bn.num_features)
    beta = bn.bias.detach().double().numpy() if bn.bias is not None else np.zeros(bn.num_features)
    mean = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    scale = gamma / np.sqrt(var + bn.eps)
    shape = (-1,) + (1,) * (W.ndim - 1)
    return W * scale.reshape(shape), (b - mean) * scale + beta


def _layer_params(mod, bn=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Weight and bias of a Linear/Conv layer as float64, with a following BatchNorm folded in."""
    W = mod.weight.detach().double().numpy()
    bias = mod.bias.detach().double().numpy() if mod.bias is not None else None
    if bn is not None:
        W, bias = _fold_bn(W, bias if bias is not None else np.zeros(W.shape[0]), bn)
    return W, bias


def _hook_trace(model, example_input, fx_error):
    """Fallback for models torch.fx cannot trace (e.g. data-dependent control flow):
    run the model once with forward hooks on its leaf modules and rebuild the graph
    from which module consumed which module's output.  Only models whose tensors
    flow from module to module (no functional operations in between) can be
    rebuilt this way."""
    import torch
    import torch.fx as fx

    name = type(model).__name__
    if example_input is None:
        raise GraphError(f"torch.fx could not trace {name} ({fx_error}); pass example_input to trace it "
                         "with forward hooks instead")
    events = []
    handles = []
    for qual, mod in model.named_modules():
        if qual and not any(True for _ in mod.children()):
            def hook(m, inputs, output, qual=qual):
                events.append((qual, [id(t) for t in inputs if isinstance(t, torch.Tensor)], id(output), output))
            handles.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            result = model(example_input)
    finally:
        for h in handles:
            h.remove()
    graph = fx.Graph()
    values = {id(example_input): graph.placeholder("x")}
    keep_alive = []
    for qual, in_ids, out_id, output in events:
        if len(in_ids) != 1 or in_ids[0] not in values:
            raise GraphError(
                f"torch.fx could not trace {name} ({fx_error}), and the forward-hook trace cannot either: "
                f"the input of {qual!r} is not the output of another module (functional operations in forward)"
            )
        values[out_id] = graph.call_module(qual, (values[in_ids[0]],))
        keep_alive.append(output)  # ids stay unique while the tensors live
    if id(result) not in values:
        raise GraphError(f"torch.fx could not trace {name} ({fx_error}), and the forward-hook trace cannot "
                         "either: the output is not produced by a module")
    graph.output(values[id(result)])
    return fx.GraphModule(model, graph)


def from_torch(
    model,
    example_input=None,
    *,
    level: str = "auto",
    fold_batchnorm: bool = True,
    strict: bool = False,
    state_dict: Any = None,
) -> TorchImport:
    """Trace a PyTorch model into an :class:`~topo.Architecture` and its weights.

    The model is traced with ``torch.fx``; when that fails (data-dependent control
    flow, for instance) and ``example_input`` is given, it is run once with forward
    hooks on its leaf modules instead, which works when tensors flow from module
    to module.

    Parameters
    ----------
    model : torch.nn.Module
    example_input : torch.Tensor, optional
        A batch used to propagate shapes; needed for convolutional models.
    level : {"auto", "neuron", "channel"}
        ``"channel"``: one unit per convolution channel (edges carry kernel slices);
        ``"neuron"``: one unit per feature (Linear layers only).  ``"auto"``
        picks channel level when the model has convolutions.
    fold_batchnorm : bool
        Fold eval-mode BatchNorm into the preceding layer (else: error).
    strict : bool
        Raise on unsupported layers instead of warning and making their units free.
    state_dict : mapping or path, optional
        Weights to load into the model first (a ``state_dict`` or a file saved by
        ``torch.save``).

    Examples
    --------
    >>> import torch, topo
    >>> from topo.torch_import import from_torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> imp = from_torch(net)
    >>> imp.architecture.n_params, len(imp.architecture.constrained)
    (13, 3)
    >>> imp.edge_source[("0.0", "2.0")]
    ('2', 'weight', (0, 0))
    """
    import torch
    import torch.fx as fx

    if level not in ("auto", "neuron", "channel"):
        raise ValueError(f"level must be 'auto', 'neuron' or 'channel', got {level!r}")
    if state_dict is not None:
        sd = torch.load(state_dict, map_location="cpu") if isinstance(state_dict, (str, bytes)) or hasattr(
            state_dict, "__fspath__") else state_dict
        model.load_state_dict(sd)
    model = model.eval()
    has_conv = any(isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) for m in model.modules())
    if level == "auto":
        level = "channel" if has_conv else "neuron"
    if level == "neuron" and has_conv:
        raise GraphError("neuron level is supported for models without convolutions; use level='channel'")
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure: try the forward-hook trace
        gm = _hook_trace(model, example_input, exc)
    shapes = {}
    if example_input is not None:
        from torch.fx.passes.shape_prop import ShapeProp

        ShapeProp(gm).propagate(example_input)
        for n in gm.graph.nodes:
            tm = n.meta.get("tensor_meta")
            if tm is not None and hasattr(tm, "shape"):
                shapes[n.name] = tuple(tm.shape)
    elif has_conv:
        raise GraphError("convolutional models need example_input to propagate shapes")
    modules = dict(gm.named_modules())
    b = _Builder(level)
    values: dict[str, _Value] = {}
    unsupported: list[tuple[str, str]] = []
    nodes = list(gm.graph.nodes)
    # BatchNorm that directly follows a conv/linear is folded into it
    fold_into: dict[str, Any] = {}
    skip_bn: set[str] = set()
    for n in nodes:
        if n.op == "call_module" and isinstance(modules[n.target], (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            prev = n.args[0]
            ok = (prev.op == "call_module" and isinstance(modules[prev.target], (torch.nn.Linear, torch.nn.Conv1d,
                                                                                  torch.nn.Conv2d))
                  and len(prev.users) == 1)
            if not ok or not fold_batchnorm:
                raise GraphError(f"BatchNorm {n.target!r} must directly follow a linear or convolutional layer "
                                 "and fold_batchnorm must be True")
            fold_into[prev.name] = modules[n.target]
            skip_bn.add(n.name)

    def spatial_of(name: str) -> int:
        shp = shapes.get(name)
        if shp is None or len(shp) <= 2:
            return 1
        return int(np.prod(shp[2:]))

    def free_units(value: _Value, label: str, qual: str, act: str = "free", spatial: int | None = None) -> _Value:
        out = [b.node(f"{qual}.{i}", act=act) for i in range(len(value.units))]
        b.edges(value.units, out, np.ones(len(out)), trainable=False)
        return _Value(out, value.spatial if spatial is None else spatial)

    def apply_homogeneous(value: _Value, act: str, qual: str, new_spatial: int) -> _Value:
        # compose in place when the units are fresh (no other consumer yet)
        if all(u not in b.consumed and b.roles.get(u) is None for u in value.units):
            for u in value.units:
                prev = b.acts[u]
                if act in ("relu", "leaky_relu"):
                    b.acts[u] = act if prev in ("linear", "sum", "maxpool", "avgpool") else prev
                else:  # pooling keeps a relu/leaky activation (their composition is homogeneous)
                    b.acts[u] = prev if prev in ("relu", "leaky_relu") else act
            return _Value(value.units, new_spatial)
        return free_units(value, act, qual, act="free:" + act)

    for n in nodes:
        if n.op == "placeholder":
            shp = shapes.get(n.name)
            if level == "channel":
                if shp is None:
                    raise GraphError("channel level needs example_input")
                units = [b.node(f"{n.name}.c{i}", role="input") for i in range(shp[1])]
                values[n.name] = _Value(units, spatial_of(n.name))
            else:
                first = next((m for m in model.modules() if isinstance(m, torch.nn.Linear)), None)
                width = shp[-1] if shp is not None else (first.in_features if first is not None else None)
                if width is None:
                    raise GraphError("cannot infer the input width: pass example_input")
                values[n.name] = _Value([b.node(f"{n.name}.{i}", role="input") for i in range(width)])
            continue
        if n.op == "output":
            continue
        if n.op == "get_attr":
            raise GraphError(f"parameters used directly in forward ({n.target!r}) are not supported")
        mod = modules.get(n.target) if n.op == "call_module" else None
        qual = n.target if n.op == "call_module" else n.name
        if (n.op == "call_method" and n.target in ("size", "dim")) or (
                n.op == "call_function" and n.target is getattr):
            values[n.name] = None  # shape bookkeeping, not a tensor of units
            continue
        args = [a for a in n.args if isinstance(a, fx.Node) and values.get(a.name) is not None]
        if n.name in skip_bn:
            values[n.name] = values[args[0].name]
            continue
        if isinstance(mod, torch.nn.Linear):
            x = values[args[0].name]
            W, bias = _layer_params(mod, fold_into.get(n.name))
            k = x.spatial
            if W.shape[1] != len(x.units) * k:
                raise GraphError(f"Linear {qual!r} expects {W.shape[1]} features, its input has "
                                 f"{len(x.units)} units x {k}")
            outs = [b.node(f"{qual}.{j}") for j in range(W.shape[0])]
            b.dense(x.units, outs, W, k, qual)
            b.bias(qual, outs, bias)
            values[n.name] = _Value(outs, 1)
        elif isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d)):
            x = values[args[0].name]
            W, bias = _layer_params(mod, fold_into.get(n.name))
            g = mod.groups
            cin, cout = mod.in_channels, mod.out_channels
            if len(x.units) != cin:
                raise GraphError(f"{type(mod).__name__} {qual!r} expects {cin} channels, got {len(x.units)}")
            outs = [b.node(f"{qual}.{o}") for o in range(cout)]
            per_in, per_out = cin // g, cout // g
            kk = int(np.prod(W.shape[2:]))
            us = [x.units[(o // per_out) * per_in + ii] for o in range(cout) for ii in range(per_in)]
            vs = [v for v in outs for _ in range(per_in)]
            b.edges(us, vs, W, size=kk, source=(qual, "conv", per_in, kk))
            b.bias(qual, outs, bias)
            values[n.name] = _Value(outs, spatial_of(n.name))
        elif isinstance(mod, (torch.nn.ReLU, torch.nn.LeakyReLU)) or (
            n.op in ("call_function", "call_method") and n.target in (torch.relu, torch.nn.functional.relu, "relu",
                                                                     torch.nn.functional.leaky_relu)):
            leaky = isinstance(mod, torch.nn.LeakyReLU) or n.target is torch.nn.functional.leaky_relu
            if leaky and isinstance(mod, torch.nn.LeakyReLU) and abs(mod.negative_slope - 0.01) > 1e-12:
                warnings.warn(f"LeakyReLU {qual!r} has slope {mod.negative_slope}; topo's forward assumes 0.01",
                              stacklevel=2)
            x = values[args[0].name]
            values[n.name] = apply_homogeneous(x, "leaky_relu" if leaky else "relu", qual, x.spatial)
        elif isinstance(mod, (torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.AvgPool1d, torch.nn.AvgPool2d,
                              torch.nn.AdaptiveAvgPool1d, torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d)):
            x = values[args[0].name]
            kind = "maxpool" if "Max" in type(mod).__name__ else "avgpool"
            values[n.name] = apply_homogeneous(x, kind, qual, spatial_of(n.name))
        elif isinstance(mod, (torch.nn.Dropout, torch.nn.Identity)):
            values[n.name] = values[args[0].name]
        elif isinstance(mod, torch.nn.Flatten) or (n.op == "call_function" and n.target is torch.flatten) or (
                n.op == "call_method" and n.target in ("flatten", "view", "reshape")):
            x = values[args[0].name]
            values[n.name] = _Value(x.units, x.spatial)
        elif n.op == "call_function" and n.target in (operator.add, torch.add) and len(args) == 2:
            a, c = values[args[0].name], values[args[1].name]
            if len(a.units) != len(c.units):
                raise GraphError(f"residual add {qual!r} of {len(a.units)} and {len(c.units)} units")
            outs = [b.node(f"{qual}.{i}", act="sum") for i in range(len(a.units))]
            b.edges(a.units, outs, np.ones(len(outs)), trainable=False)
            b.edges(c.units, outs, np.ones(len(outs)), trainable=False)
            values[n.name] = _Value(outs, a.spatial)
        elif n.op == "call_function" and n.target is torch.cat:
            parts = [values[a.name] for a in n.args[0]]
            dim = n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else 0)
            if dim not in (1, -1) or len({p.spatial for p in parts}) != 1:
                raise GraphError(f"torch.cat {qual!r} is supported along the unit dimension only")
            values[n.name] = _Value([u for p in parts for u in p.units], parts[0].spatial)
        else:
            what = type(mod).__name__ if mod is not None else getattr(n.target, "__name__", str(n.target))
            if strict:
                raise GraphError(f"unsupported layer {what} ({qual!r})")
            unsupported.append((what, qual))
            x = values[args[0].name] if args else None
            if x is None:
                raise GraphError(f"unsupported operation {what} ({qual!r}) with no tensor input")
            values[n.name] = free_units(x, what, qual, act=f"free:{what}",
                                        spatial=spatial_of(n.name) if n.name in shapes else None)
    if unsupported:
        listed = ", ".join(f"{t} ({q})" for t, q in unsupported)
        warnings.warn(f"units produced by unsupported layers are treated as free: {listed}",
                      UnsupportedLayerWarning, stacklevel=2)
    src = np.concatenate(b.src) if b.src else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(b.dst) if b.dst else np.zeros(0, dtype=np.int64)
    used_mask = np.zeros(len(b.nodes), dtype=bool)
    used_mask[src] = True
    used_mask[dst] = True
    keep = np.flatnonzero(used_mask)
    new_idx = np.full(len(b.nodes), -1, dtype=np.int64)
    new_idx[keep] = np.arange(len(keep))
    names = [b.nodes[i] for i in keep.tolist()]
    used = set(names)
    arch = Architecture.from_arrays(
        new_idx[src], new_idx[dst], nodes=names,
        sizes=np.concatenate(b.sizes), trainable=np.concatenate(b.trainable),
        roles={k: v for k, v in b.roles.items() if k in used},
        activations={k: v for k, v in b.acts.items() if k in used and b.roles.get(k) not in ("input", "bias")},
    )
    theta = np.concatenate(b.weights) if b.weights else np.zeros(0)
    sources = EdgeSources(arch, b.blocks)
    return TorchImport(arch, theta, sources, unsupported, level)
