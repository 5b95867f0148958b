"""prunability_summary (one sort) against the obvious numpy reductions and prunability_histogram."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from topo.nn.monitor_records import PRUNABILITY_BINS, prunability_histogram, prunability_summary

values = st.one_of(st.floats(0, 1e6), st.sampled_from([0.0, 1e-8, 1e4, 1e-3, PRUNABILITY_BINS[7], math.inf,
                                                       math.nan]))


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, st.integers(0, 60), elements=values),
       st.sampled_from([1e-3, 1e-8, 0.0, 10.0, float(PRUNABILITY_BINS[20])]))
def test_the_summary_is_min_median_count_and_histogram(d, tol):
    mn, med, collapsed, hist = prunability_summary(d, tol)
    assert collapsed == int((d < tol).sum())
    assert hist == prunability_histogram(d) and sum(hist) == len(d)
    if not len(d):
        assert mn is None and med is None
        return
    if np.isnan(d).any():
        assert math.isnan(mn) and math.isnan(med)
        return
    assert mn == d.min()
    assert med == pytest.approx(float(np.median(d)), rel=1e-15, abs=0)
