"""Import + audit of ResNet-50 with rescaling classes against the code before classes (issue 18).

    python benchmarks/classes_speed.py [--before ddeedb1] [--image-size 224] [--repeats 2]

The code before classes is checked out from git (``--before``, default ``ddeedb1``: main just
before the classes landed) into a temporary worktree; each version runs ``topo.from_torch`` and
``topo.audit`` on ``topo.zoo.resnet50`` (torchvision's layout, one image) in its own fresh
subprocess, alternately, ``--repeats`` times, and the best time of each is kept.  The table shows
both, their ratio (target: classes <= 1.2x before) and what each version finds (balances; the
version with classes also finds the 3840 shared along the residual streams).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402

CODE = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(2)
import topo
from topo import zoo
from topo.nn.trace import from_torch
model, x = zoo.resnet50(image_size={size!r})
t0 = time.perf_counter()
imp = from_torch(model, x)
t1 = time.perf_counter()
a = topo.audit(imp)
t2 = time.perf_counter()
arch = imp.architecture
print(json.dumps(dict(imp=t1 - t0, audit=t2 - t1, balances=arch.n_constrained,
                      shared=int(getattr(arch, "n_shared", 0)), components=a.report["connectivity"]["n_components"])))
"""


def _run(root: str, size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CODE.format(root=root, size=size)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{root}: {(out.stderr.strip().splitlines() or ['failed'])[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="ddeedb1", help="git revision of the code before classes")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    here = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        old = str(Path(tmp) / "before")
        subprocess.run(["git", "-C", here, "worktree", "add", "--detach", "-q", old, args.before], check=True)
        try:
            runs: dict = {"before": [], "classes": []}
            for _ in range(args.repeats):  # alternate, so that a change of load hits both
                runs["before"].append(_run(old, args.image_size))
                runs["classes"].append(_run(here, args.image_size))
        finally:
            subprocess.run(["git", "-C", here, "worktree", "remove", "--force", old], check=False)
    best = {k: min(v, key=lambda r: r["imp"] + r["audit"]) for k, v in runs.items()}
    rows = []
    for k in ("before", "classes"):
        r = best[k]
        rows.append((f"{k} ({args.before})" if k == "before" else "with classes (this checkout)",
                     f"import {r['imp']:.1f}s + audit {r['audit']:.1f}s = {r['imp'] + r['audit']:.1f}s",
                     f"{r['balances']:,} balances" + (f", {r['shared']:,} shared" if r["shared"] else ""),
                     f"{r['components']} component(s)"))
    t = {k: r["imp"] + r["audit"] for k, r in best.items()}
    rows.append(("ratio classes / before", f"{t['classes'] / t['before']:.2f}x", "target <= 1.2x", ""))
    print(f"ResNet-50 (topo.zoo.resnet50, 1x3x{args.image_size}x{args.image_size}), best of {args.repeats}:")
    print_table(rows, headers=("version", "import + audit", "found", "connectivity"))


if __name__ == "__main__":
    main()
