"""The packed-key argsort must agree with np.sort / np.argsort on every kind of float."""

from __future__ import annotations

import numpy as np
import pytest

from graft.tabular import fastsort


def _check(values: np.ndarray) -> None:
    sorted_values, order = fastsort.sort_with_index(values)
    np.testing.assert_array_equal(sorted_values, np.sort(values))
    np.testing.assert_array_equal(values[order], sorted_values)
    assert np.array_equal(np.sort(order), np.arange(values.size))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sort_with_index_matches_numpy(rng, dtype):
    specials = np.array([0.0, -0.0, 1e-40, -1e-40, np.inf, -np.inf, 3.0, 3.0, -2.5], dtype=dtype)
    _check(np.concatenate([rng.normal(scale=1e3, size=20_000).astype(dtype), specials]))
    _check(np.round(rng.normal(size=5000), 1).astype(dtype))  # heavy ties
    _check(np.array([2.0], dtype=dtype))
    _check(np.array([], dtype=dtype))


def test_float64_keys_that_collide_after_truncation_are_resorted(rng):
    base = 1.0 + np.arange(300) * 1e-3
    # neighbours one ulp apart share every bit kept in the truncated key
    values = np.concatenate([base, np.nextafter(base, 2), np.nextafter(base, 0)])
    _check(rng.permutation(values))


def test_group_order_makes_groups_contiguous(rng):
    codes = rng.integers(0, 7, size=10_000)
    order, bounds = fastsort.group_order(codes, 7)
    assert bounds[0] == 0 and bounds[-1] == codes.size
    for g in range(7):
        assert (codes[order[bounds[g]:bounds[g + 1]]] == g).all()
