"""Overhead of topo.BalanceMonitor per recorded step (issue 20).

    python benchmarks/monitor_overhead.py [--quick]

Two models on the CPU, float32, one torch thread, plain SGD with weight decay (so
that every record also computes the SGD law: the gradients' squared norms):

(1) topo.zoo.resnet18(batchnorm=False): 11.2 M weights, batch of 8 images 3x32x32;
(2) an MLP 784-512-512-10: 0.67 M weights, batch of 64.

A training step is zero_grad + forward + cross-entropy + backward + optimizer.step().
The step is timed without the monitor and with the monitor attached at ``every=1``
in alternating blocks (the machine is shared: alternating keeps both under the same
load), and the overhead is the median over blocks of (with - without) / without.
Target: <= 10% at every=1.

Memory: the bytes the monitor allocates per record (tracemalloc over 500 records of
the MLP, 1024 classes), with and without the per-class series; expected O(1) per
record without and about 8 bytes x classes with.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402

import topo  # noqa: E402
from _table import print_table  # noqa: E402


def _models():
    torch.manual_seed(0)
    resnet, _ = topo.zoo.resnet18(batchnorm=False)
    mlp = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                              torch.nn.ReLU(), torch.nn.Linear(512, 10))
    return [("ResNet-18 (no BatchNorm), batch 8x3x32x32", resnet.train(), torch.randn(8, 3, 32, 32)),
            ("MLP 784-512-512-10, batch 64", mlp, torch.randn(64, 784))]


def _overhead(model, X, blocks: int, n: int) -> tuple[float, float, float, int]:
    y = torch.randint(0, 10, (len(X),), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, weight_decay=1e-4)
    mon = topo.BalanceMonitor(model, X[:2], every=1, per_class=False)

    def run(k):
        t0 = time.perf_counter()
        for _ in range(k):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        return (time.perf_counter() - t0) / k

    run(3)
    mon.attach(opt)
    run(3)  # the Euler self-test happens here, once
    base, with_mon, ratios = [], [], []
    for _ in range(blocks):
        mon.detach()
        a = run(n)
        mon.attach(opt)
        b = run(n)
        base.append(a)
        with_mon.append(b)
        ratios.append((b - a) / a)
    mon.detach()
    assert mon.history[-1].get("prediction_error") is not None
    return statistics.median(base), statistics.median(with_mon), statistics.median(ratios), mon.architecture.n_constrained


def _memory(records: int) -> list[tuple[str, float]]:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                              torch.nn.ReLU(), torch.nn.Linear(512, 10))
    out = []
    for per_class in (False, True):
        mon = topo.BalanceMonitor(mlp, per_class=per_class, frozen=False)
        mon.step()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(records):
            mon.step()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out.append((f"per_class={per_class}", (after - before) / records))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few blocks (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    blocks, n = (2, 2) if args.quick else (9, 10)
    rows = []
    for name, model, X in _models():
        a, b, r, m = _overhead(model, X, blocks, n)
        rows.append((name, f"{m} classes", f"step {a * 1e3:.1f} ms, with monitor {b * 1e3:.1f} ms: "
                     f"+{100 * r:.1f}%", "<= 10%"))
    for name, per in _memory(50 if args.quick else 500):
        rows.append((f"memory per record, MLP, {name}", "1024 classes", f"{per:,.0f} bytes", "O(1) / O(classes)"))
    print_table(rows)


if __name__ == "__main__":
    main()
