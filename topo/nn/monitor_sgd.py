"""The optimizer side of `topo.BalanceMonitor`: hyper-parameters and the exact SGD law.

For plain SGD (no momentum) with L2 weight decay ``λ`` and learning rate ``η``
on every trained parameter, each constrained class obeys

    c_{t+1} = (1−ηλ)² c_t + η² (||g_in||² − ||g_out||²),

the cross term ``−2η(1−ηλ) (Σ_in ⟨θ, g⟩ − Σ_out ⟨θ, g⟩)`` vanishing by the Euler
identity.  `HyperCache` reads ``(η, λ)`` per parameter block from the
optimizer's groups once per change of the groups (a scheduler changing ``lr``
is a change); `law_prediction` applies the law to the entry vectors of
`topo.nn.monitor_index.ParameterIndex`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Hyper", "HyperCache", "plain_sgd", "law_prediction"]


def plain_sgd(optimizer) -> bool:
    """Whether ``optimizer`` is ``torch.optim.SGD`` without momentum or Nesterov in every group.

    Examples
    --------
    >>> import torch
    >>> p = [torch.nn.Parameter(torch.zeros(2))]
    >>> plain_sgd(torch.optim.SGD(p, lr=0.1)), plain_sgd(torch.optim.SGD(p, lr=0.1, momentum=0.9))
    (True, False)
    """
    import torch

    return isinstance(optimizer, torch.optim.SGD) and all(
        float(g.get("momentum", 0.0)) == 0.0 and not g.get("nesterov", False) for g in optimizer.param_groups)


@dataclass(frozen=True)
class Hyper:
    """Learning rate and weight decay of every parameter block (0, 0 when not trained).

    ``eta`` / ``lam``: the common values of the trained blocks when they all share
    one (else None); ``law``: plain SGD with a common ``(η, λ)``, so that the exact
    law holds; ``all_trained``: every block is trained with it.
    """

    lr: np.ndarray
    wd: np.ndarray
    plain: bool
    eta: float | None
    lam: float | None
    law: bool = field(init=False)
    all_trained: bool = field(init=False)

    def __post_init__(self):  # read once per change of the groups, then used at every record
        object.__setattr__(self, "law", self.plain and self.eta is not None and self.lam is not None)
        object.__setattr__(self, "all_trained", bool(len(self.lr)) and bool(np.all(self.lr > 0)))


def _read(optimizer, params) -> Hyper:
    by_id = {}
    for g in optimizer.param_groups:
        for p in g["params"]:
            by_id[id(p)] = (float(g["lr"]), float(g.get("weight_decay", 0.0)))
    pairs = [by_id.get(id(p), (0.0, 0.0)) for p in params]
    lr, wd = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    trained = lr > 0
    eta = float(lr[trained][0]) if trained.any() and np.all(lr[trained] == lr[trained][0]) else None
    lam = float(wd[trained][0]) if trained.any() and np.all(wd[trained] == wd[trained][0]) else None
    return Hyper(lr, wd, plain_sgd(optimizer), eta, lam)


class HyperCache:
    """``cache(optimizer, params)`` -> `Hyper`, re-read only when the groups change.

    Examples
    --------
    >>> import torch
    >>> p = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
    >>> opt = torch.optim.SGD(p, lr=0.1, weight_decay=0.01)
    >>> cache = HyperCache()
    >>> h = cache(opt, p)
    >>> h.law, h.eta, h.lam, cache(opt, p) is h
    (True, 0.1, 0.01, True)
    >>> opt.param_groups[0]["lr"] = 0.05
    >>> cache(opt, p).eta
    0.05
    """

    def __init__(self):
        self._key, self._value = None, None

    def __call__(self, optimizer, params) -> Hyper:
        key = (id(optimizer), len(params)) + tuple(
            (float(g["lr"]), float(g.get("weight_decay", 0.0)), float(g.get("momentum", 0.0)),
             bool(g.get("nesterov", False)), len(g["params"])) for g in optimizer.param_groups)
        if key != self._key:
            self._key, self._value = key, _read(optimizer, params)
        return self._value


def law_prediction(index, hyper: Hyper, prev_flat, prev_signed: np.ndarray, grad_flat,
                   grad_signed: np.ndarray, grads: list) -> np.ndarray:
    """The law's ``ĉ_{t+1}`` of the trainable edges (without the fixed edges' constant).

    ``prev_*``: the entry vector and signed rows of the parameters before the step;
    ``grad_*``: those of the squared gradients; ``grads``: per block, its ``.grad``
    (a parameter without one is left alone by the optimizer).  When
    every block is trained with the common ``(η, λ)`` the prediction is a linear
    combination of rows; otherwise per-entry factors (1 and 0 on the blocks left
    alone) go through one more reduction.
    """
    a2, b2 = (1.0 - hyper.eta * hyper.lam) ** 2, hyper.eta**2
    if hyper.all_trained and all(g is not None for g in grads):
        return a2 * prev_signed + b2 * grad_signed
    moved = (hyper.lr > 0) & np.array([g is not None for g in grads], dtype=bool)
    wa = index.expand(np.where(moved, a2, 1.0))
    wb = index.expand(np.where(moved, b2, 0.0))
    return index.reduce(wa * prev_flat + wb * grad_flat)[0, 0]
