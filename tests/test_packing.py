"""sim.packing: yearly records in a smaller form, given back bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.packing import Packed, pack, unpack


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert b.dtype == a.dtype and b.shape == a.shape
    if a.dtype.kind == "O":
        assert all(x is y for x, y in zip(a, b))  # the same string objects
    else:
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("a", [
    np.arange(3000, dtype=np.int64),
    np.array([2008, 2009, 2035] * 50, dtype=np.int64),
    np.array([-1, 0, 5] * 50, dtype=np.int64),
    np.array([2**40, 1], dtype=np.int64),
    np.array([0.0, 1.0, -0.0, np.nan] * 40),
    np.array([np.log(a + 1.0) for a in range(40)] * 10),
    np.random.default_rng(0).normal(size=500),
    np.array(["BJ", "SH", "GD"] * 40, dtype=object),
    np.array(["BJ", None, "GD"], dtype=object),
    np.array([True, False]),
    np.zeros(0),
])
def test_round_trip_is_exact(a):
    _same(a, unpack(pack(a)))


def test_small_columns_are_packed_and_continuous_ones_kept():
    assert isinstance(pack(np.array([2008, 2009] * 10, dtype=np.int64)), Packed)
    assert isinstance(pack(np.array(["BJ", "SH"] * 10, dtype=object)), Packed)
    assert isinstance(pack(np.array([0.25, 0.5, 1.0] * 20)), Packed)
    x = np.random.default_rng(1).normal(size=200)
    assert pack(x) is x


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.float64, np.int64, np.int32, np.uint16]).flatmap(
    lambda t: hnp.arrays(t, st.integers(1, 300), elements=hnp.from_dtype(np.dtype(t)))))
def test_round_trip_of_any_array(a):
    _same(a, unpack(pack(a)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, 0.1, np.nan, 1e300, 5e-324]), min_size=1, max_size=400))
def test_round_trip_of_few_distinct_floats(values):
    a = np.array(values, dtype=np.float64)
    _same(a, unpack(pack(a)))
