"""Does the test loss depend on the number l+ of non-pathological units, or on l+/l?

The 2024 paper trains 30-l-1 ReLU networks on the breast-cancer data with a
prescribed number l+ of hidden units of positive balance (non-pathological),
set by a function-preserving rescaling of one initialisation, and reports that
the test loss depends on l+ rather than on the proportion l+/l.  This script runs
that grid with topo.experiments.pathological_sweep (serially, or on a Dask
scheduler), checks that every network of a (width, seed) pair starts from the
same function and that its fiber has 2^(l - l+) components, fits the test loss
against l+ and against l+/l with 95 % confidence intervals, and plots it.

The default grid is small so that the script runs in CI in well under a minute;
`--full` runs the grid of docs/experiments.md (widths 2..16, 4 seeds, 1500 steps).

Run:  python examples/pathological_breast_cancer.py [--out DIR] [--full] [--scheduler tcp://HOST:PORT]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from topo.experiments import pathological_sweep  # noqa: E402
from topo.experiments.plots import plot_loss_vs_l_plus  # noqa: E402

SMALL = dict(widths=(2, 4), l_plus=(0, 1, 2, 4), seeds=2, steps=100, lr=0.05)
FULL = dict(widths=(2, 4, 8, 16), l_plus=None, seeds=4, steps=1500, lr=0.05)


def main(out: Path, full: bool, scheduler=None):
    grid = FULL if full else SMALL
    sweep = pathological_sweep(**grid, client=scheduler, progress=None)
    rows = sweep.table.to_dict("records")
    print(sweep.table.groupby(["width", "l_plus"])[["test_loss", "test_accuracy"]].agg(["mean", "std"]).round(4))
    for r in rows:
        assert r["components"] == 2 ** (r["width"] - r["l_plus"])
    for key in {(r["width"], r["seed"]) for r in rows}:
        init = [r["initial_test_loss"] for r in rows if (r["width"], r["seed"]) == key]
        assert np.ptp(init) < 1e-12  # rescalings are symmetries: same starting function
    print("\n" + sweep.summary())
    out.mkdir(parents=True, exist_ok=True)
    fig = plot_loss_vs_l_plus(sweep)
    name = "loss_vs_l_plus.png"
    fig.savefig(out / name, dpi=110, bbox_inches="tight")
    print(f"\nfigure: {out / name}")
    return sweep


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the figure")
    parser.add_argument("--full", action="store_true", help="the larger grid of docs/experiments.md")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler address (default: serial)")
    args = parser.parse_args()
    main(args.out, args.full, args.scheduler)
