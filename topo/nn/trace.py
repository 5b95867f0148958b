"""Import PyTorch models as architectures (neuron or channel level).

[`from_torch`][topo.nn.trace.from_torch] traces the model with ``torch.fx``, runs it once on an example
batch to learn every tensor's shape, and interprets the graph node by node in the
manner of `torch.fx.Interpreter`: each node kind (module type, function,
tensor method) has a handler that turns the units (neurons or channels) holding
its inputs into the units holding its output.  Adding a block is adding a handler
to one of the tables at the end of `topo.nn.handlers`.

Modelled exactly:

- ``Linear``, ``Conv1d/2d/3d`` (channel level: one edge per (input channel,
  output channel) pair carrying the kernel slice; grouped and depthwise);
- eval-mode ``BatchNorm``: folded into the preceding layer when it directly
  follows one (nothing else reads the layer's output); elsewhere (pre-activation
  BatchNorm, BatchNorm after a concatenation) a unit per channel with one scaled
  incoming edge (``γ/√(var+ε)``) and a bias (``β − mean·γ/√(var+ε)``);
- ``ReLU``, ``LeakyReLU`` of any slope (and their compositions), applied in place
  to the units of a layer that nothing else reads, else to copies of the units
  joined by fixed identity edges (the copies and the originals are then free);
- pooling, dropout, padding and other channel-wise homogeneous maps (a channel
  keeps its unit);
- residual ``+``/``-`` (a free sum node per unit), ``torch.cat``, channel split
  (``chunk``, ``split``, slicing) and channel shuffle (``view``/``transpose``/
  ``flatten``/``permute``): parameter-free relabelling of units, computed by
  applying the operation itself to a tensor of unit labels;
- multiplication or division by a constant (a copy with a fixed edge).

Not positively homogeneous, hence free with the reason: ``GELU``, ``SiLU``,
``Sigmoid``, ``Tanh``, ``ReLU6``, ``Hardswish``, ... (the activation is set on the
units, so the architecture says why).  Gating and any other operation topo does
not model (``x * sigmoid(...)`` of squeeze-excitation, softmax, ...) keeps every
tensor input: each output unit gets a fixed edge from every input unit it
depends on, so all the units it touches are free.  A module with parameters
called twice (weight sharing) is refused with its name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

from topo.errors import GraphError, TargetError
from topo.nn.handlers import Importer
from topo.nn.inplace import redirect_inplace
from topo.nn.result import LEVEL, TorchImport, UnsupportedLayerWarning
from topo.nn.shape_trace import PLAIN_NAME, meta_copy
from topo.nn.units import op_name
from topo.utils.text import one_line, short
from topo.utils.validation import BOOLEAN, check_memory, validate_params

#: The least an import allocates per parameter of the model: its float64 weights and, for the layers
#: whose edges carry one weight each (``Linear``, pointwise convolutions), two int64 edge ends
#: (measured peaks: 29 bytes on ResNet-50, 42 on NASNet-A Large); checked before the import starts.
IMPORT_BYTES_PER_PARAMETER = 16

__all__ = ["from_torch"]


def _describe(result):
    import torch

    if isinstance(result, torch.Tensor):
        return ("tensor", tuple(result.shape))
    if isinstance(result, (tuple, list)) and result and all(isinstance(r, torch.Tensor) for r in result):
        return ("tensors", [tuple(r.shape) for r in result])
    if _holds_tensor(result):
        return ("nested", None)
    return ("value", result)


def _holds_tensor(value) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (tuple, list)) and any(_holds_tensor(v) for v in value)


def _record_shapes(gm, example_input) -> dict:
    """Run the traced module once; the shape of every tensor and the value of everything else.

    The run is on the ``meta`` device (shapes without arithmetic) when the model
    allows it, else on the example itself.
    """
    import torch

    try:
        meta_gm = meta_copy(gm)
        return _shape_run(meta_gm, example_input.to("meta"))
    except Exception:  # noqa: BLE001 - an operation without a meta kernel, data-dependent code, ...
        pass
    try:
        with torch.no_grad():
            return _shape_run(gm, example_input)
    except Exception as exc:  # noqa: BLE001 - the model itself failed on the example
        raise GraphError(_run_failure(example_input, exc)) from None


def _run_failure(example_input, exc: Exception) -> str:
    """One line: the model failed on ``example_input`` (its own error, first line)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return (f"running the model on example_input of shape {tuple(example_input.shape)} failed: "
            f"{type(exc).__name__}" + (f": {first}" if first else " (raised by the model's own code)"))


