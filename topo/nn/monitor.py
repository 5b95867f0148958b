"""Balances during real training: [`BalanceMonitor`][topo.nn.monitor.BalanceMonitor] for any PyTorch training loop.

Under gradient flow the balances ``c = B̃ q(θ)`` of a ReLU network are conserved.
Real training breaks them; the monitor measures by how much, and where it drives
the units (see ``docs/monitor.md``).  Every ``every`` optimizer steps it records,
from the model's own parameter tensors (through the import's edge → parameter
map, `topo.nn.monitor_index`; the model is imported once):

* the balances and their drift ``||c_t − c_0|| / ||c_0||``;
* under plain SGD (no momentum) with L2 weight decay ``λ`` and learning rate
  ``η``, the exact discrete law ``ĉ_{t+1} = (1−ηλ)² c_t + η² (||g_in||² − ||g_out||²)``
  (the cross term vanishes by the Euler identity) and ``prediction_error``, the
  largest ``|c − ĉ|`` relative to the unit's squared boundary norm;
* the weight-decay law ``c_0 e^{−2λτ}``, ``τ = Σ η`` (gradient-flow time);
* sign flips of the scalar edges frozen at the start ([`topo.connectivity`][topo.fiber.connectivity.connectivity]);
* every unit's distance to its pruned stratum ``||θ_∂C||`` (a histogram per
  record), the units collapsed below ``collapse_tol``, and dead units on a probe
  batch.

On the first optimizer step it checks the Euler identity
``Σ_in ⟨θ, g⟩ − Σ_out ⟨θ, g⟩ = 0`` of every class with the optimizer's real
gradients and warns, naming the units, where it fails.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from topo.errors import GraphError
from topo.nn.monitor_index import ParameterIndex
from topo.nn.monitor_records import FORMAT, PRUNABILITY_BINS, prunability_summary, save_history, summary_text
from topo.nn.monitor_records import to_frame as records_frame
from topo.nn.monitor_sgd import HyperCache, law_prediction, plain_sgd
from topo.nn.result import LEVEL, TorchImport
from topo.utils.validation import BOOLEAN, COUNT, PATH, TOLERANCE, InstanceOf, IsCallable, NoneOr, validate_params

__all__ = ["BalanceMonitor", "EulerWarning", "MonitorWarning", "PER_CLASS_LIMIT"]

#: Per-class series are kept by default up to this many classes (``per_class=None``).
PER_CLASS_LIMIT = 4096


_TINY = float(np.finfo(np.float64).tiny)


def _norm(x: np.ndarray) -> float:
    return math.sqrt(float(x @ x))


def _versions(tensors: list) -> tuple:
    """Version counters (PyTorch bumps one at every in-place change of its tensor); -1 for None."""
    return tuple(-1 if t is None else t._version for t in tensors)


def _warn_without_a_spare_core(device) -> None:
    """``background=True`` on the CPU while torch's threads take every core: say that it will not pay."""
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device.type == "cpu" and torch.get_num_threads() >= cores:
        warnings.warn(f"background=True with torch using {torch.get_num_threads()} threads on {cores} cores: the "
                      "monitor's worker thread competes with the training step for the cores (slower than the "
                      "synchronous monitor); leave a core free, e.g. torch.set_num_threads("
                      f"{max(cores - 1, 1)})", RuntimeWarning, stacklevel=3)


class _Job(NamedTuple):
    """What a background record reads (the arguments of `BalanceMonitor._measure`)."""

    law: bool
    hyper: Any
    grads: list  # the gradient tensors at the step (None where a parameter has none)
    grad_flat: Any  # their entries, when read in the step hook; else None


class _Pending(NamedTuple):
    """A record handed to the worker: its job, the version counters to compare at the flush
    (the gradients' only when the worker reads them), the SGD law's previous read, the probe batch."""

    job: _Job
    versions: tuple
    grad_versions: tuple | None
    prev: Any
    batch: Any


class EulerWarning(UserWarning):
    """The Euler identity fails on the model's real gradients: the import does not match the model."""


class MonitorWarning(UserWarning):
    """Parameters or gradients changed in place while a record read them in the background (``background=True``)."""


