"""How often do pattern varieties attain their expected dimension?

For a few small ReLU architectures and data sizes, draw random parameters,
collect the activation patterns they realise on random data, and compute the
exact dimension of each pattern variety V_A (generic Jacobian rank modulo 60-bit
primes).  The table reports, over the realised patterns (weighted by how often
random parameters produce them), how often dim V_A equals the expected dimension
min(n_L * m, N - #hidden).  A picture of the activation regions of one
two-input network is written as well.

Run:  python examples/varieties_table.py [--out DIR]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import topo  # noqa: E402
from topo.plots import plot_activation_regions  # noqa: E402
from topo.varieties import pattern_units, unpack_pattern  # noqa: E402

CASES = [([1, 2, 1], 3), ([2, 2, 1], 4), ([2, 3, 1], 6), ([2, 2, 2], 3), ([2, 3, 2], 5), ([2, 2, 2, 1], 5)]


def main(out: Path):
    print(f"{'widths':>12} | {'m':>2} | {'expected':>8} | {'patterns':>8} | {'attained (weighted)':>19} | dims seen")
    for widths, m in CASES:
        arch = topo.Architecture.mlp(widths)
        X = np.random.default_rng(0).standard_normal((m, widths[0]))
        counts = topo.realized_patterns(arch, X, n_samples=4000, seed=0)
        n_units = len(pattern_units(arch))
        total = sum(counts.values())
        attained = 0
        dims = {}
        expected = None
        for key, k in counts.items():
            V = topo.pattern_variety(arch, X, unpack_pattern(key, m, n_units), search=0)
            expected = V.expected_dimension
            dims[V.dimension] = dims.get(V.dimension, 0) + k
            attained += k * (not V.is_defective)
        seen = ", ".join(f"{d}: {c / total:.0%}" for d, c in sorted(dims.items()))
        print(f"{str(widths):>12} | {m:>2} | {expected:>8} | {len(counts):>8} | {attained / total:>19.1%} | {seen}")
    arch = topo.Architecture.mlp([2, 5, 1])
    X = np.random.default_rng(1).uniform(-1.5, 1.5, size=(8, 2))
    out.mkdir(parents=True, exist_ok=True)
    ax, labels = plot_activation_regions(arch, arch.init(seed=3), X, extent=(-2, 2, -2, 2))
    ax.figure.tight_layout()
    ax.figure.savefig(out / "activation_regions.png", dpi=110)
    plt.close(ax.figure)
    print(f"figure: {out / 'activation_regions.png'} ({int(labels.max()) + 1} regions)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."))
    main(parser.parse_args().out)
