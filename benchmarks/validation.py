"""Cost of the boundary checks (issue 11), against the work they guard, in one process.

- the integer/boolean checks of ``Architecture.from_arrays`` against the whole constructor;
- ``balance`` (power-of-two rescaling only outside [2^-400, 2^400]) against bare squares
  and the incidence sums; ``scaled_balance`` (always rescaled) likewise;
- refusing a 490-byte "billion laughs" YAML file and a 3954981863 x 5234970399472 MLP
  (both used to run for minutes or for ever).

Run: ``python benchmarks/validation.py`` (``--quick`` for a smaller network).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402

import topo  # noqa: E402
from topo.graph.architecture import _bool_array, _index_array  # noqa: E402
from topo.fiber.balance import _apply_incidence  # noqa: E402


def best(f, k: int = 3) -> float:
    times = []
    for _ in range(k):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def laughs() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    return "\n".join(lines + ["name: *i", "edges: [[x, y]]"])


def main(quick: bool) -> None:
    widths = [200, 400, 200, 10] if quick else [1000, 2000, 1000, 10]
    arch = topo.Architecture.mlp(widths)
    src, dst = np.asarray(arch.src), np.asarray(arch.dst)
    roles = {v: "bias" for v in arch.biases}
    theta = np.random.default_rng(0).standard_normal(arch.n_params)
    rows = []
    t_check = best(lambda: (_index_array(src, "src"), _index_array(dst, "dst"),
                            _bool_array(np.ones(len(src), bool), "trainable")))
    t_build = best(lambda: topo.Architecture.from_arrays(src, dst, nodes=arch.nodes, roles=roles))
    rows.append(["from_arrays: integer/bool checks", f"{arch.n_edges:,} edges",
                 f"{t_check:.3f}s of {t_build:.3f}s", f"{t_check / t_build:.1%} of the constructor"])
    t_base = best(lambda: _apply_incidence(arch, (lambda v: v * v)(arch.as_vector(theta))))
    t_bal = best(lambda: topo.balance(arch, theta))
    t_scaled = best(lambda: topo.scaled_balance(arch, theta))
    t_tiny = best(lambda: topo.balance(arch, theta * 1e-170))
    rows.append(["balance (|θ| ~ 1)", f"{arch.n_params:,} params", f"{t_bal:.3f}s",
                 f"x{t_bal / t_base:.2f} of bare squares ({t_base:.3f}s)"])
    rows.append(["balance (|θ| ~ 1e-170, rescaled)", f"{arch.n_params:,} params", f"{t_tiny:.3f}s",
                 f"x{t_tiny / t_base:.2f} of bare squares"])
    rows.append(["scaled_balance", f"{arch.n_params:,} params", f"{t_scaled:.3f}s",
                 f"x{t_scaled / t_base:.2f} of bare squares"])
    path = Path(tempfile.mkdtemp()) / "laughs.yaml"
    path.write_text(laughs())

    def refuse_laughs():
        try:
            topo.read_spec(path)
        except topo.SpecError:
            pass

    def refuse_mlp():
        try:
            topo.graph.spec.parse_spec({"mlp": [3954981863, 5234970399472]})
        except topo.SpecError:
            pass

    rows.append(["billion-laughs YAML refused", f"{path.stat().st_size} bytes", f"{best(refuse_laughs):.4f}s",
                 "was > 1 GB and minutes"])
    rows.append(["MLP [3954981863, 5234970399472] refused", "2.1e22 edges", f"{best(refuse_mlp):.5f}s",
                 "was: ran for ever"])
    print_table(rows, headers=("case", "size", "time", "ratio / before"))


if __name__ == "__main__":
    main("--quick" in sys.argv)
