"""Moves that keep a network's function: automorphisms acting on weights, and the
rescalings that bring a point back onto its fiber; the records of such moves.

An automorphism ``g`` of the network carries the weight of each edge to its image
edge ([`apply_automorphism`][topo.symmetry.moves.apply_automorphism]); the function is unchanged and the balances are
permuted.  A rescaling ``T_α`` (trainable edges entering constrained unit ``v`` times
``α_v``, leaving divided by it) also keeps the function; for ``θ`` of full support
it reaches every balance vector ([`restore_balances`][topo.symmetry.moves.restore_balances]).  Certificates of
`topo.symmetry.certificate` are chains of these moves ([`SymmetryStep`][topo.symmetry.moves.SymmetryStep]).

References
----------
.. [1] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, "Topology and geometry of the
   learning space of ReLU networks: connectivity and singularities", ICLR 2026,
   arXiv:2602.00693 (and arXiv:2410.14837, NeurIPS 2024).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from topo.errors import FiberError
from topo.fiber.balance import as_balance, edge_norms, incidence_matrix
from topo.graph.architecture import ARCH, Architecture
from topo.symmetry.automorphisms import edge_permutation
from topo.utils.validation import COUNT, TOLERANCE, validate_params

__all__ = ["apply_automorphism", "restore_balances", "SymmetryStep", "SymmetryCertificate", "MAX_ORBIT"]

#: Orbit searches of ``SymmetryClasses.same_class`` stop after this many labels.
MAX_ORBIT = 200_000


@validate_params(arch=ARCH)
def apply_automorphism(arch: Architecture, perm: np.ndarray, theta: Any) -> np.ndarray:
    """``gθ``: the weights of edge ``e`` carried to edge ``g(e)`` (same function).

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.symmetry import apply_automorphism
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> g = topo.automorphism_group(arch).generators[0]
    >>> apply_automorphism(arch, g, [1.0, 2.0, 3.0, 4.0])
    array([2., 1., 4., 3.])
    """
    vec = arch.as_vector(theta)
    img = edge_permutation(arch, perm)
    off = arch.edge_offsets
    out = np.empty_like(vec)
    if np.all(arch.edge_sizes == 1):
        out[img] = vec
        return out
    for e, f in enumerate(img.tolist()):
        out[off[f]:off[f + 1]] = vec[off[e]:off[e + 1]]
    return out


@validate_params(arch=ARCH, rtol=TOLERANCE, max_iter=COUNT)
def restore_balances(arch: Architecture, theta: Any, c: Any, *, rtol: float = 1e-13, max_iter: int = 200):
    """The rescaling ``T_α θ`` (same function) whose balances are ``c``.

    Minimises the strictly convex ``F(x) = ½ Σ_e q_e exp(2 (B̃ᵀx)_e) − ⟨c, x⟩`` by
    Newton's method with backtracking; ``∇F(x)`` is the balance vector of ``T_α θ``
    with ``α = exp(x)``.  The minimum exists when ``θ`` has no floating cluster of
    zero weights (always for full support).

    Returns
    -------
    theta_new : ndarray
    log_alpha : ndarray
        ``x``, one entry per constrained node.

    Examples
    --------
    >>> import numpy as np, topo
    >>> from topo.symmetry import restore_balances
    >>> arch = topo.Architecture.mlp([2, 2, 1])
    >>> theta = arch.init(seed=0)
    >>> new, x = restore_balances(arch, theta, [1.0, -2.0])
    >>> np.allclose(topo.balance(arch, new), [1.0, -2.0])
    True
    >>> X = np.random.default_rng(0).standard_normal((4, 2))
    >>> np.allclose(topo.forward(arch, new, X), topo.forward(arch, theta, X))
    True
    """
    vec = arch.as_vector(theta)
    c = as_balance(arch, c)
    B = incidence_matrix(arch)
    q = edge_norms(arch, vec)
    scale = max(float(np.abs(c).max(initial=0.0)), float(q.max(initial=0.0)), 1e-300)
    x = np.zeros(arch.n_constrained)
    for _ in range(max_iter):
        s = B.T @ x
        w = q * np.exp(2 * s)
        grad = B @ w - c
        if np.max(np.abs(grad), initial=0.0) <= rtol * scale:
            break
        x = _newton_step(B, q, c, x, w, grad)
    else:
        raise FiberError(
            "the rescaling that restores the balances did not converge: θ has (nearly) floating "
            "clusters of zero weights, so its rescaling orbit misses these balances")
    s = B.T @ x
    return vec * np.repeat(np.exp(s), arch.edge_sizes), x


def _newton_step(B, q, c, x, w, grad):
    """One damped Newton step; near the minimum, where F is flat to rounding, a step
    that halves the gradient is accepted too."""
    with np.errstate(over="ignore", invalid="ignore"):  # a rejected trial step may overflow
        return _damped_newton(B, q, c, x, w, grad)


def _damped_newton(B, q, c, x, w, grad):
    H = 2 * (B @ sp.diags(w) @ B.T)
    H = H + sp.identity(H.shape[0]) * (1e-15 * float(np.abs(H.diagonal()).max(initial=1.0)))
    dx = -np.atleast_1d(spsolve(H.tocsc(), grad))
    f0 = 0.5 * w.sum() - c @ x
    g0 = float(np.abs(grad).max())
    step = 1.0
    while step > 1e-12:
        xn = x + step * dx
        wn = q * np.exp(2 * (B.T @ xn))
        if 0.5 * wn.sum() - c @ xn <= f0 + 1e-4 * step * (grad @ dx):
            return xn
        if float(np.abs(B @ wn - c).max()) <= 0.5 * g0:
            return xn
        step /= 2
    return x + step * dx


@dataclass(frozen=True)
class SymmetryStep:
    """One move of a certificate: flip the signs of ``flipped`` (non-frozen edges: the
    point stays in its component), apply the automorphism ``permutation``, rescale by
    ``exp(log_alpha)`` back onto the fiber.  ``before`` is the point after the flips,
    ``after`` the image; they compute the same function and have the same balances."""

    flipped: tuple
    permutation: dict
    log_alpha: np.ndarray = field(repr=False)
    before: np.ndarray = field(repr=False)
    after: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class SymmetryCertificate:
    """Answer of [`SymmetryClasses.same_class`][topo.symmetry.classes.SymmetryClasses.same_class].

    ``equivalent`` is True (``steps`` carry ``theta1`` to ``point``, in the component
    of ``theta2``), False (``reason`` says why no symmetry can) or None (the search
    was cut off: undetermined).
    """

    equivalent: bool | None
    reason: str
    steps: tuple = ()
    point: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "equivalent": self.equivalent,
            "reason": self.reason,
            "steps": [{"flipped": [[str(a) for a in e] for e in s.flipped],
                       "permutation": {str(k): str(v) for k, v in s.permutation.items()},
                       "log_alpha": s.log_alpha.tolist()} for s in self.steps],
        }
