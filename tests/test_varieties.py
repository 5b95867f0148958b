"""Pattern varieties, functional dimension and output invariants (THEORY.md section 6)."""

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import topo
from tests.oracles import random_dag
from topo.varieties.patterns import batch_values, modular_rank, pattern_gates, pattern_units


def _phi(arch, theta, X, A):
    """Outputs of the fixed-pattern map φ_A (gates forced), independent of realisability."""
    gates = pattern_gates(arch, A, pattern_units(arch)).astype(float)
    _, H = batch_values(arch, theta[None], X, gates=gates)
    return H[0][:, [arch.node_index(o) for o in arch.outputs]]


def _gated_forward_by_hand(G, order, theta_of, X, inputs, outputs, gate_of):
    vals = {v: X[:, i] for i, v in enumerate(inputs)}
    for v in order:
        if v in vals:
            continue
        if G.nodes[v].get("role") == "bias":
            vals[v] = np.ones(len(X))
            continue
        z = sum(theta_of[(u, v)] * vals[u] for u in G.predecessors(v))
        vals[v] = z * gate_of.get(v, 1.0)
    return np.concatenate([vals[v] for v in outputs])


@given(
    n0=st.integers(1, 3), widths=st.lists(st.integers(1, 4), min_size=1, max_size=2), nL=st.integers(1, 3),
    extra=st.integers(1, 3), data=st.data(),
)
def test_one_region_closed_form(n0, widths, nL, extra, data):
    arch = topo.Architecture.mlp([n0] + widths + [nL])
    m = n0 + extra
    X = np.random.default_rng(m).standard_normal((m, n0))
    # one region: the same (random) set of active units at every point
    row = np.array(data.draw(st.lists(st.booleans(), min_size=sum(widths), max_size=sum(widths))))
    A = np.tile(row, (m, 1))
    active, start = [], 0
    for w in widths:
        active.append(int(row[start:start + w].sum()))
        start += w
    r = min([n0, nL] + active)
    V = topo.pattern_variety(arch, X, A, search=0)
    assert V.dimension == nL + r * (n0 + nL - r)


@given(n0=st.integers(1, 3), n1=st.integers(1, 4), m=st.integers(1, 7), seed=st.integers(0, 1000))
def test_shallow_scalar_output_is_a_linear_space(n0, n1, m, seed):
    rng = np.random.default_rng(seed)
    arch = topo.Architecture.mlp([n0, n1, 1])
    X = rng.standard_normal((m, n0))
    A = rng.random((m, n1)) < 0.5
    X1 = np.hstack([X, np.ones((m, 1))]).T  # (n0 + 1) x m
    khatri_rao = np.vstack([np.kron(A[i][:, None], X1[:, i][:, None]).ravel() for i in range(m)]).T
    expected = np.linalg.matrix_rank(np.vstack([np.ones((1, m)), khatri_rao]))
    assert topo.pattern_variety(arch, X, A, search=0).dimension == expected


@pytest.mark.parametrize("seed", range(25))
def test_exact_rank_equals_finite_difference_rank_on_random_dags(seed):
    rng = np.random.default_rng(seed)
    G = random_dag(rng, p_group=0.0, p_free=0.0, p_fixed=0.0, n_hidden=int(rng.integers(2, 6)))
    for v in G.nodes:
        if G.nodes[v].get("activation") == "relu" and rng.random() < 0.2:
            G.nodes[v]["activation"] = "linear"
    arch = topo.Architecture.from_networkx(G)
    m = int(rng.integers(1, 5))
    X = rng.standard_normal((m, len(arch.inputs)))
    units = pattern_units(arch)
    A = rng.random((m, len(units))) < 0.6
    order = list(nx.topological_sort(G))

    def phi(theta):
        total = []
        for i in range(m):
            gate_of = {v: float(A[i, j]) for j, v in enumerate(units)}
            total.append(_gated_forward_by_hand(G, order, dict(zip(arch.edges, theta)), X[i:i + 1],
                                                arch.inputs, arch.outputs, gate_of))
        return np.concatenate(total)

    theta = rng.standard_normal(arch.n_params)
    h = 1e-6
    J = np.stack([(phi(theta + h * e) - phi(theta - h * e)) / (2 * h) for e in np.eye(arch.n_params)], axis=1)
    s = np.linalg.svd(J, compute_uv=False)
    fd_rank = int(np.sum(s > 1e-6 * s[0])) if s.size and s[0] > 0 else 0
    V = topo.pattern_variety(arch, X, A, search=0, seed=seed)
    assert V.dimension == fd_rank
    assert all(r <= V.dimension for _, r in V.trials)


