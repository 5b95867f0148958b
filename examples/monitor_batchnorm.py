"""A BalanceMonitor on a CNN with BatchNorm, in training mode: the laws of the γ/β units.

In training mode a BatchNorm normalises each channel with the batch's own statistics.  Its
input channels then carry no rescaling law (the map is scale-invariant, not homogeneous), but
each channel's (γ, β) and the weights reading it after the ReLU do: rescaling (γ_c, β_c) by α and
the next layer's column c by 1/α leaves the training loss of every batch unchanged.  The monitor
imports the model that way (``topo.from_torch(..., batch_statistics=True)``) and follows these
balances γ_c² + β_c² − ||W_next[:, c]||² during SGD with weight decay on scikit-learn's digits:
the exact discrete law holds at every step (float64), and the balances it reads equal those of
a fresh import of the trained model.

Run:  python examples/monitor_batchnorm.py [--steps N] [--out DIR]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import topo  # noqa: E402
from topo.experiments.data import digits  # noqa: E402


def bn_cnn() -> torch.nn.Module:
    """conv 3x3 (8) -> BatchNorm -> ReLU -> conv 3x3 (8) -> BatchNorm -> ReLU -> mean -> linear (10), float64."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).double()


def main(steps: int, out: Path) -> None:
    Xtr, ytr, _, _ = digits()
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    model = bn_cnn().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=1e-3)
    monitor = topo.BalanceMonitor(model, X[:2], every=10).attach(opt)
    print(f"{monitor.architecture.n_constrained} constrained units: "
          f"{', '.join(monitor.architecture.constrained[:3])}, ... (the BatchNorms' channels)")
    rng = np.random.default_rng(0)
    for _ in range(steps):
        batch = torch.from_numpy(rng.choice(len(X), size=64, replace=False))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
        loss.backward()
        opt.step()
    print(monitor.summary())
    worst = max(r["prediction_error"] for r in monitor.history[1:])
    fresh = topo.from_torch(model, X[:2], batch_statistics=True)
    gap = np.abs(monitor.balances() - topo.balance(fresh.architecture, fresh.theta)).max()
    print(f"\nSGD law, worst relative error over {len(monitor.history) - 1} records: {worst:.1e}; "
          f"monitor vs a fresh import: {gap:.1e}; Euler self-test: max residual {monitor.euler['max_residual']:.1e}")
    assert worst < 1e-10 and gap < 1e-10 and not monitor.euler["failed"]
    assert model.training  # the monitor left the model in training mode
    out.mkdir(parents=True, exist_ok=True)
    monitor.plot().savefig(out / "monitor_batchnorm.png", dpi=100, bbox_inches="tight")
    print(f"figure: {out / 'monitor_batchnorm.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="SGD steps (default 200)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the figure")
    args = parser.parse_args()
    main(args.steps, args.out)
