"""Components up to symmetry (THEORY.md §3b): worked examples, a brute-force oracle on
random DAGs with repeated units, and re-checked certificates."""

import itertools
import math

import networkx as nx
import numpy as np
import pytest

import topo
from tests.oracles import (
    brute_force_automorphisms,
    brute_force_symmetry_classes,
    constrained_nodes,
    lp_frozen_edges,
    random_symmetric_dag,
)
from topo.symmetry import restore_balances


def _chains(c_b2):
    edges = []
    for k in (1, 2):
        edges += [("x1", f"a{k}"), ("x2", f"a{k}"), (f"a{k}", f"b{k}"), (f"b{k}", "y")]
    arch = topo.Architecture.from_edges(edges)
    return arch, {"a1": -1.0, "b1": -1.0, "a2": -1.0, "b2": c_b2}


def test_paper_example_2_2_1():
    arch = topo.Architecture.mlp([2, 2, 1])
    sym = topo.components_up_to_symmetry(arch, [-1.0, -2.0])
    assert (sym.n_components, sym.n_classes, sym.group_order) == (4, 3, 2)
    assert sym.summary() == "4 components, 3 up to symmetry"
    assert len(sym.representatives) == 3
    assert sym.generators == [{"h1_0": "h1_1", "h1_1": "h1_0"}]


@pytest.mark.parametrize("l", [1, 2, 3, 5, 24])
def test_shallow_all_negative_units(l):
    arch = topo.Architecture.mlp([2, l, 1])
    sym = topo.components_up_to_symmetry(arch, -np.arange(1.0, l + 1))
    assert sym.n_components == 2**l and sym.n_classes == l + 1
    assert sym.group_order == math.factorial(l)
    if l == 24:  # beyond union-find: the multiset formula C(n + 2^t - 1, n) with t = 1
        assert sym.methods == ["multisets of interchangeable blocks"]
        assert len(sym.representatives) == 25


def test_one_positive_twin_frees_every_sign():
    # a frozen output edge whose orbit contains a non-frozen edge is free: one class
    arch = topo.Architecture.mlp([2, 3, 1])
    sym = topo.components_up_to_symmetry(arch, [-1.0, -2.0, 3.0])
    assert (sym.n_components, sym.n_classes, len(sym.invariant_edges)) == (4, 1, 0)


def test_two_identical_chains():
    arch, c = _chains(-1.0)
    sym = topo.components_up_to_symmetry(arch, c)
    assert (sym.n_components, sym.n_classes, sym.group_order) == (16, 10, 2)
    assert sym.group.kinds == ("quotient",)
    arch, c = _chains(2.0)
    sym = topo.components_up_to_symmetry(arch, c)
    assert (sym.n_components, sym.n_classes) == (8, 3)
    assert sym.invariant_edges == [("a1", "b1"), ("a2", "b2")]


def test_twin_classes_of_two_widths():
    # 2-3-3-1 has twin layers; nothing is frozen: one class, |G| = 3! * 3!
    arch = topo.Architecture.mlp([2, 3, 3, 1])
    sym = topo.components_up_to_symmetry(arch, np.ones(6))
    assert (sym.n_classes, sym.group_order) == (1, 36)


def _oracle_case(seed):
    rng = np.random.default_rng(seed)
    G = random_symmetric_dag(rng)
    arch = topo.Architecture.from_networkx(G)
    cons = constrained_nodes(G)
    c = {v: float(rng.choice([-2.0, -1.0, 1.0, 2.0])) for v in cons}
    return rng, G, arch, c


