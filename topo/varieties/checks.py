"""Deciding whether given outputs can come from a network with a given activation pattern.

[`check_outputs`][topo.varieties.checks.check_outputs] answers with one of three statuses:

* ``"inconsistent"``: a necessary rank condition of
  [`topo.output_invariants`][topo.varieties.patterns.output_invariants] fails — ``Y`` is certainly not in the pattern
  variety ``V_A``;
* ``"consistent"``: ``Y`` is in ``V_A``, because ``V_A`` fills the output space (its
  exact dimension equals ``n_L · m``), or because the listed conditions are known to cut
  out ``V_A`` (one region: they define an irreducible determinantal variety of the
  dimension of ``V_A``, which contains ``V_A``, hence equals it), or because parameters
  ``θ`` with ``φ_A(θ) = Y`` were found (the ``witness``);
* ``"undetermined"``: every listed condition holds, ``V_A`` is smaller than the output
  space, and neither argument applies — the conditions known do not decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo.errors import ParameterError
from topo.graph.architecture import ARCH, Architecture
from topo.graph.forward import check_inputs
from topo.graph.nodes import OUTPUT
from topo.utils.validation import BOOLEAN, SEED, TOLERANCE, real_vector, validate_params
from topo.varieties.patterns import (
    batch_values,
    output_invariants,
    pattern_gates,
    pattern_jacobian,
    pattern_units,
    pattern_variety,
)

__all__ = ["OutputCheck", "check_outputs"]


@dataclass(frozen=True)
class OutputCheck:
    """Result of [`check_outputs`][topo.varieties.checks.check_outputs].

    Attributes
    ----------
    consistent : bool
        ``status == "consistent"``.
    violated : Invariant or None
        The first condition that fails (status ``"inconsistent"``).
    checked : list of Invariant
    singular_values : dict
        Singular values of each condition's matrix.
    status : {"consistent", "inconsistent", "undetermined"}
    reason : str
        Why: the failing condition, or the argument for consistency, or what is missing.
    dimension, ambient_dimension : int or None
        ``dim V_A`` (exact) and ``n_L · m``, when computed.
    witness : ndarray or None
        Parameters with ``φ_A(θ) = Y`` (gates forced to the pattern), when found.
    """

    consistent: bool
    violated: Any
    checked: list
    singular_values: dict = field(repr=False, default_factory=dict)
    status: str = "consistent"
    reason: str = ""
    dimension: int | None = None
    ambient_dimension: int | None = None
    witness: np.ndarray | None = field(default=None, repr=False)


def _failing(invs, Xa, Ya, tol):
    svals = {}
    scale = float(np.abs(Ya).max(initial=0.0))
    for inv in invs:
        M = inv.matrix(Xa, Ya)
        s = np.linalg.svd(M, compute_uv=False) if M.size else np.zeros(0)
        svals[inv.name] = s
        ref = max(float(s[0]) if len(s) else 0.0, scale)
        if len(s) > inv.bound and s[inv.bound] > tol * ref:
            return inv, svals
    return None, svals


def _one_region_complete(arch, Xa, A, invs, dimension) -> bool:
    """One region: the listed conditions define {Y = M X + b, rank M <= r}, irreducible;
    when the data are in general position its dimension is n_L + r'(k + n_L - r')."""
    if len({tuple(row) for row in A.tolist()}) != 1:
        return False
    m, n0, nL = len(Xa), len(arch.inputs), len(arch.outputs)
    k = np.linalg.matrix_rank(np.hstack([Xa, np.ones((m, 1))])) - 1
    if k != min(n0, m - 1):
        return False
    ranks = [inv.bound for inv in invs if inv.kind == "rank"]
    r = min([nL, k] + ranks)
    return nL + r * (k + nL - r) == dimension


def _fit_witness(arch, Xa, A, Ya, *, seed, tries: int = 6, rtol: float = 1e-9, max_iter: int = 300):
    """Parameters θ with φ_A(θ) = Y by Levenberg-Marquardt from a few random starts."""

    gates = pattern_gates(arch, A, pattern_units(arch)).astype(np.float64)
    outs = np.flatnonzero(arch.role_codes == OUTPUT)
    target = Ya.ravel()
    eye = np.eye(arch.n_params)

    def residual(th):
        _, H = batch_values(arch, th[None], Xa, gates=gates)
        return H[0][:, outs].ravel() - target

    rng = np.random.default_rng(seed)
    bound = rtol * max(1.0, float(np.abs(Ya).max(initial=0.0)))
    for _ in range(tries):
        th = arch.init("normal", seed=rng)
        r, mu = residual(th), 1e-3
        for _ in range(max_iter):
            if np.max(np.abs(r), initial=0.0) <= bound:
                return th
            J = pattern_jacobian(arch, Xa, th, gates, None)
            step = np.linalg.lstsq(np.vstack([J, np.sqrt(mu) * eye]), np.concatenate([-r, np.zeros(len(th))]),
                                   rcond=None)[0]
            r_new = residual(th + step)
            if r_new @ r_new < r @ r:
                th, r, mu = th + step, r_new, max(mu / 3, 1e-12)
            else:
                mu *= 4
                if mu > 1e8:
                    break
    return None


@validate_params(arch=ARCH, tol=TOLERANCE, seed=SEED, fit=BOOLEAN)
def check_outputs(
    arch: Architecture, X: Any, pattern: Any, Y: Any, *, tol: float = 1e-8, seed: int | None = 0, fit: bool = True,
) -> OutputCheck:
    """Whether outputs ``Y`` can come from ``arch`` with ``pattern`` on ``X``.

    Parameters
    ----------
    arch, X, pattern
        As for [`topo.output_invariants`][topo.varieties.patterns.output_invariants].
    Y : array_like (n_points, n_outputs)
    tol : float
        A condition "rank <= b" fails when the (b+1)-th singular value exceeds ``tol``
        times the largest singular value (or the largest |Y|, if larger).
    seed : int
        Seeds the exact dimension computation and the witness search.
    fit : bool
        Search for parameters reproducing ``Y`` when the conditions do not decide.

    Returns
    -------
    OutputCheck
        ``status`` ``"inconsistent"`` (a condition fails), ``"consistent"`` (with the
        argument in ``reason``) or ``"undetermined"`` — never a guess.

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 1, 2])
    >>> X = np.random.default_rng(0).standard_normal((5, 2))
    >>> A = np.ones((5, 1), bool)
    >>> theta = arch.init(seed=0); theta[:3] = [1.0, 1.0, 50.0]   # the unit is active everywhere
    >>> res = topo.check_outputs(arch, X, A, topo.forward(arch, theta, X))
    >>> res.status, res.reason
    ('consistent', 'the listed conditions cut out the pattern variety (irreducible, same dimension 5)')
    >>> res = topo.check_outputs(arch, X, A, np.random.default_rng(1).standard_normal((5, 2)))
    >>> res.status, res.violated.kind
    ('inconsistent', 'affine')

    A deep network on a two-region pattern: no condition is known, so random outputs are
    undetermined, not "consistent":

    >>> deep = topo.Architecture.mlp([1, 2, 2, 1])
    >>> X3 = np.array([[-2.0], [-1.0], [1.0], [2.0], [3.0], [4.0]])
    >>> A3 = np.array([[1, 0, 1, 0]] * 3 + [[1, 1, 1, 1]] * 3, dtype=bool)
    >>> topo.check_outputs(deep, X3, A3, np.random.default_rng(2).standard_normal(6)).status
    'undetermined'
    """

    Xa = check_inputs(arch, X)
    Ya = real_vector(Y, "Y")
    nL = len(arch.outputs)
    if Ya.ndim == 1 and nL == 1:
        Ya = Ya[:, None]
    if Ya.shape != (len(Xa), nL):
        raise ParameterError(f"Y has shape {Ya.shape}, expected (n_points, n_outputs) = {(len(Xa), nL)}")
    invs = output_invariants(arch, Xa, pattern)
    A = np.asarray(pattern, dtype=bool)
    bad, svals = _failing(invs, Xa, Ya, tol)
    if bad is not None:
        return OutputCheck(False, bad, invs, svals, "inconsistent", f"violates: {bad.name}")
    V = pattern_variety(arch, Xa, A, seed=seed, search=0)
    dims = dict(dimension=V.dimension, ambient_dimension=V.ambient_dimension)
    if V.dimension >= V.ambient_dimension:
        return OutputCheck(True, None, invs, svals, "consistent",
                           f"the pattern variety fills the output space (dimension {V.dimension})", **dims)
    if _one_region_complete(arch, Xa, A, invs, V.dimension):
        return OutputCheck(True, None, invs, svals, "consistent",
                           f"the listed conditions cut out the pattern variety (irreducible, same dimension "
                           f"{V.dimension})", **dims)
    witness = _fit_witness(arch, Xa, A, Ya, seed=seed) if fit else None
    if witness is not None:
        return OutputCheck(True, None, invs, svals, "consistent",
                           "parameters reproducing Y with the pattern's gates were found (witness)",
                           witness=witness, **dims)
    what = "no condition is known" if not invs else "the listed conditions are not known to cut it out"
    return OutputCheck(False, None, invs, svals, "undetermined",
                       f"every listed condition holds, but the pattern variety has dimension {V.dimension} < "
                       f"{V.ambient_dimension} and {what}; no parameters reproducing Y were found", **dims)