def _shape_run(gm, example_input) -> dict:
    import torch
    import torch.fx as fx

    meta: dict = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            meta[n.name] = _describe(result)
            return result

    with torch.no_grad():
        Recorder(gm).run(example_input)
    return meta


def _hook_trace(model, example_input, fx_error):
    """Fallback for models torch.fx cannot trace (e.g. data-dependent control flow):
    run the model once with forward hooks on its leaf modules and rebuild the graph
    from which module consumed which module's output.  Only models whose tensors
    flow from module to module (no functional operations in between) can be
    rebuilt this way.  An in-place operation between modules (``out += x``) keeps
    the tensor's ``id()`` but bumps its version counter: it is refused, never dropped."""
    import torch
    import torch.fx as fx

    name = type(model).__name__
    if example_input is None:
        raise GraphError(f"torch.fx could not trace {name} ({fx_error}); pass example_input to trace it "
                         "with forward hooks instead")
    x = example_input.clone() if isinstance(example_input, torch.Tensor) else example_input  # the caller's stays
    start = getattr(x, "_version", 0)  # before the run: a module may change its input in place (ReLU(inplace=True))
    try:
        events, result = _hook_events(model, x)
    except Exception as exc:  # noqa: BLE001 - the model itself failed on the example
        raise GraphError(f"torch.fx could not trace {name} ({fx_error}), and {_run_failure(example_input, exc)}"
                         ) from None
    graph = fx.Graph()
    values = {id(x): (graph.placeholder("x"), start, "the input")}
    for qual, inputs, output, version in events:
        if len(inputs) != 1 or inputs[0][0] not in values:
            raise GraphError(
                f"torch.fx could not trace {name} ({fx_error}), and the forward-hook trace cannot either: "
                f"the input of {qual!r} is not the output of another module (functional operations in forward)"
            )
        _check_version(values[inputs[0][0]], inputs[0][1], f"{qual!r} read it", name, fx_error)
        node = graph.call_module(qual, (values[inputs[0][0]][0],))
        values[id(output)] = (node, version, f"the output of {qual!r}")
    if not isinstance(result, torch.Tensor) or id(result) not in values:
        raise GraphError(f"torch.fx could not trace {name} ({fx_error}), and the forward-hook trace cannot "
                         "either: the output is not produced by a module")
    _check_version(values[id(result)], result._version, "the model returned it", name, fx_error)
    graph.output(values[id(result)][0])
    return fx.GraphModule(model, graph)


def _hook_events(model, example_input) -> tuple[list, Any]:
    """``(qual, [(id, version) of each tensor input], output, output version)`` of every leaf-module
    call, in call order, and the model's result (the outputs are kept alive, so ids stay unique)."""
    import torch

    events, handles, pending = [], [], {}
    for qual, mod in model.named_modules():
        if qual and not any(True for _ in mod.children()):
            def pre(m, inputs, qual=qual):
                pending[qual] = [(id(t), t._version) for t in inputs if isinstance(t, torch.Tensor)]

            def hook(m, inputs, output, qual=qual):
                version = output._version if isinstance(output, torch.Tensor) else None
                events.append((qual, pending.pop(qual, []), output, version))
            handles.append(mod.register_forward_pre_hook(pre))
            handles.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            result = model(example_input)
    finally:
        for h in handles:
            h.remove()
    return events, result


def _check_version(value, version: int, when: str, name: str, fx_error) -> None:
    if value[1] != version:
        raise GraphError(f"torch.fx could not trace {name} ({fx_error}), and the forward-hook trace cannot "
                         f"either: {value[2]} was modified in place (an in-place operation such as "
                         f"`out += x` between modules) before {when}; the forward hooks cannot see it")


