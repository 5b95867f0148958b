"""fiber_path(), component_label() and same_component() on random pairs."""

import numpy as np
import pytest
from scipy.optimize import linprog

import topo
from tests.oracles import constrained_nodes, dense_incidence, random_dag
from topo.errors import FiberError


def _same_fiber_partner(arch, G, theta0, rng):
    """A random point with the balances of theta0, signs random on non-frozen
    scalar edges and equal to theta0's on frozen ones (LP vertex mixed with q0);
    fixed edges keep theta0's weights (constants of the fiber)."""
    edges = list(G.edges)
    nodes = constrained_nodes(G)
    B = dense_incidence(G, nodes, edges)
    pos = [arch.edge_index(e) for e in edges]
    q0 = topo.edge_norms(arch, theta0)[pos]
    c = B @ q0
    res = linprog(rng.random(len(edges)), A_eq=B, b_eq=c, bounds=(0, None), method="highs")
    assert res.status == 0
    lam = rng.uniform(0.2, 0.8)
    q1 = lam * q0 + (1 - lam) * np.maximum(res.x, 0)
    # keep the exact balance: put the LP's residual back on q0's share
    theta1 = np.empty(arch.n_params)
    rep = topo.connectivity(arch, topo.balance(arch, theta0))
    frozen = set(rep.frozen_index.tolist())
    for j, e in enumerate(edges):
        i = pos[j]
        sl = arch.edge_slice(e)
        k = sl.stop - sl.start
        if not G.edges[e].get("trainable", True):
            theta1[sl] = theta0[sl]
        elif k == 1:
            s = np.sign(theta0[sl.start]) if i in frozen else rng.choice([-1.0, 1.0])
            theta1[sl] = s * np.sqrt(q1[j])
        else:
            d = rng.standard_normal(k)
            theta1[sl] = np.sqrt(q1[j]) * d / np.linalg.norm(d)
    return theta1


def _rel_err(arch, theta, c):
    q = topo.edge_norms(arch, theta)
    scale = max(float(np.abs(c).max(initial=0)), float(q.max(initial=0)), 1e-300)
    return float(np.abs(topo.balance(arch, theta) - c).max(initial=0)) / scale


@pytest.mark.parametrize("seed", range(40))
def test_fiber_path_stays_in_the_fiber(seed):
    rng = np.random.default_rng(seed)
    G = random_dag(rng)
    arch = topo.Architecture.from_networkx(G)
    theta0 = arch.init("normal", seed=seed)
    theta1 = _same_fiber_partner(arch, G, theta0, rng)
    c = topo.balance(arch, theta0)
    if _rel_err(arch, theta1, c) > 1e-10:
        pytest.fail("test construction lost the balance")  # guards the oracle itself
    assert topo.same_component(arch, theta0, theta1)
    path = topo.fiber_path(arch, theta0, theta1, n_steps=60)
    assert path.shape == (61, arch.n_params)
    np.testing.assert_array_equal(path[0], theta0)
    np.testing.assert_array_equal(path[-1], theta1)
    for row in path:
        assert _rel_err(arch, row, c) <= 1e-9
    # signs of scalar weights change only through an exact zero
    scalar = arch.edge_offsets[:-1][arch.edge_sizes == 1]
    s = np.sign(path[:, scalar])
    assert not np.any(s[1:] * s[:-1] < 0)
    # the path is continuous: steps shrink when n_steps grows
    fine = topo.fiber_path(arch, theta0, theta1, n_steps=600)
    assert np.abs(np.diff(fine, axis=0)).max() < np.abs(np.diff(path, axis=0)).max() + 1e-12


def test_fiber_path_refuses_different_components_and_fibers():
    arch = topo.Architecture.mlp([2, 1, 1], bias=False)
    a = np.array([1.0, 1.0, 2.0])  # c = -2: the output weight is frozen
    with pytest.raises(FiberError, match=r"different components: frozen edge \('h1_0', 'y0'\)"):
        topo.fiber_path(arch, a, a * [1, 1, -1])
    with pytest.raises(FiberError, match="different fibers"):
        topo.fiber_path(arch, a, a * 2)
    with pytest.raises(FiberError, match="different fibers"):
        topo.same_component(arch, a, a * 2)
    with pytest.raises(ValueError, match="n_steps must be at least"):
        topo.fiber_path(arch, a, a * [-1, 1, 1], n_steps=1)


def test_component_labels_count_the_components():
    # every sign pattern on the frozen edges is a distinct component: 2^k labels
    arch = topo.Architecture.mlp([2, 3, 1])
    rng = np.random.default_rng(0)
    theta = arch.init(seed=0)
    theta[-4:-1] = 3.0  # large output weights: all three neurons negative
    k = topo.connectivity(arch, topo.balance(arch, theta)).n_frozen_scalar
    assert k == 3
    labels = set()
    for _ in range(200):
        flip = rng.choice([-1.0, 1.0], size=arch.n_params)
        labels.add(topo.component_label(arch, theta * flip))
    assert len(labels) == 2**k


def test_group_edge_directions_move_on_the_sphere():
    arch = topo.Architecture.from_edges([("x", "h", {"size": 3}), ("h", "y", {"size": 2})])
    a = np.array([1.0, 0.0, 0.0, 0.0, 0.5])
    b = np.array([-1.0, 0.0, 0.0, 0.0, -0.5])  # antipodal directions on both groups
    path = topo.fiber_path(arch, a, b, n_steps=10)
    c = topo.balance(arch, a)
    for row in path:
        assert _rel_err(arch, row, c) <= 1e-9
    assert np.abs(np.diff(path, axis=0)).max() < 0.5
