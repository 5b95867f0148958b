"""Test loss against the number of non-pathological units (the 2024 paper's experiment).

Rescaling a hidden unit (input weights ×α, output weight ×1/α, α > 0) leaves
the network's function unchanged but moves its balance: any sign can be given
to ``c_k`` without changing the initial function.
[`init_with_balance_signs`][topo.experiments.pathological.init_with_balance_signs] does that;
[`pathological_sweep`][topo.experiments.pathological.pathological_sweep] trains ``30-l-1`` networks on the breast-cancer
data with ``l₊`` non-pathological units (``c_k > 0``) over a grid of widths, ``l₊`` and seeds, and fits the test loss
against ``l₊`` and against ``l₊ / l`` to say which explains it better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.experiments.obstruction import units_below_output
from topo.experiments.runner import (FRACTION, SWEEP_OPTIONS, ExperimentError, Task, run_tasks, sweep_params,
                                     task_seeds, tidy)
from topo.graph.architecture import ARCH, Architecture
from topo.nn.train import OPTIMIZER
from topo.utils.validation import COUNT, COUNT_OR_ZERO, Interval, NoneOr, SequenceOf, real_vector

_RATIO = Interval(float, 1, closed="right")

__all__ = ["init_with_balance_signs", "linear_fit", "pathological_sweep", "PathologicalSweep"]


def _unit_params(arch: Architecture, node: int) -> tuple[np.ndarray, np.ndarray]:
    """Parameter indices of the trainable edges entering and leaving the rescaling class of
    ``node`` (for an ordinary unit: its own in- and out-edges)."""
    off = arch.edge_offsets
    row, q = arch.node_row, arch.quotient_edges  # trainable edges between two classes
    r = row[node]

    def params(edges):
        return np.concatenate([np.arange(off[e], off[e + 1]) for e in edges.tolist()]) if len(edges) else \
            np.zeros(0, dtype=np.int64)

    return params(q[row[arch.dst[q]] == r]), params(q[row[arch.src[q]] == r])


@sweep_params(arch=ARCH, n_positive=NoneOr(COUNT_OR_ZERO), ratio=_RATIO)
def init_with_balance_signs(
    arch: Architecture, theta: Any, signs: Any = None, *, n_positive: int | None = None, units: Any = None,
    ratio: float = 2.0,
) -> np.ndarray:
    """Rescale units so that their balances have prescribed signs (same function).

    Each chosen unit ``k`` has its input weights multiplied by ``α`` and its output
    weights divided by ``α``, with ``α⁴ = r · q_out / q_in``: the new balance is
    ``±sqrt(q_in q_out) (sqrt(ratio) − 1/sqrt(ratio))`` (``r = ratio`` for a positive
    sign, ``1/ratio`` for a negative one).  The network computes the same function
    (ReLU is positively homogeneous).

    Parameters
    ----------
    arch, theta
        A network and a parameter point.
    signs : sequence of ±1, optional
        One sign per unit of ``units``.
    n_positive : int, optional
        Instead of ``signs``: the first ``n_positive`` units positive, the rest negative.
    units : sequence of node names, optional
        Default: the units below the scalar output (whose ``c < 0`` is the obstruction).
        Units must not share edges (no unit feeds another).
    ratio : float
        ``> 1``; how unbalanced the rescaled units are.

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.experiments import init_with_balance_signs
    >>> arch = topo.Architecture.mlp([3, 4, 1])
    >>> theta = arch.init(seed=0)
    >>> new = init_with_balance_signs(arch, theta, n_positive=1)
    >>> (topo.balance(arch, new) > 0).tolist()
    [True, False, False, False]
    >>> X = np.random.default_rng(1).standard_normal((5, 3))
    >>> float(np.abs(topo.forward(arch, new, X) - topo.forward(arch, theta, X)).max()) < 1e-12
    True
    """
    vec = arch.as_vector(theta).copy()
    names = arch.nodes
    nodes = (arch.constrained_index[units_below_output(arch)] if units is None
             else np.array([arch.node_index(u) for u in units], dtype=np.int64))
    rows = arch.node_row[nodes]
    if (rows < 0).any():
        raise ExperimentError("units must be constrained hidden nodes (ReLU units with trainable edges), got "
                              f"{[names[v] for v in nodes[rows < 0].tolist()][:5]}")
    if len(np.unique(rows)) < len(rows):
        raise ExperimentError("two of the units share one balance (a rescaling class): give one of them")
    nodes = arch.constrained_index[rows]  # any member stands for its class
    if ratio <= 1:
        raise ExperimentError(f"ratio must be > 1, got {ratio}")
    if (signs is None) == (n_positive is None):
        raise ExperimentError("give exactly one of signs and n_positive")
    if n_positive is not None:
        if not 0 <= int(n_positive) <= len(nodes):
            raise ExperimentError(f"n_positive must lie in [0, {len(nodes)}], got {n_positive}")
        signs = np.where(np.arange(len(nodes)) < int(n_positive), 1, -1)
    signs = np.sign(np.asarray(signs, dtype=np.float64))
    if signs.shape != (len(nodes),) or not np.all(np.abs(signs) == 1):
        raise ExperimentError(f"signs must hold {len(nodes)} values +1/-1, got {signs.tolist()}")
    src_row, dst_row = arch.node_row[arch.src], arch.node_row[arch.dst]
    touched = np.isin(src_row, rows) & np.isin(dst_row, rows) & (src_row != dst_row) & arch.edge_trainable
    if touched.any():
        raise ExperimentError("units must not share edges (one feeds another); rescale them separately")
    for v, s in zip(nodes.tolist(), signs.tolist()):
        p_in, p_out = _unit_params(arch, v)
        q_in, q_out = float(vec[p_in] @ vec[p_in]), float(vec[p_out] @ vec[p_out])
        if q_in == 0 or q_out == 0:
            raise ExperimentError(f"unit {names[v]!r} has all-zero input or output weights: no rescaling sets its sign")
        alpha = ((ratio if s > 0 else 1 / ratio) * q_out / q_in) ** 0.25
        vec[p_in] *= alpha
        vec[p_out] /= alpha
    return vec


@sweep_params(level=FRACTION)
def linear_fit(x: Any, y: Any, *, level: float = 0.95) -> dict:
    """Least-squares fit ``y = a + b x`` with a ``level`` confidence interval on ``b``.

    Returns ``slope``, ``intercept``, ``slope_ci`` (t-interval), ``r2``, ``aic``
    (Gaussian, ``n log(RSS/n) + 4``) and ``n``.

    Examples
    --------
    >>> from topo.experiments import linear_fit
    >>> f = linear_fit([0, 1, 2, 3], [1.0, 3.1, 4.9, 7.0])
    >>> round(f["slope"], 2), f["slope_ci"][0] < 2 < f["slope_ci"][1], round(f["r2"], 3)
    (1.98, True, 0.999)
    """
    from scipy import stats

    x, y = real_vector(x, "x", error=ExperimentError), real_vector(y, "y", error=ExperimentError)
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        raise ExperimentError("a linear fit needs at least 3 points and two distinct x values")
    A = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    rss = float(resid @ resid)
    sigma2 = rss / (n - 2)
    se = float(np.sqrt(sigma2 / np.sum((x - x.mean()) ** 2)))
    t = float(stats.t.ppf(0.5 + level / 2, n - 2))
    tss = float(np.sum((y - y.mean()) ** 2))
    return dict(slope=float(coef[1]), intercept=float(coef[0]), slope_ci=(float(coef[1] - t * se),
                float(coef[1] + t * se)), r2=1 - rss / tss if tss > 0 else float("nan"),
                aic=float(n * np.log(max(rss, 1e-300) / n) + 4), n=n)


def _bce(z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _pathological_task(width, l_plus, seed_index, seed, init, bias, steps, lr, optimizer, ratio, data_kw):
    """Train one 30-l-1 network with l₊ non-pathological units; returns one table row."""
    from topo.experiments.data import breast_cancer
    from topo.fiber.balance import balance
    from topo.fiber.connectivity import connectivity
    from topo.graph.forward import forward
    from topo.nn.train import train

    Xtr, ytr, Xte, yte = breast_cancer(**data_kw)
    arch = Architecture.mlp([Xtr.shape[1], width, 1], bias=bias)
    theta0 = init_with_balance_signs(arch, arch.init(init, seed=np.random.default_rng(seed)), n_positive=l_plus,
                                     ratio=ratio)
    n_comp = connectivity(arch, balance(arch, theta0)).n_components
    initial = _bce(forward(arch, theta0, Xte)[:, 0], yte)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic in every process
    try:
        traj = train(arch, theta0, Xtr, ytr, loss="bce", optimizer=optimizer, lr=lr, steps=steps,
                     record_every=max(steps, 1))
    finally:
        torch.set_num_threads(threads)
    z = forward(arch, traj.theta, Xte)[:, 0]
    return dict(width=width, l_plus=l_plus, fraction=l_plus / width, seed=seed_index, components=n_comp,
                initial_test_loss=initial, train_loss=float(traj.losses[-1]), test_loss=_bce(z, yte),
                test_accuracy=float(np.mean((z > 0) == (yte > 0.5))), balance_drift=traj.balance_drift())


@dataclass(frozen=True)
class PathologicalSweep:
    """Result of [`pathological_sweep`][topo.experiments.pathological.pathological_sweep]: the tidy ``table`` and the
    two fits.

    ``fits["l_plus"]`` and ``fits["fraction"]`` are [`linear_fit`][topo.experiments.pathological.linear_fit] results of
    the test loss (empty when the grid is too small for a fit); ``verdict`` names
    the better explanation when the AIC difference exceeds 2, else says
    ``"undetermined"``.
    """

    table: Any
    fits: dict
    verdict: str

    def summary(self) -> str:
        if not self.fits:
            return f"verdict: {self.verdict}"
        lines = []
        for key, label in (("l_plus", "l+"), ("fraction", "l+/l")):
            f = self.fits[key]
            lines.append(f"test loss ~ {label}: slope {f['slope']:.4g} (95% CI {f['slope_ci'][0]:.4g} .. "
                         f"{f['slope_ci'][1]:.4g}), R^2 {f['r2']:.3f}, AIC {f['aic']:.2f}")
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        rows = self.table.to_dict("records") if hasattr(self.table, "to_dict") else list(self.table)
        return {"table": rows, "fits": self.fits, "verdict": self.verdict}


def _verdict(fits: dict) -> str:
    d = fits["fraction"]["aic"] - fits["l_plus"]["aic"]
    if abs(d) <= 2:
        return f"undetermined (AIC difference {d:+.2f} within ±2)"
    better = "l_plus" if d > 0 else "fraction"
    return f"{'l+ (absolute number)' if better == 'l_plus' else 'l+/l (proportion)'} explains the test loss " \
           f"better (AIC difference {abs(d):.2f})"


@sweep_params(widths=SequenceOf(COUNT), l_plus=NoneOr(SequenceOf(COUNT_OR_ZERO, min_length=0)), steps=COUNT_OR_ZERO,
              optimizer=OPTIMIZER, ratio=_RATIO, **SWEEP_OPTIONS)
def pathological_sweep(
    widths: Sequence[int] = (2, 4, 8, 16),
    l_plus: Sequence[int] | None = None,
    seeds: Sequence[int] | int = 5,
    *,
    init: str = "kaiming",
    bias: bool = True,
    steps: int = 2000,
    lr: float = 0.05,
    optimizer: str = "gd",
    ratio: float = 2.0,
    seed: Any = 0,
    test_size: float = 0.3,
    n_train: int | None = None,
    n_test: int | None = None,
    client: Any = None,
    progress: bool | None = None,
) -> PathologicalSweep:
    """Train over a grid (width, l₊, seed) on breast-cancer data and fit loss against l₊ and l₊/l.

    For each width ``l`` and seed, one initialisation (scheme ``init``) is drawn;
    for each ``l₊`` it is rescaled ([`init_with_balance_signs`][topo.experiments.pathological.init_with_balance_signs])
    so that exactly ``l₊`` units have ``c > 0``: every network of a (width, seed) pair
    starts from the same function and only the fiber differs.  Each is trained
    with full-batch ``optimizer`` for ``steps`` steps (binary cross-entropy).

    Parameters
    ----------
    widths : hidden widths ``l``
    l_plus : values of ``l₊``, kept where ``≤ l`` (default ``0, 1, 2, 4, ...`` up to ``l``)
    seeds : int or sequence of int
        Seed indices (an int ``n`` means ``range(n)``); the initialisation of
        (width, seed index) comes from ``SeedSequence(seed)`` by index.
    n_train, n_test : keep only that many rows (tiny runs)
    client, progress : see [`topo.experiments.run_tasks`][topo.experiments.runner.run_tasks]

    Returns
    -------
    PathologicalSweep
        ``table`` (one row per run: width, l_plus, fraction, seed, components,
        initial_test_loss, train_loss, test_loss, test_accuracy, balance_drift),
        ``fits``, ``verdict``.

    Examples
    --------
    >>> from topo.experiments import pathological_sweep
    >>> r = pathological_sweep(widths=(2, 4), l_plus=(0, 2), seeds=1, steps=20, progress=False)
    >>> list(r.table["components"])
    [4, 1, 16, 4]
    >>> sorted(r.fits)
    ['fraction', 'l_plus']
    """
    widths = [int(w) for w in widths]
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not widths or min(widths) < 1 or not seed_list:
        raise ExperimentError(f"need positive widths and at least one seed, got {widths} and {seeds!r}")
    if steps < 0 or lr <= 0:
        raise ExperimentError(f"steps must be >= 0 and lr > 0, got {steps} and {lr}")
    data_kw = dict(test_size=test_size, n_train=n_train, n_test=n_test)
    root = task_seeds(seed, max(widths) + 1)
    tasks = []
    for w in widths:
        values = sorted({k for k in (l_plus if l_plus is not None else [0] + [2 ** i for i in range(8)]) if 0 <= k <= w}
                        | ({w} if l_plus is None else set()))
        init_seeds = task_seeds(root[w], max(seed_list) + 1)
        for k in values:
            for s in seed_list:
                tasks.append(Task(_pathological_task, dict(width=w, l_plus=k, seed_index=s, seed=init_seeds[s],
                                                           init=init, bias=bias, steps=steps, lr=lr,
                                                           optimizer=optimizer, ratio=ratio, data_kw=data_kw)))
    rows = run_tasks(tasks, client=client, progress=progress, desc="pathological")
    x1 = [r["l_plus"] for r in rows]
    x2 = [r["fraction"] for r in rows]
    y = [r["test_loss"] for r in rows]
    if len(rows) < 3 or len(set(x1)) < 2 or len(set(x2)) < 2:
        return PathologicalSweep(table=tidy(rows), fits={},
                                 verdict="undetermined (too few runs or distinct l+ values for a fit)")
    fits = {"l_plus": linear_fit(x1, y), "fraction": linear_fit(x2, y)}
    return PathologicalSweep(table=tidy(rows), fits=fits, verdict=_verdict(fits))