@validate_params(level=LEVEL, fold_batchnorm=BOOLEAN, batch_statistics=BOOLEAN, strict=BOOLEAN)
def from_torch(
    model,
    example_input=None,
    *,
    level: str = "auto",
    fold_batchnorm: bool = True,
    batch_statistics: bool = False,
    strict: bool = False,
    state_dict: Any = None,
) -> TorchImport:
    """Trace a PyTorch model into an [`Architecture`][topo.graph.architecture.Architecture] and its weights.

    The model is traced with ``torch.fx`` and run once on ``example_input`` to
    learn the shape of every tensor; when tracing fails (data-dependent control
    flow, for instance) and ``example_input`` is given, it is run with forward
    hooks on its leaf modules instead, which works when tensors flow from module
    to module.  See the module docstring for what is modelled and how.

    Parameters
    ----------
    model : torch.nn.Module
        Read in eval mode (BatchNorm uses its running statistics); the model is left as it
        was: the train/eval mode of every submodule is restored, and ``state_dict`` is
        loaded into a copy, never into ``model``.
    example_input : torch.Tensor, numpy.ndarray or tuple of int, optional
        A batch: needed for convolutional models; for models starting with a
        ``Linear`` layer a zero batch of its width is used by default. A numpy array
        or a shape (a batch of zeros) is made a tensor of the model's floating dtype.
    level : {"auto", "neuron", "channel"}
        ``"channel"``: one unit per convolution channel (edges carry kernel slices);
        ``"neuron"``: one unit per feature (models without convolutions).
        ``"auto"`` picks channel level when the model has convolutions.
    fold_batchnorm : bool
        Fold a BatchNorm that directly follows a layer into it (default); else
        every BatchNorm becomes a unit per channel with a scaled edge and a bias.
    batch_statistics : bool
        Import every BatchNorm as it trains: normalised by the statistics of each batch, which
        makes the channels it reads free (scale-invariant, not homogeneous) and its γ and β a
        unit per channel whose edge is γ itself (``θ`` holds γ and β, not values derived from
        the running statistics).  The laws of these units hold in training and in eval mode;
        what this import does not claim is the law of the layer before the BatchNorm, which
        holds in eval mode only.  `topo.BalanceMonitor` imports this way.
    strict : bool
        Raise on operations topo does not model instead of warning and making
        their units free.
    state_dict : mapping or path, optional
        Weights to import instead of the model's own (a ``state_dict``, or a file saved
        by ``torch.save``, read with ``weights_only=True``), loaded into a copy of the model.

    Examples
    --------
    >>> import torch, topo
    >>> from topo.nn.trace import from_torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> imp = from_torch(net)
    >>> imp.architecture.n_params, len(imp.architecture.constrained)
    (13, 3)
    >>> imp.edge_source[("0.0", "2.0")]
    ('2', 'weight', (0, 0))
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TargetError(f"from_torch needs a torch.nn.Module, got a {type(model).__name__}")
    n_params = sum(p.numel() for p in model.parameters())
    doing = f"importing {type(model).__name__} ({n_params} parameters)"
    check_memory(IMPORT_BYTES_PER_PARAMETER * n_params, doing)  # hopeless cases, before any work
    with _untouched(model, state_dict is not None) as model:
        if state_dict is not None:
            _load_state_dict(model, state_dict)
        try:
            return _import(model, example_input, level=level, fold_batchnorm=fold_batchnorm,
                           batch_statistics=batch_statistics, strict=strict)
        except MemoryError as exc:  # the estimate above is a floor: a graph with many more edges than weights
            raise GraphError(f"{doing} ran out of memory ({exc or 'MemoryError'}); free memory, or import "
                             "at channel level (level='channel') where the model has convolutions") from None


@contextlib.contextmanager
def _untouched(model, copy_weights: bool):
    """The model to import, with the caller's module left as it was: every submodule's
    train/eval mode and plain attributes (caches a traced forward fills) are restored on exit,
    and when weights are to be loaded they go into a deep copy (or, for a module that cannot be
    copied, the caller's weights are put back)."""
    import copy

    modes = [(m, m.training) for m in model.modules()]
    saved = None
    work = model
    if copy_weights:
        try:
            work = copy.deepcopy(model)
        except Exception:  # noqa: BLE001 - a module holding something deepcopy refuses
            saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    attrs = _plain_attributes(model) if work is model else None  # a copy is traced: nothing to undo
    try:
        yield work.eval()
    finally:
        for m, training in modes:
            m.training = training
        if attrs is not None:
            _restore_attributes(attrs)
        if saved is not None:
            model.load_state_dict(saved)


#: A module's own slots, which tracing reads but never changes (parameters, buffers, children).
_TORCH_SLOTS = frozenset({"_parameters", "_buffers", "_modules"})


def _plain_attributes(model) -> list:
    """``(module, {attribute: value})`` for every submodule's plain attributes, containers copied
    one level deep: a model may fill a cache while it is traced (timm's EfficientViT and LeViT keep
    ``attention_bias_cache`` in eval mode, which then held torch.fx proxies, and the model's next
    call returned a proxy)."""
    out = []
    for m in model.modules():
        out.append((m, {k: (v.copy() if type(v) in (dict, list, set) else v)
                        for k, v in vars(m).items() if k not in _TORCH_SLOTS}))
    return out


def _restore_attributes(saved: list) -> None:
    """Put back what `_plain_attributes` saw: attributes set since are removed, containers get their
    old contents back in place (code that holds them keeps the same object), others their old value."""
    for m, attrs in saved:
        d = vars(m)
        for k in [k for k in d if k not in _TORCH_SLOTS and k not in attrs]:
            del d[k]
        for k, v in attrs.items():
            cur = d.get(k)
            if cur is not v and type(v) in (dict, list, set) and type(cur) is type(v):
                cur.clear()
                cur.update(v) if type(v) is not list else cur.extend(v)
            elif cur is not v:
                d[k] = v


def _import(model, example_input, *, level: str, fold_batchnorm: bool, batch_statistics: bool,
            strict: bool) -> TorchImport:
    """[`from_torch`][topo.nn.trace.from_torch] on a model in eval mode."""
    import torch

    convs = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    has_conv = any(isinstance(m, convs) for m in model.modules())
    if level == "auto":
        level = "channel" if has_conv else "neuron"
    if level == "neuron" and has_conv:
        raise GraphError("neuron level is supported for models without convolutions; use level='channel'")
    if example_input is None:
        if has_conv:
            raise GraphError("convolutional models need example_input to propagate shapes")
        first = next((m for m in model.modules() if isinstance(m, torch.nn.Linear)), None)
        if first is None:
            raise GraphError("cannot infer the input width: pass example_input")
        example_input = torch.zeros(2, first.in_features, dtype=first.weight.dtype)
    example_input = example_tensor(example_input, model)
    gm = _trace(model, example_input)
    redirect_inplace(gm)  # readers of a tensor changed in place read the change (never a silently dropped op)
    meta = _record_shapes(gm, example_input)
    imp = Importer(gm, meta, level, strict=strict, fold_batchnorm=fold_batchnorm, batch_statistics=batch_statistics)
    imp.run()
    modules = _module_table(gm, meta)
    if imp.unsupported:
        listed = ", ".join(f"{t} ({q})" for t, q in imp.unsupported)
        warnings.warn(f"units produced by unsupported layers are treated as free: {listed}",
                      UnsupportedLayerWarning, stacklevel=4)  # the caller of the validate_params wrapper
    return dataclasses.replace(imp.result(level), modules=modules)


def example_tensor(example_input, model):
    """``example_input`` as a tensor, checked: a tensor as it is, a numpy array or a shape tuple (zeros)
    in the dtype of the model's first floating-point parameter; a clear error for anything else, for
    an empty batch and for a model whose parameters hold no values (the ``meta`` device).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2)).double()
    >>> example_tensor((4, 3), net).dtype, tuple(example_tensor((4, 3), net).shape)
    (torch.float64, (4, 3))
    >>> example_tensor("x", net)
    Traceback (most recent call last):
    ...
    topo.errors.TargetError: example_input must be a tensor, a numpy array or a shape tuple of ints, got a str
    """
    import numpy as np
    import torch

    meta = next((q for q, p in model.named_parameters() if p.is_meta), None)
    if meta is not None:
        raise TargetError(f"parameter {meta!r} of {type(model).__name__} is on the meta device and holds no "
                          "values: load weights into the model (load_state_dict(..., assign=True)) first")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    if isinstance(example_input, np.ndarray):
        example_input = torch.as_tensor(example_input, dtype=dtype if example_input.dtype.kind == "f" else None)
    elif (isinstance(example_input, (tuple, list, torch.Size)) and example_input
          and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in example_input)):
        if any(int(s) < 0 for s in example_input):
            raise TargetError(f"example_input as a shape has a negative size: {tuple(example_input)}")
        example_input = torch.zeros(tuple(int(s) for s in example_input), dtype=dtype)
    elif not isinstance(example_input, torch.Tensor):
        raise TargetError("example_input must be a tensor, a numpy array or a shape tuple of ints, "
                          f"got a {type(example_input).__name__}")
    if example_input.dim() == 0 or example_input.shape[0] == 0 or example_input.numel() == 0:
        raise TargetError(f"example_input of shape {tuple(example_input.shape)} holds no sample: give a batch "
                          "of at least one")
    return example_input