class BalanceMonitor:
    """Record balances, drift, the SGD law, frozen signs and prunability during training.

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU network [`topo.from_torch`][topo.nn.trace.from_torch] imports.  It is imported with
        ``batch_statistics=True``, so that every trainable edge is a parameter itself: a
        BatchNorm's γ and β form a unit per channel (exact laws in training mode), and the
        channels it normalises are free.  Its parameters are read in place, on their device.
    example_input : torch.Tensor, optional
        A batch, as for [`topo.from_torch`][topo.nn.trace.from_torch].
    every : int
        Record every ``every`` optimizer steps (step 0, the start, is always recorded).
    sink : callable, optional
        ``sink(values, step)`` after each record: ``values`` is the record's numbers
        (see `topo.nn.monitor_records.tensorboard_sink`).
    batch : torch.Tensor, optional
        A probe batch: units that output zero on all of it (dead ReLUs) are counted
        at each record (one forward pass, in eval mode, per record).
    per_class : bool, optional
        Keep the balances of every class at every record (``O(classes × records)``
        memory); by default only up to `PER_CLASS_LIMIT` classes.
    collapse_tol : float
        A unit whose boundary norm ``||θ_∂C||`` is below this has collapsed.
    frozen : bool
        Track the sign of the scalar edges frozen at the start (one
        [`topo.connectivity`][topo.fiber.connectivity.connectivity] call at construction).
    euler_tol : float, optional
        Relative residual above which the Euler self-test fails (default ``1e-8``
        in float64, ``1e-3`` in lower precision).
    level : {"auto", "neuron", "channel"}
    imported : TorchImport, optional
        The result of ``from_torch(model, ...)`` when already at hand (not re-imported).
    background : bool
        Attached to an optimizer, read a record's parameters (and the gradients of
        the SGD law, once the loop is seen to give every backward pass new gradient
        tensors, as ``zero_grad()`` does; else in the step hook) on a worker thread
        while the training loop goes on to the next forward and backward pass.  The
        record is added to `history` before the next ``optimizer.step()`` changes
        the parameters, or when any output is read (`flush`): the same values as
        without it.  Worth it when a core is spare (``torch.set_num_threads`` below
        the core count).  It assumes that only the optimizer changes the parameters:
        an in-place change between steps that PyTorch sees gives a `MonitorWarning`
        (a parameter: the record is read again and the monitor turns synchronous; a
        gradient being read: that record has no SGD-law check); a change through
        ``.data`` is not seen.  See ``docs/monitor.md``.

    Attributes
    ----------
    architecture : Architecture
    history : list of dict
        One record per recorded step: ``step``, ``drift``, ``balance_norm`` (``||c_t||``),
        ``min_prunability``, ``median_prunability``, ``collapsed``; ``frozen_flips``;
        under plain SGD ``prediction_error``, ``predicted_norm``, ``lr``, ``decay_law``,
        ``decay_error``; ``dead`` with a probe batch.
    euler : dict or None
        The self-test's outcome: ``max_residual`` and the ``failed`` units.

    Examples
    --------
    >>> import torch, topo
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.05, weight_decay=1e-3)
    >>> mon = topo.BalanceMonitor(net).attach(opt)
    >>> X, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    >>> for _ in range(20):
    ...     opt.zero_grad()
    ...     torch.nn.functional.mse_loss(net(X), y).backward()
    ...     opt.step()
    >>> last = mon.history[-1]
    >>> last["step"], last["prediction_error"] < 1e-12, 0 < last["drift"] < 0.1
    (20, True, True)
    """

    @validate_params(every=COUNT, sink=NoneOr(IsCallable()), per_class=NoneOr(BOOLEAN), collapse_tol=TOLERANCE,
                     frozen=BOOLEAN, euler_tol=NoneOr(TOLERANCE), level=LEVEL,
                     imported=NoneOr(InstanceOf(TorchImport, name="a TorchImport")), background=BOOLEAN)
    def __init__(self, model, example_input=None, *, every: int = 1, sink: Callable | None = None, batch=None,
                 per_class: bool | None = None, collapse_tol: float = 1e-3, frozen: bool = True,
                 euler_tol: float | None = None, level: str = "auto", imported: TorchImport | None = None,
                 background: bool = False):
        from topo.nn.trace import from_torch

        if imported is None:
            training = bool(getattr(model, "training", False))
            imported = from_torch(model, example_input, level=level, batch_statistics=True)
            model.train(training)  # the import put it in eval mode
        self.model, self.imported, self.architecture = model, imported, imported.architecture
        self.every, self.sink, self.batch, self.collapse_tol = every, sink, batch, collapse_tol
        self._index = ParameterIndex(model, imported)
        m = self.architecture.n_constrained
        self._keep = (m <= PER_CLASS_LIMIT) if per_class is None else per_class
        dtype = self._index.params[0].dtype if self._index.params else None
        self._euler_tol = euler_tol if euler_tol is not None else (1e-8 if str(dtype) == "torch.float64" else 1e-3)
        self._history: list[dict] = []
        self.euler: dict | None = None
        self._dead_units: list = []
        self.background, self._pool, self._pending = background, None, None
        self._grads_fresh: bool | None = None  # new gradient tensors at every backward pass? (background)
        self._series: list[np.ndarray] = []
        self._hist: list[list[int]] = []
        self._t, self._tau, self._opt, self._handles, self._last = 0, 0.0, None, [], None
        self._lr_uniform: float | None = None
        self._hyper, self._auto_euler = HyperCache(), True
        c = self._current()[0]
        self._c0, self._n0 = c, _norm(c)
        self._frozen = self._frozen_edges(c) if frozen else None
        self._dead = _DeadProbe(model, self._index) if batch is not None else None
        self._record(self.batch)

    # -- reading the parameters
    def _read(self, grads: list | None = None, grad_flat=None):
        """One pass over the parameters (and over the gradients ``grads``, unless their
        entries ``grad_flat`` were read already): the reduced rows ``(k, 2, m)`` and the
        entry vector; keeps the parameters' part for the next step's SGD law."""
        idx = self._index
        if grad_flat is not None:
            import torch

            flat = torch.cat((idx.entries(), grad_flat))
        else:
            flat = idx.entries((None, None), (grads, None)) if grads is not None else idx.entries()
        red = idx.reduce(flat, 1 if grads is None and grad_flat is None else 2)
        self._last = (self._t, flat[: idx.n_entries], red[0, 0])
        return red, flat

    def _current(self):
        """``(c, boundary)`` of the current parameters as numpy arrays (kept for the SGD law)."""
        red, _ = self._read()
        return red[0] + self._index.fixed_rows

    def _rows(self) -> np.ndarray:
        """``[c; boundary]`` of the current parameters, shape ``(2, m)``, without touching the record state."""
        self.flush()
        self._index.check_model(self.model)
        return self._index.reduce(self._index.entries())[0] + self._index.fixed_rows

    def balances(self) -> np.ndarray:
        """The current balances, aligned with ``architecture.constrained``."""
        return self._rows()[0]

    def prunability(self) -> np.ndarray:
        """Every unit's (class's) distance ``||θ_∂C||`` to its pruned stratum, aligned with
        ``architecture.constrained``."""
        return np.sqrt(self._rows()[1])  # a sum of squares: never negative

    def _frozen_edges(self, c0: np.ndarray):
        from topo.fiber.connectivity import connectivity

        report = connectivity(self.architecture, c0)
        return _FrozenSigns(self._index, self.imported, report.frozen_index)

    # -- the optimizer
    @validate_params(euler=BOOLEAN)
    def attach(self, optimizer, *, euler: bool = True) -> BalanceMonitor:
        """Record after every ``optimizer.step()`` (step hooks); returns the monitor.

        The first step also runs [`check_euler`][topo.nn.monitor.BalanceMonitor.check_euler] with the
        gradients it is given (``euler=False`` leaves it to the caller: with ``optimizer.step(closure)``
        the gradients are computed inside the step, after the pre-step hook).
        """
        import torch

        if not isinstance(optimizer, torch.optim.Optimizer):
            raise GraphError(f"attach needs a torch.optim.Optimizer, got a {type(optimizer).__name__}")
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if self._index.params and not any(id(p) in held for p in self._index.params):
            raise GraphError(f"the {type(optimizer).__name__} holds none of the model's parameters: attach the "
                             "optimizer that trains this model")
        self.detach()
        self._opt = optimizer
        self._auto_euler = euler
        if self.background:
            _warn_without_a_spare_core(self._index.device)
            self._pool = _Worker(self)
        self._last = None  # the parameters may have moved while detached: the next step reads them
        self._handles = [optimizer.register_step_pre_hook(self._before_step),
                         optimizer.register_step_post_hook(self._after_step)]
        return self

    def detach(self) -> None:
        """Remove the optimizer hooks (the history stays, with a record still in the background)."""
        self.flush()
        for h in self._handles:
            h.remove()
        self._handles, self._opt = [], None
        self._stop_pool()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _before_step(self, optimizer, args, kwargs) -> None:
        if self._pending is not None and self._pending.job.law and self._grads_fresh is None:
            # a backward pass ran since the first record: new gradient tensors, or the same ones refilled?
            # (decided once; later, an in-place change while the worker reads is caught by the flush)
            read = self._pending.job.grads
            self._grads_fresh = all(g is None or p.grad is not g for p, g in zip(self._index.params, read))
        self.flush()  # the step is about to change the parameters a background record reads
        if self.euler is None and self._auto_euler:
            self.check_euler()
        if (self._t + 1) % self.every == 0 and (self._last is None or self._last[0] != self._t) and \
                self._hyper(optimizer, self._index.params).law:
            self._read()  # the balances before the recorded step, for the SGD law

    def _after_step(self, optimizer, args, kwargs) -> None:
        hyper = self._hyper(optimizer, self._index.params)
        self._lr_uniform = hyper.eta
        self._tau = self._tau + self._lr_uniform if self._lr_uniform is not None and self._tau is not None else None
        self._advance(self.batch, optimizer, hyper)

    def step(self, batch=None) -> dict | None:
        """Count one optimizer step done by hand (when not attached); the record when one is made.

        ``batch`` overrides the probe batch for this record.  Without [`attach`][topo.nn.monitor.BalanceMonitor.attach]
        the monitor does not see the optimizer: no SGD law and no Euler self-test
        (call [`check_euler`][topo.nn.monitor.BalanceMonitor.check_euler] before ``optimizer.step()``).
        """
        self.flush()
        return self._advance(self.batch if batch is None else batch, None)

    def _advance(self, batch, optimizer, hyper=None) -> dict | None:
        self._t += 1
        if self._t % self.every:
            return None
        self._index.check_model(self.model)  # a replaced parameter would be read stale, silently
        if self._pool is None or optimizer is None:
            return self._record(batch, optimizer, hyper)
        hyper, law = self._law(optimizer, hyper)
        grads = self._index.grads()
        # the SGD law's gradients: read now unless the loop is known to give every backward pass new
        # gradient tensors (zero_grad(set_to_none=True), PyTorch's default), which leaves these alone
        early = law and not self._grads_fresh
        grad_flat = self._index.entries((grads, None)) if early else None
        job = _Job(law, hyper, grads, grad_flat)
        self._pool.submit(self._measure, job)
        self._pending = _Pending(job, _versions(self._index.params), _versions(grads) if law and not early else None,
                                 self._last, batch)
        return None

    # -- one record
    def _law(self, optimizer, hyper):
        """``(hyper, law)``: the optimizer's hyper-parameters and whether this record checks the SGD law."""
        if hyper is None and optimizer is not None:
            hyper = self._hyper(optimizer, self._index.params)
        prev = self._last
        return hyper, hyper is not None and hyper.law and prev is not None and prev[0] == self._t - 1

    def _record(self, batch, optimizer=None, hyper=None) -> dict:
        hyper, law = self._law(optimizer, hyper)
        return self._commit(*self._measure(law, hyper, self._index.grads()), batch)

    def flush(self) -> None:
        """Add the record still being read in the background (``background=True``) to the history.

        Every output (`history`, `balances`, `to_frame`, `save`, ...) and the next
        ``optimizer.step()`` call it first; a training loop that reads nothing after
        its last step calls it (or `detach`) before handing the sink's data on.
        """
        if self._pending is None:
            return
        (law, hyper, grads, grad_flat), versions, grad_versions, prev, batch = self._pending
        self._pending = None
        measured = self._pool.result()
        lost = grad_versions is not None and _versions(grads) != grad_versions
        if lost:  # changed in place while read: this record's SGD law cannot be checked
            self._grads_fresh = False
            warnings.warn(f"the gradients were changed in place while the record of step {self._t} read them in "
                          "the background (zero_grad(set_to_none=False), or accumulation): that record has no SGD-law "
                          "check, and the monitor reads the gradients in the step hook from now on", MonitorWarning,
                          stacklevel=2)
        if _versions(self._index.params) != versions:
            warnings.warn("the model's parameters changed between optimizer steps while a record was read in the "
                          f"background (step {self._t}); the record is read again from the current parameters and "
                          "the monitor records synchronously from now on (background=False)", MonitorWarning,
                          stacklevel=2)
            self.background = False
            self._stop_pool()
            self._last = prev
            measured = self._measure(law and not lost, hyper, grads, grad_flat)
        elif lost:
            self._last = prev
            measured = self._measure(False, hyper, grads)
        self._commit(*measured, batch)

    def _measure(self, law: bool, hyper, grads: list, grad_flat=None) -> tuple[dict, list, np.ndarray]:
        """The record's numbers from the parameters: ``(record, prunability histogram, c)``.

        Reads the parameters (and, for the SGD law, the gradients ``grads`` or their
        entries ``grad_flat`` read before) and nothing the training loop changes
        between steps: it runs on the worker thread with ``background=True``."""
        prev = self._last
        red, flat = self._read(grads if law and grad_flat is None else None, grad_flat if law else None)
        c, boundary = red[0] + self._index.fixed_rows  # one addition for both rows
        dist = np.sqrt(boundary)  # a sum of squares: never negative
        n0 = self._n0
        rec: dict[str, Any] = {"step": self._t, "drift": _norm(c - self._c0) / n0 if n0 else 0.0,
                               "balance_norm": _norm(c)}
        if law:
            rec.update(self._sgd_law(hyper, prev, red, flat, c, boundary, grads))
        if self._frozen is not None:
            rec["frozen_flips"] = self._frozen.flips()
        rec["min_prunability"], rec["median_prunability"], rec["collapsed"], hist = \
            prunability_summary(dist, self.collapse_tol)
        return rec, hist, c

    def _commit(self, rec: dict, hist: list, c: np.ndarray, batch) -> dict:
        """Dead units on the probe batch (a forward pass: on the main thread), then the
        record into the history, the per-class series and the sink."""
        if batch is not None:
            probe = self._dead or _DeadProbe(self.model, self._index)
            self._dead = probe
            self._dead_units = probe.dead(batch)
            rec["dead"] = len(self._dead_units)
        self._history.append(rec)
        self._hist.append(hist)
        if self._keep:
            self._series.append(c.copy())  # c is a row of a (2, m) array: keep m values, not 2m
        if self.sink is not None:
            self.sink({k: v for k, v in rec.items() if k != "step" and v is not None}, self._t)
        return rec

    def _sgd_law(self, hyper, prev, red: np.ndarray, flat, c: np.ndarray, boundary: np.ndarray,
                 grads: list) -> dict:
        """One-step prediction ``ĉ = (1−ηλ)² c_prev + η² B̃ ||g||²`` and its error (one ``η``
        and one ``λ`` for all the trained parameters: with several, the cross term
        ``−2η(1−ηλ) Σ ±⟨θ, g⟩`` of a unit no longer cancels)."""
        idx = self._index
        _, prev_flat, prev_signed = prev
        c_hat = law_prediction(idx, hyper, prev_flat, prev_signed, flat[idx.n_entries:], red[1, 0],
                               grads) + idx.fixed_c
        scale = np.maximum(boundary, _TINY)
        n0 = self._n0
        out = {"prediction_error": float(np.max(np.abs(c - c_hat) / scale, initial=0.0)),
               "predicted_norm": _norm(c_hat), "lr": self._lr_uniform}
        if self._tau is not None:
            law = math.exp(-2.0 * hyper.lam * self._tau)
            out["decay_law"] = law
            out["decay_error"] = _norm(c - law * self._c0) / n0 if n0 else 0.0
        return out

    # -- the Euler self-test
    @validate_params(tol=NoneOr(TOLERANCE))
    def check_euler(self, tol: float | None = None) -> dict:
        """Check ``Σ_in ⟨θ, g⟩ − Σ_out ⟨θ, g⟩ = 0`` for every class with the current ``.grad``.

        The residual of each class is relative to ``||θ_∂C|| · ||g_∂C||`` (its
        Cauchy–Schwarz bound); classes above ``tol`` are named in an
        `EulerWarning`.  The identity holds for any loss of the network's
        output; a penalty on the weights added to the loss (L2, L1) breaks it
        (use the optimizer's ``weight_decay``).  Returns (and keeps as
        `euler`) ``{"max_residual", "failed", "checked"}``.
        """
        self.flush()
        self._index.check_model(self.model)
        tol = self._euler_tol if tol is None else tol
        idx = self._index
        grads = idx.grads()
        red = idx.reduce(idx.entries((None, grads), (None, None), (grads, None)), 3)
        cross, bq, bg = red[0, 0], red[1, 1], red[2, 1]
        bound = np.sqrt(np.maximum(bq * bg, 0.0))
        resid = np.abs(cross) / np.maximum(bound, _TINY)
        resid[bound == 0] = 0.0
        bad = np.flatnonzero(resid > tol)
        names = self.architecture.node_names(self.architecture.constrained_index[bad[:8]])
        failed = self.architecture.node_names(self.architecture.constrained_index[bad])
        self.euler = {"checked": int((bound > 0).sum()), "max_residual": float(resid.max(initial=0.0)),
                      "failed": [str(n) for n in failed]}
        if len(bad):
            listed = ", ".join(f"{n} ({resid[i]:.2g})" for n, i in zip(names, bad[:8].tolist()))
            warnings.warn(
                f"the Euler identity sum_in <theta, g> - sum_out <theta, g> = 0 fails at {len(bad)} of "
                f"{self.architecture.n_constrained} rescaling classes (named by a member): {listed}"
                f"{', ...' if len(bad) > 8 else ''}; "
                "the import's edge map or classes do not match the model, or the loss has a penalty on the "
                "weights (use the optimizer's weight_decay)", EulerWarning, stacklevel=3)
        return self.euler

    # -- outputs
    @property
    def history(self) -> list[dict]:
        """One record per recorded step (see the class's Attributes)."""
        self.flush()
        return self._history

    @property
    def dead_units(self) -> list:
        """The dead units on the probe batch at the last record (names)."""
        self.flush()
        return self._dead_units

    def to_dict(self) -> dict:
        """The history as a JSON-ready mapping (see `topo.nn.monitor_records`)."""
        arch = self.architecture
        meta = {"model": type(self.model).__name__, "n_constrained": arch.n_constrained, "every": self.every,
                "optimizer": type(self._opt).__name__ if self._opt is not None else None,
                "plain_sgd": bool(self._opt is not None and plain_sgd(self._opt)),
                "n_frozen": self._frozen.n if self._frozen is not None else None,
                "collapse_tol": self.collapse_tol, "euler": self.euler}
        data = {"format": FORMAT, "version": 1, "meta": meta, "records": [dict(r) for r in self.history],
                "prunability_bins": PRUNABILITY_BINS.tolist(), "prunability_hist": list(self._hist)}
        if self._keep:
            data["constrained"] = [str(n) for n in arch.constrained]
            data["balances"] = [s.tolist() for s in self._series]
        return data

    @property
    def series(self) -> np.ndarray | None:
        """The balances at every record, shape ``(records, classes)``, when kept (``per_class``)."""
        self.flush()
        return np.array(self._series) if self._keep else None

    def to_frame(self):
        """The records as a pandas DataFrame indexed by step."""
        return records_frame(self.history)

    def summary(self) -> str:
        """A few lines: drift, SGD-law error, frozen flips, prunability, Euler self-test."""
        return summary_text(self.to_dict())

    def plot(self):
        """A matplotlib figure: drift (log scale), prediction vs observation, prunability over time."""
        from topo.nn.monitor_plot import history_figure

        return history_figure(self.to_dict())

    @validate_params(path=PATH)
    def save(self, path) -> Any:
        """Write the history as JSON (``topo audit --history FILE`` embeds it in a report); the path."""
        return save_history(self.to_dict(), path)


