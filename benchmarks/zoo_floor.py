"""What the memory of this machine costs a ResNet-50 audit (issue 19): the floors under the 20x target.

    python benchmarks/zoo_floor.py [--runs 3]

Each run is a fresh subprocess (one torch thread) that builds ``topo.zoo.resnet50()`` and times, in
this order: the issue's baseline (``torch.fx.symbolic_trace`` plus a float64 sum of every weight
tensor, best of three); one float64 copy of all 25.6 M weights into a single array (what an audit in
float64 holds, whatever its representation); one int64 array with an entry per channel-pair edge
(15.5 M: what a per-edge representation holds per index array), written once; and topo's own
import + audit. Next to the wall time: user and system CPU time. On a virtual machine whose host
takes freed memory back, the first touch of fresh memory is system time, and how much varies from
run to run: the table shows the spread the target is measured against.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402

CODE = r"""
import json, resource, sys, time, types, warnings
sys.path.insert(0, {bench!r})
from _baseline import fx_baseline
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import numpy as np
import torch
torch.set_num_threads(1)
import topo
from topo.nn.trace import from_torch
warnings.simplefilter("ignore")
model, x = topo.zoo.resnet50()
warm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
topo.audit(from_torch(warm.eval(), torch.zeros(1, 3, 8, 8)))  # the libraries' first-use imports

def clock():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime, r.ru_stime

def timed(fn):
    a = clock()
    keep = fn()
    b = clock()
    return [b[i] - a[i] for i in range(3)], keep

out = {{"baseline": [fx_baseline(model), None, None]}}
params = [p.detach() for p in model.parameters()]

def copy64():
    theta = np.empty(sum(p.numel() for p in params), dtype=np.float64)
    o = 0
    for p in params:
        k = p.numel()
        theta[o:o + k] = p.numpy().reshape(-1)
        o += k
    return theta

out["float64 copy of the weights"], theta = timed(copy64)
out["one int64 array per edge"], ends = timed(lambda: np.full(15_491_688, 7, dtype=np.int64))
del theta, ends
out["topo import + audit"], _ = timed(lambda: topo.audit(from_torch(model, x)))
print(json.dumps(out))
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    bench = str(Path(__file__).resolve().parent)
    runs = []
    for _ in range(args.runs):
        res = subprocess.run([sys.executable, "-c", CODE.format(bench=bench)], capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    base = min(r["baseline"][0] for r in runs)
    rows = []
    for case in runs[0]:
        walls = [r[case][0] for r in runs]
        cpu = "" if runs[0][case][1] is None else ", ".join(f"{r[case][1]:.2f}/{r[case][2]:.2f}" for r in runs)
        rows.append((case, ", ".join(f"{w:.3f} s" for w in walls),
                     ", ".join(f"{w / base:.0f}x" for w in walls),
                     f"user/sys {cpu}" if cpu else "the best of three in each run"))
    print_table(rows, headers=("step (ResNet-50)", f"wall, {args.runs} fresh runs", "x baseline", "note"))


if __name__ == "__main__":
    main()
