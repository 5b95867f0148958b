"""Figures (matplotlib).  Only this module and the report know matplotlib."""

from __future__ import annotations

from typing import Any

import numpy as np

from topo.errors import ParameterError
from topo.fiber.balance import balances_in_range, power_of_two_scale
from topo.fiber.decompose import decompose
from topo.graph.architecture import ARCH, Architecture
from topo.graph.forward import node_levels
from topo.graph.nodes import BIAS, HIDDEN
from topo.report.schema import layer_key
from topo.utils.arrays import unique
from topo.utils.validation import BOOLEAN, COUNT, COUNT_OR_ZERO, NAME, TOLERANCE, Interval, Options, validate_params

__all__ = ["plot_activation_regions", "plot_diagram", "plot_barcode", "plot_fiber", "plot_dag", "plot_balances",
           "report_figures"]


@validate_params(arch=ARCH, resolution=COUNT)
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

    from topo.varieties.patterns import activation_patterns

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
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)  # below the axes: not on a region
    ax.set_xlabel(str(arch.inputs[0]), parse_math=False)  # user text: "$x$" is not mathtext
    ax.set_ylabel(str(arch.inputs[1]), parse_math=False)
    ax.set(title=f"{labels.max() + 1} activation regions")
    return ax, labels


@validate_params(title=NAME)
def plot_diagram(diagrams, *, ax=None, title: str = "persistence diagram"):
    """Persistence diagram (birth, death) of every dimension; essential classes on top.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from topo.sampling.persistence import persistence
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


@validate_params(max_bars=COUNT_OR_ZERO, title=NAME)
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


@validate_params(title=NAME)
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


_KIND_STYLE = {  # node kind -> (face colour, edge colour, legend label)
    "constrained": ("tab:blue", "tab:blue", "constrained unit (conserved balance)"),
    "bottleneck": ("tab:orange", "tab:orange", "bottleneck unit (one edge in or out)"),
    "free": ("white", "0.45", "free unit (no conservation law)"),
    "io": ("0.35", "0.35", "input, bias or output"),
}


def _node_kinds(arch: Architecture, bottlenecks) -> np.ndarray:
    """One of the keys of ``_KIND_STYLE`` per node."""
    kinds = np.where(arch.node_row >= 0, "constrained", np.where(arch.role_codes == HIDDEN, "free", "io")).astype(object)
    for v in bottlenecks:
        kinds[arch.node_index(v)] = "bottleneck"
    return kinds


def _legend(ax, kinds_present, frozen: bool) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", ms=8, mfc=_KIND_STYLE[k][0], mec=_KIND_STYLE[k][1],
                      label=_KIND_STYLE[k][2]) for k in _KIND_STYLE if k in kinds_present]
    handles.append(Line2D([], [], color="0.7", lw=1, label="edge (weights)"))
    if frozen:
        handles.append(Line2D([], [], color="tab:red", lw=2.2, label="frozen edge (never zero on the fiber)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              borderaxespad=0.0)


@validate_params(arch=ARCH, max_nodes=COUNT, legend=BOOLEAN)
def plot_dag(arch: Architecture, *, frozen_edges=(), bottlenecks=(), max_nodes: int = 150, ax=None,
             legend: bool = True):
    """Layered drawing of the DAG, with a legend.

    Networks with at most ``max_nodes`` nodes are drawn unit by unit, levels
    (longest path from the inputs) from left to right.  Larger networks are
    collapsed to one marker per (level, layer) group labelled with its number of
    units, levels from top to bottom so that every label has a row of its own;
    edges that skip levels are drawn as arcs.  Bottleneck units are orange, free
    units hollow, frozen edges red; ``legend=True`` explains the colours beside the axes.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import topo
    >>> from topo.plots import plot_dag
    >>> ax = plot_dag(topo.Architecture.mlp([2, 3, 1]))
    >>> ax.get_xlabel()
    'level (longest path from the inputs)'
    """
    import matplotlib.pyplot as plt

    lv = node_levels(arch)
    kinds = _node_kinds(arch, bottlenecks)
    fset = np.asarray(sorted({arch.edge_index(e) for e in frozen_edges}), dtype=np.int64)
    if arch.n_nodes <= max_nodes:
        if ax is None:
            _, ax = plt.subplots(figsize=_expanded_size(lv))
        _draw_expanded(ax, arch, lv, kinds, fset)
    else:
        if ax is None:
            _, ax = plt.subplots(figsize=(9, 6))
        _draw_collapsed(ax, arch, lv, kinds, fset)
    if legend:
        _legend(ax, set(kinds.tolist()), len(fset) > 0)
    return ax


#: A label's background in the network graph: edges pass behind the text, not through it.
_LABEL_BOX = {"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}


def _count(n: int) -> str:
    """A count with thin-space thousands separators, as in the HTML report."""
    return f"{n:,}".replace(",", "\u2009")


def _expanded_size(lv: np.ndarray) -> tuple[float, float]:
    width = int(np.max(np.bincount(lv))) if len(lv) else 1
    return (min(16.0, max(6.0, 1.6 * (int(lv.max(initial=0)) + 1) + 1.5)), min(10.0, max(3.5, 0.45 * width + 1.2)))


def _draw_expanded(ax, arch: Architecture, lv: np.ndarray, kinds: np.ndarray, fset: np.ndarray) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.ticker import MaxNLocator

    ypos = np.zeros(arch.n_nodes)
    for level in np.unique(lv).tolist():
        members = np.flatnonzero(lv == level)
        ypos[members] = np.linspace(1, -1, len(members)) if len(members) > 1 else 0.0
    src, dst = arch.src, arch.dst
    segs = np.stack([np.column_stack([lv[src], ypos[src]]), np.column_stack([lv[dst], ypos[dst]])], axis=1)
    red = np.zeros(arch.n_edges, dtype=bool)
    red[fset] = True
    ax.add_collection(LineCollection(segs[~red], colors="0.7", linewidths=0.8, zorder=1))
    if red.any():
        ax.add_collection(LineCollection(segs[red], colors="tab:red", linewidths=2.2, zorder=2))
    for kind, (face, edge, _) in _KIND_STYLE.items():
        m = kinds == kind
        if m.any():
            ax.scatter(lv[m], ypos[m], s=70, c=face, edgecolors=edge, linewidths=1.2, zorder=3)
    if arch.n_nodes <= 40:
        for i, name in enumerate(arch.nodes):
            ax.annotate(str(name), (lv[i], ypos[i]), fontsize=9, xytext=(5, 5), textcoords="offset points", zorder=4,
                        parse_math=False, bbox=_LABEL_BOX)  # a node named "$x^$" is text, not (broken) mathtext
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.4, lv.max(initial=0) + 0.8)
    ax.set_ylim(-1.25, 1.25)
    ax.set(xlabel="level (longest path from the inputs)", ylabel="units of one level", yticks=[],
           title=f"network graph: {_count(arch.n_nodes)} units, {_count(arch.n_edges)} edges")


def _groups(arch: Architecture, lv: np.ndarray, kinds: np.ndarray):
    """Collapsed groups (level, layer) of non-bias nodes: keys, node -> group, sizes, kind of each group."""
    names = arch.nodes
    shown = arch.role_codes != BIAS  # bias sources would crowd the first level
    keys = [(int(lv[i]), layer_key(names[i])) for i in range(arch.n_nodes)]
    groups = sorted({k for k, ok in zip(keys, shown.tolist()) if ok})
    gid = {g: k for k, g in enumerate(groups)}
    node_group = np.asarray([gid.get(k, -1) for k in keys], dtype=np.int64)
    ok = node_group >= 0
    sizes = np.bincount(node_group[ok], minlength=len(groups))
    gkind = []
    for k in range(len(groups)):
        present = set(kinds[node_group == k].tolist())
        gkind.append(next(x for x in ("bottleneck", "constrained", "io", "free") if x in present))
    return groups, node_group, sizes, gkind


def _draw_collapsed(ax, arch: Architecture, lv: np.ndarray, kinds: np.ndarray, fset: np.ndarray) -> None:
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path
    from matplotlib.ticker import MaxNLocator

    groups, node_group, sizes, gkind = _groups(arch, lv, kinds)
    G = len(groups)
    xpos, ypos = np.zeros(G), np.asarray([g[0] for g in groups], dtype=float)
    per_level: dict[int, int] = {}
    for k, g in enumerate(groups):  # groups are sorted by (level, layer): columns left to right
        xpos[k] = per_level.get(g[0], 0)
        per_level[g[0]] = int(xpos[k]) + 1
    src, dst = node_group[arch.src], node_group[arch.dst]
    keep = (src >= 0) & (dst >= 0)
    code = unique(src[keep] * G + dst[keep])
    frozen_code = set((node_group[arch.src[fset]] * G + node_group[arch.dst[fset]]).tolist())
    for a, b in zip((code // G).tolist(), (code % G).tolist()):
        red = a * G + b in frozen_code
        (x0, y0), (x1, y1) = (xpos[a], ypos[a]), (xpos[b], ypos[b])
        if y1 - y0 > 1 and x0 == x1:  # skips levels in one column: an arc to the left
            bend = 0.35 + 0.08 * (y1 - y0)
            verts, codes = [(x0, y0), (x0 - bend, (y0 + y1) / 2), (x1, y1)], [Path.MOVETO, Path.CURVE3, Path.CURVE3]
        else:
            verts, codes = [(x0, y0), (x1, y1)], [Path.MOVETO, Path.LINETO]
        ax.add_patch(PathPatch(Path(verts, codes), fill=False, edgecolor="tab:red" if red else "0.65",
                               lw=2.2 if red else 0.9, zorder=2 if red else 1))
    for k in range(G):
        face, edge, _ = _KIND_STYLE[gkind[k]]
        ax.scatter([xpos[k]], [ypos[k]], s=40 + 6 * np.sqrt(sizes[k]), c=face, edgecolors=edge, linewidths=1.2,
                   zorder=3)
        ax.annotate(f"{groups[k][1]} ({sizes[k]})", (xpos[k], ypos[k]), fontsize=8, xytext=(8, -3),
                    textcoords="offset points", zorder=4, parse_math=False, bbox=_LABEL_BOX)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    top = float(ypos.max(initial=0.0))
    ax.set_ylim(top + 0.7, -0.7)  # inputs at the top
    ax.set_xlim(-0.9, max(per_level.values(), default=1) - 0.2)
    ax.set(ylabel="level (longest path from the inputs)", xlabel="layers at the same level", xticks=[],
           title=f"network graph, one marker per layer: {_count(arch.n_nodes)} units, {_count(arch.n_edges)} edges")


def _dag_size(arch: Architecture, max_nodes: int) -> tuple[float, float]:
    """Figure size (inches) that keeps the labels of [`plot_dag`][topo.report.plots.plot_dag] apart."""
    lv = node_levels(arch)
    if arch.n_nodes <= max_nodes:
        return _expanded_size(lv)
    names = arch.nodes
    groups = {(int(lv[i]), layer_key(names[i])) for i in np.flatnonzero(arch.role_codes != BIAS).tolist()}
    per_level = np.bincount([g[0] for g in groups]) if groups else np.ones(1, dtype=np.int64)
    return (min(20.0, 2.4 * int(per_level.max()) + 1.5), max(4.0, 0.3 * (int(lv.max(initial=0)) + 1) + 1.5))


def _figure_bytes(fig, fmt: str) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=90, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buf.getvalue()


@validate_params(arch=ARCH, fmt=Options("svg", "png"), max_nodes=COUNT)
def report_figures(arch: Architecture, theta, report: dict, *, fmt: str = "svg", max_nodes: int = 150,
                   c: np.ndarray | None = None) -> dict:
    """Figures of the HTML report, ``{"balances": bytes, "dag": bytes}`` (SVG by default, or ``fmt="png"``).

    ``balances`` is a histogram of the balances (negative ones red: their units
    can freeze their outgoing edge); ``dag`` is [`plot_dag`][topo.report.plots.plot_dag] with the report's
    bottlenecks and (listed) frozen edges.  ``c`` (the balances of ``theta``) saves
    recomputing them.

    Examples
    --------
    >>> import topo
    >>> from topo.plots import report_figures
    >>> a = topo.audit("shallow")
    >>> figs = report_figures(a.architecture, a.theta, a.report)
    >>> sorted(figs), figs["dag"][:4]
    (['balances', 'dag'], b'<svg')
    """
    import matplotlib.pyplot as plt


    c = balances_in_range(arch, arch.as_vector(theta))[0] if c is None else c  # the report's units
    tol = report["balances"]["tol"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    plot_balances(c, tol=tol, unit=report["balances"].get("unit_log2", 0), ax=ax)
    out = {"balances": _figure_bytes(fig, fmt)}
    d = decompose(arch)
    frozen = [tuple(w["edge"]) for w in report["connectivity"]["frozen_edges"]]
    by_str = {(str(u), str(v)): (u, v) for (u, v) in arch.edge_names(d.bottleneck_edge_index)}
    frozen = [by_str[e] for e in frozen if e in by_str]
    fig, ax = plt.subplots(figsize=_dag_size(arch, max_nodes))
    plot_dag(arch, frozen_edges=frozen, bottlenecks=set(d.in_bottlenecks) | set(d.out_bottlenecks), ax=ax,
             max_nodes=max_nodes, legend=False)  # the HTML page has the legend
    out["dag"] = _figure_bytes(fig, fmt)
    if fmt == "svg":  # drop the XML prologue: the SVG can be inlined or embedded as is
        out = {k: v[v.index(b"<svg"):] for k, v in out.items()}
    return out


def _bin_edges(c: np.ndarray, n: int) -> np.ndarray:
    """About ``n`` equal histogram bins, with a bin edge at 0 when the balances straddle it
    (a bin never mixes negative and positive balances), that neither collapse (all balances
    equal, |c| ~ 1e16) nor overflow (c from -1e308 to 1e308): built after an exact
    power-of-two rescaling, on the grid ``width * k`` (so that 0 is an edge exactly)."""
    lo, hi = float(c.min()), float(c.max())
    if not hi > lo or (hi - lo) <= 1e-12 * max(abs(lo), abs(hi)):
        half = 0.05 * abs(lo) if lo else 0.5
        return np.array([lo - half, hi + half])
    scaled, k = power_of_two_scale(c)
    s_lo, s_hi = float(scaled.min()), float(scaled.max())
    width = (s_hi - s_lo) / n
    first, last = np.floor(s_lo / width), np.ceil(s_hi / width)
    if last <= s_hi / width:  # the largest value falls on the last edge: one more bin holds it
        last += 1
    return np.ldexp(width * np.arange(first, last + 1), k)


@validate_params(tol=TOLERANCE, unit=Interval(int, None))
def plot_balances(c: Any, *, tol: float = 0.0, unit: int = 0, ax=None):
    """Histogram of balances: stacked bars, negative balances (``c < -tol``) red below the
    others blue, on bins with an edge at 0, the legend beside the axes (never over a bar).

    A negative balance can freeze its unit's outgoing edge: more weight goes out than in.
    Returns the Axes; the red bars' heights add up to the number of negative balances.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from topo.plots import plot_balances
    >>> ax = plot_balances(np.array([-3.0, -0.2, 0.1, 0.1, 2.5, 4.0]))
    >>> float(sum(p.get_height() for p in ax.containers[0]))   # the red bars: two negative balances
    2.0
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    c = np.asarray(c, dtype=np.float64).ravel()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    if len(c):
        bins = _bin_edges(c, min(60, max(8, len(c) // 4)))
        neg = c < -tol
        ax.hist([c[neg], c[~neg]], bins=bins, stacked=True, color=["tab:red", "tab:blue"],
                label=[f"c < 0 ({_count(int(neg.sum()))})", f"c ≥ 0 ({_count(int((~neg).sum()))})"])
        ax.axvline(0, color="k", lw=0.8)
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.text(0.5, 0.5, "no conserved balance", ha="center", va="center", transform=ax.transAxes)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="balance c (squared norm in − squared norm out)" + (f", units of 2^{unit}" if unit else ""),
           ylabel="balances",  # one per rescaling class: a residual stream's units share one
           title=f"the {_count(len(c))} conserved balances")
    return ax
