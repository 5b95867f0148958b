"""Benchmarks of the persistent-homology pipeline.

    python benchmarks/persistence.py

(1) H0 of 20,000 Gaussian points in 20 dimensions: topo's exact MST (Prim, no
    distance matrix) against gudhi's Rips complex on the same cloud.  gudhi is
    given the largest death as its edge threshold (without it the complete graph
    has 2·10^8 edges), which only helps gudhi; death times are compared.
(2) H1 of 1,000 points on a noisy torus in 3-D, same Rips threshold: topo
    (gudhi with edge collapse) against plain gudhi (expansion without collapse);
    the H1 diagrams are compared.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import gudhi
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402
from topo.sampling.persistence import mst_h0_deaths, persistence  # noqa: E402


def part1():
    X = np.random.default_rng(0).standard_normal((20_000, 20))
    t = time.perf_counter()
    ours = mst_h0_deaths(X, progress=False)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    st = gudhi.RipsComplex(points=X, max_edge_length=float(ours[-1]) * (1 + 1e-12)).create_simplex_tree(
        max_dimension=1)
    st.compute_persistence()
    ref = np.sort([d for b, d in st.persistence_intervals_in_dimension(0) if np.isfinite(d)])
    t_gudhi = time.perf_counter() - t
    same = len(ref) == len(ours) and np.allclose(ref, ours, rtol=1e-9, atol=0)
    return ("(1) H0, 20,000 x 20", f"deaths identical to 1e-9: {same} ({len(ours)} finite bars)",
            f"topo {t_ours:.2f}s, gudhi {t_gudhi:.2f}s (threshold given), ratio {t_gudhi / t_ours:.1f}x",
            "< 5 s and >= 10x")


def part2():
    rng = np.random.default_rng(1)
    u, v = rng.uniform(0, 2 * np.pi, (2, 1000))
    X = np.c_[(2 + np.cos(v)) * np.cos(u), (2 + np.cos(v)) * np.sin(u), np.sin(v)] + rng.normal(0, 0.02, (1000, 3))
    thr = 1.4
    t = time.perf_counter()
    ours = persistence(X, max_dimension=1, threshold=thr, collapse=True, progress=False)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    st = gudhi.RipsComplex(points=X, max_edge_length=thr).create_simplex_tree(max_dimension=2)
    st.compute_persistence(homology_coeff_field=11)
    ref = np.asarray(st.persistence_intervals_in_dimension(1))
    t_gudhi = time.perf_counter() - t
    a = np.sort(ours[1], axis=0)
    b = np.sort(ref, axis=0)
    same = a.shape == b.shape and np.allclose(a, b)
    return ("(2) H1, 1,000 pts torus", f"H1 diagrams identical: {same} ({len(ours[1])} intervals)",
            f"topo (collapse) {t_ours:.2f}s, plain gudhi {t_gudhi:.2f}s, ratio {t_gudhi / t_ours:.1f}x", "recorded")


def main():
    rows = [part1(), part2()]
    print_table(rows, ("case", "result", "time", "target"))


if __name__ == "__main__":
    main()
