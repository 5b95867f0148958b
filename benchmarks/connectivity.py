"""Benchmarks of the exact connectivity analysis (issue: foundation).

Prints one table; run from the repository root:

    python benchmarks/connectivity.py            # all three parts
    python benchmarks/connectivity.py --quick    # smaller sizes, for a smoke run

(a) random layered DAG with skip connections and bottlenecks, ~10^6 scalar edges:
    build + balance + connectivity;
(b) a chain and a binary tree of ~10^5 bottleneck nodes;
(c) against one linear program per edge (scipy HiGHS) on a ~2,000-edge DAG, with
    the frozen sets compared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402
import topo  # noqa: E402
from topo import generators  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def part_a(quick: bool) -> list[tuple]:
    width, fan_in = (300, 30) if quick else (1000, 110)
    arch, t_build = timed(lambda: generators.random_layered_dag(10, width, fan_in=fan_in, p_skip=0.1, seed=0))
    theta = arch.init(seed=0)
    c, t_bal = timed(lambda: topo.balance(arch, theta))
    rep, t_conn = timed(lambda: topo.connectivity(arch, c))
    d = topo.decompose(arch)
    total = t_build + t_bal + t_conn
    return [
        ("(a) layered DAG", f"{arch.n_edges:,} edges, {arch.n_constrained:,} constrained, "
         f"{len(d.in_forest.roots)} in-/{len(d.out_forest.roots)} out-bottlenecks, {len(rep.frozen_edges)} frozen",
         f"build {t_build:.2f}s + balance {t_bal:.2f}s + connectivity {t_conn:.2f}s = {total:.2f}s", "< 10 s"),
    ]


def part_b(quick: bool) -> list[tuple]:
    rows = []
    n = 10_000 if quick else 100_000
    depth = 12 if quick else 16
    for label, build in (("(b) chain", lambda: generators.bottleneck_chain(n)),
                         ("(b) binary tree", lambda: generators.binary_tree(depth))):
        def run():
            arch = build()
            c = topo.balance(arch, arch.init(seed=1))
            return arch, topo.connectivity(arch, c)

        (arch, rep), t = timed(run)
        rows.append((label, f"{arch.n_constrained:,} bottleneck nodes, {len(rep.frozen_edges):,} frozen",
                     f"build + balance + connectivity {t:.2f}s", "< 10 s"))
    return rows


def lp_frozen(arch: topo.Architecture, c: np.ndarray) -> set:
    """Baseline: min q_e over P(c) by one HiGHS LP per edge."""
    row = arch.node_row
    E = arch.n_edges
    head, tail = row[arch.dst], row[arch.src]
    rows = np.concatenate([head[head >= 0], tail[tail >= 0]])
    cols = np.concatenate([np.flatnonzero(head >= 0), np.flatnonzero(tail >= 0)])
    vals = np.concatenate([np.ones(int((head >= 0).sum())), -np.ones(int((tail >= 0).sum()))])
    B = sp.csr_matrix((vals, (rows, cols)), shape=(arch.n_constrained, E))
    frozen = set()
    scale = float(np.abs(c).max())
    for e in range(E):
        if head[e] < 0 and tail[e] < 0:
            continue
        cost = np.zeros(E)
        cost[e] = 1.0
        res = linprog(cost, A_eq=B, b_eq=c / scale, bounds=(0, None), method="highs")
        if res.status == 0 and res.fun > 1e-7:
            frozen.add(e)
    return frozen


def part_c(quick: bool) -> list[tuple]:
    arch = generators.random_layered_dag(
        6, 60, fan_in=6, n_inputs=10, p_skip=0.15, p_in_bottleneck=0.25, p_out_bottleneck=0.25, seed=3
    )
    theta = arch.init("normal", seed=3)
    c = topo.balance(arch, theta)
    reps = 20

    # include the structural decomposition, which an architecture caches: a fresh copy per run
    copies = [topo.Architecture.from_arrays(arch.src, arch.dst, nodes=arch.nodes, sizes=arch.edge_sizes,
                                            trainable=arch.edge_trainable,
                                            roles={v: arch.role(v) for v in arch.nodes},
                                            activations={v: arch.activation(v) for v in arch.hidden + arch.outputs})
              for _ in range(reps)]
    _, t_ours = timed(lambda: [topo.connectivity(a, c) for a in copies])
    t_ours /= reps
    ours = set(topo.connectivity(arch, c).frozen_index.tolist())
    base, t_lp = timed(lambda: lp_frozen(arch, c))
    same = "identical" if base == ours else f"DIFFERENT ({len(base ^ ours)} edges)"
    return [("(c) vs one LP per edge", f"{arch.n_edges:,} edges, {len(ours)} frozen, frozen sets {same}",
             f"topo {t_ours * 1e3:.1f} ms, LP {t_lp:.1f} s, speed-up {t_lp / t_ours:,.0f}x", ">= 100x")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = part_a(args.quick) + part_b(args.quick) + part_c(args.quick)
    print_table(rows, ("case", "size", "time", "target"))


if __name__ == "__main__":
    main()
