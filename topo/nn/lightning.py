"""An optional PyTorch Lightning callback: a `topo.BalanceMonitor` on a ``Trainer.fit``.

Needs ``lightning`` (``lightning.pytorch``) or ``pytorch_lightning`` (the ``lightning``
extra: ``pip install 'topo[lightning]'``); the rest of topo never imports this module, and
importing it without Lightning works (the class is built on first use, which then raises
an ``ImportError`` saying what to install).

``BalanceMonitorCallback(example_input=None, *, module=None, every=1, log=True,
prefix="topo/", save=None, **monitor_options)``:

* at ``on_fit_start`` it builds the monitor on the LightningModule (or on its submodule
  ``module``, e.g. ``"net"``) and attaches it to the trainer's optimizer (one optimizer);
* Lightning runs the forward and backward passes inside ``optimizer.step(closure)``, so the
  Euler self-test runs in ``on_before_optimizer_step``, when the gradients exist;
* after every record the numbers are logged with ``pl_module.log_dict`` (keys prefixed by
  ``prefix``) at the next ``on_train_batch_end``;
* at ``on_fit_end`` the history is saved to ``save`` (a JSON path) when given.

``callback.monitor`` is the `topo.BalanceMonitor` (history, summary, plot, save).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BalanceMonitorCallback", "lightning_callback_base"]

_BUILT: dict = {}


def lightning_callback_base():
    """Lightning's ``Callback`` class (``lightning.pytorch`` first, then ``pytorch_lightning``).

    Raises ``ImportError`` naming the extra when neither is installed.
    """
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError:
        try:
            from pytorch_lightning.callbacks import Callback
        except ImportError:
            raise ImportError("BalanceMonitorCallback needs PyTorch Lightning: pip install 'topo[lightning]' "
                              "(or pip install lightning)") from None
    return Callback


def _build(base):
    from topo.errors import GraphError
    from topo.nn.monitor import BalanceMonitor

    class BalanceMonitorCallback(base):
        """A `topo.BalanceMonitor` attached for the duration of ``Trainer.fit``
        (see `topo.nn.lightning`)."""

        def __init__(self, example_input: Any = None, *, module: str | None = None, every: int = 1,
                     log: bool = True, prefix: str = "topo/", save: Any = None, **monitor_options: Any):
            super().__init__()
            self.example_input, self.module, self.every = example_input, module, every
            self._log, self._prefix, self._save = log, prefix, save
            self.monitor_options = monitor_options
            self.monitor: BalanceMonitor | None = None
            self._pending: dict | None = None
            self._checked = False

        def _sink(self, values: dict, step: int) -> None:
            self._pending = values

        def on_fit_start(self, trainer, pl_module) -> None:
            model = pl_module.get_submodule(self.module) if self.module else pl_module
            optimizers = list(trainer.optimizers)
            if len(optimizers) != 1:
                raise GraphError(f"BalanceMonitorCallback monitors one optimizer; configure_optimizers gave "
                                 f"{len(optimizers)}")
            self.monitor = BalanceMonitor(model, self.example_input, every=self.every, sink=self._sink,
                                          **self.monitor_options)
            self.monitor.attach(optimizers[0], euler=False)
            self._pending, self._checked = None, False

        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            if not self._checked and self.monitor is not None:
                self.monitor.check_euler()  # the gradients of the first step, before it is taken
                self._checked = True

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if self._pending is not None and self._log:
                values = {f"{self._prefix}{k}": float(v) for k, v in self._pending.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)}
                pl_module.log_dict(values, on_step=True, on_epoch=False)
            self._pending = None

        def on_fit_end(self, trainer, pl_module) -> None:
            if self.monitor is not None:
                self.monitor.detach()
                if self._save is not None:
                    self.monitor.save(self._save)

    BalanceMonitorCallback.__module__ = __name__
    return BalanceMonitorCallback


def __getattr__(name: str):
    if name == "BalanceMonitorCallback":
        base = lightning_callback_base()
        if base not in _BUILT:
            _BUILT[base] = _build(base)
        return _BUILT[base]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
