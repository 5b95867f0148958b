"""Would a fused one-read kernel bring the synchronous MLP record under 10%? (issue 20; measured: no)

    pip install numba && python benchmarks/monitor_fused_read.py

The MLP 784-512-512-10 of ``monitor_overhead.py`` (float32, batch 64, one torch thread, plain
SGD with weight decay).  A record with the SGD law sums the squares of every weight row and
column, of the parameters and of the gradients.  topo does it with torch, three passes per
two-sided block (products into a scratch buffer, row sums, column sums).  A numba kernel that
reads each element once, adding its square to its row's sum and its column's accumulator
(float64), is timed against it:

* on one 512x512 block with the caches cold (a 64 MiB array rewritten before each call) and
  warm;
* on all the MLP's weights and gradients right after a real training step (zero_grad, forward,
  backward, ``opt.step()``), which is when the monitor reads them (both sides of every weight
  here; the monitor already reads the first layer's rows alone in one pass).

Each figure is the median of 300 calls.  The kernel reads about twice as fast, but one read of
the weights and gradients the step has just written stays 6-7% of the step, and the rest of a
record (about 0.1 ms of numpy, the optimizer's hyperparameters, the frozen signs) comes on top.
A prototype of the monitor with this kernel for every row/column block (2026-12-07) gave no
measurable gain on the whole step: +21.8% against +19.4% with torch (30 alternating blocks of 20
steps in one process, quartiles 18.9-23.7% and 17.5-24.1%).  So topo keeps torch and no LLVM
dependency; ``background=True`` stays the way to the target.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _table import print_table  # noqa: E402
from monitor_overhead import mlp  # noqa: E402
from monitor_record_parts import _FLUSH, _median_ms  # noqa: E402

try:
    import numba
except ImportError:  # pragma: no cover - the script says what it needs
    sys.exit("this benchmark needs numba: pip install numba")

@numba.njit(cache=False, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _fused(X, rows, cols):  # one read: each square goes to its row's sum and its column's accumulator
    n, m = X.shape
    cols[:] = 0.0
    for i in range(n):
        s = 0.0
        for j in range(m):
            p = np.float64(X[i, j]) * np.float64(X[i, j])
            s += p
            cols[j] += p
        rows[i] = s


def _torch3(X, buf):
    torch.mul(X, X, out=buf)
    return buf.sum(1), buf.sum(0)


def _numba(X):
    A = X.detach().numpy()
    rows, cols = np.empty(A.shape[0]), np.empty(A.shape[1])
    _fused(A, rows, cols)
    return rows, cols


def _median_us(f, before=None) -> float:
    return _median_ms(f, before=before or (lambda: None)) * 1e3


def main() -> None:
    torch.set_num_threads(1)
    X, buf = torch.randn(512, 512), torch.empty(512, 512)
    rows = []
    for label, before in (("cold caches", lambda: _FLUSH.add_(1.0)), ("warm", None)):
        a = _median_us(lambda: _torch3(X, buf), before)
        b = _median_us(lambda: _numba(X), before)
        rows.append((f"512x512 block, {label}", f"{a:.0f} us", f"{b:.0f} us", f"{a / b:.2f}x"))
    net = mlp()
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, weight_decay=1e-4)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    step()
    weights = [p for p in net.parameters() if p.dim() == 2]
    bufs = [torch.empty_like(p) for p in weights]

    def reads(kernel):
        def f():
            with torch.no_grad():
                for p, b in zip(weights, bufs):
                    kernel(p, b)
                    kernel(p.grad, b)
        return f

    a = _median_us(reads(_torch3), step)
    b = _median_us(reads(lambda p, b: _numba(p)), step)
    step_us = _median_us(step)
    rows.append(("MLP weights + gradients, right after a training step", f"{a:.0f} us", f"{b:.0f} us",
                 f"{a / b:.2f}x"))
    rows.append((f"  (the training step: {step_us / 1e3:.2f} ms; 10% = {step_us / 10:.0f} us)", "", "", ""))
    print_table(rows, headers=("row and column sums of squares", "torch, 3 passes", "numba, 1 read", "gain"))


if __name__ == "__main__":
    main()
