"""What [`topo.BalanceMonitor`][topo.nn.monitor.BalanceMonitor] records, and the history's outputs.

A history is a plain mapping (what [`BalanceMonitor.to_dict`][topo.nn.monitor.BalanceMonitor.to_dict] returns and
`save_history` writes as JSON)::

    {"format": "topo-balance-history", "version": 1,
     "meta": {"model": ..., "n_constrained": ..., "optimizer": ..., "every": ...},
     "records": [{"step": 0, "drift": 0.0, ...}, ...],
     "prunability_bins": [...],            # log-spaced bin edges of the boundary norms
     "prunability_hist": [[...], ...],     # one histogram per record
     "constrained": [...], "balances": [[...], ...]}   # per-class series, when kept

Memory is ``O(recorded steps)`` plus, when per-class series are kept,
``O(classes × recorded steps)``.  This module does not import torch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from topo.errors import ReportError
from topo.utils.validation import PATH, validate_params

__all__ = ["FORMAT", "PRUNABILITY_BINS", "prunability_histogram", "prunability_summary", "to_frame", "summary_text",
           "save_history", "load_history", "tensorboard_sink"]

FORMAT = "topo-balance-history"
#: Bin edges of the prunability histograms: 10^-8 .. 10^4, four bins per decade (below and above: end bins).
PRUNABILITY_BINS = np.logspace(-8, 4, 49)
_INNER_EDGES = PRUNABILITY_BINS[1:-1]


def prunability_histogram(distances: np.ndarray) -> list[int]:
    """Counts of the units' distances to their pruned strata in `PRUNABILITY_BINS`
    (values outside the range fall into the first or last bin, NaN into the last).

    Examples
    --------
    >>> h = prunability_histogram(np.array([0.0, 1e-3, 1.0, 1e9]))
    >>> len(h), h[0], h[20], h[32], h[-1]
    (48, 1, 1, 1, 1)
    """
    # bins [a, b) as numpy.histogram, the last one closed: one search, one count
    pos = np.searchsorted(_INNER_EDGES, np.asarray(distances, dtype=np.float64), side="right")
    return np.bincount(pos, minlength=len(PRUNABILITY_BINS) - 1).tolist()


def prunability_summary(distances: np.ndarray, collapse_tol: float) -> tuple:
    """``(min, median, collapsed, histogram)`` of the units' distances to their pruned strata, from one sort.

    The same values as ``distances.min()``, ``np.median(distances)``, ``(distances <
    collapse_tol).sum()`` and [`prunability_histogram`][topo.nn.monitor_records.prunability_histogram] (NaN
    propagates to the minimum and the median, and falls into the last bin); ``None`` for
    the minimum and the median of no units.

    Examples
    --------
    >>> prunability_summary(np.array([3.0, 1e-5, 0.5, 2.0]), 1e-3)[:3]
    (1e-05, 1.25, 1)
    """
    d = np.sort(np.asarray(distances, dtype=np.float64))  # NaN sorts last
    n = len(d)
    below = np.searchsorted(d, _INNER_EDGES, side="left").tolist()  # values below each inner edge
    hist = [below[0]] + [b - a for a, b in zip(below, below[1:])] + [n - below[-1]]
    collapsed = int(np.searchsorted(d, collapse_tol, side="left"))
    if not n:
        return None, None, collapsed, hist
    if np.isnan(d[-1]):
        return math.nan, math.nan, collapsed, hist
    k = n // 2
    median = float(d[k]) if n % 2 else float(0.5 * (d[k - 1] + d[k]))
    return float(d[0]), median, collapsed, hist


def _finite(x: Any) -> Any:
    """JSON-safe scalars: NaN and infinities as None."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def to_frame(records: list[dict]):
    """The records as a pandas DataFrame indexed by ``step``.

    Examples
    --------
    >>> to_frame([{"step": 0, "drift": 0.0}, {"step": 5, "drift": 1e-3}])["drift"].tolist()
    [0.0, 0.001]
    """
    import pandas as pd

    frame = pd.DataFrame.from_records(list(records))
    return frame.set_index("step", drop=False) if "step" in frame else frame


