"""Rescaling classes: the groups of units that a fixed edge forces to rescale together.

Rescaling a hidden unit by ``α > 0`` (trainable edges entering it ``× α``, leaving it
``× 1/α``) leaves the function of a network of positively homogeneous units unchanged,
as long as no fixed (non-trainable) edge touches it: a fixed weight cannot absorb the
factor.  It can when both ends of the fixed edge are rescaled by the same ``α``.  So the
units that rescale together are the connected components of the graph of fixed edges
(a residual stream channel, ``x`` and its copy ``0.5 * x``, a unit and the residual sum
it feeds); a unit without a fixed edge is a class of its own.

A class is *constrained* (it carries one conserved balance) when every member is hidden
and positively homogeneous; a residual sum is linear, hence homogeneous.  A class
holding an input, a bias, an output or a non-homogeneous unit (GELU, a gate, an
operation topo does not model) behaves as an input/output in every analysis.

Computing the classes is one call to `scipy.sparse.csgraph.connected_components`
over the fixed edges (linear time).  Fixed edges are taken to have nonzero weight: the
builders never create a fixed edge of weight 0 (a spec refuses one; the PyTorch import
drops ``x * 0``).

References
----------
.. [1] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, "Topology and geometry of the
   learning space of ReLU networks: connectivity and singularities", ICLR 2026,
   arXiv:2602.00693 (conservation laws of gradient flow; here extended to classes).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from topo.graph.nodes import HIDDEN, ROLES, is_homogeneous
from topo.utils.text import short

__all__ = ["RescalingClasses", "rescaling_classes"]


@dataclass(frozen=True)
class RescalingClasses:
    """The rescaling classes of a graph, as index arrays.

    Attributes
    ----------
    label : numpy.ndarray
        Class of every node (classes numbered by their first member in topological order).
    row : numpy.ndarray
        Balance row of every node: its class's row when the class is constrained, else -1.
    first : numpy.ndarray
        First member (node index) of each constrained row, increasing.
    free_reason : dict
        For every hidden node of an unconstrained class: why it carries no law.
    """

    label: np.ndarray
    row: np.ndarray
    first: np.ndarray
    free_reason: dict

    @property
    def n_classes(self) -> int:
        return int(self.label.max()) + 1 if len(self.label) else 0


def _labels(n: int, src: np.ndarray, dst: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Component of every node in the graph of fixed edges, numbered by first member."""
    if not fixed.any():
        return np.arange(n, dtype=np.int64)
    adj = sp.coo_matrix((np.ones(int(fixed.sum()), dtype=np.int8), (src[fixed], dst[fixed])), shape=(n, n))
    k, lab = connected_components(adj, directed=False)
    first = np.full(k, n, dtype=np.int64)
    np.minimum.at(first, lab, np.arange(n, dtype=np.int64))
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(k)
    return rank[lab]


def rescaling_classes(names: Sequence[Hashable], role: np.ndarray, act: Sequence[str], src: np.ndarray,
                      dst: np.ndarray, trainable: np.ndarray) -> RescalingClasses:
    """Classes of the nodes joined by fixed edges, which of them carry a balance, and why
    the hidden nodes of the others are free.

    Examples
    --------
    >>> import numpy as np
    >>> from topo.graph.classes import rescaling_classes
    >>> # x -> a -> s, with a fixed identity skip x -> s: x, s share a class with an input
    >>> names, role = ["x", "a", "s", "y"], np.array([0, 2, 2, 3])
    >>> rc = rescaling_classes(names, role, ["input", "relu", "linear", "linear"],
    ...                        np.array([0, 1, 0, 2]), np.array([1, 2, 2, 3]), np.array([1, 1, 0, 1], bool))
    >>> rc.row.tolist(), rc.free_reason
    ([-1, 0, -1, -1], {'s': "joined by fixed edges to input 'x'"})
    """
    n = len(names)
    label = _labels(n, src, dst, ~trainable)
    k = int(label.max()) + 1 if n else 0
    homogeneous = np.fromiter((is_homogeneous(a) for a in act), dtype=bool, count=n)
    bad = (role != HIDDEN) | ~homogeneous
    # first member of each class that breaks it (n if none): an input/bias/output or a free unit
    breaker = np.full(k, n, dtype=np.int64)
    np.minimum.at(breaker, label[bad], np.flatnonzero(bad))
    ok = breaker[label] == n  # every member hidden and homogeneous
    ok_class = np.zeros(k, dtype=bool)
    ok_class[label[ok]] = True
    class_row = np.full(k, -1, dtype=np.int64)
    class_row[ok_class] = np.arange(int(ok_class.sum()))
    row = class_row[label]
    first = np.full(int(ok_class.sum()), n, dtype=np.int64)
    np.minimum.at(first, row[row >= 0], np.flatnonzero(row >= 0))
    return RescalingClasses(label=label, row=row, first=first,
                            free_reason=_free_reasons(names, role, act, label, breaker, homogeneous, row))


def _free_reasons(names, role, act, label, breaker, homogeneous, row) -> dict:
    out: dict = {}
    for i in np.flatnonzero((role == HIDDEN) & (row < 0)).tolist():
        if not homogeneous[i]:
            out[names[i]] = f"activation {act[i]!r} is not positively homogeneous"
            continue
        b = int(breaker[label[i]])
        if role[b] != HIDDEN:
            out[names[i]] = f"joined by fixed edges to {ROLES[role[b]]} {short(names[b])}"
        else:
            out[names[i]] = f"class holds {short(names[b])} ({act[b]})"
    return out
