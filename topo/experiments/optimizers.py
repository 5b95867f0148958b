"""Which optimizers keep the fiber?  A small CNN on scikit-learn's digits, monitored.

[`optimizer_sweep`][topo.experiments.optimizers.optimizer_sweep] trains the same small ReLU CNN (two 3x3 convolutions,
average pooling, a linear read-out; channel level: one balance per channel) from
the same initialisation and on the same minibatches with each optimizer (plain
SGD, SGD with momentum, Adam, AdamW), with a [`topo.BalanceMonitor`][topo.nn.monitor.BalanceMonitor]
attached, and tabulates how far each one moved the balances (drift
``||c_t − c_0|| / ||c_0||``, also at the first step the training loss reaches a
common level, so that optimizers are compared at matched loss) and how close it
brought the channels to their pruned strata (``||θ_∂C||``).  Each (optimizer,
seed) run is a `Task`: serial or on Dask with the
same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.experiments.runner import (
    FRACTION,
    PROGRESS,
    SEEDS,
    SWEEP_SEED,
    ExperimentError,
    Task,
    run_tasks,
    sweep_params,
    task_seeds,
    tidy,
)
from topo.utils.validation import COUNT, NAME, POSITIVE, TOLERANCE, InstanceOf, NoneOr, SequenceOf

__all__ = ["OPTIMIZERS", "DEFAULT_LRS", "OptimizerSweep", "optimizer_sweep", "digits_cnn"]

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
#: Learning rates: momentum 0.9 at a tenth of SGD's rate has the same effective step.
DEFAULT_LRS = {"sgd": 0.05, "momentum": 0.005, "adam": 1e-3, "adamw": 1e-3}


def digits_cnn(width: int = 8, *, seed: int = 0):
    """The CNN of the sweep: conv(1→w) ReLU conv(w→2w) ReLU avgpool(2) linear(2w·16→10).

    Examples
    --------
    >>> import topo
    >>> from topo.experiments.optimizers import digits_cnn
    >>> model = digits_cnn(4)
    >>> import torch; imp = topo.from_torch(model, torch.zeros(2, 1, 8, 8))
    >>> len(imp.architecture.constrained)
    12
    """
    import torch

    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, padding=1),
                         nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2 * width * 16, 10))


def _optimizer(name: str, params, lr: float, weight_decay: float):
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _optimizer_task(*, optimizer: str, lr: float, seed_index: int, seed, steps: int, batch_size: int, every: int,
                    width: int, weight_decay: float, matched_loss: float, data_kw: dict) -> dict:
    """One run: same initialisation and minibatches for every optimizer of a seed."""
    import torch

    from topo.experiments.data import digits
    from topo.nn.monitor import BalanceMonitor

    Xtr, ytr, Xte, yte = (torch.as_tensor(a) for a in digits(**data_kw))
    Xtr, Xte = Xtr.float(), Xte.float()
    init_seed, batch_seed = (int(s) for s in seed.generate_state(2) % 2**31)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = digits_cnn(width, seed=init_seed)
        opt = _optimizer(optimizer, model.parameters(), lr, weight_decay)
        mon = BalanceMonitor(model, Xtr[:2], every=every, per_class=False).attach(opt)
        losses = _train(model, opt, Xtr, ytr, steps, batch_size, every, batch_seed)
        with torch.no_grad():
            acc = float((model(Xte).argmax(1) == yte).float().mean())
    finally:
        torch.set_num_threads(threads)
    records = [dict(r, loss=losses.get(r["step"])) for r in mon.history]
    return {"row": _row(optimizer, lr, seed_index, records, acc, matched_loss, mon), "records": records}


def _train(model, opt, X, y, steps: int, batch_size: int, every: int, batch_seed: int) -> dict:
    """Minibatch training; the running mean of the loss over each recording interval, by step."""
    import torch

    g = torch.Generator().manual_seed(batch_seed)
    with torch.no_grad():
        losses = {0: float(torch.nn.functional.cross_entropy(model(X), y))}
    window = []
    for t in range(1, steps + 1):
        idx = torch.randint(0, len(X), (batch_size,), generator=g)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        window.append(float(loss.detach()))
        if t % every == 0:
            losses[t] = float(np.mean(window))
            window = []
    return losses


def _row(optimizer: str, lr: float, seed_index: int, records: list, acc: float, matched_loss: float, mon) -> dict:
    last = records[-1]
    hit = next((r for r in records if r["loss"] is not None and r["loss"] <= matched_loss), None)
    return dict(optimizer=optimizer, lr=lr, seed=seed_index, steps=last["step"], train_loss=last["loss"],
                test_accuracy=acc, drift=last["drift"], max_drift=max(r["drift"] for r in records),
                drift_at_matched_loss=hit["drift"] if hit else float("nan"),
                step_at_matched_loss=hit["step"] if hit else -1,
                nearest_stratum_init=records[0]["min_prunability"], nearest_stratum=last["min_prunability"],
                median_stratum_init=records[0]["median_prunability"], median_stratum=last["median_prunability"],
                collapsed=last["collapsed"], frozen_flips=last.get("frozen_flips", 0),
                euler_ok=bool(mon.euler is not None and not mon.euler["failed"]))


@dataclass(frozen=True)
class OptimizerSweep:
    """Result of [`optimizer_sweep`][topo.experiments.optimizers.optimizer_sweep]: a ``table`` row per (optimizer, seed)
    and the monitor's records of each run (``histories[(optimizer, seed)]``, with the loss)."""

    table: Any
    histories: dict = field(default_factory=dict, repr=False)

    def _rows(self) -> list[dict]:
        return self.table.to_dict("records") if hasattr(self.table, "to_dict") else list(self.table)

    def summary(self) -> str:
        return "\n".join(
            f"{r['optimizer']:>9s} lr={r['lr']:.3g} seed {r['seed']}: loss {r['train_loss']:.3f}, test accuracy "
            f"{r['test_accuracy']:.3f}, drift {r['drift']:.3g} (at loss <= matched: {r['drift_at_matched_loss']:.3g}"
            f" step {r['step_at_matched_loss']}), nearest stratum {r['nearest_stratum_init']:.3g} -> "
            f"{r['nearest_stratum']:.3g}, median {r['median_stratum_init']:.3g} -> {r['median_stratum']:.3g}"
            for r in self._rows())

    def to_dict(self) -> dict:
        return {"table": self._rows(),
                "histories": [{"optimizer": k[0], "seed": k[1], "records": v} for k, v in self.histories.items()]}