def _trace(model, example_input):
    """The fx graph of ``model``: `torch.fx.symbolic_trace` (with in-place operators recorded,
    `topo.nn.shape_trace.inplace_trace`); when its control flow depends on shapes, a trace at the
    example's shapes (`topo.nn.shape_trace.shape_trace`); else the forward-hook trace."""
    from topo.nn.shape_trace import inplace_trace, shape_trace

    try:
        return inplace_trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure: try the next way
        fx_error = exc
    try:
        return shape_trace(model, example_input)
    except Exception:  # noqa: BLE001 - control flow on values, ...: the forward hooks, with fx's own error
        return _hook_trace(model, example_input, fx_error)


def _module_table(gm, meta) -> dict:
    """``{name: {type, output_shape, n_params, params}}`` of every module call and tensor
    operation of the traced graph, in graph order (the rows of the audit's layer table)."""
    mods = dict(gm.named_modules())
    out: dict = {}
    for n in gm.graph.nodes:
        kind, value = meta.get(n.name, ("value", None))
        shape = list(value) if kind == "tensor" else None
        if n.op == "call_module" and n.target in mods:
            mod = mods[n.target]
            params = {k: list(p.shape) for k, p in mod.named_parameters(recurse=False)}
            out[n.target] = {"type": type(mod).__name__, "output_shape": shape,
                             "n_params": int(sum(p.numel() for p in mod.parameters(recurse=False))),
                             "params": params}
        elif n.op in ("call_function", "call_method") and kind == "tensor":
            name = op_name(n)
            name = PLAIN_NAME.get(name, name)  # `out += x`, recorded as operator.iadd, is an "add" in the table
            out[n.name] = {"type": name, "output_shape": shape, "n_params": 0, "params": {}}
        elif n.op == "placeholder":
            out[n.name] = {"type": "input", "output_shape": shape, "n_params": 0, "params": {}}
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in topo's words (torch's
    text advises disabling ``weights_only``, which would run the file's code)."""
    text = _ANSI.sub("", str(exc))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (f"it holds a pickled {found.group(1)}, not only tensors (a whole model saved with "
                "torch.save(model, ...)?); save `model.state_dict()` with torch.save and pass that file")
    corrupt = ("Unsupported operand", "invalid load key", "zip archive", "truncated", "unpickling stack")
    if isinstance(exc, (KeyError, EOFError)) or any(c in text for c in corrupt):
        return "it is not a file written by torch.save (corrupt or another format)"
    if "Weights only load failed" in text:
        return ("it holds pickled Python objects, not only tensors; save `model.state_dict()` with "
                "torch.save and pass that file")
    lines = [t.strip() for t in text.strip().splitlines() if t.strip()]
    return one_line(lines[0] if lines else type(exc).__name__, 200)


def _load_state_dict(model, state_dict) -> None:
    import torch

    if isinstance(state_dict, (str, bytes)) or hasattr(state_dict, "__fspath__"):
        path = short(os.fsdecode(state_dict))
        try:
            state_dict = torch.load(state_dict, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise GraphError(f"cannot read weights file {path}: no such file") from None
        except Exception as exc:  # noqa: BLE001 - corrupt file, pickled code refused, ...
            raise GraphError(f"cannot load weights file {path}: {_load_failure(exc)}") from None
    if not isinstance(state_dict, Mapping):
        raise GraphError(f"the weights are a {type(state_dict).__name__}, not a state_dict (a mapping of "
                         "parameter names to tensors)")
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise GraphError("the weights do not fit the model: " + " ".join(s.strip() for s in first[:3])) from None