@pytest.mark.parametrize("seed", range(60))
def test_brute_force_oracle_on_random_symmetric_dags(seed):
    rng, G, arch, c = _oracle_case(seed)
    autos = brute_force_automorphisms(G)
    frozen_all, _ = lp_frozen_edges(G, c)
    frozen = [e for e in G.edges if e in frozen_all and G.edges[e].get("size", 1) == 1]
    frozen.sort(key=arch.edge_index)
    roots = brute_force_symmetry_classes(G, frozen, autos)
    n_oracle = len(set(roots.values()))
    sym = topo.components_up_to_symmetry(arch, c)
    assert sym.frozen_edges == frozen
    assert sym.group_order == len(autos)
    assert sym.n_classes == n_oracle, (sym.methods, sym.frozen_edges, sym.invariant_edges)
    # one representative per class
    assert sorted(roots[r] for r in sym.representatives) == sorted(set(roots.values()))
    # the networkx VF2 fallback finds the same group
    vf2 = topo.automorphism_group(arch, backend="networkx")
    assert vf2.order == len(autos) and vf2.computed
    # certificates for a few random pairs of components, re-checked from scratch
    if arch.n_constrained == 0:
        return
    cvec = np.array([c[v] for v in arch.constrained])
    theta, _ = restore_balances(arch, arch.init("normal", seed=seed), cvec)
    off = arch.edge_offsets
    F = np.array([arch.edge_index(e) for e in frozen], dtype=np.int64)
    X = rng.standard_normal((6, len(arch.inputs)))
    for _ in range(3):
        signs = rng.choice([-1.0, 1.0], size=len(F))
        theta2 = theta * np.where(rng.random(arch.n_params) < 0.3, -1.0, 1.0)
        theta2[off[F]] = np.abs(theta2[off[F]]) * signs
        L1 = tuple(int(s) for s in np.sign(theta[off[F]]))
        L2 = tuple(int(s) for s in signs)
        cert = sym.same_class(theta, theta2)
        assert cert.equivalent == (roots[L1] == roots[L2])
        if cert.equivalent:
            _recheck(arch, theta, theta2, cert, F, X)


def _recheck(arch, theta1, theta2, cert, F, X):
    c1 = topo.balance(arch, theta1)
    scale = max(1.0, float(np.abs(theta1).max()) ** 2)
    prev = theta1
    off = arch.edge_offsets
    frozen = set(F.tolist())
    for step in cert.steps:
        flips = [arch.edge_index(e) for e in step.flipped]
        assert not frozen & set(flips)                      # flips stay in the component
        expect = prev.copy()
        for e in flips:
            expect[off[e]:off[e + 1]] *= -1
        assert np.array_equal(step.before, expect)
        out0 = topo.forward(arch, step.before, X) if np.all(arch.edge_sizes == 1) else None
        if out0 is not None:
            np.testing.assert_allclose(topo.forward(arch, step.after, X), out0, rtol=0, atol=1e-12 * max(1, np.abs(out0).max()))
        assert np.max(np.abs(topo.balance(arch, step.after) - c1), initial=0) <= 1e-12 * scale
        prev = step.after
    assert np.array_equal(prev, cert.point)
    assert np.array_equal(np.sign(cert.point[off[F]]), np.sign(theta2[off[F]]))
    assert np.max(np.abs(topo.balance(arch, cert.point) - topo.balance(arch, theta2)), initial=0) <= 1e-12 * scale


def test_certificate_on_the_paper_example_keeps_outputs_and_balances():
    arch = topo.Architecture.mlp([2, 2, 1])
    c = np.array([-1.0, -2.0])
    theta, _ = restore_balances(arch, arch.init(seed=0), c)
    sym = topo.components_up_to_symmetry(arch, c)
    off = arch.edge_offsets
    F = sym.frozen_index
    X = np.random.default_rng(1).standard_normal((20, 2))
    for signs in itertools.product([1.0, -1.0], repeat=2):
        theta2 = theta.copy()
        theta2[off[F]] = np.abs(theta2[off[F]]) * signs
        cert = sym.same_class(theta, theta2)
        L1 = tuple(np.sign(theta[off[F]]))
        expected = sorted(L1) == sorted(signs)   # twins: equivalent iff same multiset of signs
        assert cert.equivalent == expected
        if expected:
            _recheck(arch, theta, theta2, cert, F, X)


def test_same_class_rejects_points_on_other_fibers():
    arch = topo.Architecture.mlp([2, 2, 1])
    sym = topo.components_up_to_symmetry(arch, [-1.0, -2.0])
    theta = arch.init(seed=0)
    with pytest.raises(topo.FiberError):
        sym.same_class(theta, theta)


