"""Array helpers for the per-edge arrays of large architectures."""

from __future__ import annotations

import numpy as np

__all__ = ["bincount"]

#: Entries per chunk of `bincount`.
STEP = 1 << 21


def bincount(x: np.ndarray, weights: np.ndarray | None = None, minlength: int = 0) -> np.ndarray:
    """``np.bincount(x, weights, minlength)`` by chunks of `STEP` entries.

    numpy copies a read-only ``x`` whole before counting (an `Architecture`'s edge arrays
    are read-only: 118 MiB for ResNet-50's 15.5 M edges); by chunks the copy stays
    ``O(STEP)``.  Counts are the same; weighted sums are added chunk by chunk (the same
    values up to rounding).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0, 2, 2, 5])
    >>> x.flags.writeable = False
    >>> bincount(x, minlength=7).tolist()
    [1, 0, 2, 0, 0, 1, 0]
    >>> bincount(x, weights=np.array([0.5, 1.0, 2.0, 4.0])).tolist()
    [0.5, 0.0, 3.0, 0.0, 0.0, 4.0]
    """
    n = len(x)
    if n <= STEP:
        return np.bincount(x, weights=weights, minlength=minlength)
    size = max(int(minlength), int(x.max()) + 1)
    out = np.zeros(size, dtype=np.float64 if weights is not None else np.int64)
    for i in range(0, n, STEP):
        s = slice(i, i + STEP)
        out += np.bincount(x[s], weights=None if weights is None else weights[s], minlength=size)
    return out
