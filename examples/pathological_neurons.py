"""Test loss against the number of non-pathological neurons (the 2024 paper's finding).

In a shallow scalar-output ReLU network, a hidden neuron with negative balance
c_k = |w_k|^2 + b_k^2 - a_k^2 < 0 is "pathological": its output weight a_k can
never cross zero, so the sign of its contribution is fixed by the
initialisation, and the fiber has 2^{#pathological} components.  This script
initialises 2-8-1 networks with a prescribed number of non-pathological
neurons (c >= 0), trains each with full-batch gradient descent on the same
regression task, and plots the test loss against that number.

Run:  python examples/pathological_neurons.py [--out DIR] [--seeds N]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import topo  # noqa: E402

WIDTH = 8


def task(seed=0, n_train=40, n_test=400):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n_train + n_test, 2))
    y = np.abs(X[:, 0]) - np.abs(X[:, 1]) + 0.5 * np.maximum(X[:, 0] + X[:, 1], 0)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def init_with(arch, n_good, seed):
    """Kaiming init, then rescale each neuron (a symmetry: same function) until its
    balance has the prescribed sign: c >= 0 for the first n_good neurons, c < 0 after."""
    theta = arch.init("kaiming", seed=seed)
    for k, v in enumerate(arch.constrained):
        ins = [arch.edge_slice(e) for e in arch.edges if e[1] == v]
        out = arch.edge_slice((v, "y0"))
        q_in = sum(float(theta[s] @ theta[s]) for s in ins)
        q_out = float(theta[out] @ theta[out])
        # c = α² q_in - q_out / α² = ±sqrt(q_in q_out) (√2 - 1/√2) for α⁴ = 2^{±1} q_out / q_in
        alpha2 = np.sqrt((2.0 if k < n_good else 0.5) * q_out / q_in)
        for s in ins:
            theta[s] *= np.sqrt(alpha2)
        theta[out] /= np.sqrt(alpha2)
    c = topo.balance(arch, theta)
    assert int(np.sum(c >= 0)) == n_good
    return theta


def main(out: Path, seeds: int):
    torch.set_num_threads(1)
    arch = topo.Architecture.mlp([2, WIDTH, 1])
    Xtr, ytr, Xte, yte = task()
    counts = list(range(0, WIDTH + 1, 2))
    results = {k: [] for k in counts}
    print(f"{'non-pathological':>16} | {'components':>10} | test loss (mean over {seeds} seeds)")
    for k in counts:
        for seed in range(seeds):
            theta = init_with(arch, k, seed)
            n_comp = topo.connectivity(arch, topo.balance(arch, theta)).n_components
            assert n_comp == 2 ** (WIDTH - k)
            traj = topo.train(arch, theta, Xtr, ytr, lr=0.02, steps=1500, record_every=1500)
            results[k].append(float(np.mean((topo.forward(arch, traj.theta, Xte)[:, 0] - yte) ** 2)))
        print(f"{k:>16} | {2 ** (WIDTH - k):>10} | {np.mean(results[k]):.4f} ± {np.std(results[k]):.4f}")
    means = np.array([np.mean(results[k]) for k in counts])
    stds = np.array([np.std(results[k]) for k in counts])
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    yerr = np.vstack([np.minimum(stds, means), stds])  # mean ± std, clipped at 0: an MSE is never negative
    ax.errorbar(counts, means, yerr=yerr, marker="o", capsize=3)
    ax.set(xlabel="non-pathological neurons (c ≥ 0)", ylabel="test MSE",
           title=f"2-{WIDTH}-1 ReLU network, {seeds} seeds each")
    fig.tight_layout()
    fig.savefig(out / "pathological_neurons.png", dpi=110)
    print(f"figure: {out / 'pathological_neurons.png'}")
    # every network starts from the same function (rescalings are symmetries): only the
    # fiber differs, and the fully non-pathological networks generalise better
    assert means[-1] < means[0]
    return counts, means


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the figure")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    main(args.out, args.seeds)
