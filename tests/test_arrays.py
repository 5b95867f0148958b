"""topo.utils.arrays.bincount (chunked, for read-only edge arrays) against numpy's, and the
balances through it with tiny chunks against the hand-computed class balances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topo
from tests.oracles import class_balances, constrained_classes
from tests.oracles_classes import random_residual_dag, random_weights
from topo.utils import arrays


@pytest.mark.parametrize("step", [1, 3, 1 << 21])
@pytest.mark.parametrize("seed", range(20))
def test_bincount_by_chunks_is_numpys(seed, step, monkeypatch):
    monkeypatch.setattr(arrays, "STEP", step)
    rng = np.random.default_rng(1300 + seed)
    n = int(rng.integers(1, 200))
    x = rng.integers(0, int(rng.integers(1, 50)), size=n)
    x.flags.writeable = False
    w = rng.normal(size=n)
    minlength = int(rng.integers(0, 60))
    got = arrays.bincount(x, minlength=minlength)
    assert got.dtype == np.bincount(x).dtype and got.tolist() == np.bincount(x, minlength=minlength).tolist()
    np.testing.assert_allclose(arrays.bincount(x, weights=w, minlength=minlength),
                               np.bincount(x, weights=w, minlength=minlength), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("step", [1, 4, 1 << 21])
@pytest.mark.parametrize("seed", range(10))
def test_flatnonzero_by_chunks_is_numpys(seed, step, monkeypatch):
    monkeypatch.setattr(arrays, "STEP", step)
    x = np.random.default_rng(1700 + seed).integers(0, 3, size=int(seed * 7))
    got = arrays.flatnonzero_by_chunks(len(x), lambda s: x[s] == 1, np.int32)
    assert got.dtype == np.int32 and got.tolist() == np.flatnonzero(x == 1).tolist()


@pytest.mark.parametrize("seed", range(30))
def test_balances_by_tiny_chunks_are_the_class_balances(seed, monkeypatch):
    """Residual DAGs (classes with edges inside them, fixed edges): with two edges per chunk the
    balances still equal the oracle's sums by hand."""
    monkeypatch.setattr(arrays, "STEP", 2)
    rng = np.random.default_rng(9100 + seed)
    G = random_residual_dag(rng)
    theta = random_weights(rng, G)
    for e, w in theta.items():
        G.edges[e]["weight"] = w
    arch = topo.Architecture.from_networkx(G)
    vec = arch.parameters_from_networkx(G)
    q = {e: float(np.sum(np.square(w))) for e, w in theta.items()}
    expected = class_balances(G, q)
    got = dict(zip(arch.constrained, topo.balance(arch, vec)))
    assert len(got) == len(constrained_classes(G))
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-12, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.one_of(st.text(alphabet="ab._0123456789", max_size=8), st.integers(-20, 20)),
                      max_size=30))
def test_layer_keys_are_layer_key_of_each_name(names):
    """The vectorised layer names (numpy string functions) against the per-name function, and the
    layer ids in order of first appearance against a dictionary built name by name."""
    from topo.report.schema import layer_key, layer_keys

    assert layer_keys(names).tolist() == [layer_key(v) for v in names]
    if names and all(str(v) for v in names):
        arch = topo.Architecture.from_edges([(f"in{i}", v) for i, v in enumerate(dict.fromkeys(map(str, names)))])
        from topo.report.layers import _layer_ids

        ids: dict = {}
        expected = [ids.setdefault(layer_key(v), len(ids)) for v in arch.nodes]
        lab, layer_names = _layer_ids(arch)
        assert lab.tolist() == expected and layer_names == list(ids)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(-2**40, 2**40), max_size=60),
       dtype=st.sampled_from([np.int64, np.int32, np.uint16]))
def test_unique_is_numpys(values, dtype):
    a = np.asarray(values, dtype=np.int64)
    a = (a % np.iinfo(dtype).max).astype(dtype) if dtype is not np.int64 else a
    got = arrays.unique(a)
    assert got.dtype == a.dtype
    assert got.tolist() == np.unique(a).tolist()


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(0, 3000), max_size=80), offset=st.sampled_from([0, -5, 2**33]),
       small=st.sampled_from([0, 4]))
def test_unique_inverse_is_numpys(values, offset, small):
    """Both paths (the presence table, and numpy's sort for negative, far or spread values, or
    for any value >= 1024 when SMALL_RANGE = 0) give numpy's values and an inverse that rebuilds
    the input."""
    saved, arrays.SMALL_RANGE = arrays.SMALL_RANGE, small
    try:
        _check_unique_inverse(np.asarray(values, dtype=np.int64) + offset)
    finally:
        arrays.SMALL_RANGE = saved


def _check_unique_inverse(a):
    got, inverse = arrays.unique_inverse(a)
    want, want_inverse = np.unique(a, return_inverse=True)
    assert got.tolist() == want.tolist()
    assert inverse.tolist() == want_inverse.tolist()
    assert got[inverse].tolist() == a.tolist() if len(a) else True


def test_unique_inverse_keeps_the_input_dtype_and_handles_empty():
    values, inverse = arrays.unique_inverse(np.zeros(0, dtype=np.int64))
    assert len(values) == 0 and len(inverse) == 0
    values, inverse = arrays.unique_inverse(np.array([3, 3, 1], dtype=np.int32))
    assert values.dtype == np.int32 and values.tolist() == [1, 3] and inverse.tolist() == [1, 1, 0]