@pytest.mark.parametrize("seed", range(20))
def test_exact_rank_equals_float_rank_where_the_pattern_is_realised(seed):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(3, 5)))]
    arch = topo.Architecture.mlp(widths)
    X = rng.standard_normal((int(rng.integers(2, 6)), widths[0]))
    theta = arch.init(seed=seed)
    A = topo.activation_patterns(arch, theta, X)
    V = topo.pattern_variety(arch, X, A)
    fd = topo.functional_dimension(arch, theta, X)
    assert fd.rank == V.dimension
    if V.float_rank is not None:
        assert V.float_rank == V.dimension
    assert V.dimension <= min(V.ambient_dimension, fd.bound)


def test_realized_patterns_are_patterns_of_their_parameters():
    arch = topo.Architecture.mlp([2, 3, 1])
    X = np.random.default_rng(0).standard_normal((3, 2))
    counts = topo.realized_patterns(arch, X, n_samples=3000, seed=1)
    assert sum(counts.values()) == 3000
    again = topo.realized_patterns(arch, X, n_samples=3000, seed=1)
    assert counts == again
    from topo.varieties import unpack_pattern

    theta = arch.init("normal", seed=5)
    key = np.packbits(topo.activation_patterns(arch, theta, X).ravel()).tobytes()
    assert key in counts
    assert unpack_pattern(key, 3, 3).shape == (3, 3)