def test_restore_balances_reaches_random_targets():
    rng = np.random.default_rng(7)
    for _ in range(10):
        widths = [int(w) for w in rng.integers(1, 4, size=int(rng.integers(3, 5)))]
        arch = topo.Architecture.mlp(widths)
        c = rng.standard_normal(arch.n_constrained) * 3
        new, x = restore_balances(arch, arch.init(seed=int(rng.integers(1000))), c)
        assert np.max(np.abs(topo.balance(arch, new) - c)) <= 1e-12 * max(1.0, np.abs(new).max() ** 2)


def test_large_twin_layers_are_cheap():
    # twin reduction: a 10-layer MLP of width 64 has |G| = 64!^9 and a tiny quotient graph
    arch = topo.Architecture.mlp([8] + [64] * 9 + [1])
    G = topo.automorphism_group(arch)
    assert G.computed and len(G.twin_classes) == 9
    assert abs(G.log10_order - 9 * math.log10(math.factorial(64))) < 1e-6
    sym = topo.components_up_to_symmetry(arch, arch.init(seed=0) @ np.zeros((arch.n_params, arch.n_constrained)) + 1)
    assert sym.n_classes == 1


def _parallel_chains(k, length):
    edges = []
    for i in range(k):
        nodes = ["x"] + [f"a{i}_{j}" for j in range(length)] + ["y"]
        edges += list(zip(nodes[:-1], nodes[1:]))
    edges.append(("x2", "y"))
    return topo.Architecture.from_edges(edges)


def test_many_identical_branches_use_the_multiset_formula(monkeypatch):
    # 11 identical chains x -> a -> b -> y, c < 0: 2 frozen edges per chain, S_11 on chains
    arch = _parallel_chains(11, 2)
    sym = topo.components_up_to_symmetry(arch, -np.ones(arch.n_constrained))
    assert sym.n_components == 2**22 and sym.group_order == math.factorial(11)
    assert sym.n_classes == math.comb(11 + 3, 11) and sym.methods == ["multisets of interchangeable blocks"]
    # two long chains (22 frozen edges): multisets of 2 blocks, and Burnside over the swap agrees
    arch = _parallel_chains(2, 11)
    sym = topo.components_up_to_symmetry(arch, -np.ones(arch.n_constrained))
    assert sym.n_classes == (2**22 + 2**11) // 2 == math.comb(2 + 2**11 - 1, 2)
    import topo.symmetry.classes as S

    monkeypatch.setattr(S, "_block_part", lambda *a: None)
    sym = topo.components_up_to_symmetry(arch, -np.ones(arch.n_constrained))
    assert sym.methods == ["burnside"] and sym.n_classes == (2**22 + 2**11) // 2
    arch = _parallel_chains(11, 2)          # S_11 is too large to enumerate: said, not guessed
    sym = topo.components_up_to_symmetry(arch, -np.ones(arch.n_constrained))
    assert sym.n_classes is None and "not computed" in sym.summary() and sym.reason


@pytest.mark.parametrize("seed", range(60))
def test_large_part_methods_agree_with_union_find(seed, monkeypatch):
    # force the multiset / Burnside paths on the oracle DAGs and compare with union-find
    _, _, arch, c = _oracle_case(seed)
    expected = topo.components_up_to_symmetry(arch, c)
    import topo.symmetry.classes as S

    monkeypatch.setattr(S, "MAX_UNION_FIND_BITS", 0)
    forced = topo.components_up_to_symmetry(arch, c)
    assert forced.n_classes == expected.n_classes
    if forced.representatives is not None:
        assert len(forced.representatives) == expected.n_classes
        cvec = np.array([c[v] for v in arch.constrained])
        theta, _ = restore_balances(arch, arch.init("normal", seed=seed), cvec)
        off, F = arch.edge_offsets, expected.frozen_index
        reps = []
        for r in forced.representatives:   # pairwise inequivalent
            t = theta.copy()
            t[off[F]] = np.abs(t[off[F]]) * np.asarray(r)
            assert all(not expected.same_class(t, u).equivalent for u in reps)
            reps.append(t)
