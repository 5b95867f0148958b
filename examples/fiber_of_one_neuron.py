"""The fiber of one ReLU neuron with two inputs, for c < 0, c = 0 and c > 0.

A neuron with input weights (w1, w2) and output weight a conserves
c = w1² + w2² - a².  Its fiber is a two-sheeted hyperboloid for c < 0 (two
components: a can never change sign), a cone for c = 0 (singular at 0) and a
one-sheeted hyperboloid for c > 0 (connected, with a circle of directions).
The script samples each fiber, draws it with its persistence diagram, and checks
the persistent Betti numbers against the exact ones (β = [2], [1], [1, 1]).

Run:  python examples/fiber_of_one_neuron.py [--out DIR]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import topo  # noqa: E402
from topo.plots import plot_diagram, plot_fiber  # noqa: E402


def main(out: Path):
    arch = topo.Architecture.mlp([2, 1, 1], bias=False)  # parameters (w1, w2, a)
    fig = plt.figure(figsize=(12, 7.5))
    for j, c in enumerate([-1.0, 0.0, 1.0]):
        res = topo.verify_topology(arch, [c], n_samples=1500, seed=j, coordinates="all", max_dimension=1)
        pts = topo.sample_fiber(arch, [c], 1500, seed=j, radius=2.0)  # a wider window for the picture
        exact = topo.betti_numbers(arch, [c]).betti
        print(f"c = {c:+.0f}: exact Betti numbers {exact}, persistent {res.estimate.betti}, "
              f"components {res.theory_b0}")
        assert res.estimate.betti[: len(exact)] == exact
        ax = fig.add_subplot(2, 3, j + 1, projection="3d")
        plot_fiber(pts, ax=ax, title=f"c = {c:+.0f}: β = {exact}", axis_labels=("w1", "w2", "a"))
        plot_diagram(res.diagrams, ax=fig.add_subplot(2, 3, j + 4), title=f"Rips persistence, c = {c:+.0f}")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "fiber_of_one_neuron.png", dpi=100)
    print(f"figure: {out / 'fiber_of_one_neuron.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."))
    main(parser.parse_args().out)