class _Worker:
    """The thread of ``background=True``: runs the reads handed to it in order, one C-level
    queue each way (an executor's futures and locks cost tens of µs per step here)."""

    def __init__(self, owner):
        import atexit
        import queue
        import threading
        import weakref

        self._jobs, self._done = queue.SimpleQueue(), queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="topo-monitor", daemon=True)
        self._thread.start()
        weakref.finalize(owner, self._jobs.put, None)  # a monitor dropped while attached ends its thread
        # at exit, let a read in progress finish (a daemon thread stopped inside torch aborts the process)
        jobs, thread = self._jobs, self._thread
        self._at_exit = lambda: (jobs.put(None), thread.join())
        atexit.register(self._at_exit)

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args = job
            try:
                self._done.put((True, fn(*args)))
            except BaseException as exc:  # handed to the caller of result()
                self._done.put((False, exc))
            del job, fn, args  # hold no reference to the monitor while waiting

    def submit(self, fn: Callable, args: tuple) -> None:
        self._jobs.put((fn, args))

    def result(self):
        ok, value = self._done.get()
        if not ok:
            raise value
        return value

    def shutdown(self) -> None:
        import atexit

        atexit.unregister(self._at_exit)
        self._jobs.put(None)
        self._thread.join()


class _FrozenSigns:
    """Signs of the frozen scalar edges, read from the parameters."""

    def __init__(self, index: ParameterIndex, imp: TorchImport, frozen: np.ndarray):
        import torch

        arch = imp.architecture
        frozen = np.asarray(frozen, dtype=np.int64)
        frozen = frozen[arch.edge_sizes[frozen] == 1] if len(frozen) else frozen
        self.n = len(frozen)
        blocks = imp.edge_source.blocks()
        starts = np.array([b[0] for b in blocks], dtype=np.int64)
        which = np.searchsorted(starts, frozen, side="right") - 1
        self.groups = []
        for i in np.unique(which).tolist():
            a, offs = blocks[i][0], blocks[i][8]
            pos = frozen[which == i] - a
            flat = pos if offs is None else np.asarray(offs)[pos]
            self.groups.append((index.params[i], torch.as_tensor(flat, dtype=torch.long, device=index.device)))
        self.start = self._signs()

    def _signs(self):
        import torch

        with torch.no_grad():
            parts = [torch.sign(p.detach().reshape(-1).index_select(0, flat)) for p, flat in self.groups]
        return torch.cat(parts) if parts else torch.zeros(0)

    def flips(self) -> int:
        return int((self._signs() != self.start).sum()) if self.n else 0


