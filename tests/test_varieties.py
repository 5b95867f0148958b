"""Pattern varieties, functional dimension and output invariants (THEORY.md section 6)."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import topo
from tests.oracles import random_dag
from topo.varieties import _batch_values, _gates_full, modular_rank, pattern_units


def _phi(arch, theta, X, A):
    """Outputs of the fixed-pattern map φ_A (gates forced), independent of realisability."""
    gates = _gates_full(arch, A, pattern_units(arch)).astype(float)
    _, H = _batch_values(arch, theta[None], X, gates=gates)
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