@pytest.mark.parametrize("seed", range(30))
def test_invariants_vanish_on_the_variety_and_fail_on_random_outputs(seed):
    rng = np.random.default_rng(seed)
    n0, n1, n2 = int(rng.integers(2, 4)), int(rng.integers(1, 3)), int(rng.integers(2, 4))
    arch = topo.Architecture.mlp([n0, n1, n2])
    two = seed % 2 == 1
    m = 2 * (n0 + 2) if two else n0 + 3
    X = rng.standard_normal((m, n0))
    if two:
        rows = rng.random((2, n1)) < 0.5
        while (rows[0] == rows[1]).all():
            rows = rng.random((2, n1)) < 0.5
        A = np.vstack([np.tile(rows[0], (m // 2, 1)), np.tile(rows[1], (m - m // 2, 1))])
    else:
        A = np.tile(rng.random(n1) < 0.7, (m, 1))
    invs = topo.output_invariants(arch, X, A)
    assert invs, "some condition applies in these shapes"
    Y = _phi(arch, rng.standard_normal(arch.n_params), X, A)
    res = topo.check_outputs(arch, X, A, Y)
    assert res.consistent, res.violated
    bad = topo.check_outputs(arch, X, A, rng.standard_normal(Y.shape))
    assert not bad.consistent and bad.violated in invs


def test_check_outputs_errors():
    arch = topo.Architecture.mlp([2, 2, 1])
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="pattern has shape"):
        topo.output_invariants(arch, X, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="Y has shape"):
        topo.check_outputs(arch, X, np.ones((3, 2), bool), np.zeros((3, 2)))
    gelu = topo.Architecture.mlp([2, 2, 1], activation="gelu")
    with pytest.raises(ValueError, match="activation 'gelu'"):
        topo.pattern_variety(gelu, X, np.ones((3, 2), bool))


def test_modular_rank_is_exact_on_integer_matrices():
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = int(rng.integers(0, 6))
        M = rng.integers(-5, 6, size=(7, r)) @ rng.integers(-5, 6, size=(r, 8))
        assert modular_rank(M) == np.linalg.matrix_rank(M.astype(float))


# ----------------------------------------------------------------------------- exact output checks

def _two_region_case(n0, n1, n2, k1, k2, seed):
    arch = topo.Architecture.mlp([n0, n1, n2])
    rng = np.random.default_rng(seed)
    m1 = n0 + 2
    X = rng.standard_normal((2 * m1, n0))
    A = np.array([k1] * m1 + [k2] * m1, dtype=bool)
    return arch, rng, X, A


def test_difference_bound_rejects_random_outputs_for_011_111():
    arch, rng, X, A = _two_region_case(2, 3, 2, (0, 1, 1), (1, 1, 1), 0)
    kinds = [inv.kind for inv in topo.output_invariants(arch, X, A)]
    assert kinds == ["region-affine", "region-affine", "difference"]
    for seed in range(5):
        res = topo.check_outputs(arch, X, A, np.random.default_rng(100 + seed).standard_normal((len(X), 2)))
        assert res.status == "inconsistent" and not res.consistent
    # the bound is on [M1 - M2 | b1 - b2]: random outputs that are affine on each region still fail
    Y = np.vstack([X[:4] @ rng.standard_normal((2, 2)) + 1.0, X[4:] @ rng.standard_normal((2, 2)) - 1.0])
    res = topo.check_outputs(arch, X, A, Y)
    assert res.status == "inconsistent" and res.violated.kind == "difference"


@pytest.mark.parametrize("seed", range(40))
def test_difference_bound_holds_with_active_counts_and_fails_with_map_ranks(seed):
    # rank [M1 - M2 | b1 - b2] <= r1 + r2 - 2s with r_k = number of active units holds at
    # every parameter (also non-generic ones); with r_k = rank M_k it does not
    rng = np.random.default_rng(seed)
    n0, n1, n2 = (int(v) for v in rng.integers(1, 5, size=3))
    W1, b1 = rng.standard_normal((n1, n0)), rng.standard_normal(n1)
    W2 = rng.standard_normal((n2, n1))
    if seed % 3 == 0:                      # non-generic: a repeated unit, a zero row
        W1[0] = W1[-1]
        W2[:, 0] = 0.0
    k1, k2 = rng.random(n1) < 0.5, rng.random(n1) < 0.5
    D1, D2 = np.diag(k1.astype(float)), np.diag(k2.astype(float))
    diff = np.hstack([W2 @ (D1 - D2) @ W1, (W2 @ (D1 - D2) @ b1)[:, None]])
    t = int(k1.sum() + k2.sum() - 2 * (k1 & k2).sum())
    assert np.linalg.matrix_rank(diff) <= t


def test_rank_definition_of_r_k_breaks_the_bound():
    rng = np.random.default_rng(3)
    W1, W2 = rng.standard_normal((3, 2)), rng.standard_normal((2, 3))
    M1, M2 = W2 @ np.diag([0.0, 1, 1]) @ W1, W2 @ W1
    r1, r2, s = np.linalg.matrix_rank(M1), np.linalg.matrix_rank(M2), 2
    assert r1 + r2 - 2 * s == 0 and np.linalg.matrix_rank(M1 - M2) == 1


SHALLOW_GRID = [(n0, n1, n2) for n0 in (2, 3) for n1 in (1, 2, 3) for n2 in (1, 2, 3)]


@pytest.mark.parametrize("shape", SHALLOW_GRID, ids=[f"{a}-{b}-{c}" for a, b, c in SHALLOW_GRID])
def test_true_outputs_accepted_on_every_pattern_pair(shape):
    n0, n1, n2 = shape
    rows = list(itertools.product([0, 1], repeat=n1))
    for i, (k1, k2) in enumerate(itertools.combinations(rows, 2)):
        arch, rng, X, A = _two_region_case(n0, n1, n2, k1, k2, 1000 * n0 + 100 * n1 + 10 * n2 + i)
        Y = _phi(arch, rng.standard_normal(arch.n_params), X, A)
        res = topo.check_outputs(arch, X, A, Y)
        assert res.status == "consistent", (k1, k2, res.reason)
        if res.witness is not None:       # the witness reproduces Y with the pattern's gates
            np.testing.assert_allclose(_phi(arch, res.witness, X, A), Y, atol=1e-8 * max(1, np.abs(Y).max()))
        bad = topo.check_outputs(arch, X, A, rng.standard_normal(Y.shape))
        assert bad.status != "consistent" or res.dimension == res.ambient_dimension


def test_undetermined_when_the_variety_is_small_but_no_condition_is_known():
    deep = topo.Architecture.mlp([1, 2, 2, 1])
    X = np.array([[-2.0], [-1.0], [1.0], [2.0], [3.0], [4.0]])
    A = np.array([[1, 0, 1, 0]] * 3 + [[1, 1, 1, 1]] * 3, dtype=bool)
    assert topo.output_invariants(deep, X, A) == []
    res = topo.check_outputs(deep, X, A, np.random.default_rng(0).standard_normal(6))
    assert res.status == "undetermined" and not res.consistent and res.violated is None
    assert res.dimension < res.ambient_dimension
    true = topo.check_outputs(deep, X, A, _phi(deep, np.random.default_rng(1).standard_normal(deep.n_params), X, A))
    assert true.status == "consistent" and true.witness is not None


@pytest.mark.parametrize("seed", range(40))
def test_check_outputs_never_guesses_on_random_deep_patterns(seed):
    # outputs of the fixed-pattern map are never rejected (the conditions are necessary), and
    # random outputs are called consistent only when the variety fills the output space
    rng = np.random.default_rng(10_000 + seed)
    widths = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(3, 5)))]
    arch = topo.Architecture.mlp(widths)
    m = int(rng.integers(2, 7))
    X = rng.standard_normal((m, widths[0]))
    rows = rng.random((int(rng.integers(1, 3)), len(pattern_units(arch)))) < 0.6
    A = rows[rng.integers(0, len(rows), size=m)]
    true = topo.check_outputs(arch, X, A, _phi(arch, rng.standard_normal(arch.n_params), X, A))
    assert true.status == "consistent", true.reason
    rand = topo.check_outputs(arch, X, A, rng.standard_normal((m, widths[-1])))
    if rand.status == "consistent":
        assert rand.dimension == rand.ambient_dimension
    elif rand.status == "undetermined":
        assert rand.violated is None and rand.dimension < rand.ambient_dimension


