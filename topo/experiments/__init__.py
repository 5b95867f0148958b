"""The papers' experiments as one-call sweeps, serial or on a Dask cluster.

* [`obstruction_probability`][topo.experiments.obstruction.obstruction_probability],
  [`obstruction_table`][topo.experiments.obstruction.obstruction_table] — probability that a random initialisation has
  pathological units (exact F-tail or Monte Carlo);
* [`optimizer_sweep`][topo.experiments.optimizers.optimizer_sweep] — a small CNN on the digits trained with SGD,
  momentum, Adam and AdamW under a [`topo.BalanceMonitor`][topo.nn.monitor.BalanceMonitor]: which optimizers keep the
  fiber;
* [`run_tasks`][topo.experiments.runner.run_tasks], [`task_seeds`][topo.experiments.runner.task_seeds], `tidy` — the
  shared runner: seeded tasks, run in-process or on ``dask.distributed`` with identical results.

See ``docs/experiments.md``.
"""

from topo.experiments.config import read_config, run_config
from topo.experiments.obstruction import (
    ObstructionProbability,
    obstruction_probability,
    obstruction_table,
    units_below_output,
)
from topo.experiments.optimizers import OPTIMIZERS, OptimizerSweep, optimizer_sweep
from topo.experiments.pathological import PathologicalSweep, init_with_balance_signs, linear_fit, pathological_sweep
from topo.experiments.regularizers import PENALTIES, Penalty, RegularizerSweep, penalty, regularizer_sweep
from topo.experiments.runner import ExperimentError, Task, run_tasks, task_seeds, tidy

__all__ = [
    "ExperimentError",
    "ObstructionProbability",
    "OPTIMIZERS",
    "OptimizerSweep",
    "PENALTIES",
    "PathologicalSweep",
    "Penalty",
    "RegularizerSweep",
    "Task",
    "init_with_balance_signs",
    "linear_fit",
    "pathological_sweep",
    "penalty",
    "regularizer_sweep",
    "optimizer_sweep",
    "obstruction_probability",
    "obstruction_table",
    "read_config",
    "run_config",
    "run_tasks",
    "task_seeds",
    "tidy",
    "units_below_output",
]