def summary_text(data: dict) -> str:
    """A few lines on a history: steps, drift, prediction error, flips, collapsed units.

    Examples
    --------
    >>> print(summary_text({"meta": {"n_constrained": 3}, "records": [
    ...     {"step": 0, "drift": 0.0, "min_prunability": 1.0, "collapsed": 0},
    ...     {"step": 10, "drift": 2e-3, "min_prunability": 0.5, "collapsed": 1}]}))
    balance monitor: 3 constrained classes, 2 records (steps 0..10)
      drift ||c_t - c_0|| / ||c_0||: final 0.002, max 0.002
      nearest pruned stratum: 1 -> 0.5; collapsed units at the end: 1
    """
    recs = data.get("records", [])
    meta = data.get("meta", {})
    if not recs:
        return "balance monitor: no records"
    first, last = recs[0], recs[-1]
    lines = [f"balance monitor: {meta.get('n_constrained', '?')} constrained classes, {len(recs)} records "
             f"(steps {first['step']}..{last['step']})"]
    drifts = [r["drift"] for r in recs if r.get("drift") is not None]
    if drifts:
        lines.append(f"  drift ||c_t - c_0|| / ||c_0||: final {last.get('drift'):.3g}, max {max(drifts):.3g}")
    errors = [r["prediction_error"] for r in recs if r.get("prediction_error") is not None]
    if errors:
        lines.append(f"  SGD law c_t+1 = (1-lr*wd)^2 c_t + lr^2 (|g_in|^2 - |g_out|^2): max relative error "
                     f"{max(errors):.3g} over {len(errors)} steps")
    if last.get("decay_error") is not None:
        lines.append(f"  weight-decay law exp(-2 wd t): {last['decay_law']:.4g}, deviation {last['decay_error']:.3g}")
    if last.get("frozen_flips") is not None:
        lines.append(f"  sign flips of the {meta.get('n_frozen', '?')} edges frozen at the start: "
                     f"{last['frozen_flips']} now, {max(r.get('frozen_flips') or 0 for r in recs)} at most")
    if last.get("min_prunability") is not None:
        lines.append(f"  nearest pruned stratum: {first['min_prunability']:.3g} -> {last['min_prunability']:.3g}; "
                     f"collapsed units at the end: {last.get('collapsed', 0)}")
    if last.get("dead") is not None:
        lines.append(f"  dead units on the probe batch: {last['dead']}")
    euler = meta.get("euler")
    if euler:
        lines.append("  Euler self-test: " + ("passed" if not euler.get("failed") else
                                              f"FAILED at {len(euler['failed'])} units") +
                     f" (max relative residual {euler['max_residual']:.3g})")
    return "\n".join(lines)


def _json_ready(data: dict) -> dict:
    out = dict(data)
    out["records"] = [{k: _finite(v) for k, v in r.items()} for r in data.get("records", [])]
    for key in ("prunability_bins", "balances", "prunability_hist"):
        if key in out and out[key] is not None:
            out[key] = np.asarray(out[key]).tolist()
    return out


@validate_params(path=PATH)
def save_history(data: dict, path: str | os.PathLike) -> Path:
    """Write a history mapping as JSON (NaN as null); the path written.

    Examples
    --------
    >>> import tempfile, os
    >>> p = save_history({"format": FORMAT, "version": 1, "records": [{"step": 0, "drift": 0.0}]},
    ...                  os.path.join(tempfile.mkdtemp(), "h.json"))
    >>> load_history(p)["records"]
    [{'step': 0, 'drift': 0.0}]
    """
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(_json_ready(data), indent=1))
    os.replace(tmp, p)
    return p


@validate_params(path=PATH)
def load_history(path: str | os.PathLike) -> dict:
    """Read a history saved by [`BalanceMonitor.save`][topo.nn.monitor.BalanceMonitor.save]; a
    [`ReportError`][topo.errors.ReportError] naming the file when it is not one."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise ReportError(f"cannot read history file {str(p)!r}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"history file {str(p)!r} is not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("records"), list):
        raise ReportError(f"{str(p)!r} is not a balance history (saved by topo.BalanceMonitor.save)")
    return data


def tensorboard_sink(writer: Any, prefix: str = "topo/") -> Callable[[dict, int], None]:
    """A ``sink`` for [`BalanceMonitor`][topo.nn.monitor.BalanceMonitor] writing every number with ``writer.add_scalar``
    (``torch.utils.tensorboard.SummaryWriter`` or anything with that method).

    Examples
    --------
    >>> class Writer:
    ...     def add_scalar(self, tag, value, step):
    ...         print(tag, value, step)
    >>> tensorboard_sink(Writer())({"drift": 0.5, "collapsed": 2, "note": None}, 7)
    topo/drift 0.5 7
    topo/collapsed 2 7
    """
    def sink(values: dict, step: int) -> None:
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(prefix + key, value, step)

    return sink