@pytest.mark.parametrize("seed", range(40))
def test_functional_dimension_with_fixed_edges_against_finite_differences(seed):
    """Residual networks (fixed skips of any nonzero weight, fixed edges touching inputs, outputs and
    the bias): the rank over the trainable weights equals a finite-difference Jacobian of an independent
    forward, and the bound's symmetry count equals the rank of the classes' Euler vectors."""
    from tests.oracles import constrained_classes, dense_incidence
    from tests.oracles_classes import forward, random_residual_dag, random_weights

    rng = np.random.default_rng(424_242 + seed)
    G = random_residual_dag(rng)
    for v in G.nodes:  # pattern varieties cover ReLU, leaky ReLU and linear units
        if G.nodes[v].get("activation") == "gelu":
            G.nodes[v]["activation"] = "relu"
    arch = topo.Architecture.from_networkx(G)
    w = random_weights(rng, G)
    theta = np.array([w[e] for e in arch.edges], dtype=float)
    trainable = [e for e in arch.edges if G.edges[e].get("trainable", True)]
    m = int(rng.integers(2, 7))
    X = rng.standard_normal((m, len(arch.inputs)))
    fd = topo.functional_dimension(arch, theta, X)

    def outputs(values):
        return forward(G, {**w, **dict(zip(trainable, values))}, X, arch.inputs, arch.outputs).ravel()

    t0, h = np.array([w[e] for e in trainable]), 1e-6
    J = np.stack([(outputs(t0 + h * e) - outputs(t0 - h * e)) / (2 * h) for e in np.eye(len(t0))], axis=1)
    s = np.linalg.svd(J, compute_uv=False)
    assert fd.rank == (int(np.sum(s > 1e-7 * s[0])) if s[0] > 0 else 0)
    # the symmetry count: rank of the Euler vectors θ ⊙ b_K of the constrained classes (trainable coordinates)
    reps = [k[0] for k in constrained_classes(G)]
    B = dense_incidence(G, reps, trainable)
    euler = B * t0[None, :]
    k = np.linalg.matrix_rank(euler) if len(reps) else 0
    assert fd.bound == len(trainable) - k and fd.rank <= fd.bound
    assert np.allclose(J @ euler.T, 0, atol=1e-6 * max(1.0, np.abs(J).max()))  # each is a symmetry direction


def test_pattern_variety_refuses_fixed_edges():
    G = nx.DiGraph([("x", "h"), ("h", "s"), ("x", "s"), ("s", "y")])
    G.edges["x", "s"]["trainable"] = False
    arch = topo.Architecture.from_networkx(G)
    with pytest.raises(topo.TopoError, match=r"1 edge\(s\) are fixed.*'x' -> 's'.*functional_dimension"):
        topo.pattern_variety(arch, np.zeros((2, 1)), np.ones((2, 2), bool))
