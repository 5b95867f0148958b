"""Benchmark of the sampled persistent-homology check (issue 9) against the exact count.

Prints one table; run from the repository root (needs the torch extra for the zoo models):

    PYTHONPATH=. python benchmarks/fiber_verification.py            # all cases
    PYTHONPATH=. python benchmarks/fiber_verification.py --quick    # no ResNet-18, fewer points

For every network: the exact connectivity (balances, frozen edges, components) and
`verify_topology` at its defaults (2000 points per factor, bottleneck coordinates), timed in
the same process, and whether they agree.  The zoo models and the wide MLP have no
bottleneck edge (connected by the theorem, nothing to sample), so two cases with something
to sample are added: the 64-128-128-1 MLP with three negative last-layer units (8 components,
a 128-coordinate factor) and `sample_fiber` on the whole LeNet fiber (the sparse sampler,
61,706 weights).  Target: each verification under 60 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402
import topo  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def zoo_case(name: str):
    from topo import zoo
    from topo.nn.trace import from_torch

    imp = from_torch(*getattr(zoo, name)())
    return imp.architecture, imp.theta


def mlp_case(widths, negative=()):
    arch = topo.Architecture.mlp(list(widths))
    if not negative:
        return arch, arch.init(seed=0)
    rng = np.random.default_rng(3)
    c = rng.uniform(0.5, 2, size=arch.n_constrained)
    for unit in negative:
        c[arch.constrained_row(unit)] *= -1
    return arch, c


def verify_row(label, arch, c_or_theta, *, is_theta: bool, n_samples: int):
    c = topo.balance(arch, c_or_theta) if is_theta else c_or_theta
    rep, t_exact = timed(lambda: topo.connectivity(arch, c))
    res, t_ver = timed(lambda: topo.verify_topology(arch, c, n_samples=n_samples, progress=False))
    size = (f"{arch.n_params:,} weights, {res.theory_b0} comp., {len(res.factors)} factor(s) sampled, "
            f"{res.n_trivial_factors} trivial")
    verdict = f"PH {res.ph_b0} vs exact {rep.n_components}: {res.status}"
    return (label, size, f"{t_ver:.2f}s (exact {t_exact:.3f}s)", f"< 60 s; {verdict}")


def main(quick: bool) -> None:
    n = 500 if quick else 2000
    rows = []
    arch, theta = zoo_case("lenet")
    rows.append(verify_row("LeNet (topo.zoo)", arch, theta, is_theta=True, n_samples=n))
    pts, t = timed(lambda: topo.sample_fiber(arch, topo.balance(arch, theta), 50 if quick else 200, seed=0,
                                             progress=False))
    rows.append(("LeNet: sample_fiber (all weights)", f"{len(pts)} points x {pts.shape[1]:,}", f"{t:.2f}s",
                 "was > 10 min (dense null space)"))
    if not quick:
        arch, theta = zoo_case("resnet18")
        rows.append(verify_row("ResNet-18 (topo.zoo)", arch, theta, is_theta=True, n_samples=n))
    arch, theta = mlp_case([784, 256, 256, 10])
    rows.append(verify_row("MLP 784-256-256-10", arch, theta, is_theta=True, n_samples=n))
    arch, c = mlp_case([64, 128, 128, 1], negative=("h2_5", "h2_60", "h2_100"))
    rows.append(verify_row("MLP 64-128-128-1, 3 negative", arch, c, is_theta=False, n_samples=n))
    print_table(rows, headers=("case", "size", "verify_topology", "target / result"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
