"""Overhead of topo.BalanceMonitor per recorded step (issue 20).

    python benchmarks/monitor_overhead.py [--quick]

Two models on the CPU, float32, one torch thread, each with plain SGD with weight
decay (every record also computes the SGD law: a second pass, over the gradients)
and with Adam (no law: one pass over the parameters):

(1) topo.zoo.resnet18(batchnorm=False): 11.2 M weights, batch of 8 images 3x32x32;
(2) an MLP 784-512-512-10: 0.67 M weights, batch of 64.

A training step is zero_grad + forward + cross-entropy + backward + optimizer.step().
The step is timed without the monitor and with the monitor attached at ``every=1``
in alternating blocks (the machine is shared: alternating keeps both under the same
load), and the overhead is the median over blocks of (with - without) / without,
each block's time the median of its steps.  The second line of each model times the
``opt.step()`` call alone (it runs the monitor's hooks: the record, with the SGD
law's gradient pass): (with - without) over the whole step without, the monitor's
own cost, less exposed to the noise of forward and backward passes.
Each is run twice: synchronous (the record inside the step hook) and with
``background=True`` (the parameters are read on a worker thread while the loop runs
the next forward and backward pass; torch runs one thread here, so the second core
is spare).  With ``background=True`` the hooks' time is the gradient read of the SGD
law before the worker learns that the loop gives new gradient tensors, then the wait
for the worker at the next step's pre-hook; the record's own CPU time is not in it.
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


def mlp() -> torch.nn.Sequential:
    """The MLP 784-512-512-10 of these benchmarks (float32, seeded)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                               torch.nn.ReLU(), torch.nn.Linear(512, 10))


def _models():
    torch.manual_seed(0)
    resnet, _ = topo.zoo.resnet18(batchnorm=False)
    net = mlp()
    return [("ResNet-18 (no BatchNorm), batch 8x3x32x32", resnet.train(), torch.randn(8, 3, 32, 32)),
            ("MLP 784-512-512-10, batch 64", net, torch.randn(64, 784))]


def _overhead(model, X, blocks: int, n: int, adam: bool = False, background: bool = False) -> dict:
    """Alternating blocks of ``n`` steps without and with the monitor; per step, the whole
    training step and its ``opt.step()`` call (which runs the monitor's hooks) are timed."""
    y = torch.randint(0, 10, (len(X),), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4) if adam else \
        torch.optim.SGD(model.parameters(), lr=1e-3, weight_decay=1e-4)
    mon = topo.BalanceMonitor(model, X[:2], every=1, per_class=False, background=background)

    def run(k):
        whole, inner = [], []
        for _ in range(k):
            t0 = time.perf_counter()
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            t1 = time.perf_counter()
            opt.step()
            t2 = time.perf_counter()
            whole.append(t2 - t0)
            inner.append(t2 - t1)
        return statistics.median(whole), statistics.median(inner)

    run(3)
    mon.attach(opt)
    run(3)  # the Euler self-test happens here, once
    base, with_mon, ratios, hook = [], [], [], []
    for _ in range(blocks):
        mon.detach()
        a, a_step = run(n)
        mon.attach(opt)
        b, b_step = run(n)
        base.append(a)
        with_mon.append(b)
        ratios.append((b - a) / a)
        hook.append((b_step - a_step) / a)
    mon.detach()
    assert (mon.history[-1].get("prediction_error") is None) == adam
    return {"base": statistics.median(base), "with": statistics.median(with_mon),
            "ratio": statistics.median(ratios), "hook_ratio": statistics.median(hook),
            "hook_ms": statistics.median(hook) * statistics.median(base) * 1e3,
            "classes": mon.architecture.n_constrained}


def _memory(records: int) -> list[tuple[str, float]]:
    net = mlp()
    out = []
    for per_class in (False, True):
        mon = topo.BalanceMonitor(net, per_class=per_class, frozen=False)
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
    blocks, n = (2, 2) if args.quick else (15, 6)
    rows = []
    for name, model, X in _models():
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for adam, background in ((False, False), (False, True), (True, False), (True, True)):
            model.load_state_dict(state)
            r = _overhead(model, X, blocks, n, adam=adam, background=background)
            label = "Adam (balances only)" if adam else "SGD + weight decay (balances + SGD law)"
            label += ", background=True" if background else ""
            rows.append((f"{name}, {label}", f"{r['classes']} classes", f"step {r['base'] * 1e3:.1f} ms, with "
                         f"monitor {r['with'] * 1e3:.1f} ms: {100 * r['ratio']:+.1f}%", "<= 10%"))
            hooks = "  the monitor's hooks alone (in opt.step" + (", waiting for the worker)" if background else ")")
            rows.append((hooks, "", f"{r['hook_ms']:.2f} ms: {100 * r['hook_ratio']:+.1f}% of the step", "<= 10%"))
    for name, per in _memory(50 if args.quick else 500):
        rows.append((f"memory per record, MLP, {name}", "1024 classes", f"{per:,.0f} bytes", "O(1) / O(classes)"))
    print_table(rows)


if __name__ == "__main__":
    main()
