"""Figures of the sweeps (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_obstruction", "plot_loss_vs_l_plus", "plot_regularizers", "clipped_error"]


def _records(table) -> list[dict]:
    table = getattr(table, "table", table)
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


def _axes(ax, ncols=1, figsize=(5.5, 3.8)):
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=figsize)


def _outside_legend(ax) -> None:
    """The legend below the axes (under the x label, so panels can stand side by side), never
    over the data."""
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)


def _above_legend(ax) -> None:
    """The legend above the axes (for panels side by side), never over the data."""
    ax.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)


def clipped_error(mean: Any, half: Any, low: float = 0.0, high: float = np.inf) -> np.ndarray:
    """``yerr`` for ``errorbar``: the interval ``mean ± half`` clipped to ``[low, high]`` (a loss
    or a probability cannot leave its range), as the (2, n) array of lower and upper lengths.

    Examples
    --------
    >>> clipped_error([0.1, 2.0], [0.3, 0.5]).tolist()
    [[0.1, 0.5], [0.3, 0.5]]
    """
    m, h = np.asarray(mean, dtype=float), np.asarray(half, dtype=float)
    return np.vstack([np.minimum(h, np.maximum(m - low, 0.0)), np.minimum(h, np.maximum(high - m, 0.0))])


def plot_obstruction(table: Any, *, quantity: str = "per_unit", ax=None):
    """Obstruction probability against the hidden width, one line per (input dim, init).

    ``table`` is an [`obstruction_table`][topo.experiments.obstruction.obstruction_table] result of shallow
    ``d-l-1`` networks; Monte Carlo rows get ±2 standard-error bars.  Returns the figure.
    """
    fig, ax = _axes(ax)
    rows = _records(table)
    err_key = {"per_unit": "stderr", "network": "network_stderr", "disconnected": "disconnected_stderr"}[quantity]
    groups: dict = {}
    for r in rows:
        d, l = (int(x) for x in str(r["widths"]).split("-")[:2])
        groups.setdefault((d, r["init"], r["method"]), []).append((l, r[quantity], r[err_key] or 0.0))
    for (d, init, method), pts in sorted(groups.items()):
        pts.sort()
        l, p, e = (np.array(v, dtype=float) for v in zip(*pts))
        style = dict(marker="o", ls="-") if method == "exact" else dict(marker="x", ls="none", capsize=3)
        yerr = clipped_error(p, 2 * e, 0.0, 1.0) if method != "exact" else None  # a probability: [0, 1]
        ax.errorbar(l, p, yerr=yerr, label=f"{init}, d={d} ({method})", **style)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="hidden width l", ylabel={"per_unit": "P(unit pathological)", "network": "P(some unit pathological)",
                                            "disconnected": "P(fiber disconnected)"}[quantity])
    _outside_legend(ax)
    fig.tight_layout()
    return fig


def plot_loss_vs_l_plus(sweep: Any, *, ax=None):
    """Test loss against ``l₊`` per width (mean ± 95 % CI over seeds, clipped at 0: a loss is
    non-negative) and the fitted line."""
    from scipy import stats

    fig, axes = _axes(ax, ncols=2, figsize=(11, 3.8))
    axes = np.atleast_1d(axes)
    rows = _records(sweep)
    fits = getattr(sweep, "fits", {})
    for ax_, key, label in zip(axes, ("l_plus", "fraction"), ("non-pathological units l+", "proportion l+ / l")):
        for w in sorted({r["width"] for r in rows}):
            xs = sorted({r[key] for r in rows if r["width"] == w})
            m, h = [], []
            for x in xs:
                ys = np.array([r["test_loss"] for r in rows if r["width"] == w and r[key] == x])
                m.append(ys.mean())
                h.append(stats.t.ppf(0.975, len(ys) - 1) * ys.std(ddof=1) / np.sqrt(len(ys)) if len(ys) > 1 else 0)
            ax_.errorbar(xs, m, yerr=clipped_error(m, h), marker="o", capsize=3, label=f"l = {w}")
        if key in fits:
            f = fits[key]
            grid = np.linspace(min(r[key] for r in rows), max(r[key] for r in rows), 50)
            ax_.plot(grid, f["intercept"] + f["slope"] * grid, "k--", lw=1,
                     label=f"fit: slope {f['slope']:.3g} [{f['slope_ci'][0]:.3g}, {f['slope_ci'][1]:.3g}]")
        ax_.set(xlabel=label, ylabel="test loss (BCE)")
        _outside_legend(ax_)
    fig.tight_layout()
    return fig


def plot_regularizers(sweep: Any, *, ax=None):
    """Per regulariser: units pruned, test accuracy before/after pruning, distance to the nearest stratum."""
    fig, axes = _axes(ax, ncols=3, figsize=(13, 3.6))
    rows = _records(sweep)
    names = [f"{r['regularizer']}\ns={r['strength']:.2g}" + (f"\nseed {r['seed']}" if r["seed"] else "") for r in rows]
    x = np.arange(len(rows))
    axes[0].bar(x, [r["units_pruned"] for r in rows], color="tab:red")
    axes[0].set(ylabel="units pruned", title=f"of {rows[0]['units']} hidden units" if rows else "")
    axes[1].bar(x - 0.2, [r["accuracy_before"] for r in rows], 0.4, label="before pruning")
    axes[1].bar(x + 0.2, [r["accuracy_after"] for r in rows], 0.4, label="after pruning")
    axes[1].set(ylabel="test accuracy", ylim=(0.5, 1.0))
    _above_legend(axes[1])
    axes[2].bar(x - 0.2, [r["nearest_stratum_init"] for r in rows], 0.4, label="initialisation")
    axes[2].bar(x + 0.2, [r["nearest_stratum"] for r in rows], 0.4, label="after training")
    axes[2].set(ylabel=r"min$_v \|\theta_{\partial v}\|$ (distance to the nearest stratum)", yscale="log")
    _above_legend(axes[2])
    for a in axes:
        a.set_xticks(x, names, fontsize=7)
    fig.tight_layout()
    return fig
