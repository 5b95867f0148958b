"""Why a BalanceMonitor record costs more inside a training loop than on its own (issue 20).

    python benchmarks/monitor_cold_start.py

On the MLP 784-512-512-10 of `monitor_overhead.py` (float32, one torch thread, Adam), times the
monitor's balance pass (`ParameterIndex.entries`, one reduction per parameter tensor) as the first
thing after a training step and again right after itself, and one 512-element ``square()`` the same
way: the difference is the cold start every operation of a record pays after ``opt.step()``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import topo  # noqa: E402
from _table import print_table  # noqa: E402
from monitor_overhead import mlp  # noqa: E402
from topo.nn.monitor_index import ParameterIndex  # noqa: E402


def _pair(pre, f, n: int = 200) -> tuple[float, float]:
    """Median microseconds of ``f()`` right after ``pre()``, and of a second ``f()`` right after it."""
    first, second = [], []
    for _ in range(n):
        pre()
        t0 = time.perf_counter()
        f()
        t1 = time.perf_counter()
        f()
        t2 = time.perf_counter()
        first.append(t1 - t0)
        second.append(t2 - t1)
    return statistics.median(first) * 1e6, statistics.median(second) * 1e6


def main() -> None:
    torch.set_num_threads(1)
    net = mlp()
    X, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    idx = ParameterIndex(net, topo.from_torch(net, X[:2]))  # the monitor's balance pass
    tiny = torch.randn(512)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()

    rows = []
    for what, f in (("balance pass (0.67 M parameters)", idx.entries), ("square() of 512 floats", tiny.square)):
        for label, pre in (("after a training step", step), ("after nothing", lambda: None),
                           ("after a 2 ms sleep", lambda: time.sleep(0.002))):
            a, b = _pair(pre, f)
            rows.append((what, label, f"first {a:.0f} us, second {b:.0f} us", "-"))
    print_table(rows, headers=("operation", "timed right", "time", "target"))


if __name__ == "__main__":
    main()
