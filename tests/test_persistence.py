"""Persistent homology: MST H0 against gudhi, Betti estimates on known shapes."""

import importlib

import gudhi
import numpy as np
import pytest

from topo.sampling.persistence import UndeterminedWarning, estimate_betti, mst_h0_deaths, persistence

tp = importlib.import_module("topo.sampling.persistence")


@pytest.mark.parametrize("seed", range(10))
def test_mst_h0_equals_gudhi_rips_h0(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((int(rng.integers(2, 300)), int(rng.integers(1, 6))))
    st = gudhi.RipsComplex(points=X).create_simplex_tree(max_dimension=1)
    st.compute_persistence()
    ref = np.sort([d for b, d in st.persistence_intervals_in_dimension(0) if np.isfinite(d)])
    np.testing.assert_allclose(mst_h0_deaths(X), ref, rtol=1e-9, atol=1e-12)


def test_prim_and_dense_mst_agree(monkeypatch):
    rng = np.random.default_rng(7)
    X = np.vstack([rng.standard_normal((300, 4)), rng.standard_normal((5, 4))[[0, 0, 1, 2, 2]]])  # duplicates
    dense = tp.minimum_spanning_tree(X)
    monkeypatch.setattr(tp, "DENSE_MST_MAX", 0)
    prim = tp.minimum_spanning_tree(X)
    np.testing.assert_allclose(np.sort(dense[2]), np.sort(prim[2]), rtol=1e-9, atol=1e-12)
    assert len(dense[0]) == len(X) - 1
    assert tp.cluster_sizes(len(X), dense, 1e-9).max() == 2


def test_circle_and_blobs():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 150)
    circle = np.c_[np.cos(t), np.sin(t)] + rng.normal(0, 0.02, (150, 2))
    dg = persistence(circle, max_dimension=1)
    assert estimate_betti(dg).betti == [1, 1]
    blobs = np.vstack([rng.normal(k * 3, 0.1, (80, 3)) for k in range(4)])
    assert estimate_betti(persistence(blobs, max_dimension=0)).betti == [4]
    # two scales of separation with comparable gaps: the reading says it cannot decide
    multi = np.vstack([rng.normal(0, 0.05, (60, 2)) + off for off in ([0, 0], [2, 0], [100, 0])])
    with pytest.warns(UndeterminedWarning, match="not backed by a clear gap"):
        est = estimate_betti(persistence(multi, max_dimension=0))
    assert est.confident == [False] and est.betti[0] in (2, 3)
    assert estimate_betti(persistence(multi, max_dimension=0), rule="lowest", warn=False).betti == [3]
    # a Rips threshold turns the long loop into an essential class, still counted
    capped = persistence(circle, max_dimension=1, threshold=0.8)
    assert np.isinf(capped[1][:, 1]).sum() == 1 and estimate_betti(capped).betti == [1, 1]
    gt = dg.to_gudhi()
    assert gt[0][0] == 0 and any(k == 1 for k, _ in gt)


def test_input_errors():
    with pytest.raises(ValueError, match="2-D"):
        mst_h0_deaths(np.zeros(5))
    with pytest.raises(ValueError, match="non-finite"):
        mst_h0_deaths([[0.0], [np.nan]])
    with pytest.raises(ValueError, match="rule"):
        estimate_betti(persistence(np.random.default_rng(0).random((10, 2)), max_dimension=0), rule="x")
