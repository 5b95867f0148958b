"""Cost of components up to symmetry (automorphism group + orbit count).

    python benchmarks/symmetry.py            # small and neuron-level cases
    python benchmarks/symmetry.py --resnet   # also the ResNet-18-shaped CNN (needs torch; slow)

Each row: the network, its group (order, how it was found), the count, and the time of
``topo.automorphism_group`` (cold: nothing cached, igraph possibly imported) and of
``topo.components_up_to_symmetry`` after it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import topo  # noqa: E402
from _table import print_table  # noqa: E402


def _row(name, arch, c):
    t0 = time.perf_counter()
    G = topo.automorphism_group(arch)
    t1 = time.perf_counter()
    sym = topo.components_up_to_symmetry(arch, c)
    t2 = time.perf_counter()
    order = str(G.order) if G.log10_order < 12 else f"10^{G.log10_order:.1f}"
    size = f"{arch.n_edges:,} edges; |G| = {order} ({G.backend}); {sym.summary()}"
    return (name, size, f"group {t1 - t0:.2f}s + classes {t2 - t1:.2f}s", "bounded, recorded")


def main(resnet: bool):
    rows = []
    arch = topo.Architecture.mlp([2, 2, 1])
    rows.append(_row("2-2-1, c = (-1, -2)", arch, [-1.0, -2.0]))
    arch = topo.Architecture.mlp([2, 30, 1])
    rows.append(_row("2-30-1, all c < 0", arch, -np.ones(30)))
    arch = topo.Architecture.mlp([784, 1024, 1024, 10])
    rows.append(_row("MLP 784-1024-1024-10", arch, np.ones(arch.n_constrained)))
    arch = topo.Architecture.mlp([8] + [64] * 9 + [1])
    rows.append(_row("MLP 8-64x9-1", arch, np.ones(arch.n_constrained)))
    if resnet:
        from topo import zoo
        from topo.nn.trace import from_torch

        model, x = zoo.resnet18()
        imp = from_torch(model, x)
        rows.append(_row("ResNet-18-shaped, channel", imp.architecture, topo.balance(imp.architecture, imp.theta)))
    print_table(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resnet", action="store_true")
    main(parser.parse_args().resnet)
