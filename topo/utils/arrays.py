"""Array helpers for the per-edge arrays of large architectures: passes by chunks of `STEP`
entries, so that their temporaries stay ``O(STEP)`` however many edges there are."""

from __future__ import annotations

import numpy as np

__all__ = ["STEP", "bincount", "chunks", "flatnonzero_by_chunks", "unique", "unique_inverse"]

#: Entries per chunk of every pass over the edges.
STEP = 1 << 21


def chunks(n: int):
    """The slices ``[i, i + STEP)`` that cover ``range(n)``.

    Examples
    --------
    >>> [(s.start, s.stop) for s in chunks(5)] == [(0, 5)]
    True
    """
    step = STEP
    return (slice(i, min(i + step, n)) for i in range(0, n, step))


def flatnonzero_by_chunks(n: int, mask, dtype=np.int64) -> np.ndarray:
    """The indices ``i < n`` where ``mask(s)`` (a boolean array for the slice ``s`` of `chunks`) is
    True, as ``dtype`` (no boolean or index temporary of length ``n``).

    Examples
    --------
    >>> x = np.array([3, 0, 5, 0, 7])
    >>> flatnonzero_by_chunks(len(x), lambda s: x[s] > 0).tolist()
    [0, 2, 4]
    """
    parts = [np.zeros(0, dtype=dtype)] + [(np.flatnonzero(mask(s)) + s.start).astype(dtype, copy=False)
                                          for s in chunks(n)]
    return np.concatenate(parts)


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
    for s in chunks(n):
        out += np.bincount(x[s], weights=None if weights is None else weights[s], minlength=size)
    return out


def unique(a) -> np.ndarray:
    """The sorted distinct values of an integer array, ``np.unique(a)`` by one sort.

    numpy >= 2.3 finds ``np.unique``'s values of an integer array with a hash set, which is
    ~20x slower than a sort when there are millions of distinct values (18 s against 0.95 s
    for 10 M random int64 on numpy 2.4): per-edge keys are such arrays.

    Examples
    --------
    >>> unique(np.array([5, 1, 5, 3, 1])).tolist()
    [1, 3, 5]
    """
    s = np.sort(np.asarray(a).reshape(-1), kind="stable")  # a merge sort joins ascending runs (per-layer keys)
    if len(s) < 2:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


#: `unique_inverse` counts values directly when they lie in ``[0, SMALL_RANGE * len(a) + 1024)``.
SMALL_RANGE = 4


def unique_inverse(a) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_inverse=True)`` for a 1-d integer array: ``(values, inverse)`` with
    ``values[inverse] == a``.  Non-negative values in a range of at most ``SMALL_RANGE·len(a)``
    are ranked by a presence table (one pass, no sort): colour codes of millions of edges with a
    handful of distinct values cost a pass, not an argsort.

    Examples
    --------
    >>> values, inverse = unique_inverse(np.array([7, 2, 7, 9]))
    >>> values.tolist(), inverse.tolist()
    ([2, 7, 9], [1, 0, 1, 2])
    """
    a = np.asarray(a).reshape(-1)
    if len(a) and a.dtype.kind in "iu":
        low, top = int(a.min()), int(a.max())
        if low >= 0 and top < SMALL_RANGE * len(a) + 1024:
            present = np.zeros(top + 1, dtype=bool)
            present[a] = True
            rank = np.cumsum(present, dtype=np.int64) - 1
            return np.flatnonzero(present).astype(a.dtype, copy=False), rank[a]
    values, inverse = np.unique(a, return_inverse=True)
    return values, inverse.reshape(-1).astype(np.int64, copy=False)
