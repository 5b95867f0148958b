"""Where a synchronous BalanceMonitor record of the MLP goes (issue 20): its parts against the step.

    python benchmarks/monitor_record_parts.py

The MLP 784-512-512-10 of ``monitor_overhead.py`` (float32, batch 64, one torch thread, plain
SGD with weight decay, so every record also reads the gradients for the SGD law).  Each part
is timed alone, as the median of 300 calls, with the caches cold (a 64 MiB array is rewritten
before each call, as the forward and backward passes do between two records), except where
the row says "warm":

* the training step without the monitor (zero_grad + forward + loss + backward + step);
* one plain pass over the parameters (the sum of squares of every parameter tensor): the
  floor of "recording is one pass over the parameters";
* the monitor's reads: the per-unit sums of the parameters alone, and of the parameters
  and gradients together (what a record with the SGD law reads);
* the rest of a record (the numpy post-processing: balances per class, drift, the law's
  prediction and error, prunability summary), with the reads replaced by their result;
* for one 512x512 hidden layer, the current row + column sums of squares against the
  alternatives tried (two matrix-vector products, numpy, row chunks that stay in cache).

The synchronous overhead cannot go below the reads plus the rest: the ratio column says how
much of the 10% target each part takes.
"""

from __future__ import annotations

import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import topo  # noqa: E402
from _table import print_table  # noqa: E402
from monitor_overhead import mlp  # noqa: E402

_FLUSH = torch.zeros(16 * 2**20)  # 64 MiB: more than the last-level cache


def _median_ms(f, n: int = 300, cold: bool = True, before=None) -> float:
    """The median time of ``f()`` over ``n`` calls, each after ``before()`` (default: the cache
    flush when ``cold``, nothing else)."""
    if before is None and cold:
        def before():
            _FLUSH.add_(1.0)
    f()
    times = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _block_kernels(rows: list, step_ms: float) -> None:
    X = torch.randn(512, 512)
    buf, ones = torch.empty(512, 512), torch.ones(512)
    Xn, bufn = X.numpy(), buf.numpy()

    def chunked(cs=128):
        cols, out = torch.zeros(512), []
        for i in range(0, 512, cs):
            b = torch.mul(X[i:i + cs], X[i:i + cs], out=buf[:cs])
            out.append(b.sum(1))
            cols.add_(b.sum(0))
        return out, cols

    kernels = [("current: one product into a scratch buffer, row sums, column sums",
                lambda: (torch.mul(X, X, out=buf), buf.sum(1), buf.sum(0))),
               ("product, then two matrix-vector products", lambda: (torch.mul(X, X, out=buf), torch.mv(buf, ones),
                                                                      torch.mv(buf.t(), ones))),
               ("row norms (one read), product, matrix-vector product for the columns",
                lambda: (torch.linalg.vector_norm(X, dim=1), torch.mul(X, X, out=buf), torch.mv(buf.t(), ones))),
               ("numpy: square into a buffer, two sums", lambda: (np.square(Xn, out=bufn), bufn.sum(1), bufn.sum(0))),
               ("rows by chunks of 128 (the chunk stays in cache)", chunked),
               ("for scale: the row norms alone (one read of the block)", lambda: torch.linalg.vector_norm(X, dim=1))]
    for label, f in kernels:
        ms = _median_ms(f)
        rows.append((f"  512x512 block: {label}", "", f"{ms * 1e3:.0f} us", f"{100 * ms / step_ms:.1f}% of the step"))


def main() -> None:
    torch.set_num_threads(1)
    net = mlp()
    X, y = torch.randn(64, 784), torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, weight_decay=1e-4)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()

    step_ms = _median_ms(step, cold=False)
    mon = topo.BalanceMonitor(net, X[:2], every=1, per_class=False)
    step()  # gradients to read
    idx = mon._index
    grads = idx.grads()
    hyper = mon._hyper(opt, idx.params)
    mon._read()  # the previous record, for the SGD law
    parts = [("one plain pass: the sum of squares of every parameter tensor",
              lambda: [p.square().sum() for p in net.parameters()]),
             ("monitor read: per-unit sums of the parameters", lambda: idx.entries()),
             ("monitor read: parameters and gradients (a record with the SGD law)",
              lambda: idx.entries((None, None), (grads, None)))]
    rows = [("MLP 784-512-512-10, batch 64: the training step (warm)", f"{mon.architecture.n_constrained} classes",
             f"{step_ms:.2f} ms", "10% = " + f"{0.1 * step_ms:.2f} ms")]
    for label, f in parts:
        ms = _median_ms(f)
        rows.append((f"  {label}", "", f"{ms:.3f} ms", f"{100 * ms / step_ms:.1f}% of the step"))
    flat = idx.entries((None, None), (grads, None))
    real = idx.entries
    idx.entries = lambda *pairs: flat  # the rest of a record, without its reads
    try:
        ms = _median_ms(lambda: mon._measure(True, hyper, grads), cold=False)
    finally:
        idx.entries = real
    rows.append(("  the rest of a record with the SGD law (numpy, warm)", "", f"{ms:.3f} ms",
                 f"{100 * ms / step_ms:.1f}% of the step"))
    _block_kernels(rows, step_ms)
    print_table(rows, headers=("part", "size", "time", "share"))


if __name__ == "__main__":
    main()
