"""Regularisers that drive training to singular strata, and a prune-and-evaluate sweep.

A singular point of a fiber is a parameter point where a cluster of hidden
units is cut off (zero weights on its boundary): the network then computes the
function of a pruned sub-network.  The ICLR paper compares penalties by how
close they bring training to such strata:

``"weight_decay"``  ``s/2 · ||θ||²`` (shrinks every balance, ``c(t) = e^{-2st} c(0)``);
``"l1"``            ``s · ||θ||₁``;
``"group_lasso"``   ``s · Σ_v ||θ_∂v||``, the boundary norm of each hidden unit — exactly
                    its distance to the stratum where it is cut off;
``"nuclear"``       ``s · ||B̃ diag(θ)||_*``, the nuclear norm of half the Jacobian of the
                    balance map, a convex surrogate of its rank (the rank drops by one
                    per floating cluster).

[`regularizer_sweep`][topo.experiments.regularizers.regularizer_sweep] trains with each penalty until the objective
stops decreasing, prunes the units whose boundary norm fell below a tolerance and
evaluates the pruned network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.experiments.runner import SWEEP_OPTIONS, ExperimentError, Task, run_tasks, sweep_params, task_seeds, tidy
from topo.graph.architecture import ARCH, Architecture
from topo.utils.validation import COUNT, NAME, TOLERANCE, AnyOf, InstanceOf, NoneOr, SequenceOf

__all__ = ["PENALTIES", "Penalty", "penalty", "regularizer_sweep", "RegularizerSweep"]

PENALTIES = ("weight_decay", "l1", "group_lasso", "nuclear")
DEFAULT_STRENGTHS = {"weight_decay": 1e-2, "l1": 1e-3, "group_lasso": 3e-3, "nuclear": 3e-3}


class Penalty:
    """A penalty ``θ ↦ strength · R(θ)`` on the flat torch parameter tensor (see module docstring).

    Call it on a float64 ``torch.Tensor`` of shape ``(n_params,)``; pass it to
    ``topo.train(..., penalty=...)``.  ``value(theta)`` evaluates it on a numpy vector.
    """

    def __init__(self, arch: Architecture, kind: str, strength: float):
        if kind not in PENALTIES:
            raise ExperimentError(f"unknown regulariser {kind!r}; expected one of {', '.join(PENALTIES)}")
        if not np.isfinite(strength) or strength < 0:
            raise ExperimentError(f"strength must be a finite number >= 0, got {strength!r}")
        self.arch, self.kind, self.strength = arch, kind, float(strength)
        self._cache: dict = {}

    def _groups(self, torch):
        """(class, parameter) pairs: parameter p lies on a trainable edge entering or leaving the
        constrained rescaling class (for an ordinary unit: its own edges; an edge inside a class
        is not on its boundary)."""
        if "groups" not in self._cache:
            arch = self.arch
            row = arch.node_row
            pe = arch.param_edge
            on_quotient = np.zeros(arch.n_edges, dtype=bool)
            on_quotient[arch.quotient_edges] = True  # trainable edges between two classes
            boundary = on_quotient[pe]
            units, params = [], []
            for end in (arch.dst[pe], arch.src[pe]):
                r = np.where(boundary, row[end], -1)
                units.append(r[r >= 0])
                params.append(np.flatnonzero(r >= 0))
            self._cache["groups"] = (torch.as_tensor(np.concatenate(units)), torch.as_tensor(np.concatenate(params)))
        return self._cache["groups"]

    def _incidence(self, torch):
        if "B" not in self._cache:
            from topo.fiber.balance import incidence_matrix

            self._cache["B"] = torch.as_tensor(incidence_matrix(self.arch, over="parameters").toarray())
        return self._cache["B"]

    def __call__(self, theta):
        import torch

        s = self.strength
        if self.kind == "weight_decay":
            return 0.5 * s * torch.sum(theta * theta)
        if self.kind == "l1":
            return s * torch.sum(torch.abs(theta))
        if self.kind == "group_lasso":
            units, params = self._groups(torch)
            sq = torch.zeros(self.arch.n_constrained, dtype=theta.dtype).index_add(0, units, theta[params] ** 2)
            return s * torch.sum(torch.sqrt(sq.clamp_min(1e-300)))
        M = self._incidence(torch) * theta[None, :]
        return s * torch.linalg.matrix_norm(M, ord="nuc")

    def value(self, theta: Any) -> float:
        import torch

        with torch.no_grad():
            return float(self(torch.as_tensor(self.arch.as_vector(theta), dtype=torch.float64)))


@sweep_params(arch=ARCH, kind=NAME, strength=TOLERANCE)
def penalty(arch: Architecture, kind: str, strength: float) -> Penalty:
    """The penalty ``kind`` with weight ``strength`` on ``arch`` (a torch callable).

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.experiments import penalty
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> theta = np.array([3.0, 0.0, 4.0, 0.0])       # h1_0: in 3, out 4; h1_1 cut off
    >>> penalty(arch, "group_lasso", 1.0).value(theta)   # ||(3, 4)|| + ||(0, 0)||
    5.0
    >>> round(penalty(arch, "nuclear", 1.0).value(theta), 6)   # B̃ diag θ = [[3, 0, -4, 0], [0, 0, 0, 0]]
    5.0
    """
    return Penalty(arch, kind, strength)


def _train_to_completion(arch, theta, X, y, pen, lr, max_steps, round_steps, tol):
    from topo.nn.train import train

    obj_prev, steps, converged = np.inf, 0, False
    while steps < max_steps:
        n = min(round_steps, max_steps - steps)
        traj = train(arch, theta, X, y, loss="bce", optimizer="gd", lr=lr, steps=n, record_every=n, penalty=pen)
        theta, steps = traj.theta, steps + n
        obj = float(traj.losses[-1]) + pen.value(theta)
        if abs(obj_prev - obj) <= tol * abs(obj):
            converged = True
            break
        obj_prev = obj
    return theta, steps, converged, float(traj.losses[-1]), obj


def _prune_small(arch, theta, prune_tol):
    """Prune units with boundary norm below ``prune_tol``, smallest first; stop if pruning would cut the output."""
    from topo.errors import GraphError
    from topo.fiber.singular import prunability, prune

    small, t_small, pruned = arch, theta, 0
    for p in prunability(arch, theta):
        if p.distance >= prune_tol:
            break
        try:
            small, t_small = prune(small, t_small, list(p.nodes))
        except GraphError:
            break
        pruned += 1
    return small, t_small, pruned


def _regularizer_task(kind, strength, hidden, seed_index, seed, init, bias, lr, max_steps, round_steps, tol,
                      prune_tol, data_kw):
    """One run: train with the penalty, prune, evaluate; returns a table row."""
    import torch

    from topo.experiments.data import breast_cancer
    from topo.fiber.singular import prunability
    from topo.graph.forward import forward

    Xtr, ytr, Xte, yte = breast_cancer(**data_kw)
    arch = Architecture.mlp([Xtr.shape[1], *hidden, 1], bias=bias)
    theta0 = arch.init(init, seed=np.random.default_rng(seed))
    pen = Penalty(arch, kind, strength)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        theta, steps, converged, loss, obj = _train_to_completion(arch, theta0, Xtr, ytr, pen, lr, max_steps,
                                                                  round_steps, tol)
    finally:
        torch.set_num_threads(threads)
    small, t_small, pruned = _prune_small(arch, theta, prune_tol)
    z, z_small = forward(arch, theta, Xte)[:, 0], forward(small, t_small, Xte)[:, 0]
    return dict(regularizer=kind, strength=strength, seed=seed_index, steps=steps, converged=converged,
                train_loss=loss, objective=obj, units=sum(hidden), units_pruned=pruned,
                accuracy_before=float(np.mean((z > 0) == (yte > 0.5))),
                accuracy_after=float(np.mean((z_small > 0) == (yte > 0.5))),
                max_output_change=float(np.abs(z - z_small).max()),
                nearest_stratum_init=prunability(arch, theta0)[0].distance,
                nearest_stratum=prunability(arch, theta)[0].distance)


@dataclass(frozen=True)
class RegularizerSweep:
    """Result of [`regularizer_sweep`][topo.experiments.regularizers.regularizer_sweep]: one ``table`` row per
    (regulariser, strength, seed)."""

    table: Any

    def summary(self) -> str:
        rows = self.table.to_dict("records") if hasattr(self.table, "to_dict") else list(self.table)
        return "\n".join(
            f"{r['regularizer']:>12s} s={r['strength']:.3g} seed {r['seed']}: {r['units_pruned']}/{r['units']} units "
            f"pruned, accuracy {r['accuracy_before']:.3f} -> {r['accuracy_after']:.3f}, nearest stratum "
            f"{r['nearest_stratum_init']:.3g} -> {r['nearest_stratum']:.3g} ({r['steps']} steps"
            f"{'' if r['converged'] else ', not converged'})" for r in rows)

    def to_dict(self) -> dict:
        rows = self.table.to_dict("records") if hasattr(self.table, "to_dict") else list(self.table)
        return {"table": rows}


@sweep_params(regularizers=SequenceOf(NAME), strengths=NoneOr(InstanceOf(dict)), hidden=AnyOf(COUNT, SequenceOf(COUNT)),
              max_steps=COUNT, round_steps=COUNT, tol=TOLERANCE, prune_tol=TOLERANCE, **SWEEP_OPTIONS)
def regularizer_sweep(
    regularizers: Sequence[str] = PENALTIES,
    strengths: dict | None = None,
    seeds: Sequence[int] | int = 1,
    *,
    hidden: int | Sequence[int] = 16,
    init: str = "kaiming",
    bias: bool = True,
    lr: float = 0.05,
    max_steps: int = 20_000,
    round_steps: int = 500,
    tol: float = 1e-5,
    prune_tol: float = 1e-2,
    seed: Any = 0,
    test_size: float = 0.3,
    n_train: int | None = None,
    n_test: int | None = None,
    client: Any = None,
    progress: bool | None = None,
) -> RegularizerSweep:
    """Train ``30-hidden-1`` networks on breast-cancer data with each penalty, prune and evaluate.

    ``hidden`` is one width or a sequence of widths (a deep network).  For one
    hidden layer the nuclear norm of ``B̃ diag(θ)`` equals the group lasso: the
    rows of that matrix (one per unit) have disjoint supports, so its singular
    values are the units' boundary norms.  They differ when units are connected.

    Each run starts from the same initialisation for a given seed, trains with
    full-batch gradient descent in rounds of ``round_steps`` until the objective
    (data loss + penalty) changes by at most ``tol`` (relative) over a round or
    ``max_steps`` is reached, then prunes the units whose boundary norm
    ``||θ_∂v||`` (distance to the stratum where ``v`` is cut off) is below
    ``prune_tol``, smallest first.

    Parameters
    ----------
    regularizers : names from ``PENALTIES``
    strengths : dict, optional
        ``{name: strength or list of strengths}``; defaults in ``DEFAULT_STRENGTHS``.
    seeds : int or sequence of int
        Seed indices; the initialisation of seed index ``i`` comes from the ``i``-th
        child of ``SeedSequence(seed)``.

    Returns
    -------
    RegularizerSweep
        ``table`` rows: regularizer, strength, seed, steps, converged, train_loss,
        objective, units, units_pruned, accuracy_before, accuracy_after,
        max_output_change (test logits), nearest_stratum_init, nearest_stratum.

    Examples
    --------
    >>> from topo.experiments import regularizer_sweep
    >>> r = regularizer_sweep(("l1", "nuclear"), hidden=3, max_steps=40, round_steps=20, progress=False)
    >>> list(r.table["regularizer"]), list(r.table["steps"])
    (['l1', 'nuclear'], [40, 40])
    """
    strengths = dict(strengths or {})
    unknown = sorted(set(strengths) - set(PENALTIES)) + sorted(set(regularizers) - set(PENALTIES))
    if unknown:
        raise ExperimentError(f"unknown regulariser(s) {unknown}; expected some of {', '.join(PENALTIES)}")
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    hidden = (int(hidden),) if isinstance(hidden, (int, np.integer)) else tuple(int(h) for h in hidden)
    if not seed_list or not hidden or min(hidden) < 1 or max_steps < 1 or round_steps < 1:
        raise ExperimentError("need at least one seed, hidden widths >= 1, max_steps >= 1 and round_steps >= 1")
    init_seeds = task_seeds(seed, max(seed_list) + 1)
    data_kw = dict(test_size=test_size, n_train=n_train, n_test=n_test)
    tasks = []
    for kind in regularizers:
        values = strengths.get(kind, DEFAULT_STRENGTHS[kind])
        for s in np.atleast_1d(values).tolist():
            for i in seed_list:
                tasks.append(Task(_regularizer_task, dict(
                    kind=kind, strength=float(s), hidden=hidden, seed_index=i, seed=init_seeds[i], init=init,
                    bias=bias, lr=lr, max_steps=int(max_steps), round_steps=int(round_steps), tol=tol,
                    prune_tol=prune_tol, data_kw=data_kw)))
    return RegularizerSweep(table=tidy(run_tasks(tasks, client=client, progress=progress, desc="regularizers")))
