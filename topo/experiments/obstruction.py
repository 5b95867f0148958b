"""Probability that a random initialisation is obstructed (2024 paper, appendix).

A hidden unit ``k`` whose only outgoing edge enters a scalar output is
*pathological* when its balance ``c_k = ||θ_in(k)||² − a_k²`` is negative: its
output weight ``a_k`` can then never reach zero under gradient flow, so its sign
is fixed at initialisation.  [`obstruction_probability`][topo.experiments.obstruction.obstruction_probability] gives,
for an initialisation scheme,

* ``per_unit``: the probability that such a unit is pathological;
* ``network``: the probability that at least one is;
* ``disconnected``: the probability that the fiber through the initial point
  has more than one connected component (any frozen edge, decided exactly by
  [`topo.fiber.connectivity`][topo.fiber.connectivity.connectivity] for every Monte Carlo sample).

These differ: with one input and no bias, every unit has a single input edge,
which freezes when ``c_k > 0``; the fiber is then *always* disconnected while
``network`` counts pathological units only.

Closed form (``method="exact"``): when the ``m`` input weights of unit ``k`` are
i.i.d. ``N(0, σ²)`` and its output weight is ``N(0, τ²)``, independent,
``σ² χ²_m < τ² χ²_1`` is the event ``F(1, m) > m σ² / τ²`` for a Fisher
variable ``F(1, m) = (χ²_1 / 1) / (χ²_m / m)``; the units below the output
have disjoint edge sets, so they are independent and the network probability
is ``1 − Π_k (1 − p_k)``.  With one uniform input weight ``U(±β)`` and a uniform
output weight ``U(±γ)``, ``P(β|U| < γ|V|)`` is ``ρ/2`` for ``ρ = γ/β ≤ 1`` and
``1 − 1/(2ρ)`` otherwise.  The derivation is in ``docs/experiments.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from topo.experiments.runner import (BIAS_RULE, INIT, PROGRESS, SWEEP_SEED, ExperimentError, Task, run_tasks,
                                     sweep_params, task_seeds, tidy)
from topo.graph.architecture import ARCH, Architecture
from topo.graph.initializers import init_scales
from topo.graph.nodes import OUTPUT
from topo.utils.validation import BOOLEAN, COUNT, NAME, Interval, Options, SequenceOf

__all__ = ["ObstructionProbability", "obstruction_probability", "obstruction_table", "units_below_output"]


@dataclass(frozen=True)
class ObstructionProbability:
    """Obstruction probabilities of one architecture under one initialisation.

    ``stderr``, ``network_stderr`` and ``disconnected_stderr`` are standard errors
    of the Monte Carlo estimates (0 for the exact method).  ``disconnected`` is
    ``None`` when the exact method has no closed form for it (deep networks).
    """

    widths: tuple
    init: str
    bias: bool
    bias_rule: str
    method: str
    n_samples: int
    n_units: int
    per_unit: float
    network: float
    stderr: float
    network_stderr: float
    disconnected: float | None
    disconnected_stderr: float | None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


@sweep_params(arch=ARCH)
def units_below_output(arch: Architecture) -> np.ndarray:
    """Rows (in ``arch.constrained``) of the units whose only outgoing edge enters an output.

    Only units that are a rescaling class of their own count (a unit on a residual stream shares
    its balance with the stream, so its own edges do not decide the obstruction).

    Examples
    --------
    >>> import topo
    >>> from topo.experiments import units_below_output
    >>> units_below_output(topo.Architecture.mlp([2, 3, 4, 1])).tolist()    # the last hidden layer
    [3, 4, 5, 6]
    """
    idx = arch.constrained_index
    outdeg = np.bincount(arch.src, minlength=arch.n_nodes)
    out_edge = np.zeros(arch.n_nodes, dtype=np.int64)
    out_edge[arch.src] = np.arange(arch.n_edges)          # the only out-edge where outdeg == 1
    e = out_edge[idx]
    ok = (outdeg[idx] == 1) & (arch.role_codes[arch.dst[e]] == OUTPUT) & (arch.edge_sizes[e] == 1)
    ok &= (arch.class_sizes == 1) & arch.edge_trainable[e]
    return np.flatnonzero(ok)


def _architecture(widths, bias: bool) -> tuple[Architecture, tuple]:
    if isinstance(widths, Architecture):
        return widths, ()
    try:
        w = tuple(int(x) for x in widths)
    except (TypeError, ValueError):
        raise ExperimentError(f"widths must be a sequence of layer widths like (2, 8, 1), got {widths!r}") from None
    if len(w) < 3 or min(w) < 1 or w[-1] != 1:
        raise ExperimentError(
            f"widths must list at least an input, a hidden and a scalar output layer, like (2, 8, 1); got {w}")
    return Architecture.mlp(w, bias=bias), w


def _unit_edges(arch: Architecture, rows: np.ndarray):
    """Per unit: the parameter indices entering it and the index of its output weight."""
    offsets = arch.edge_offsets
    nodes = arch.constrained_index[rows]
    for v in nodes.tolist():
        into = np.flatnonzero(arch.dst == v)
        params = np.concatenate([np.arange(offsets[e], offsets[e + 1]) for e in into.tolist()])
        out = int(offsets[int(np.flatnonzero(arch.src == v)[0])])
        yield params, out


def _unit_probability(law: np.ndarray, scale: np.ndarray, params: np.ndarray, out: int) -> tuple[float, int]:
    """Exact P(c_k < 0) for one unit, and its number of random input weights."""
    from scipy.stats import f as fisher

    keep = params[law[params] != "zero"]
    m = len(keep)
    if m == 0:
        return 1.0, 0
    laws = set(law[keep].tolist()) | {law[out]}
    scales = scale[keep]
    if laws == {"normal"} and np.allclose(scales, scales[0], rtol=1e-12, atol=0):
        return float(fisher.sf(m * scales[0] ** 2 / scale[out] ** 2, 1, m)), m
    if laws == {"uniform"} and m == 1:
        rho = scale[out] / scales[0]
        return float(rho / 2 if rho <= 1 else 1 - 1 / (2 * rho)), m
    raise ExperimentError(
        "no closed form for this initialisation (the exact method needs i.i.d. normal input weights of each "
        "unit, or a single uniform one); use method='monte_carlo'")


def _exact(arch: Architecture, rows: np.ndarray, scheme: str, rule: str, shallow: bool):
    law, scale = init_scales(arch, scheme, bias=rule)
    probs, ms = zip(*(_unit_probability(law, scale, p, o) for p, o in _unit_edges(arch, rows)))
    p = np.asarray(probs)
    network = 1.0 - float(np.prod(1.0 - p))
    disconnected = None
    if shallow:  # a one-input unit always has a frozen edge (c > 0 freezes its input edge)
        disconnected = 1.0 - float(np.prod(np.where(np.asarray(ms) >= 2, 1.0 - p, 0.0)))
    return float(p.mean()), network, disconnected


def _obstruction_chunk(arch, scheme, rule, n, seed, rows, disconnection):
    """Monte Carlo chunk: histogram of the number of pathological units, disconnected count."""
    from topo.fiber.balance import balance
    from topo.fiber.connectivity import connectivity
    from topo.graph.initializers import draw_parameters

    thetas = draw_parameters(arch, scheme, bias=rule, seed=np.random.default_rng(seed), size=n)
    c = balance(arch, thetas)
    counts = np.sum(c[:, rows] < 0, axis=1)
    hist = np.bincount(counts, minlength=len(rows) + 1)
    n_disc = -1
    if disconnection:
        n_disc = sum(int(connectivity(arch, ci).n_frozen_scalar > 0) for ci in c)
    return hist, n_disc


def _mc_tasks(arch, scheme, rule, rows, n_samples, seed, chunk_size, disconnection) -> list[Task]:
    n_chunks = -(-n_samples // chunk_size)
    seeds = task_seeds(seed, n_chunks)
    sizes = [min(chunk_size, n_samples - i * chunk_size) for i in range(n_chunks)]
    return [Task(_obstruction_chunk, dict(arch=arch, scheme=scheme, rule=rule, n=s, seed=sd, rows=rows,
                                          disconnection=disconnection)) for s, sd in zip(sizes, seeds)]


def _reduce(results, n_units: int, n: int, disconnection: bool) -> dict:
    hist = np.sum([h for h, _ in results], axis=0)
    k = np.arange(n_units + 1)
    frac = k / n_units
    mean = float(hist @ frac) / n
    var = float(hist @ (frac - mean) ** 2) / max(n - 1, 1)
    net = float(hist[1:].sum()) / n
    out = dict(per_unit=mean, stderr=float(np.sqrt(var / n)), network=net,
               network_stderr=float(np.sqrt(net * (1 - net) / n)), disconnected=None, disconnected_stderr=None)
    if disconnection:
        dis = sum(d for _, d in results) / n
        out.update(disconnected=dis, disconnected_stderr=float(np.sqrt(dis * (1 - dis) / n)))
    return out


def _check_args(init, method, n_samples, chunk_size):
    from topo.graph.initializers import SCHEMES

    if init not in SCHEMES:
        raise ExperimentError(f"unknown init {init!r}; expected one of {', '.join(SCHEMES)}")
    if method not in ("exact", "monte_carlo"):
        raise ExperimentError(f"method must be 'exact' or 'monte_carlo', got {method!r}")
    if method == "monte_carlo" and (int(n_samples) < 2 or int(chunk_size) < 1):
        raise ExperimentError(f"n_samples must be >= 2 and chunk_size >= 1, got {n_samples} and {chunk_size}")


class _Job:
    """One configuration: its tasks (Monte Carlo) or its exact answer, and the reduction."""

    def __init__(self, widths, init, bias, method, n_samples, seed, bias_rule, chunk_size, disconnection):
        _check_args(init, method, n_samples, chunk_size)
        self.arch, self.widths = _architecture(widths, bias)
        self.rows = units_below_output(self.arch)
        if len(self.rows) == 0:
            raise ExperimentError("no unit has a single outgoing edge into a scalar output; "
                                  "the per-unit obstruction is defined for scalar-output networks")
        from topo.graph.initializers import resolve_bias_rule

        self.rule = resolve_bias_rule(init, bias_rule)
        self.init, self.bias, self.method = init, bool(bias), method
        self.n = int(n_samples) if method == "monte_carlo" else 0
        self.disconnection = bool(disconnection)
        self.tasks = (_mc_tasks(self.arch, init, self.rule, self.rows, self.n, seed, int(chunk_size),
                                self.disconnection) if method == "monte_carlo" else [])

    def result(self, results) -> ObstructionProbability:
        base = dict(widths=self.widths, init=self.init, bias=self.bias, bias_rule=self.rule, method=self.method,
                    n_samples=self.n, n_units=len(self.rows))
        if self.method == "exact":
            shallow = len(self.widths) == 3
            p, net, dis = _exact(self.arch, self.rows, self.init, self.rule, shallow)
            return ObstructionProbability(**base, per_unit=p, network=net, stderr=0.0, network_stderr=0.0,
                                          disconnected=dis, disconnected_stderr=None if dis is None else 0.0)
        return ObstructionProbability(**base, **_reduce(results, len(self.rows), self.n, self.disconnection))


_OPTIONS = dict(bias=BOOLEAN, method=Options("exact", "monte_carlo"), n_samples=Interval(int, 2), seed=SWEEP_SEED,
                bias_rule=BIAS_RULE, chunk_size=COUNT, disconnection=BOOLEAN, progress=PROGRESS)


@sweep_params(init=INIT, **_OPTIONS)
def obstruction_probability(
    widths: Sequence[int] | Architecture,
    init: str = "kaiming",
    bias: bool = False,
    method: str = "exact",
    *,
    n_samples: int = 10_000,
    seed: Any = 0,
    client: Any = None,
    bias_rule: str | None = None,
    chunk_size: int = 1000,
    disconnection: bool = True,
    progress: bool | None = None,
) -> ObstructionProbability:
    """Probability that a random initialisation has pathological units.

    Parameters
    ----------
    widths : sequence of int or Architecture
        Layer widths of a scalar-output MLP, e.g. ``(2, 8, 1)`` (or any
        architecture for the Monte Carlo method).
    init : str
        A scheme of [`topo.graph.initializers.init_scales`][topo.graph.initializers.init_scales]: ``"kaiming"``
        (normal), ``"kaiming_uniform"``, ``"xavier"`` (normal), ``"xavier_uniform"``,
        ``"pytorch"`` (``torch.nn.Linear``'s default), ...
    bias : bool
        Whether the MLP has biases.
    method : {"exact", "monte_carlo"}
        The closed form (an F-distribution tail; raises when none applies), or
        ``n_samples`` random initialisations.
    seed, chunk_size
        The samples are split into chunks of ``chunk_size``; chunk ``i`` draws from
        the ``i``-th child of ``SeedSequence(seed)``, so the estimate does not
        depend on where the chunks run.
    client : None, dask.distributed.Client or scheduler address
        Where the chunks run (``None``: in this process, no Dask needed).
    bias_rule : {"input", "pytorch", "zeros"}, optional
        How biases are drawn (`topo.graph.initializers`); default ``"pytorch"`` for
        ``init="pytorch"``, ``"input"`` (a bias is one more input weight) otherwise.
    disconnection : bool
        Also estimate the probability that the fiber is disconnected (Monte Carlo:
        one [`topo.fiber.connectivity`][topo.fiber.connectivity.connectivity] call per sample).

    Returns
    -------
    ObstructionProbability

    Examples
    --------
    >>> import topo
    >>> from topo.experiments import obstruction_probability
    >>> r = obstruction_probability((1, 8, 1), "kaiming")        # 1 - (2/π) arctan(√8)
    >>> round(r.per_unit, 6), round(r.network, 6), r.disconnected
    (0.216347, 0.85777, 1.0)
    >>> obstruction_probability((1, 8, 1), "xavier").per_unit
    0.5
    >>> mc = obstruction_probability((1, 8, 1), "kaiming", method="monte_carlo", n_samples=4000, seed=1)
    >>> abs(mc.per_unit - r.per_unit) < 4 * mc.stderr
    True
    """
    job = _Job(widths, init, bias, method, n_samples, seed, bias_rule, chunk_size, disconnection)
    results = run_tasks(job.tasks, client=client, progress=progress, desc="obstruction") if job.tasks else []
    return job.result(results)


@sweep_params(inits=SequenceOf(NAME), **_OPTIONS)
def obstruction_table(
    widths: Sequence[Sequence[int]],
    inits: Sequence[str] = ("kaiming", "xavier"),
    bias: bool = False,
    method: str = "exact",
    *,
    n_samples: int = 10_000,
    seed: Any = 0,
    client: Any = None,
    bias_rule: str | None = None,
    chunk_size: int = 1000,
    disconnection: bool = True,
    progress: bool | None = None,
):
    """[`obstruction_probability`][topo.experiments.obstruction.obstruction_probability] over architectures × schemes,
    as a tidy table.

    Every configuration uses the same ``seed`` (so each row equals the single
    call); all Monte Carlo chunks of all configurations go to ``client`` at once.
    Returns a pandas DataFrame (one row per configuration, columns as in
    `ObstructionProbability.to_dict`, ``widths`` as a string) when pandas is
    installed, a list of dicts otherwise.

    Examples
    --------
    >>> from topo.experiments import obstruction_table
    >>> t = obstruction_table([(1, 2, 1), (1, 32, 1)], inits=("kaiming", "xavier"))
    >>> [round(p, 3) for p in t["per_unit"]]
    [0.392, 0.5, 0.111, 0.5]
    """
    jobs = [_Job(w, init, bias, method, n_samples, seed, bias_rule, chunk_size, disconnection)
            for w in widths for init in inits]
    tasks = [t for j in jobs for t in j.tasks]
    flat = run_tasks(tasks, client=client, progress=progress, desc="obstruction") if tasks else []
    records, start = [], 0
    for j in jobs:
        rec = j.result(flat[start:start + len(j.tasks)]).to_dict()
        start += len(j.tasks)
        rec["widths"] = "-".join(map(str, rec["widths"]))
        records.append(rec)
    return tidy(records)
