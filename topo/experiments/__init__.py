"""The papers' experiments as one-call sweeps, serial or on a Dask cluster.

* :func:`obstruction_probability`, :func:`obstruction_table` — probability that a
  random initialisation has pathological units (exact F-tail or Monte Carlo);
* :func:`optimizer_sweep` — a small CNN on the digits trained with SGD, momentum, Adam and
  AdamW under a :class:`topo.BalanceMonitor`: which optimizers keep the fiber;
* :func:`run_tasks`, :func:`task_seeds`, :func:`tidy` — the shared runner: seeded
  tasks, run in-process or on ``dask.distributed`` with identical results.

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
