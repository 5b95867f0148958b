"""Figures (matplotlib).  Only this module and the report know matplotlib."""

from __future__ import annotations

from typing import Any

import numpy as np

from .architecture import Architecture
from .errors import ParameterError

__all__ = ["plot_activation_regions", "plot_diagram", "plot_barcode", "plot_fiber"]


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
