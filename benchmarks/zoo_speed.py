"""Speed and memory of the PyTorch import + audit on model-zoo CNNs (issue 19).

    python benchmarks/zoo_speed.py [--models resnet50,resnet26d,...] [--no-vgg] [--threads 1]

(1) For each model, in its own subprocess: the baseline (``torch.fx.symbolic_trace`` of the
    model and one float64 sum of every weight tensor, the best of three runs), then
    ``topo.from_torch(model, x)`` and ``topo.audit`` with default options, in the same
    process, and the ratio (import + audit) / baseline.  ``resnet50`` is ``topo.zoo.resnet50()``
    (torchvision's layout, 1x3x224x224); the others are timm 1.0.31 architectures as the zoo
    test builds them (``tests/zoo_timm.build``: ``pretrained=False``, float64, perturbed
    BatchNorm statistics, 1x3x64x64).  The one-time cost of the libraries' own imports is
    paid before the clock starts (a two-layer model is imported first): it is not topo's.
    Target: ResNet-50 import + audit <= 20x the baseline.  Next to the wall time: the CPU time
    of import + audit split into user and system time, and its minor page faults (on a virtual
    machine that hands memory back to its host, the first touch of fresh memory is system time:
    see benchmarks/RESULTS.md).
(2) torchvision's VGG-11 (133 M weights, 1x3x224x224): import + audit time, and the peak
    memory topo allocates for it (``tracemalloc``, which sees numpy's buffers, in a second
    subprocess) and the peak resident size of the process (``ru_maxrss``, torch and the
    model's float32 weights included), against the float64 size of the weights.
    Target: peak <= 3x the float64 weights.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402

MODELS = ["resnet50", "resnet26d", "seresnet50", "wide_resnet50_2", "resnext50_32x4d", "dla34"]

CODE = r"""
import json, resource, sys, time, tracemalloc, types, warnings
sys.path.insert(0, {root!r})
sys.path.insert(0, {root!r} + '/benchmarks')
from _baseline import fx_baseline
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import torch
torch.set_num_threads({threads})
import topo
from topo.nn.trace import from_torch
name, traced = {name!r}, {traced!r}
warnings.simplefilter("ignore")
if name == "resnet50":
    from topo import zoo
    model, x = zoo.resnet50()
elif name == "vgg11":
    import torchvision
    torch.manual_seed(0)
    model, x = torchvision.models.vgg11().eval(), torch.randn(1, 3, 224, 224)
else:
    from tests.zoo_timm import build
    model, x = build(name)
warm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
topo.audit(from_torch(warm.eval(), torch.zeros(1, 3, 8, 8)))  # the libraries' first-use imports
baseline = fx_baseline(model)  # warm: the best of three
n_weights = sum(p.numel() for p in model.parameters())
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
if traced:
    tracemalloc.start()
ru1 = resource.getrusage(resource.RUSAGE_SELF)
t1 = time.perf_counter()
imp = from_torch(model, x)
t2 = time.perf_counter()
a = topo.audit(imp)
t3 = time.perf_counter()
ru2 = resource.getrusage(resource.RUSAGE_SELF)
traced_peak = tracemalloc.get_traced_memory()[1] / 2**30 if traced else None
print(json.dumps(dict(weights=n_weights, edges=imp.architecture.n_edges, baseline=baseline, imp=t2 - t1,
                      audit=t3 - t2, rss0=rss0, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                      traced=traced_peak, components=a.report["connectivity"]["log2_n_components"],
                      user=ru2.ru_utime - ru1.ru_utime, sys=ru2.ru_stime - ru1.ru_stime,
                      faults=ru2.ru_minflt - ru1.ru_minflt)))
"""


def run(root: str, name: str, *, traced: bool = False, threads: int = 1) -> dict:
    """One model in a fresh subprocess: the figures as a dict, or ``{"error": last line}``."""
    code = CODE.format(root=root, name=name, traced=traced, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed_row(name: str, r: dict) -> tuple:
    if "error" in r:
        return (name, "failed", r["error"], "")
    total = r["imp"] + r["audit"]
    target = "<= 20x" if name == "resnet50" else "(<= 20x)"
    return (name, f"{r['weights']:,} weights, {r['edges']:,} edges",
            f"baseline {r['baseline']:.2f}s; import {r['imp']:.1f}s + audit {r['audit']:.1f}s = {total:.1f}s; "
            f"ratio {total / r['baseline']:.0f}x; CPU user {r['user']:.1f}s + system {r['sys']:.1f}s "
            f"({r['faults'] / 1e3:.0f}k page faults); peak RSS {r['rss']:.2f} GiB", target)


def vgg_rows(root: str, threads: int) -> list:
    r = run(root, "vgg11", threads=threads)
    m = run(root, "vgg11", traced=True, threads=threads)
    if "error" in r or "error" in m:
        return [("vgg11", "failed", (r if "error" in r else m)["error"], "<= 3x float64 weights")]
    f64 = r["weights"] * 8 / 2**30
    return [("vgg11", f"{r['weights']:,} weights ({f64:.2f} GiB in float64), {r['edges']:,} edges",
             f"import {r['imp']:.1f}s + audit {r['audit']:.1f}s = {r['imp'] + r['audit']:.1f}s; topo's peak "
             f"(tracemalloc) {m['traced']:.2f} GiB = {m['traced'] / f64:.2f}x the float64 weights; process "
             f"peak RSS {r['rss']:.2f} GiB ({r['rss0']:.2f} GiB before the import)", "<= 3x float64 weights")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--no-vgg", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    root = str(Path(__file__).resolve().parents[1])
    rows = []
    for name in [m for m in args.models.split(",") if m]:
        rows.append(speed_row(name, run(root, name, threads=args.threads)))
        print(*rows[-1], sep=" | ", flush=True, file=sys.stderr)
    if not args.no_vgg:
        rows.extend(vgg_rows(root, args.threads))
    print_table(rows, headers=("model", "size", "time and memory", "target"))


if __name__ == "__main__":
    main()