@sweep_params(optimizers=SequenceOf(NAME), lrs=NoneOr(InstanceOf(dict)), seeds=SEEDS, steps=COUNT,
              batch_size=COUNT, every=COUNT, width=COUNT, weight_decay=TOLERANCE, matched_loss=POSITIVE,
              seed=SWEEP_SEED, test_size=FRACTION, progress=PROGRESS)
def optimizer_sweep(
    optimizers: Sequence[str] = OPTIMIZERS,
    lrs: dict | None = None,
    seeds: Sequence[int] | int = 1,
    *,
    steps: int = 1500,
    batch_size: int = 32,
    every: int = 10,
    width: int = 8,
    weight_decay: float = 1e-2,
    matched_loss: float = 0.3,
    seed: Any = 0,
    test_size: float = 0.3,
    client: Any = None,
    progress: bool | None = None,
) -> OptimizerSweep:
    """Train `digits_cnn` on the digits with each optimizer, a BalanceMonitor attached.

    For a seed index, every optimizer starts from the same initialisation and sees the
    same minibatches (both drawn from the ``i``-th child of ``SeedSequence(seed)``).

    Parameters
    ----------
    optimizers : names from ``OPTIMIZERS``
        ``"sgd"`` (plain), ``"momentum"`` (SGD, momentum 0.9), ``"adam"``, ``"adamw"``
        (decoupled ``weight_decay``).
    lrs : dict, optional
        Learning rates by optimizer name; defaults in ``DEFAULT_LRS``.
    every : int
        The monitor records every ``every`` steps (with the mean minibatch loss since
        the previous record).
    matched_loss : float
        ``drift_at_matched_loss`` is the drift at the first record whose loss is at
        most this: the optimizers compared where they fit the data equally well.

    Returns
    -------
    OptimizerSweep
        ``table`` rows: optimizer, lr, seed, steps, train_loss, test_accuracy, drift,
        max_drift, drift_at_matched_loss, step_at_matched_loss, nearest_stratum_init,
        nearest_stratum, median_stratum_init, median_stratum, collapsed, frozen_flips,
        euler_ok.

    Examples
    --------
    >>> from topo.experiments import optimizer_sweep
    >>> r = optimizer_sweep(("sgd", "adam"), steps=20, every=10, width=2, progress=False)
    >>> list(r.table["optimizer"]), list(r.table["steps"]), bool(r.table["euler_ok"].all())
    (['sgd', 'adam'], [20, 20], True)
    """
    unknown = sorted(set(optimizers) - set(OPTIMIZERS)) + sorted(set(lrs or {}) - set(OPTIMIZERS))
    if unknown:
        raise ExperimentError(f"unknown optimizer(s) {unknown}; expected some of {', '.join(OPTIMIZERS)}")
    rates = DEFAULT_LRS | dict(lrs or {})
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list or not optimizers:
        raise ExperimentError("need at least one optimizer and one seed")
    run_seeds = task_seeds(seed, max(seed_list) + 1)
    tasks, keys = [], []
    for name in optimizers:
        for i in seed_list:
            keys.append((name, i))
            tasks.append(Task(_optimizer_task, dict(
                optimizer=name, lr=float(rates[name]), seed_index=i, seed=run_seeds[i], steps=int(steps),
                batch_size=int(batch_size), every=int(every), width=int(width), weight_decay=float(weight_decay),
                matched_loss=float(matched_loss), data_kw=dict(test_size=test_size))))
    results = run_tasks(tasks, client=client, progress=progress, desc="optimizers")
    return OptimizerSweep(table=tidy([r["row"] for r in results]),
                          histories={k: r["records"] for k, r in zip(keys, results)})
