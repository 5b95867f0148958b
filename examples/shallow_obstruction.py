"""The shallow scalar-output obstruction of the 2024 paper, reproduced with topo.

For a network d -> l -> 1 with ReLU hidden units and biases, each hidden neuron k
carries the conserved balance c_k = |w_k|^2 + b_k^2 - a_k^2 (input weights and
bias minus output weight).  A neuron with c_k < 0 can never bring its output
weight a_k to zero, so gradient flow never changes its sign: the invariant set
has 2^{#neurons with c < 0} connected components.

This script
1. tabulates, over random initialisations, the number of negative-balance
   neurons against topo's exact component count;
2. trains one network with small-step gradient descent (a plain numpy loop,
   standing in for gradient flow) and checks that the frozen output weights keep
   their sign while the balances stay put;
3. connects two points of one component with topo.fiber_path and shows that
   points in different components are refused.

Run:  python examples/shallow_obstruction.py
"""

import numpy as np

import topo
from topo.errors import FiberError


def table(d=2, width=6, n_trials=8, out_scale=2.0):
    arch = topo.Architecture.mlp([d, width, 1])
    print(f"network {d}-{width}-1 with biases; output weights scaled by {out_scale}")
    print(f"{'seed':>4} | {'#c<0':>4} | {'2^#c<0':>6} | {'topo components':>15} | frozen edges")
    for seed in range(n_trials):
        theta = arch.init("kaiming", seed=seed)
        out = slice(arch.n_params - width - 1, arch.n_params - 1)  # output weights a_k
        theta[out] *= out_scale
        c = topo.balance(arch, theta)
        rep = topo.connectivity(arch, c)
        n_neg = int(np.sum(c < 0))
        assert rep.n_components == 2**n_neg
        frozen = ", ".join(f"{u}->{v}" for u, v in rep.frozen_edges) or "-"
        print(f"{seed:>4} | {n_neg:>4} | {2**n_neg:>6} | {rep.n_components:>15} | {frozen}")
    return arch


def train_and_watch(arch, seed=3, steps=4000, lr=2e-3):
    """Gradient descent on a regression task; returns initial and final parameters."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    width = len(arch.constrained)
    theta = arch.init("kaiming", seed=seed)
    theta[arch.n_params - width - 1:arch.n_params - 1] *= 2.0
    # unpack in the parameter order of Architecture.mlp: W1 (row = neuron), b1, a, b2
    def unpack(t):
        W = t[: 2 * width].reshape(width, 2)
        b = t[2 * width: 3 * width]
        a = t[3 * width: 4 * width]
        return W, b, a, t[-1]

    c0 = topo.balance(arch, theta)
    rep = topo.connectivity(arch, c0)
    label0 = topo.component_label(arch, theta)
    t = theta.copy()
    for _ in range(steps):
        W, b, a, b2 = unpack(t)
        z = X @ W.T + b
        h = np.maximum(z, 0)
        r = h @ a + b2 - y
        g_out = 2 * r / len(y)
        ga = h.T @ g_out
        gz = np.outer(g_out, a) * (z > 0)
        gW = gz.T @ X
        gb = gz.sum(axis=0)
        t = t - lr * np.concatenate([gW.ravel(), gb, ga, [g_out.sum()]])
    c1 = topo.balance(arch, t)
    print(f"\ngradient descent, {steps} steps of lr={lr}: max balance drift {np.abs(c1 - c0).max():.2e} "
          f"(O(lr); exact conservation in the gradient-flow limit)")
    print(f"frozen edges {rep.frozen_edges}")
    print(f"component label before {label0}, after {topo.component_label(arch, t)}")
    assert topo.component_label(arch, t) == label0
    return theta, rep


def paths(arch, theta, rep):
    rng = np.random.default_rng(0)
    partner = theta.copy()
    frozen = set(rep.frozen_index.tolist())
    free_scalars = [e for e in range(arch.n_edges) if e not in frozen]
    flip = rng.choice(free_scalars, size=len(free_scalars) // 2, replace=False)
    partner[arch.edge_offsets[flip]] *= -1  # same balances, same component
    path = topo.fiber_path(arch, theta, partner, n_steps=50)
    drift = max(np.abs(topo.balance(arch, p) - topo.balance(arch, theta)).max() for p in path)
    print(f"\nfiber_path across {len(flip)} sign changes: {len(path)} points, max balance drift {drift:.1e}")
    if rep.frozen_edges:
        other = theta.copy()
        other[arch.edge_slice(rep.frozen_edges[0])] *= -1
        try:
            topo.fiber_path(arch, theta, other)
        except FiberError as exc:
            print(f"flipping a frozen edge instead: {exc}")


if __name__ == "__main__":
    arch = table()
    theta, rep = train_and_watch(arch)
    paths(arch, theta, rep)
