"""balance() and incidence_matrix() against a direct computation, and the
conservation law checked with a finite-difference gradient."""

import networkx as nx
import numpy as np
import pytest

import topo
from tests.oracles import constrained_nodes, dense_incidence, forward_by_hand as _forward, random_dag


def test_balance_matches_dense_incidence_on_random_dags():
    rng = np.random.default_rng(0)
    for _ in range(100):
        G = random_dag(rng)
        arch = topo.Architecture.from_networkx(G)
        theta = arch.init("normal", seed=int(rng.integers(1 << 30)))
        # squared norms of the groups, computed edge by edge from the mapping
        mapping = arch.to_mapping(theta)
        edges = list(G.edges)
        q = np.array([float(np.sum(np.square(mapping[e]))) for e in edges])
        nodes = constrained_nodes(G)
        expected = dense_incidence(G, nodes, edges) @ q
        got = dict(zip(arch.constrained, topo.balance(arch, theta)))
        np.testing.assert_allclose([got[v] for v in nodes], expected, rtol=1e-12, atol=1e-12)
        # the sparse matrix over edges and over parameters agree with it
        B = topo.incidence_matrix(arch)
        Bp = topo.incidence_matrix(arch, over="parameters")
        np.testing.assert_allclose(B @ topo.edge_norms(arch, theta), topo.balance(arch, theta), atol=1e-12)
        np.testing.assert_allclose(Bp @ theta**2, topo.balance(arch, theta), atol=1e-12)


def test_incidence_matrix_rejects_unknown_axis():
    with pytest.raises(ValueError, match="over"):
        topo.incidence_matrix(topo.Architecture.mlp([1, 1]), over="nodes")


@pytest.mark.parametrize("seed", range(8))
def test_gradient_is_orthogonal_to_rescalings(seed):
    # d c_v / dt = -2 (sum_in theta*grad - sum_out theta*grad) = 0 for constrained v,
    # with the gradient of a squared loss taken by central finite differences
    rng = np.random.default_rng(seed)
    G = random_dag(rng, p_group=0.0, p_fixed=0.0, p_free=0.25)
    for v in G.nodes:
        if G.nodes[v].get("activation") == "relu" and rng.random() < 0.3:
            G.nodes[v]["activation"] = "leaky_relu"
    arch = topo.Architecture.from_networkx(G)
    order = list(nx.topological_sort(G))
    theta = arch.init("normal", seed=seed)
    X = rng.standard_normal((16, len(arch.inputs)))
    Y = rng.standard_normal((16, len(arch.outputs)))

    def loss(t):
        th = dict(zip(arch.edges, t))
        return float(np.sum((_forward(G, order, th, X, arch.inputs, arch.outputs) - Y) ** 2))

    h = 1e-6
    grad = np.array([(loss(theta + h * e) - loss(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])
    scale = np.abs(theta * grad).max() + 1e-12
    Bp = topo.incidence_matrix(arch, over="parameters")
    np.testing.assert_allclose(Bp @ (theta * grad), 0.0, atol=1e-5 * scale)
    # and a free (GELU) node generally breaks the law: the test can fail
    free = [v for v in arch.free if G.nodes[v].get("activation") == "gelu"]
    for v in free:
        ins = [arch.edge_index(e) for e in G.in_edges(v)]
        outs = [arch.edge_index(e) for e in G.out_edges(v)]
        flux = np.sum(theta[ins] * grad[ins]) - np.sum(theta[outs] * grad[outs])
        assert abs(flux) > 1e-8 * scale or np.allclose(grad[ins + outs], 0)


@pytest.mark.parametrize("chunk, min_run, run_block", [(1, 64, 1 << 17), (5, 1, 3), (1 << 22, 1, 1 << 17),
                                                       (1 << 22, 2, 1)])
def test_balances_in_range_plain_pass_is_the_rescaled_one_bit_for_bit(chunk, min_run, run_block, monkeypatch):
    """The plain pass (chunked group sums; runs of equal-size edges as column sums, down to runs of
    one edge and blocks of one edge) against the rescaled computation it replaces, with the
    squared norms summed edge by edge from the mapping as the oracle; tiny and huge scales take the
    rescaled path and keep their units."""
    from topo.fiber import balance as bal

    monkeypatch.setattr(bal, "_CHUNK", chunk)
    monkeypatch.setattr(bal, "_MIN_RUN", min_run)
    monkeypatch.setattr(bal, "_RUN_BLOCK", run_block)
    rng = np.random.default_rng(3)
    for _ in range(30):
        G = random_dag(rng, p_group=0.6)
        arch = topo.Architecture.from_networkx(G)
        theta = arch.init("normal", seed=int(rng.integers(1 << 30)))
        mapping = arch.to_mapping(theta)
        q_oracle = np.array([float(np.sum(np.square(mapping[e]))) for e in arch.edges])
        for scale in (1.0, 3e-4, 2.0**40):
            c, q, unit = bal.balances_in_range(arch, theta * scale)
            scaled, k = bal.power_of_two_scale(theta * scale)
            qn = np.bincount(arch.param_edge, weights=scaled * scaled, minlength=arch.n_edges)
            assert unit == 0
            assert np.array_equal(q, np.ldexp(qn, 2 * k))  # bit for bit
            np.testing.assert_allclose(c, topo.incidence_matrix(arch) @ q, rtol=1e-13, atol=1e-300)
            np.testing.assert_allclose(q, q_oracle * scale**2, rtol=1e-13)
        c, q, unit = bal.balances_in_range(arch, theta * 1e-170)  # the squares underflow: rescaled
        assert unit < -1000 and np.all(np.isfinite(q)) and (arch.n_edges == 0 or q.max() > 0)


def test_group_squares_of_layers_with_kernels_are_the_bincount_bit_for_bit():
    """Layers of equal-size edges (kernels of 1, 3x3 and 5x5 taps, runs longer than a block) and a
    stretch of mixed sizes between them: the column sums equal the in-order bincount exactly."""
    from topo.fiber import balance as bal

    rng = np.random.default_rng(11)
    sizes = np.concatenate([np.full(300, 9), rng.integers(1, 5, size=50), np.full(200, 1), np.full(4000, 25),
                            [7], np.full(70, 3)])
    n_src, n = 40, len(sizes)
    arch = topo.Architecture.from_arrays(np.arange(n) % n_src, n_src + np.arange(n) // n_src,
                                         sizes=sizes, activation="linear")
    vec = rng.standard_normal(arch.n_params) * np.exp(rng.uniform(-20, 20, arch.n_params))
    q = bal._group_squares(arch, vec)
    assert np.array_equal(q, np.bincount(arch.param_edge, weights=vec * vec, minlength=arch.n_edges))
    assert bal._long_size_runs(arch)[:, 2].tolist() == [9, 1, 25, 3]  # the mixed stretch and the 7 are short
