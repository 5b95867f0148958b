"""Benchmark of the PyTorch import + audit (issue: real PyTorch models, fast).

    python benchmarks/torch_import.py

(1) a ResNet-50-shaped CNN (topo.zoo.resnet50: torchvision's layout, 25.6 M weights,
    one 3x224x224 image) at channel level: import (trace, shape run, BatchNorm folding)
    + audit with default options, against a baseline measured in the same process:
    fx-tracing the model and reading every weight once (float64 sum of each tensor),
    the best of three runs.
    Target: <= 100x the baseline.
(2) an MLP 784-4096-4096-10 (20 M weights) at neuron level: import + audit with
    default options in a subprocess whose address space is limited to 4 GiB
    (``ulimit -v 4194304``).  Target: completes.

Each case runs in a fresh subprocess (its own peak memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402

CODE = r"""
import json, re, resource, sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {root!r} + '/benchmarks')
from _baseline import fx_baseline
limit = {limit!r}
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import torch
torch.set_num_threads(2)
import topo
from topo import zoo
from topo.nn.trace import from_torch
if {case!r} == "resnet50":
    model, x = zoo.resnet50()
else:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 4096),
                                torch.nn.ReLU(), torch.nn.Linear(4096, 10)).eval()
    x = None
baseline = fx_baseline(model)  # warm: the best of three
t1 = time.perf_counter()
imp = from_torch(model, x)
t2 = time.perf_counter()
a = topo.audit(imp)
t3 = time.perf_counter()
status = open("/proc/self/status").read()
vmpeak = int(re.search(r"VmPeak:\s+(\d+)", status).group(1)) / 2**20
print(json.dumps(dict(params=imp.architecture.n_params, edges=imp.architecture.n_edges, baseline=baseline,
                      imp=t2 - t1, audit=t3 - t2, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                      vmpeak=vmpeak, strata=a.report["singular_strata"]["complete"])))
"""


def _run(root: str, case: str, limit: int | None) -> dict:
    out = subprocess.run([sys.executable, "-c", CODE.format(root=root, case=case, limit=limit)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    root = str(Path(__file__).resolve().parents[1])
    rows = []
    r = _run(root, "resnet50", None)
    if "error" in r:
        rows.append(("(1) ResNet-50-shaped, channel", "failed", r["error"], "<= 100x baseline"))
    else:
        total = r["imp"] + r["audit"]
        rows.append(("(1) ResNet-50-shaped, channel", f"{r['params']:,} weights, {r['edges']:,} edges",
                     f"import {r['imp']:.1f}s + audit {r['audit']:.1f}s = {total:.1f}s; baseline (fx trace + "
                     f"read weights) {r['baseline']:.2f}s; ratio {total / r['baseline']:.0f}x; peak RSS "
                     f"{r['rss']:.2f} GiB", "<= 100x baseline"))
    r = _run(root, "mlp", 4 * 2**30)
    if "error" in r:
        rows.append(("(2) MLP 784-4096-4096-10, neuron", "failed under ulimit -v 4 GiB", r["error"], "completes"))
    else:
        rows.append(("(2) MLP 784-4096-4096-10, neuron", f"{r['params']:,} weights, {r['edges']:,} edges",
                     f"import {r['imp']:.1f}s + audit {r['audit']:.1f}s under ulimit -v 4 GiB: completes; peak "
                     f"RSS {r['rss']:.2f} GiB, peak address space {r['vmpeak']:.2f} GiB; strata search "
                     f"complete: {r['strata']}", "completes under 4 GiB"))
    print_table(rows)


if __name__ == "__main__":
    main()
