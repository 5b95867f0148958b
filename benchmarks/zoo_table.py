"""The timm zoo table of docs/torch.md (issue 19).

    python benchmarks/zoo_table.py [--models resnet18,dla34,...] [--units 16]

Runs ``tests/zoo_timm.check`` on every architecture of ``tests/zoo_timm.ZOO`` (timm 1.0.31,
``pretrained=False``, float64, perturbed BatchNorm statistics, 1x3x64x64; each constrained
class sampled is checked against the autograd Euler identity, with a negative control) and
prints a Markdown table: parameters, units, constrained classes, free units, unsupported
operations, Euler-checked classes, the worst relative residual and the import time (wall
clock, one torch thread).  A refused model shows its one-line reason; a failed check stops
with the assertion.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ("| model | params | units | constrained classes | free units | unsupported | Euler-checked | "
          "worst residual | import |\n|---|---:|---:|---:|---:|---|---:|---:|---:|")


def row(r: dict) -> str:
    """One Markdown row of a ``tests.zoo_timm.check`` result."""
    if "refused" in r:
        return f"| `{r['model']}` | {r['params']:,} | refused: {r['refused']} | | | | | | |"
    unsupported = ", ".join(f"`{u}`" for u in r["unsupported"]) or "none"
    return (f"| `{r['model']}` | {r['params']:,} | {r['units']:,} | {r['constrained']:,} | {r['free']:,} | "
            f"{unsupported} | {r['checked']} | {r['worst']:.1e} | {r['import_s']:.1f} s |")


def main(argv=None):
    import torch

    from tests import zoo_timm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo_timm.ZOO))
    ap.add_argument("--units", type=int, default=16, help="constrained classes sampled per model")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(HEADER, flush=True)
    for name in [m for m in args.models.split(",") if m]:
        print(row(zoo_timm.check(name, n_units=args.units)), flush=True)


if __name__ == "__main__":
    main()
