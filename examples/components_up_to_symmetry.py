"""Components up to symmetry: the 2-2-1 network of the 2024 paper with c = (-1, -2).

Both hidden units have negative balance, so both output weights (a1, a2) are frozen:
the fiber has 4 components, one per sign pair.  Swapping the two hidden units keeps
the function but exchanges their balances; rescaling each unit (inputs ×α, output ×1/α)
brings the swapped point back onto the fiber.  That symmetry carries (+, -) to (-, +),
so there are 3 classes: (+, +), (-, -) and {(+, -), (-, +)}.

The script samples the fiber, draws the output weights coloured by class, draws the
certificate of one equivalence (swap, then rescaling), and checks that the certified
point computes the same function and has the same balances.

Run:  python examples/components_up_to_symmetry.py [--out DIR]
      (the figure of docs/symmetry.md: --out docs/figures)
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import topo  # noqa: E402
from topo.symmetry import restore_balances  # noqa: E402

COLOURS = ["tab:blue", "tab:orange", "tab:green"]


def main(out: Path):
    arch = topo.Architecture.mlp([2, 2, 1])
    c = np.array([-1.0, -2.0])
    sym = topo.components_up_to_symmetry(arch, c)
    print(sym.summary(), "| classes:", sym.representatives)
    assert (sym.n_components, sym.n_classes) == (4, 3)

    a = [arch.edge_index(("h1_0", "y0")), arch.edge_index(("h1_1", "y0"))]
    pts = topo.sample_fiber(arch, c, 1200, seed=0, radius=4.0)
    labels = [tuple(int(s) for s in np.sign(p[a])) for p in pts]
    cls_of = {}  # label -> index of the representative of its class, decided by same_class
    for p, label in zip(pts, labels):
        if label not in cls_of:
            cls_of[label] = next(k for k, rep in enumerate(sym.representatives)
                                 if sym.same_class(p, _with_signs(p, a, rep)).equivalent)
    classes = np.asarray([cls_of[label] for label in labels])
    assert len(cls_of) == 4 and len(set(cls_of.values())) == 3

    # a certificate: theta in (+, -) carried to (-, +)
    theta, _ = restore_balances(arch, pts[0], c)
    theta[a] = np.abs(theta[a]) * [1, -1]
    target = theta.copy()
    target[a] = np.abs(target[a]) * [-1, 1]
    cert = sym.same_class(theta, target)
    assert cert.equivalent
    X = np.random.default_rng(1).standard_normal((50, 2))
    step = cert.steps[0]
    err = np.abs(topo.forward(arch, step.after, X) - topo.forward(arch, step.before, X)).max()
    drift = np.abs(topo.balance(arch, step.after) - c).max()
    print(f"certificate: swap {step.permutation}, log-rescaling {np.round(step.log_alpha, 4).tolist()}; "
          f"max output difference {err:.1e}, balance error {drift:.1e}")
    assert err < 1e-12 and drift < 1e-12
    swapped = topo.symmetry.apply_automorphism(arch, topo.automorphism_group(arch).generators[0], theta)

    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    names = {0: "", 1: "", 2: ""}
    for k, rep in enumerate(sym.representatives):
        members = sorted({lab for lab, kk in cls_of.items() if kk == k})
        names[k] = " ~ ".join("(" + ", ".join("+" if s > 0 else "-" for s in m) + ")" for m in members)
    for k in range(3):
        sel = classes == k
        ax.scatter(pts[sel, a[0]], pts[sel, a[1]], s=6, alpha=0.5, color=COLOURS[k], label=f"class {names[k]}")
    ax.annotate("", xy=swapped[a], xytext=theta[a], arrowprops=dict(arrowstyle="->", color="k", ls="--"))
    ax.annotate("", xy=cert.point[a], xytext=swapped[a], arrowprops=dict(arrowstyle="->", color="k"))
    ax.plot(*theta[a], "ko")
    ax.plot(*cert.point[a], "k*", ms=12)
    ax.annotate("θ", theta[a], xytext=(8, -4), textcoords="offset points")
    box = dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85)  # text over the samples
    ax.annotate("gθ (units swapped)", swapped[a], xytext=(10, -22), textcoords="offset points", fontsize=9, bbox=box)
    ax.annotate("T_α gθ (rescaled onto the fiber)", cert.point[a], xytext=(-20, 14), textcoords="offset points",
                fontsize=9, bbox=box)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("a1 = weight h1_0 -> y0 (c1 = -1: |a1| >= 1)")
    ax.set_ylabel("a2 = weight h1_1 -> y0 (c2 = -2: |a2| >= √2)")
    ax.set_title("2-2-1, c = (-1, -2): 4 components, 3 up to symmetry")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, markerscale=3,
              frameon=False)  # below the axes: never over the data
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "symmetry_2_2_1.png", dpi=100, bbox_inches="tight")
    print(f"figure: {out / 'symmetry_2_2_1.png'}")


def _with_signs(p, a, rep):
    q = p.copy()
    q[a] = np.abs(q[a]) * np.asarray(rep)
    return q


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."))
    main(parser.parse_args().out)
