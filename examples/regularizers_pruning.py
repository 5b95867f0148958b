"""Which regulariser brings training closest to a singular stratum (a pruned network)?

Trains a 30-16-8-1 ReLU network (30-6-3-1 by default) on the breast-cancer data with four penalties —
weight decay, L1, a per-unit group lasso (the sum of the units' boundary norms,
i.e. of their distances to the strata where they are cut off) and the nuclear
norm of B~ diag(theta) (half the Jacobian of the balance map, whose rank drops at
singular points; with one hidden layer it equals the group lasso, hence two
hidden layers here) — each until the objective stops decreasing; then prunes the
units whose boundary norm is below a tolerance and compares test accuracy before
and after, with the distance to the nearest stratum.

The default run is small (CI); `--full` runs the configuration of docs/experiments.md.

Run:  python examples/regularizers_pruning.py [--out DIR] [--full] [--scheduler tcp://HOST:PORT]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from topo.experiments import regularizer_sweep  # noqa: E402
from topo.experiments.plots import plot_regularizers  # noqa: E402

SMALL = dict(hidden=(6, 3), max_steps=600, round_steps=200, lr=0.1, prune_tol=0.05,
             strengths={"weight_decay": 0.05, "l1": 0.005, "group_lasso": 0.05, "nuclear": 0.05})
FULL = dict(hidden=(16, 8), max_steps=6000, round_steps=500, lr=0.1, prune_tol=0.02,
            strengths={"weight_decay": 0.02, "l1": 0.003, "group_lasso": 0.02, "nuclear": 0.02})


def main(out: Path, full: bool, scheduler=None):
    sweep = regularizer_sweep(**(FULL if full else SMALL), client=scheduler)
    print(sweep.summary())
    rows = {r["regularizer"]: r for r in sweep.table.to_dict("records")}
    for r in rows.values():
        # pruning only removes units whose boundary norm is below the tolerance: the logits move little
        assert r["units_pruned"] == 0 or r["max_output_change"] < 1.0
    # the group lasso penalises exactly the distances to the strata: it prunes at least as many
    # units as weight decay (which shrinks every weight alike; a unit that is dead on the data
    # may still decay to its stratum under it)
    assert rows["group_lasso"]["units_pruned"] >= max(1, rows["weight_decay"]["units_pruned"])
    out.mkdir(parents=True, exist_ok=True)
    fig = plot_regularizers(sweep)
    fig.savefig(out / "regularizers_pruning.png", dpi=110, bbox_inches="tight")
    print(f"\nfigure: {out / 'regularizers_pruning.png'}")
    return sweep


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the figure")
    parser.add_argument("--full", action="store_true", help="the larger configuration of docs/experiments.md")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler address (default: serial)")
    args = parser.parse_args()
    main(args.out, args.full, args.scheduler)
