"""``topo.fiber.balance.vector_norm`` against Python's ``math.hypot`` (exact to an ulp, overflow-free)
on vectors spanning the whole float range, chunked and not."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from topo.fiber.balance import vector_norm

BIG = float(np.finfo(np.float64).max)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 40), st.integers(-1070, 1020), st.integers(0, 60),
       st.sampled_from([1, 3, 1 << 20]))
def test_vector_norm_matches_hypot(seed, n, exponent, spread, chunk):
    rng = np.random.default_rng(seed)
    vec = rng.standard_normal(n) * np.ldexp(1.0, exponent) * np.ldexp(1.0, -rng.integers(0, spread + 1, n))
    try:
        expected = math.hypot(*vec.tolist())
    except OverflowError:
        expected = math.inf
    got = vector_norm(vec, chunk=chunk)
    if expected > BIG:
        assert got == BIG
    else:
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=0.0), (got, expected)


def test_vector_norm_of_empty_zero_infinite_and_2d_input():
    assert vector_norm(np.array([1.0, np.inf])) == BIG
    assert vector_norm(np.zeros(0)) == 0.0 and vector_norm(np.zeros(5)) == 0.0
    assert vector_norm(np.array([[3.0], [4.0]])) == 5.0
