"""Exact Betti numbers: Hochster's formula against brute-force homology of the
polyhedral product, and against the closed forms."""

from itertools import permutations

import gudhi
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import topo
from tests.oracles import random_dag
from topo.errors import TopoError
from topo.fiber.homology import poly_mul, sphere, zeroable_complex


def _real_moment_angle_betti(live: list[int], ghosts: list[int], faces: list[frozenset]) -> list[int]:
    """Homology of (D^1, S^0)^K built as a simplicial complex: the Freudenthal
    triangulation of the cubes [-1,1]^F x {±1}^rest for every face F of K."""
    coords = live + ghosts
    bit = {e: 1 << i for i, e in enumerate(coords)}
    maximal = [f for f in faces if not any(f < g for g in faces)]
    st = gudhi.SimplexTree()
    m = len(coords)
    for F in maximal:
        fmask = sum(bit[e] for e in F)
        for v0 in range(1 << m):
            if v0 & fmask:
                continue
            for perm in permutations(sorted(F)):
                chain = [v0]
                for e in perm:
                    chain.append(chain[-1] | bit[e])
                st.insert(chain)
    for v in range(1 << m):
        st.insert([v])
    st.compute_persistence(homology_coeff_field=11, persistence_dim_max=True)
    b = st.betti_numbers()
    while len(b) > 1 and b[-1] == 0:
        b.pop()
    return [int(x) for x in b]


@pytest.mark.parametrize("seed", range(40))
def test_hochster_matches_brute_force_polyhedral_product(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        G = random_dag(rng, p_group=0.0, p_free=0.0, p_fixed=0.0, n_hidden=int(rng.integers(2, 4)))
        arch = topo.Architecture.from_networkx(G)
        d = topo.decompose(arch)
        if d.n_factors == 1 and arch.n_constrained >= 2 and arch.n_edges <= 7:
            break
    else:
        pytest.skip("no small single-factor DAG drawn")  # pragma: no cover
    c = rng.integers(-2, 3, size=arch.n_constrained).astype(float)
    rep = topo.connectivity(arch, c)
    frozen = set(rep.frozen_index.tolist())
    live = [e for e in range(arch.n_edges) if e not in frozen]
    ghosts = sorted(frozen)
    faces = zeroable_complex(arch, c, live)
    expected = _real_moment_angle_betti(live, ghosts, faces)
    got = topo.betti_numbers(arch, c, method="hochster").betti
    assert got == expected
    assert got[0] == rep.n_components


@given(
    d=st.integers(1, 3), l=st.integers(1, 4), bias=st.booleans(),
    c=st.lists(st.sampled_from([-2.0, -1.0, 1.0, 3.0]), min_size=4, max_size=4),
)
def test_shallow_closed_form(d, l, bias, c):
    # Poincaré polynomial 2^{l-} * prod_{c_k > 0} (1 + t^{d-1}), d counting the bias
    arch = topo.Architecture.mlp([d, l, 1], bias=bias)
    cv = np.array(c[:l])
    din = d + (1 if bias else 0)
    expected = [1]
    for ck in cv:
        expected = poly_mul(expected, sphere(din - 1) if ck > 0 else [2])
    while len(expected) > 1 and expected[-1] == 0:
        expected.pop()
    assert topo.betti_numbers(arch, cv).betti == expected
    if l <= 2 and din <= 3:
        assert topo.betti_numbers(arch, cv, method="hochster").betti == expected


@pytest.mark.parametrize("a,b,c,expected", [(3, 2, 1.0, [1, 0, 1]), (3, 2, -1.0, [1, 1]), (1, 4, 2.0, [2]),
                                              (2, 1, -1.0, [2]), (2, 2, 0.0, [1])])
def test_single_node_with_group_edges(a, b, c, expected):
    arch = topo.Architecture.from_edges([("x", "h", {"size": a}), ("h", "y", {"size": b})])
    assert topo.betti_numbers(arch, [c]).betti == expected
    assert topo.betti_numbers(arch, [c], method="hochster").betti == expected


def test_kunneth_over_factors_and_errors():
    arch = topo.Architecture.mlp([2, 3, 1], bias=False)
    assert topo.betti_numbers(arch, [1.0, 1.0, -1.0]).betti == [2, 4, 2]  # (S^1)^2 x S^0
    chain = topo.generators.bottleneck_chain(3)
    big = topo.Architecture.mlp([3, 3, 3, 1])
    with pytest.raises(TopoError, match="max_core=2"):
        topo.betti_numbers(big, np.ones(big.n_constrained), max_core=2)
    with pytest.raises(ValueError, match="method"):
        topo.betti_numbers(chain, [1.0, 1.0, 1.0], method="magic")
