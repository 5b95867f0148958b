"""The timm zoo table of docs/torch.md (issue 19).

    python benchmarks/zoo_table.py [--models resnet18,dla34,... | wider] [--units 16] [--audit]

Runs ``tests/zoo_timm.check`` on every architecture of ``tests/zoo_timm.ZOO`` (timm 1.0.31,
``pretrained=False``, float64, perturbed BatchNorm statistics, 1x3x64x64; each constrained
class sampled is checked against the autograd Euler identity, with a negative control) and
prints a Markdown table: parameters, units, constrained classes, free units, unsupported
operations, Euler-checked classes, the worst relative residual and the import time (wall
clock, one torch thread).  A refused model shows its one-line reason; a failed check stops
with the assertion.  ``--models wider`` runs ``tests/zoo_timm.WIDER`` (the docs' wider sweep);
``--audit`` adds the time of ``topo.audit`` on the import and its count of components.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ("| model | params | units | constrained classes | free units | unsupported | Euler-checked | "
          "worst residual | import |\n|---|---:|---:|---:|---:|---|---:|---:|---:|")


AUDIT_HEADER = HEADER.replace(" import |\n", " import | audit | components |\n") + "---:|---:|"


def row(r: dict, audit: bool = False) -> str:
    """One Markdown row of a ``tests.zoo_timm.check`` result (``audit``: with the audit's columns)."""
    more = " | |" if audit else ""
    if "refused" in r:
        return f"| `{r['model']}` | {r['params']:,} | refused: {r['refused']} | | | | | | |" + more
    unsupported = ", ".join(f"`{u}`" for u in r["unsupported"]) or "none"
    if audit:
        more = f" {r['audit_s']:.1f} s | 2^{r['log2_components']} |"
    return (f"| `{r['model']}` | {r['params']:,} | {r['units']:,} | {r['constrained']:,} | {r['free']:,} | "
            f"{unsupported} | {r['checked']} | {r['worst']:.1e} | {r['import_s']:.1f} s |" + more)


def with_audit(r: dict, name: str) -> dict:
    """``r`` with the time of ``topo.audit`` on a fresh import of ``name`` and its components."""
    import time
    import warnings

    import topo
    from tests import zoo_timm
    from topo.nn.trace import from_torch

    if "refused" in r:
        return r
    model, x = zoo_timm.build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = from_torch(model, x)
    t0 = time.perf_counter()
    report = topo.audit(imp).report
    return {**r, "audit_s": time.perf_counter() - t0,
            "log2_components": report["connectivity"]["log2_n_components"]}


def main(argv=None):
    import torch

    from tests import zoo_timm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo_timm.ZOO))
    ap.add_argument("--units", type=int, default=16, help="constrained classes sampled per model")
    ap.add_argument("--audit", action="store_true", help="also time topo.audit on each import")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = zoo_timm.WIDER if args.models == "wider" else [m for m in args.models.split(",") if m]
    print(AUDIT_HEADER if args.audit else HEADER, flush=True)
    for name in names:
        r = zoo_timm.check(name, n_units=args.units)
        print(row(with_audit(r, name) if args.audit else r, args.audit), flush=True)


if __name__ == "__main__":
    main()
