"""Figures (matplotlib).  Only this module and the report know matplotlib."""

from __future__ import annotations

from typing import Any

import numpy as np

from .architecture import Architecture
from .errors import ParameterError

__all__ = ["plot_activation_regions", "plot_diagram", "plot_barcode", "plot_fiber", "plot_dag", "report_figures"]


def plot_activation_regions(
    arch: Architecture,
    theta: Any,
    X: Any = None,
    *,
    extent: tuple[float, float, float, float] | None = None,
    resolution: int = 300,
    ax=None,
):
    """Draw the activation regions of a network with two inputs, coloured by pattern.

    Parameters
    ----------
    arch, theta
        A neuron-level network with exactly two inputs and its parameters.
    X : array_like (n_points, 2), optional
        Data points to overlay (and to set the default extent).
    extent : (xmin, xmax, ymin, ymax), optional
    resolution : int
        Grid points per axis.
    ax : matplotlib Axes, optional

    Returns
    -------
    (Axes, numpy.ndarray)
        The axes and the integer region label of every grid point (one label per
        distinct activation pattern, numbered in order of first appearance).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import topo
    >>> from topo.plots import plot_activation_regions
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> ax, labels = plot_activation_regions(arch, arch.init(seed=0), resolution=50)
    >>> 1 <= int(labels.max()) + 1 <= 7      # three lines cut the plane into at most 7 regions
    True
    """
    import matplotlib.pyplot as plt

    from .varieties import activation_patterns

    if len(arch.inputs) != 2:
        raise ParameterError(f"activation regions are drawn for networks with 2 inputs, this one has {len(arch.inputs)}")
    pts = None if X is None else np.asarray(X, dtype=np.float64)
    if extent is None:
        if pts is not None and len(pts):
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            pad = 0.25 * np.maximum(hi - lo, 1e-9)
            extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
        else:
            extent = (-2.0, 2.0, -2.0, 2.0)
    xs = np.linspace(extent[0], extent[1], resolution)
    ys = np.linspace(extent[2], extent[3], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    pats = activation_patterns(arch, theta, grid)
    _, first, labels = np.unique(np.packbits(pats, axis=1), axis=0, return_index=True, return_inverse=True)
    rank = np.empty_like(first)
    rank[np.argsort(first)] = np.arange(len(first))  # number regions by first appearance
    labels = rank[labels.ravel()].reshape(gx.shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.imshow(labels, origin="lower", extent=extent, cmap="tab20", interpolation="nearest", aspect="auto")
    if pts is not None and len(pts):
        ax.scatter(pts[:, 0], pts[:, 1], c="k", s=18, zorder=3, label="data")
        ax.legend(loc="upper right")
    ax.set(xlabel=str(arch.inputs[0]), ylabel=str(arch.inputs[1]), title=f"{labels.max() + 1} activation regions")
    return ax, labels


def plot_diagram(diagrams, *, ax=None, title: str = "persistence diagram"):
    """Persistence diagram (birth, death) of every dimension; essential classes on top.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from topo.persistence import persistence
    >>> from topo.plots import plot_diagram
    >>> ax = plot_diagram(persistence(np.random.default_rng(0).random((30, 2))))
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    finite = [arr[np.isfinite(arr[:, 1])] for arr in diagrams.intervals]
    top = max([float(a[:, 1].max()) for a in finite if len(a)] + [1e-12])
    inf_y = 1.1 * top
    for k, arr in enumerate(diagrams.intervals):
        d = np.where(np.isfinite(arr[:, 1]), arr[:, 1], inf_y)
        ax.scatter(arr[:, 0], d, s=12, label=f"H{k}", alpha=0.8)
    ax.plot([0, inf_y], [0, inf_y], "k-", lw=0.8)
    ax.axhline(inf_y, color="k", ls=":", lw=0.8)
    ax.set(xlabel="birth", ylabel="death", title=title)
    ax.legend(loc="lower right")
    return ax


def plot_barcode(diagrams, *, ax=None, max_bars: int = 60, title: str = "barcode"):
    """The longest bars of every dimension (essential bars drawn to the right edge)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    finite = [arr[np.isfinite(arr[:, 1])] for arr in diagrams.intervals]
    right = 1.1 * max([float(a[:, 1].max()) for a in finite if len(a)] + [1e-12])
    y = 0
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, arr in enumerate(diagrams.intervals):
        d = np.where(np.isfinite(arr[:, 1]), arr[:, 1], right)
        order = np.argsort(-(d - arr[:, 0]))[:max_bars]
        for j, i in enumerate(order.tolist()):
            ax.plot([arr[i, 0], d[i]], [y, y], color=colors[k % len(colors)], lw=2,
                    label=f"H{k}" if j == 0 else None)
            y += 1
    ax.set(xlabel="scale", yticks=[], title=title)
    ax.legend(loc="lower right")
    return ax


def plot_fiber(points: np.ndarray, *, ax=None, labels=None, title: str = "fiber",
               axis_labels: tuple = ("θ1", "θ2", "θ3")):
    """3-D (or 2-D) scatter of fiber samples with three (two) coordinates."""
    import matplotlib.pyplot as plt

    P = np.asarray(points)
    if P.ndim != 2 or P.shape[1] not in (2, 3):
        raise ParameterError(f"plot_fiber draws 2 or 3 coordinates, got points of shape {P.shape}")
    if ax is None:
        fig = plt.figure(figsize=(4.5, 4.5))
        ax = fig.add_subplot(projection="3d" if P.shape[1] == 3 else None)
    kw = dict(s=4, c=labels if labels is not None else P[:, -1], cmap="coolwarm", alpha=0.8)
    ax.scatter(*P.T, **kw)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if P.shape[1] == 3:
        ax.set_zlabel(axis_labels[2])
    ax.set_title(title)
    return ax


def _layer_key(name) -> str:
    import re

    return re.sub(r"[._]?\d+$", "", str(name)) or str(name)


def plot_dag(arch: Architecture, *, frozen_edges=(), bottlenecks=(), max_nodes: int = 150, ax=None):
    """Layered drawing of the DAG (longest-path levels from left to right).

    Bottleneck nodes are drawn in orange and frozen edges in red.  Networks with
    more than ``max_nodes`` nodes are collapsed: one box per (level, layer) group,
    labelled with its number of units, and one line per pair of connected groups.
    """
    import matplotlib.pyplot as plt

    from .forward import node_levels

    lv = node_levels(arch)
    names = arch.nodes
    bset = {arch.node_index(v) for v in bottlenecks}
    fset = {arch.edge_index(e) for e in frozen_edges}
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 5))
    src, dst = arch.src, arch.dst
    if arch.n_nodes <= max_nodes:
        ypos = np.zeros(arch.n_nodes)
        for level in np.unique(lv).tolist():
            members = np.flatnonzero(lv == level)
            ypos[members] = np.linspace(-1, 1, len(members)) if len(members) > 1 else 0.0
        for e in range(arch.n_edges):
            u, v = int(src[e]), int(dst[e])
            red = e in fset
            ax.plot([lv[u], lv[v]], [ypos[u], ypos[v]], color="tab:red" if red else "0.75",
                    lw=2.0 if red else 0.6, zorder=2 if red else 1)
        colors = ["tab:orange" if i in bset else ("0.3" if arch.node_row[i] < 0 else "tab:blue")
                  for i in range(arch.n_nodes)]
        ax.scatter(lv, ypos, c=colors, s=40, zorder=3)
        if arch.n_nodes <= 40:
            for i, name in enumerate(names):
                ax.annotate(str(name), (lv[i], ypos[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    else:
        from .architecture import BIAS

        shown = arch._role != BIAS  # bias sources would crowd the first column
        keys = [(int(lv[i]), _layer_key(names[i])) for i in range(arch.n_nodes)]
        groups = sorted({k for k, ok in zip(keys, shown.tolist()) if ok})
        gid = {g: k for k, g in enumerate(groups)}
        node_group = np.asarray([gid.get(k, -1) for k in keys])
        sizes = np.bincount(node_group[node_group >= 0], minlength=len(groups))
        has_b = np.zeros(len(groups), dtype=bool)
        has_b[[node_group[i] for i in bset if node_group[i] >= 0]] = True
        ypos = np.zeros(len(groups))
        for level in sorted({g[0] for g in groups}):
            members = [gid[g] for g in groups if g[0] == level]
            ypos[members] = np.linspace(-1, 1, len(members)) if len(members) > 1 else 0.0
        keep = (node_group[src] >= 0) & (node_group[dst] >= 0)
        pairs = np.unique(np.stack([node_group[src[keep]], node_group[dst[keep]]], axis=1), axis=0)
        frozen_pairs = {(int(node_group[src[e]]), int(node_group[dst[e]])) for e in fset}
        for a, b in pairs.tolist():
            red = (a, b) in frozen_pairs
            ax.plot([groups[a][0], groups[b][0]], [ypos[a], ypos[b]], color="tab:red" if red else "0.7",
                    lw=2.0 if red else 0.8, zorder=2 if red else 1)
        for k, g in enumerate(groups):
            ax.scatter([g[0]], [ypos[k]], s=60 + 8 * np.sqrt(sizes[k]), zorder=3,
                       c="tab:orange" if has_b[k] else "tab:blue")
            if len(groups) <= 40:
                ax.annotate(f"{g[1]} ({sizes[k]})", (g[0], ypos[k]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
    ax.set(xlabel="level (longest path from the inputs)", yticks=[],
           title="network graph: bottleneck units orange, frozen edges red")
    return ax


def report_figures(arch: Architecture, theta, report: dict) -> dict:
    """PNG images for the HTML report: ``{"dag": bytes, "balances": bytes}``."""
    import io

    import matplotlib.pyplot as plt

    from .balance import balance
    from .decompose import decompose

    out = {}
    c = balance(arch, theta)
    fig, ax = plt.subplots(figsize=(5, 3))
    if len(c):
        ax.hist(c, bins=min(60, max(5, len(c) // 4)), color="tab:blue")
        ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="balance c", ylabel="constrained units", title="balances")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    out["balances"] = buf.getvalue()
    d = decompose(arch)
    frozen = [tuple(w["edge"]) for w in report["connectivity"]["frozen_edges"]]
    by_str = {(str(u), str(v)): (u, v) for (u, v) in arch.edge_names(d.bottleneck_edge_index)}
    frozen = [by_str[e] for e in frozen if e in by_str]
    fig, ax = plt.subplots(figsize=(9, 5))
    plot_dag(arch, frozen_edges=frozen, bottlenecks=set(d.in_bottlenecks) | set(d.out_bottlenecks), ax=ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    out["dag"] = buf.getvalue()
    return out
