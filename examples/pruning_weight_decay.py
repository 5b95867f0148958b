"""Weight decay drives a network towards its pruned strata (breast-cancer data).

With weight decay λ, gradient flow shrinks every balance exactly like
c(t) = exp(-2 λ t) c(0): the fiber moves towards c = 0, where every singular
stratum — every pruned sub-network — is present.  Neurons whose boundary weights
become small are close to the stratum where they are cut off, and pruning them
barely changes the function.

The script trains a 30-16-1 ReLU network on scikit-learn's bundled breast-cancer
data (binary cross-entropy, full-batch gradient descent) twice: with weight decay
and with an L1 penalty.  It checks the decay law within 1 %, tracks the
prunability scores ||θ_∂{v}|| of the hidden neurons, prunes those below a
threshold and reports test accuracy before and after.

Run:  python examples/pruning_weight_decay.py [--out DIR]   (figures go to DIR)
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import topo  # noqa: E402


def data(seed=0):
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


def accuracy(arch, theta, X, y):
    return float(np.mean((topo.forward(arch, theta, X)[:, 0] > 0) == y))


def run(arch, theta0, Xtr, ytr, Xte, yte, *, label, weight_decay=0.0, l1=0.0, lr=0.02, steps=5000,
        threshold=0.05):
    traj = topo.train(arch, theta0, Xtr, ytr, loss="bce", optimizer="gd", lr=lr, steps=steps,
                      weight_decay=weight_decay, l1=l1, record_every=steps // 30)
    theta = traj.theta
    scores = np.array([[p.distance for p in sorted(topo.prunability(arch, t), key=lambda p: p.nodes)]
                       for t in traj.thetas])
    order = sorted(arch.constrained)
    final = dict(zip(order, scores[-1]))
    prunable = [v for v in order if final[v] < threshold]
    acc_before = accuracy(arch, theta, Xte, yte)
    small, t_small = arch, theta
    for v in prunable:  # prune one neuron at a time, each from the current network
        small, t_small = topo.prune(small, t_small, [v])
    acc_after = accuracy(small, t_small, Xte, yte)
    print(f"\n[{label}] {steps} steps of gradient descent, lr {lr}, weight decay {weight_decay}, l1 {l1}")
    print(f"  train loss {traj.losses[0]:.3f} -> {traj.losses[-1]:.3f}")
    print(f"  prunability (boundary norm) of the 16 neurons: median {np.median(scores[0]):.3f} -> "
          f"{np.median(scores[-1]):.3f}; below {threshold}: {len(prunable)} neurons")
    print(f"  test accuracy {acc_before:.3f} with {len(arch.constrained)} neurons, "
          f"{acc_after:.3f} after pruning to {len(small.constrained)}")
    return traj, scores, acc_before, acc_after


def main(out: Path):
    torch.set_num_threads(1)  # tiny network: threads cost more than they give
    Xtr, Xte, ytr, yte = data()
    arch = topo.Architecture.mlp([30, 16, 1])
    theta0 = arch.init("kaiming", seed=0)
    lam = 0.05
    traj, scores_wd, acc_b, acc_a = run(arch, theta0, Xtr, ytr, Xte, yte, label="weight decay",
                                        weight_decay=lam)
    # the decay law: c(t) = exp(-2 λ t) c(0), t = lr * step (gradient descent's steps add a
    # relative error of about lr * λ^2 * t: 0.5 % at the end of this run)
    predicted = traj.balances[0] * np.exp(-2 * lam * traj.times)[:, None]
    rel = np.abs(traj.balances - predicted) / np.abs(predicted)
    print(f"  balances vs exp(-2 λ t) c(0): largest relative error {rel.max():.2%} over "
          f"{traj.balances.shape[1]} neurons and {len(traj.times)} times (t up to {traj.times[-1]:.0f})")
    assert rel.max() < 0.01
    assert np.median(scores_wd[-1]) < np.median(scores_wd[0])
    assert abs(acc_a - acc_b) <= 0.02
    assert len(traj.balances) and scores_wd[-1].min() < 0.05  # some neuron became prunable
    traj_l1, scores_l1, acc_b1, acc_a1 = run(arch, theta0, Xtr, ytr, Xte, yte, label="L1", l1=1e-2)
    assert abs(acc_a1 - acc_b1) <= 0.02

    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ratio = traj.balances / traj.balances[0]
    axes[0].plot(traj.times, ratio, color="tab:blue", alpha=0.4, lw=1)
    axes[0].plot(traj.times, np.exp(-2 * lam * traj.times), "k--", lw=2, label=r"$e^{-2\lambda t}$")
    axes[0].set(xlabel="t = lr · step", ylabel=r"$c_v(t) / c_v(0)$", title="balances under weight decay")
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)  # below: never over data
    for ax, scores, traj_, name in ((axes[1], scores_wd, traj, "weight decay"), (axes[2], scores_l1, traj_l1, "L1")):
        ax.semilogy(traj_.times, scores, color="tab:red", alpha=0.5, lw=1)
        ax.axhline(0.05, color="k", ls=":", label="pruning threshold")
        ax.set(xlabel="t = lr · step", ylabel=r"$\|\theta_{\partial v}\|$", title=f"prunability of neurons ({name})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    fig.tight_layout()
    fig.savefig(out / "pruning_weight_decay.png", dpi=110, bbox_inches="tight")
    print(f"\nfigure: {out / 'pruning_weight_decay.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the figure")
    main(parser.parse_args().out)