class _DeadProbe:
    """Dead ReLU units on a batch: each Linear/Conv layer's (or BatchNorm's, whose γ and β form
    the units) output channels whose ReLU input is <= 0 on every sample (and position)."""

    def __init__(self, model, index: ParameterIndex):
        from torch.nn.modules.batchnorm import _BatchNorm

        arch = index.arch
        acts = arch.activations
        self.model, self.arch = model, arch
        self.layers = []
        for b in index.blocks:
            qual, pname = b.name.rsplit(".", 1)
            if pname != "weight":
                continue
            mod = model.get_submodule(qual)
            # a BatchNorm's γ edges (batch statistics import) enter its channels' units, in order
            per_channel = isinstance(mod, _BatchNorm) and b.keep is None and len(b.head_nodes) == mod.num_features
            if not (b.fast or per_channel):
                continue
            relu = np.array([acts[v] == "relu" for v in b.head_nodes.tolist()])
            if relu.any():
                self.layers.append((mod, b.head_nodes, relu))

    def dead(self, batch) -> list:
        import torch

        found: list = []
        maxima = {}
        handles = [mod.register_forward_hook(lambda m, i, o, key=j: maxima.__setitem__(key, o))
                   for j, (mod, _, _) in enumerate(self.layers)]
        training = self.model.training
        try:
            self.model.eval()
            with torch.no_grad():
                self.model(batch)
        finally:
            self.model.train(training)
            for h in handles:
                h.remove()
        for j, (_, nodes, relu) in enumerate(self.layers):
            out = maxima.get(j)
            if out is None:
                continue
            per_channel = out.transpose(0, 1).reshape(out.shape[1], -1).amax(dim=1).cpu().numpy()
            found.extend(nodes[(per_channel <= 0) & relu].tolist())
        return [str(n) for n in self.arch.node_names(np.asarray(found, dtype=np.int64))] if found else []
