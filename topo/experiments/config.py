"""Sweeps described by a config file (``topo sweep CONFIG``).

A config is a JSON or YAML mapping with an ``experiment`` key naming the sweep
and the sweep's keyword arguments::

    experiment: obstruction          # obstruction | pathological | regularizer | optimizers
    widths: [[1, 2, 1], [1, 8, 1], [1, 32, 1]]
    inits: [kaiming, xavier]
    method: monte_carlo
    n_samples: 10000
    seed: 0
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from topo.experiments.runner import PROGRESS, ExperimentError, sweep_params
from topo.utils.validation import PATH, InstanceOf

__all__ = ["EXPERIMENTS", "read_config", "run_config"]


def _experiments() -> dict:
    from topo.experiments import obstruction

    table = {"obstruction": obstruction.obstruction_table}
    try:
        from topo.experiments import optimizers, pathological, regularizers
    except ImportError:  # pragma: no cover - modules always present; kept for partial installs
        return table
    table["pathological"] = pathological.pathological_sweep
    table["regularizer"] = regularizers.regularizer_sweep
    table["optimizers"] = optimizers.optimizer_sweep
    return table


EXPERIMENTS = ("obstruction", "pathological", "regularizer", "optimizers")


@sweep_params(path=PATH)
def read_config(path) -> dict:
    """The mapping stored in a JSON or YAML config file, with a clear error otherwise."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ExperimentError(f"cannot read config file {str(p)!r}: {exc.strerror or exc}") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        detail = " ".join(str(exc).split())  # one line
        kind = p.suffix.lstrip(".") or "YAML"
        raise ExperimentError(f"config file {str(p)!r} is not valid {kind}: {detail}") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"config file {str(p)!r} must hold a mapping with an 'experiment' key")
    return data


@sweep_params(config=InstanceOf(dict, name="a mapping with an 'experiment' key"), progress=PROGRESS)
def run_config(config: dict, *, client: Any = None, progress: bool | None = None):
    """Run the sweep a config mapping describes; returns its result.

    Examples
    --------
    >>> from topo.experiments import run_config
    >>> t = run_config({"experiment": "obstruction", "widths": [[1, 2, 1]], "inits": ["xavier"]})
    >>> list(t["per_unit"])
    [0.5]
    """
    cfg = dict(config)
    name = cfg.pop("experiment", None)
    table = _experiments()
    if name not in table:
        raise ExperimentError(f"config needs 'experiment' set to one of {', '.join(table)}, got {name!r}")
    fn = table[name]
    allowed = set(inspect.signature(fn).parameters) - {"client", "progress"}
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise ExperimentError(
            f"unknown key(s) {', '.join(map(repr, unknown))} for experiment {name!r}; "
            f"expected some of {', '.join(sorted(allowed))}")
    return fn(**cfg, client=client, progress=progress)
