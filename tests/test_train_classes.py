"""topo.train on a residual network: the balances of the stream classes (THEORY.md §2).

The residual MLP of issue 18 (``z = relu(l1(x)); z = relu(z + b(relu(a(z)))); y = o(z)``,
widths 3-4-5-4-2, with biases) at neuron level: each stream channel k is one rescaling
class {r_k, b_k, s_k, t_k} joined by fixed edges.  Checked: fixed weights never move, the
recorded balances are the class balances computed by hand from the recorded weights, the
stream balances drift by O(lr) (→ 0 as lr → 0) while the balance of one member alone does
not, and under weight decay every class balance follows exp(-2 λ t).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import topo
from tests.oracles import class_balances

torch = pytest.importorskip("torch")


def _residual_mlp(fixed_weight: float = 1.0) -> tuple[nx.DiGraph, list]:
    G = nx.DiGraph()
    xs = [f"x{i}" for i in range(3)]
    for x in xs + ["one"]:
        G.add_node(x, role="bias" if x == "one" else "input")
    r, a, b, s, t = ([f"{p}{k}" for k in range(n)] for p, n in (("r", 4), ("a", 5), ("b", 4), ("s", 4), ("t", 4)))
    for v in r + a + t:
        G.add_node(v, activation="relu")
    for v in b:
        G.add_node(v, activation="linear")
    for v in s:
        G.add_node(v, activation="sum")
    ys = ["y0", "y1"]
    for y in ys:
        G.add_node(y, role="output")
    for u in xs + ["one"]:
        G.add_edges_from((u, v) for v in r)
    G.add_edges_from((u, v) for u in r + ["one"] for v in a)
    G.add_edges_from((u, v) for u in a + ["one"] for v in b)
    for k in range(4):  # the stream: r_k -> s_k <- b_k, s_k -> t_k, all fixed
        w = fixed_weight if k == 0 else 1.0
        G.add_edge(r[k], s[k], trainable=False, weight=w)
        G.add_edge(b[k], s[k], trainable=False, weight=1.0)
        G.add_edge(s[k], t[k], trainable=False, weight=1.0)
    G.add_edges_from((u, v) for u in t + ["one"] for v in ys)
    return G, [(r[k], b[k], s[k], t[k]) for k in range(4)]


def _setup(seed: int = 0, fixed_weight: float = 0.5):
    G, streams = _residual_mlp(fixed_weight)
    rng = np.random.default_rng(seed)
    for e in G.edges:
        if G.edges[e].get("trainable", True):
            G.edges[e]["weight"] = float(rng.standard_normal()) * 0.6
    arch = topo.Architecture.from_networkx(G)
    theta = arch.parameters_from_networkx(G)
    X = rng.standard_normal((48, 3))
    Y = np.stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] ** 2 - 0.5], axis=1)
    return G, streams, arch, theta, X, Y


def _stream_rows(arch, streams):
    return [arch.constrained_row(k[0]) for k in streams]


def test_the_residual_mlp_has_nine_balances_four_along_the_stream():
    G, streams, arch, theta, X, Y = _setup()
    assert arch.n_constrained == 9 and arch.n_shared == 4
    assert sorted(tuple(k) for k in arch.rescaling_classes if len(k) > 1) == sorted(streams)


def _member_alone(G, theta_of, v) -> float:
    """Entering minus leaving trainable q of one unit (not a conserved quantity here)."""
    q = lambda e: float(np.sum(np.square(theta_of[e])))  # noqa: E731
    return (sum(q((u, v)) for u in G.predecessors(v) if G.edges[u, v].get("trainable", True))
            - sum(q((v, w)) for w in G.successors(v) if G.edges[v, w].get("trainable", True)))


def test_stream_balances_drift_o_lr_and_fixed_weights_stay():
    G, streams, arch, theta, X, Y = _setup()
    rows = _stream_rows(arch, streams)
    fixed = np.repeat(~arch.edge_trainable, arch.edge_sizes)
    drifts, alone = [], []
    for lr in (8e-3, 2e-3, 5e-4):
        steps = int(0.6 / lr)
        traj = topo.train(arch, theta, X, Y, lr=lr, steps=steps, record_every=max(1, steps // 4))
        assert traj.losses[-1] < 0.8 * traj.losses[0]
        np.testing.assert_array_equal(traj.thetas[:, fixed], np.broadcast_to(theta[fixed], traj.thetas[:, fixed].shape))
        # the recorded balances are the class balances by hand, from the recorded weights
        for th, c in zip(traj.thetas, traj.balances):
            q = {e: float(np.sum(np.square(th[arch.edge_slice(e)]))) for e in G.edges}
            by_hand = class_balances(G, q)
            for k in arch.rescaling_classes:
                assert c[arch.constrained_row(k[0])] == pytest.approx(by_hand[k[0]], rel=1e-12, abs=1e-12)
        drifts.append(float(np.abs(traj.balances[:, rows] - traj.balances[0, rows]).max()))
        first = {e: traj.thetas[0][arch.edge_slice(e)] for e in G.edges}
        last = {e: traj.thetas[-1][arch.edge_slice(e)] for e in G.edges}
        alone.append(max(abs(_member_alone(G, last, k[0]) - _member_alone(G, first, k[0])) for k in streams))
    # four times smaller steps, about four times less drift; the last one is small
    assert drifts[1] < drifts[0] / 2.5 and drifts[2] < drifts[1] / 2.5, drifts
    assert drifts[2] < 2e-3, drifts
    # a member alone is not conserved: its drift does not vanish with lr
    assert min(alone) > 20 * drifts[2] and alone[2] > 0.5 * alone[0], (alone, drifts)


def test_weight_decay_makes_every_class_balance_decay_like_exp_minus_2_lambda_t():
    G, streams, arch, theta, X, Y = _setup(seed=3)
    lam, T = 0.5, 1.0
    errors = []
    for lr in (4e-3, 1e-3):
        steps = int(T / lr)
        traj = topo.train(arch, theta, X, Y, lr=lr, steps=steps, weight_decay=lam, record_every=steps // 5)
        predicted = traj.balances[0] * np.exp(-2 * lam * traj.times)[:, None]
        scale = np.abs(traj.balances[0])[None, :]
        errors.append(float(np.max(np.abs(traj.balances - predicted) / scale)))
        rows = _stream_rows(arch, streams)
        assert np.all(np.abs(traj.balances[-1, rows]) < 0.5 * np.abs(traj.balances[0, rows]))  # they did decay
    assert errors[1] < 0.01 and errors[1] < errors[0] / 2.5, errors
