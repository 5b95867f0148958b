"""The figure of a balance history ([`topo.BalanceMonitor.plot`][topo.nn.monitor.BalanceMonitor.plot],
``topo audit --history``).

Three panels: the drift ``||c_t − c_0|| / ||c_0||`` per step on a log scale; the
balance norm observed against the SGD law's one-step prediction and the
weight-decay law; the histogram of the units' distances to their pruned strata
over time (steps × log-spaced bins).
"""

from __future__ import annotations

import numpy as np

__all__ = ["history_figure"]


def _series(records: list, key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    if not pts:
        return np.zeros(0), np.zeros(0)
    s, v = zip(*pts)
    return np.asarray(s, dtype=float), np.asarray(v, dtype=float)


def _drift_panel(ax, records: list) -> None:
    s, d = _series(records, "drift")
    keep = d > 0
    ax.semilogy(s[keep], d[keep], color="C0", label="drift")
    s, e = _series(records, "prediction_error")
    if len(e):
        ax.semilogy(s, np.maximum(e, 1e-18), color="C3", lw=0.8, label="SGD-law error")
    ax.set_xlabel("step")
    ax.set_title(r"drift $\|c_t - c_0\| / \|c_0\|$")
    ax.legend(fontsize=8)


def _norm_panel(ax, records: list) -> None:
    s, n = _series(records, "balance_norm")
    n0 = n[0] if len(n) and n[0] else 1.0
    ax.plot(s, n / n0, color="C0", label="observed")
    sp, p = _series(records, "predicted_norm")
    if len(p):
        ax.plot(sp, p / n0, ls="none", marker=".", ms=3, color="C1", label="SGD law (one step)")
    sl, law = _series(records, "decay_law")
    if len(law) and np.any(law < 1):
        ax.plot(sl, law, ls="--", color="C2", label=r"$e^{-2\lambda t}$")
    ax.set_xlabel("step")
    ax.set_title(r"$\|c_t\| / \|c_0\|$: observed and predicted")
    ax.legend(fontsize=8)


def _prunability_panel(ax, data: dict) -> None:
    hist = np.asarray(data.get("prunability_hist") or [], dtype=float)
    bins = np.asarray(data.get("prunability_bins") or [1e-8, 1e4])
    steps = np.asarray([r["step"] for r in data.get("records", [])], dtype=float)
    if hist.size and len(steps) == len(hist):
        edges = np.log10(bins)
        t = np.concatenate([steps, [steps[-1] + (steps[-1] - steps[-2] if len(steps) > 1 else 1)]])
        ax.pcolormesh(t, edges, np.log1p(hist.T), cmap="viridis", shading="flat")
        rows = np.flatnonzero(hist.sum(axis=0))
        if len(rows):
            ax.set_ylim(edges[max(rows[0] - 1, 0)], edges[min(rows[-1] + 2, len(edges) - 1)])
    ax.set_xlabel("step")
    ax.set_ylabel(r"$\log_{10} \|\theta_{\partial C}\|$")
    ax.set_title("distance to the pruned strata")


def history_figure(data: dict, *, title: str | None = None):
    """A matplotlib Figure of a history mapping ([`BalanceMonitor.to_dict`][topo.nn.monitor.BalanceMonitor.to_dict] or a
    saved file).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> fig = history_figure({"records": [{"step": 0, "drift": 0.0, "balance_norm": 1.0},
    ...                                   {"step": 1, "drift": 1e-3, "balance_norm": 1.001}],
    ...                       "prunability_bins": [1e-2, 1e-1, 1.0, 10.0],
    ...                       "prunability_hist": [[0, 2, 1], [1, 1, 1]]})
    >>> len(fig.axes)
    3
    """
    import matplotlib.pyplot as plt

    records = data.get("records", [])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    _drift_panel(axes[0], records)
    _norm_panel(axes[1], records)
    _prunability_panel(axes[2], data)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
