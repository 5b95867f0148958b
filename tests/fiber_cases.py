"""Seeded random fibers for the persistent-homology acceptance suite (test-only)."""

from __future__ import annotations

import numpy as np

import topo
from tests.oracles import random_dag


def fiber_cases(n_cases: int, *, start: int, max_weights: int = 14):
    """``n_cases`` (seed, arch, c) with at most ``max_weights`` weights: random DAGs with
    group edges, free nodes and fixed edges; balances integer in [-2, 2] (ties and zeros)
    for even seeds, continuous ±U(0.5, 2) for odd ones."""
    out = []
    seed = start
    while len(out) < n_cases:
        rng = np.random.default_rng(seed)
        seed += 1
        G = random_dag(rng, n_hidden=int(rng.integers(2, 7)), p_group=0.15, p_free=0.08, p_fixed=0.03)
        arch = topo.Architecture.from_networkx(G)
        if arch.n_params > max_weights or arch.n_constrained == 0:
            continue
        m = arch.n_constrained
        if seed % 2:
            c = rng.integers(-2, 3, size=m).astype(float)
        else:
            c = rng.choice([-1.0, 1.0], size=m) * rng.uniform(0.5, 2.0, size=m)
        out.append((seed - 1, arch, c))
    return out
