"""Benchmarks of the output-variety computations.

    python benchmarks/varieties.py

(1) exact rank of a 2,000 x 2,000 random integer matrix modulo a 60-bit prime
    (FLINT nmod_mat), with the conversion from numpy included, against numpy's
    floating-point SVD rank of the same matrix in the same process;
(2) every one of the 1,024 activation patterns of a 2-3-2-2 network with biases on
    2 data points: realised or not (by 20,000 random parameters), and the exact
    dimension of its pattern variety (2 primes).
"""

from __future__ import annotations

import sys
import time
from itertools import product
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402
import topo  # noqa: E402
from topo.varieties import PRIMES, modular_rank, pattern_units  # noqa: E402


def part1():
    rng = np.random.default_rng(0)
    n = 2000
    A = rng.integers(-(1 << 40), 1 << 40, size=(n, n))
    A[:, -1] = A[:, 0] + A[:, 1]  # rank n - 1
    import flint

    modular_rank(A[:10, :10], PRIMES[0])  # warm-up: import and thread set-up
    t = time.perf_counter()
    r = modular_rank(A, PRIMES[0])
    t_mod = time.perf_counter() - t
    t = time.perf_counter()
    M = flint.nmod_mat(flint.fmpz_mat(n, n, A.ravel().tolist()), PRIMES[0])
    t_conv = time.perf_counter() - t
    t = time.perf_counter()
    M.rank()
    t_rank = time.perf_counter() - t
    t = time.perf_counter()
    r_float = np.linalg.matrix_rank(A.astype(float))
    t_svd = time.perf_counter() - t
    return [("(1) rank mod 2^60-93", f"2000 x 2000, rank {r} (float SVD: {r_float})",
             f"{t_mod:.2f}s = numpy->FLINT {t_conv:.2f}s + rank {t_rank:.2f}s; numpy SVD {t_svd:.2f}s", "< 2 s")]


def part2():
    arch = topo.Architecture.mlp([2, 3, 2, 2])
    X = np.array([[0.7, -1.2], [1.5, 0.4]])
    units = pattern_units(arch)
    t = time.perf_counter()
    realised = topo.realized_patterns(arch, X, n_samples=20_000, seed=0)
    dims = {}
    n_real = 0
    for bits in product([False, True], repeat=2 * len(units)):
        A = np.array(bits).reshape(2, len(units))
        key = np.packbits(A.ravel()).tobytes()
        V = topo.pattern_variety(arch, X, A, search=0)
        n_real += key in realised
        dims.setdefault(V.dimension, [0, 0])
        dims[V.dimension][key in realised] += 1
    elapsed = time.perf_counter() - t
    hist = ", ".join(f"dim {d}: {a + b} ({b} realised)" for d, (a, b) in sorted(dims.items()))
    return [("(2) 2-3-2-2, 2 points", f"1024 patterns, {n_real} realised; {hist}", f"{elapsed:.2f}s", "< 10 s")]


def main():
    rows = part1() + part2()
    print_table(rows, ("case", "result", "time", "target"))


if __name__ == "__main__":
    main()
