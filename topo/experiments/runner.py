"""Run a list of seeded tasks serially or on a Dask cluster, with identical results.

A sweep is split into `Task` objects: a module-level function and its
keyword arguments, one of which is the task's own ``numpy.random.SeedSequence``
(derived from the sweep's seed by task index, never from the order of
execution).  [`run_tasks`][topo.experiments.runner.run_tasks] runs them in-process (``client=None``: no Dask
import) or maps them on a ``dask.distributed.Client`` (or a scheduler address),
and returns the results in task order, so that a reduction over them gives the
same numbers wherever the tasks ran.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.errors import TopoError
from topo.graph.initializers import BIAS_RULE, SCHEMES
from topo.utils.validation import (
    BOOLEAN,
    COUNT,
    COUNT_OR_ZERO,
    NAME,
    POSITIVE,
    AnyOf,
    InstanceOf,
    Interval,
    NoneOr,
    Options,
    SequenceOf,
    validate_params,
)

__all__ = ["Task", "run_tasks", "task_seeds", "tidy", "ExperimentError", "sweep_params", "SWEEP_SEED", "SEEDS",
           "INIT", "BIAS_RULE", "FRACTION", "PROGRESS", "SWEEP_OPTIONS"]


class ExperimentError(TopoError, ValueError):
    """An experiment or sweep was given an invalid configuration."""


#: `validate_params` for the experiments: refusals are ExperimentErrors.
sweep_params = functools.partial(validate_params, error=ExperimentError)

#: The seed of a sweep (the root of its task seeds): None, an integer >= 0, a sequence of them or a SeedSequence.
SWEEP_SEED = AnyOf(None, COUNT_OR_ZERO, SequenceOf(COUNT_OR_ZERO),
                   InstanceOf(np.random.SeedSequence, name="a numpy SeedSequence"))
#: ``seeds`` of a sweep: how many (seed indices 0..n-1), or the seed indices themselves.
SEEDS = AnyOf(COUNT, SequenceOf(COUNT_OR_ZERO))
#: An initialisation scheme (the names of `topo.graph.initializers.SCHEMES`).
INIT = Options(*SCHEMES, unknown="init")
FRACTION = Interval(float, 0, 1, closed="neither")
PROGRESS = NoneOr(BOOLEAN)
#: The options every training sweep takes (seeds, initialisation, data split, progress bar).
SWEEP_OPTIONS = dict(seeds=SEEDS, init=INIT, bias=BOOLEAN, lr=POSITIVE, seed=SWEEP_SEED, test_size=FRACTION,
                     n_train=NoneOr(COUNT), n_test=NoneOr(COUNT), progress=PROGRESS)


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(**kwargs)``; ``fn`` must be importable (module level)."""

    fn: Callable
    kwargs: dict = field(default_factory=dict)

    def __call__(self):
        return self.fn(**self.kwargs)


def _run(task: Task):
    return task()


@sweep_params(seed=SWEEP_SEED, n=COUNT_OR_ZERO)
def task_seeds(seed: Any, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent seed sequences derived from ``seed`` by index.

    Task ``i`` always gets the ``i``-th child of ``SeedSequence(seed)``, whoever
    runs it and in whatever order.

    Examples
    --------
    >>> from topo.experiments import task_seeds
    >>> a, b = task_seeds(7, 2)
    >>> a.spawn_key, b.spawn_key
    ((0,), (1,))
    >>> import numpy as np
    >>> bool(np.random.default_rng(task_seeds(7, 3)[1]).random() == np.random.default_rng(b).random())
    True
    """
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif seed is None or isinstance(seed, (int, np.integer)) or (
            isinstance(seed, Sequence) and not isinstance(seed, str)):
        root = np.random.SeedSequence(seed)
    else:
        raise ExperimentError(f"seed must be an int, a sequence of ints or a SeedSequence, got {seed!r}")
    return [np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key + (i,)) for i in range(n)]


def _progress(total: int, progress: bool | None, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=None if progress is None else not progress, leave=False)


def _get_client(client):
    """``(client, owned)``: a Client for an address string, or the given client."""
    if isinstance(client, str):
        try:
            from distributed import Client
        except ImportError:
            raise ExperimentError(
                "a scheduler address needs dask.distributed: pip install 'relu-topo[dask]'") from None
        try:
            return Client(client, timeout="20s"), True
        except OSError as exc:
            raise ExperimentError(f"cannot connect to the Dask scheduler at {client!r}: {exc}") from None
    if not hasattr(client, "map") or not hasattr(client, "gather"):
        raise ExperimentError(
            f"client must be None, a dask.distributed.Client or a scheduler address, got {type(client).__name__}")
    return client, False


@sweep_params(progress=PROGRESS, desc=NAME)
def run_tasks(
    tasks: Sequence[Task], *, client: Any = None, progress: bool | None = None, desc: str = "tasks",
) -> list:
    """Results of ``tasks``, in order, computed serially or on Dask.

    Parameters
    ----------
    tasks : sequence of Task
    client : None, dask.distributed.Client or str
        ``None`` runs in this process; a client maps the tasks on its cluster; a
        string (``"tcp://127.0.0.1:8786"``) connects to that scheduler for the
        duration of the call.
    progress : bool or None
        A tqdm progress bar; ``None`` shows it only on a terminal.

    Examples
    --------
    >>> from topo.experiments import Task, run_tasks
    >>> run_tasks([Task(round, {"number": 2.675, "ndigits": k}) for k in (0, 1)], progress=False)
    [3.0, 2.7]
    """
    tasks = list(tasks)
    bar = _progress(len(tasks), progress, desc)
    try:
        if client is None:
            out = []
            for t in tasks:
                out.append(t())
                bar.update()
            return out
        cl, owned = _get_client(client)
        try:
            from distributed import as_completed

            futures = cl.map(_run, tasks, pure=False)
            for _ in as_completed(futures):
                bar.update()
            return cl.gather(futures)
        finally:
            if owned:
                cl.close()
    finally:
        bar.close()


def tidy(records: list[dict]):
    """A pandas DataFrame of ``records`` when pandas is installed, else the list itself.

    Examples
    --------
    >>> from topo.experiments import tidy
    >>> t = tidy([{"width": 2, "p": 0.5}, {"width": 8, "p": 0.25}])
    >>> list(t["width"])
    [2, 8]
    """
    try:
        import pandas as pd
    except ImportError:
        return list(records)
    return pd.DataFrame.from_records(list(records))
