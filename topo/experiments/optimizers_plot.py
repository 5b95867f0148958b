"""The figure of `topo.experiments.optimizer_sweep`: drift and prunability side by side.

Three panels, one colour per optimizer (one line per seed): the balances' drift
``||c_t − c_0|| / ||c_0||`` against the step (log scale); the same drift against
the training loss (the optimizers compared where they fit the data equally well,
the matched loss dashed); the distance of the channels to their pruned strata
``||θ_∂C||`` (median solid, nearest dotted) against the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_optimizers"]

_COLOURS = {"sgd": "C0", "momentum": "C2", "adam": "C3", "adamw": "C1"}
_LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam", "adamw": "AdamW"}
_STYLES = {"adamw": (0, (4, 3))}  # dashed: AdamW's curves can lie on Adam's


def _histories(sweep: Any) -> list[tuple[str, int, list]]:
    """``(optimizer, seed, records)`` of an `OptimizerSweep` or of its ``to_dict()``."""
    if isinstance(sweep, dict):
        return [(h["optimizer"], int(h["seed"]), h["records"]) for h in sweep["histories"]]
    return [(k[0], int(k[1]), v) for k, v in sweep.histories.items()]


def _column(records: list, key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in records])


def plot_optimizers(sweep: Any, *, matched_loss: float | None = 0.3):
    """A matplotlib Figure of an optimizer sweep (the result or its ``to_dict()``).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> recs = [{"step": s, "drift": 1e-3 * s, "loss": 2.0 / (1 + s), "median_prunability": 1.0,
    ...          "min_prunability": 0.5} for s in range(0, 50, 10)]
    >>> fig = plot_optimizers({"histories": [{"optimizer": "sgd", "seed": 0, "records": recs}]})
    >>> len(fig.axes)
    3
    """
    import matplotlib.pyplot as plt

    fig, (a_step, a_loss, a_prune) = plt.subplots(1, 3, figsize=(14, 3.9))
    seen = set()
    for name, _, records in _histories(sweep):
        colour, label = _COLOURS.get(name, "k"), _LABELS.get(name, name)
        kw = dict(color=colour, lw=1.2, ls=_STYLES.get(name, "-"), label=None if name in seen else label)
        seen.add(name)
        step, drift, loss = _column(records, "step"), _column(records, "drift"), _column(records, "loss")
        keep = drift > 0
        a_step.plot(step[keep], drift[keep], **kw)
        a_loss.plot(loss[keep], drift[keep], **kw)
        a_prune.plot(step, _column(records, "median_prunability"), **kw)
        a_prune.plot(step, _column(records, "min_prunability"), color=colour, lw=1.0, ls=":" if name != "adamw"
                     else (0, (1, 3)))
    a_step.set(xlabel="step", ylabel=r"drift $\|c_t - c_0\| / \|c_0\|$", yscale="log",
               title="drift of the balances")
    a_loss.set(xlabel="training loss (mean over the recording interval)", ylabel="drift", yscale="log",
               title="drift against the training loss")
    a_loss.invert_xaxis()
    if matched_loss is not None:
        a_loss.axvline(matched_loss, color="0.5", ls="--", lw=0.8)
    a_prune.set(xlabel="step", ylabel=r"$\|\theta_{\partial C}\|$",
                title="distance to the pruned strata\n(median solid, nearest dotted)")
    for ax in (a_step, a_loss, a_prune):
        ax.grid(alpha=0.3)
    a_step.legend(fontsize=8)
    fig.tight_layout()
    return fig
