"""Independent oracles for topo.experiments (never imported by topo itself)."""

from __future__ import annotations

import numpy as np
from scipy import integrate, stats


def pathological_probability_quad(m: int, var_in: float, var_out: float) -> float:
    """P(var_in·χ²_m < var_out·χ²_1) by numerical integration over the output weight a ~ N(0, var_out).

    P = ∫ φ(a) · P(χ²_m < a² / var_in) da, integrated on a half-line (symmetry).
    """
    sd = np.sqrt(var_out)
    f = lambda a: 2 * stats.norm.pdf(a, scale=sd) * stats.chi2.cdf(a * a / var_in, m)  # noqa: E731
    val, err = integrate.quad(f, 0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=400)
    assert err < 1e-9
    return float(val)


def nuclear_norm_by_jacobian(balance_fn, theta: np.ndarray, h: float = 1e-6) -> float:
    """Nuclear norm of ½·(Jacobian of the balance map), the Jacobian by central differences."""
    cols = []
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        cols.append((balance_fn(theta + e) - balance_fn(theta - e)) / (2 * h))
    J = np.stack(cols, axis=1)
    return float(np.linalg.svd(0.5 * J, compute_uv=False).sum())
