"""``topo.fiber.decompose.grouped_by_row`` (scipy's COO -> CSR conversion behind the quotient graph) and
its numpy fallback by chunks against numpy's stable argsort, with chunks smaller than the input so that runs cross chunk borders."""

import numpy as np
import pytest

import topo.fiber.decompose as decompose
from topo.utils import arrays


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 21])
@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("way", ["grouped_by_row", "_grouped_by_chunks"])
def test_grouped_by_row_is_a_stable_sort_of_the_valid_entries(seed, chunk, way, monkeypatch):
    monkeypatch.setattr(arrays, "STEP", chunk)
    rng = np.random.default_rng(4040 + seed)
    m, n = int(rng.integers(1, 12)), int(rng.integers(0, 60))
    dtypes = [np.int32, np.int64]
    key = rng.integers(-1, m, n).astype(dtypes[seed % 2])
    val = rng.integers(-1, 50, n).astype(dtypes[seed // 2 % 2])
    ptr, out = getattr(decompose, way)(key, val, m)
    ok = (key >= 0) & (val >= 0)
    order = np.argsort(key[ok], kind="stable")
    assert out.tolist() == val[ok][order].tolist() and out.dtype == val.dtype
    assert ptr.tolist() == [0] + np.cumsum(np.bincount(key[ok], minlength=m)).tolist() and ptr.dtype == np.int64


def test_a_changed_private_scipy_function_falls_back_to_numpy(monkeypatch):
    """``coo_tocsr`` is private to scipy: if its signature changes, the numpy version gives the result."""
    import scipy.sparse._sparsetools as st

    calls = []

    def changed(*args):
        calls.append(len(args))
        raise TypeError("coo_tocsr() takes 10 arguments")

    monkeypatch.setattr(st, "coo_tocsr", changed)
    key, val = np.array([2, 0, -1, 2, 0]), np.array([5, 6, 7, 8, -1])
    ptr, out = decompose.grouped_by_row(key, val, 3)
    assert calls == [9] and ptr.tolist() == [0, 1, 1, 3] and out.tolist() == [6, 5, 8]
