"""connectivity() against the closed forms of THEORY.md section 3."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import topo


@given(
    d=st.integers(1, 4),
    widths=st.integers(1, 6),
    bias=st.booleans(),
    c=st.lists(st.integers(-3, 3), min_size=6, max_size=6),
)
def test_shallow_scalar_output(d, widths, bias, c):
    # d -> l -> 1 with d >= 2 inputs or a bias: 2^{#neurons with c < 0}
    arch = topo.Architecture.mlp([d, widths, 1], bias=bias)
    cvec = np.array(c[:widths], dtype=float)
    rep = topo.connectivity(arch, cvec)
    n_neg = int(np.sum(cvec < 0))
    n_pos = int(np.sum(cvec > 0))
    if d >= 2 or bias:
        assert rep.n_components == 2**n_neg
        assert set(rep.frozen_edges) == {(f"h1_{k}", "y0") for k in range(widths) if cvec[k] < 0}
    else:
        # one input, no bias: every neuron is both an in- and an out-bottleneck
        assert rep.n_components == 2 ** (n_neg + n_pos)


@given(
    widths=st.lists(st.integers(2, 4), min_size=1, max_size=3),
    seed=st.integers(0, 10_000),
)
def test_deep_scalar_output_mlp(widths, seed):
    # all hidden widths >= 2: only last-layer neurons with c < 0 freeze their output weight
    arch = topo.Architecture.mlp([2] + widths + [1])
    rng = np.random.default_rng(seed)
    c = rng.integers(-3, 4, size=arch.n_constrained).astype(float)
    rep = topo.connectivity(arch, c)
    last = [f"h{len(widths)}_{i}" for i in range(widths[-1])]
    neg = [v for v in last if c[arch.constrained_row(v)] < 0]
    assert rep.n_components == 2 ** len(neg)
    assert set(rep.frozen_edges) == {(v, "y0") for v in neg}


@given(
    widths=st.lists(st.integers(2, 4), min_size=2, max_size=4),
    bias=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_all_widths_at_least_two_is_connected(widths, bias, seed):
    arch = topo.Architecture.mlp(widths, bias=bias)
    rng = np.random.default_rng(seed)
    c = rng.standard_normal(arch.n_constrained) * 5
    rep = topo.connectivity(arch, c)
    assert rep.frozen_edges == [] and rep.n_components == 1


def test_no_bottleneck_means_connected_for_every_c():
    arch = topo.Architecture.mlp([3, 4, 4, 2])
    assert topo.decompose(arch).in_bottlenecks == []
    assert topo.decompose(arch).out_bottlenecks == []
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert topo.connectivity(arch, rng.standard_normal(arch.n_constrained) * 10).n_components == 1


def test_theory_chain_needs_the_two_node_witness():
    arch = topo.Architecture.from_edges(
        [("x", "h3"), ("x2", "h3"), ("h3", "h5"), ("h5", "h7"), ("h7", "y"), ("h7", "y2")]
    )
    c = {"h3": 0.0, "h5": -1.0, "h7": 2.0}
    rep = topo.connectivity(arch, c)
    assert ("h3", "h5") in rep.frozen_edges
    w = rep.witness(("h3", "h5"))
    assert w.kind == "in" and set(w.nodes) == {"h5", "h7"} and w.total == 1.0
    # the local rule (S = {h5} alone) would not freeze it: c5 < 0 and h5 is no out-bottleneck issue
    assert c["h5"] < 0
    # and the built-in example realises exactly these balances
    from topo import catalog

    ex = catalog.get("theory-chain")
    np.testing.assert_allclose(topo.balance(ex.architecture, ex.theta), [0.0, -1.0, 2.0], atol=1e-12)


def _chain_brute_force(c):
    """Frozen edges of x -> h0 -> ... -> h{n-1} -> y from all intervals S."""
    n = len(c)
    pre = np.concatenate([[0.0], np.cumsum(c)])
    frozen = set()
    for i in range(n):
        # edge into h_i is the only edge entering S = {h_i..h_j}
        if max(pre[j + 1] - pre[i] for j in range(i, n)) > 0:
            frozen.add(i)
        # edge out of h_i is the only edge leaving S = {h_j..h_i}
        if min(pre[i + 1] - pre[j] for j in range(0, i + 1)) < 0:
            frozen.add(i + 1)
    return frozen


@given(st.lists(st.integers(-3, 3), min_size=1, max_size=40))
def test_chain_matches_interval_brute_force(c):
    arch = topo.generators.bottleneck_chain(len(c))
    rep = topo.connectivity(arch, np.array(c, dtype=float))
    assert {arch.edge_index(e) for e in rep.frozen_edges} == _chain_brute_force(c)


def _tree_brute_force(arch, c):
    """Frozen edges of a small tree by enumerating every predecessor-closed set."""
    import itertools

    names = arch.constrained
    G = arch.to_networkx()
    frozen = set()
    for r in range(1, len(names) + 1):
        for S in itertools.combinations(names, r):
            S = set(S)
            entering = [(a, b) for a, b in G.edges if b in S and a not in S]
            leaving = [(a, b) for a, b in G.edges if a in S and b not in S]
            total = sum(c[arch.constrained_row(v)] for v in S)
            if len(entering) == 1 and total > 0:
                frozen.add(entering[0])
            if len(leaving) == 1 and total < 0:
                frozen.add(leaving[0])
    return frozen


@given(st.lists(st.integers(-2, 2), min_size=7, max_size=7))
def test_binary_tree_matches_subset_enumeration(c):
    arch = topo.generators.binary_tree(2)
    cv = np.array(c, dtype=float)
    assert set(topo.connectivity(arch, cv).frozen_edges) == _tree_brute_force(arch, cv)


def test_group_edges_freeze_without_disconnecting():
    arch = topo.Architecture.from_edges([("x", "h", {"size": 3}), ("x2", "h"), ("h", "y", {"size": 4})])
    rep = topo.connectivity(arch, [-2.0])
    assert rep.frozen_edges == [("h", "y")]
    assert rep.n_frozen_scalar == 0 and rep.n_components == 1


def test_free_nodes_carry_no_balance():
    arch = topo.Architecture.from_edges(
        [("x", "g"), ("g", "h"), ("h", "y")], activations={"g": "gelu"}
    )
    assert arch.free == ["g"] and arch.constrained == ["h"]
    rep = topo.connectivity(arch, [3.0])
    assert rep.frozen_edges == [("g", "h")]  # the free node acts like an input


def test_tolerance_decides_near_ties():
    arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    # the default tol is relative to max|c|: a lone tiny balance is still a balance
    assert topo.connectivity(arch, [-1e-12]).n_components == 2
    assert topo.connectivity(arch, [-1e-12], tol=1e-9).n_components == 1
    # next to a large balance, a rounding-size one counts as zero
    arch2 = topo.Architecture.mlp([2, 2, 1])
    assert topo.connectivity(arch2, [5.0, -1e-12]).n_components == 1
    with pytest.raises(ValueError, match="tol"):
        topo.connectivity(arch, [1.0], tol=-1.0)


def test_factors_multiply():
    arch = topo.Architecture.mlp([2, 3, 1])
    rep = topo.connectivity(arch, [-1.0, 2.0, -3.0])
    assert len(rep.factors) == 3
    assert np.prod([f["n_components"] for f in rep.factors]) == rep.n_components == 4


def test_huge_component_counts_are_exact_and_serialisable():
    import json

    from topo.fiber.connectivity import count_repr
    from topo.report import audit

    arch = topo.generators.bottleneck_chain(5000)
    c = np.ones(arch.n_constrained)
    c[::2] = -1.0  # alternating signs: the edge into every positive node is frozen
    rep = topo.connectivity(arch, c)
    assert rep.n_components == 2**rep.n_frozen_scalar and rep.n_frozen_scalar == 2500
    assert rep.to_dict(max_witnesses=3)["n_components"] == f"2^{rep.n_frozen_scalar}"
    assert count_repr(2**60) == 2**60 and count_repr(2**61) == "2^61" and count_repr(3 * 2**61) == str(3 * 2**61)
    theta = np.sqrt(np.abs(np.concatenate([[1.0], np.cumsum(c)]) + 1.0))  # any point; the audit just runs
    report = audit(arch, theta, max_listed=5)
    json.dumps(report)


def test_deep_closed_form_needs_hidden_widths_at_least_two():
    # [2, 3, 1, 3, 1]: the 1-wide middle layer makes every first-layer neuron an
    # out-bottleneck, so negative first-layer balances freeze edges too: 8 components
    # where the last-layer formula says 2 (checked against one LP per edge).
    from tests.oracles import lp_frozen_edges

    arch = topo.Architecture.mlp([2, 3, 1, 3, 1])
    c = {"h1_0": -1.0, "h1_1": -1.0, "h1_2": 1.0, "h2_0": 0.0, "h3_0": -1.0, "h3_1": 1.0, "h3_2": 1.0}
    rep = topo.connectivity(arch, c)
    formula = 2 ** sum(c[f"h3_{i}"] < 0 for i in range(3))
    assert (rep.n_components, formula) == (8, 2)
    lp, _ = lp_frozen_edges(arch.to_networkx(), c)
    assert set(rep.frozen_edges) == lp == {("h1_0", "h2_0"), ("h1_1", "h2_0"), ("h3_0", "y0")}
