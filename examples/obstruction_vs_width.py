"""Probability that a random initialisation has pathological units, against the width.

A hidden unit k below a scalar output is pathological when its balance
c_k = |w_k|^2 (+ b_k^2) - a_k^2 is negative: its output weight can never cross zero
under gradient flow.  For d-l-1 networks without biases topo gives the exact
probability (an F-distribution tail, derived in docs/experiments.md); this script
tabulates it for Kaiming and Xavier initialisations, checks it against Monte Carlo
(within 4 standard errors), shows the trap of d = 1 (every fiber is disconnected,
although most units are not pathological) and the effect of PyTorch's bias rule.

Run:  python examples/obstruction_vs_width.py [--out DIR] [--samples N] [--scheduler tcp://HOST:PORT]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from topo.experiments import obstruction_probability, obstruction_table  # noqa: E402
from topo.experiments.plots import plot_obstruction  # noqa: E402

WIDTHS = (2, 4, 8, 16, 32)


def main(out: Path, samples: int, scheduler=None):
    archs = [(d, l, 1) for d in (1, 2, 10) for l in WIDTHS]
    exact = obstruction_table(archs, inits=("kaiming", "xavier"))
    mc = obstruction_table(archs, inits=("kaiming", "xavier"), method="monte_carlo", n_samples=samples, seed=0,
                           client=scheduler, disconnection=False)
    rows_e, rows_m = exact.to_dict("records"), mc.to_dict("records")
    print(f"{'network':>8} {'init':>8} | {'exact per unit':>14} | {'Monte Carlo':>18} | {'at least one':>12}")
    for e, m in zip(rows_e, rows_m):
        z = (m["per_unit"] - e["per_unit"]) / max(m["stderr"], 1 / samples)
        print(f"{e['widths']:>8} {e['init']:>8} | {e['per_unit']:14.4f} | {m['per_unit']:.4f} ± {m['stderr']:.4f} "
              f"| {e['network']:12.4f}")
        assert abs(z) < 4, (e["widths"], e["init"], z)
    # Kaiming, d = 1: 1 - (2/pi) arctan(sqrt(l)); Xavier, d = 1: 1/2
    for e in rows_e:
        d, l = (int(x) for x in e["widths"].split("-")[:2])
        if d == 1:
            ref = 1 - 2 / np.pi * np.arctan(np.sqrt(l)) if e["init"] == "kaiming" else 0.5
            assert abs(e["per_unit"] - ref) < 1e-9
    trap = obstruction_probability((1, 8, 1), "kaiming", method="monte_carlo", n_samples=500, seed=1)
    print(f"\n1-8-1, Kaiming: P(some unit pathological) = {trap.network:.3f}, "
          f"P(fiber disconnected) = {trap.disconnected:.3f} (a unit with c > 0 freezes its single input edge)")
    assert trap.disconnected == 1.0 and trap.network < 1.0
    print("\nbias rules, 2-l-1 with biases, Kaiming normal weights (Monte Carlo, per unit / at least one):")
    for rule in ("input", "pytorch"):
        vals = [obstruction_probability((2, l, 1), "kaiming", bias=True, bias_rule=rule, method="monte_carlo",
                                        n_samples=samples, seed=2, disconnection=False) for l in (2, 8, 32)]
        print(f"  bias rule {rule:>8}: " + ", ".join(f"l={l}: {v.per_unit:.3f} / {v.network:.3f}"
                                                     for l, v in zip((2, 8, 32), vals)))
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    plot_obstruction(exact, ax=axes[0])
    plot_obstruction(mc[mc["init"] == "kaiming"], ax=axes[0])
    axes[0].set_title("per unit: exact (lines), Monte Carlo (± 2 standard errors)")
    plot_obstruction(exact, quantity="network", ax=axes[1])
    axes[1].set_title("at least one pathological unit")
    fig.savefig(out / "obstruction_vs_width.png", dpi=110, bbox_inches="tight")
    print(f"\nfigure: {out / 'obstruction_vs_width.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the figure")
    parser.add_argument("--samples", type=int, default=2000, help="Monte Carlo initialisations per configuration")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler address (default: serial)")
    args = parser.parse_args()
    main(args.out, args.samples, args.scheduler)
