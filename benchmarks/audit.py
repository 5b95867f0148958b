"""Benchmarks of full audits of PyTorch models.

    python benchmarks/audit.py

(1) the ResNet-18-shaped CNN of topo.zoo at channel level: import (trace, BatchNorm
    folding) + full audit without sampling;
(2) an MLP 784-4096-4096-10 at neuron level (about 20 M weights): import + audit,
    with the peak resident memory of the process.
Each row is run in a fresh subprocess so that peak memory is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CODE = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(2)
from topo import zoo
from topo.nn.trace import from_torch
from topo.report import audit
t0 = time.perf_counter()
if {case!r} == "resnet18":
    model, x = zoo.resnet18()
else:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 4096),
                                torch.nn.ReLU(), torch.nn.Linear(4096, 10)).eval()
    x = None
t1 = time.perf_counter()
imp = from_torch(model, x)
t2 = time.perf_counter()
rep = audit(imp.architecture, imp.theta, name={case!r}, edge_source=imp.edge_source)
t3 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(dict(params=imp.architecture.n_params, edges=imp.architecture.n_edges, build=t1 - t0,
                      imp=t2 - t1, audit=t3 - t2, peak=peak, comps=rep["connectivity"]["log2_n_components"])))
"""


def main():
    root = str(Path(__file__).resolve().parents[1])
    print(f"{'case':34s} | {'size':34s} | {'time':58s} | {'peak memory':12s} | target")
    print("-" * 160)
    for case, label, target in (("resnet18", "(1) ResNet-18-shaped, channel", "< 30 s"),
                                ("mlp", "(2) MLP 784-4096-4096-10, neuron", "< 60 s, < 8 GiB")):
        out = subprocess.run([sys.executable, "-c", CODE.format(root=root, case=case)], capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        total = r["imp"] + r["audit"]
        print(f"{label:34s} | {r['params']:,} weights, {r['edges']:,} edges | "
              f"import {r['imp']:.1f}s + audit {r['audit']:.1f}s = {total:.1f}s (model build {r['build']:.1f}s) | "
              f"{r['peak']:.2f} GiB".ljust(12) + f" | {target}")


if __name__ == "__main__":
    main()
