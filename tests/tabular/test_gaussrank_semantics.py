"""The documented semantics of GaussRankScaler on NumPy input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erfinv, ndtri

from graft.tabular import GaussRankInputError, GaussRankScaler


def seed_recipe(data: np.ndarray, epsilon: float = 1e-6) -> np.ndarray:
    """The RAPIDS blog's forward transform (argsort of argsort, scale, clip, erfinv)."""
    ranks = data.argsort().argsort()
    scaled = (ranks / ranks.max() - 0.5) * 2
    return erfinv(np.clip(scaled, -1 + epsilon, 1 - epsilon))


def test_output_is_standard_normal_with_plotting_positions(rng):
    x = rng.lognormal(size=(100_000, 1))
    z = GaussRankScaler().fit_transform(x)
    n = x.shape[0]
    expected = ndtri((np.arange(n) + 0.5) / n)
    np.testing.assert_allclose(np.sort(z.ravel()), expected, rtol=1e-11, atol=1e-15)
    assert abs(z.mean()) < 1e-12
    assert 0.9995 < z.std() < 1.0
    # each row keeps its rank: the order of the data is the order of the scores
    assert np.array_equal(np.argsort(z.ravel()), np.argsort(x.ravel()))


def test_seed_flavor_reproduces_the_blog_recipe(rng):
    x = rng.normal(size=(1000, 1))
    z = GaussRankScaler(flavor="seed").fit_transform(x)
    np.testing.assert_allclose(z.ravel(), seed_recipe(x.ravel()), rtol=0, atol=1e-12)
    assert abs(z.std() - 1 / np.sqrt(2)) < 0.02


def test_seed_clip_merges_extreme_ranks_but_exact_keeps_them(rng):
    x = rng.normal(size=(5000, 1))  # more rows than 2 / epsilon
    seed = GaussRankScaler(flavor="seed", epsilon=1e-3)
    z_seed = seed.fit_transform(x)
    assert np.sum(z_seed == z_seed.max()) > 1
    assert np.abs(seed.inverse_transform(z_seed) - x).max() > 1e-3
    exact = GaussRankScaler()
    z = exact.fit_transform(x)
    assert np.unique(z).size == x.shape[0]
    np.testing.assert_array_equal(exact.inverse_transform(z), x)


def test_transform_maps_new_data_through_the_fitted_table(rng):
    train = rng.lognormal(size=(500, 1))
    scaler = GaussRankScaler()
    z_train = scaler.fit_transform(train)
    # a single new value is not re-ranked on its own (that would give 0)
    assert scaler.transform(train[[train.argmax()]])[0, 0] == z_train.max()
    np.testing.assert_allclose(scaler.transform(train[:50]), z_train[:50], atol=1e-12)
    # half way (in value) between two neighbours is half way in rank
    xs = np.sort(train.ravel())
    middle = (xs[10] + xs[11]) / 2
    expected = ndtri((10.5 + 0.5) / train.shape[0])
    assert scaler.transform([[middle]])[0, 0] == pytest.approx(expected, abs=1e-12)


def test_values_outside_the_training_range_clip_to_the_extreme_scores(rng):
    train = rng.normal(size=(300, 1))
    scaler = GaussRankScaler()
    z = scaler.fit_transform(train)
    out = scaler.transform([[train.min() - 5], [train.max() + 5]]).ravel()
    np.testing.assert_array_equal(out, [z.min(), z.max()])
    np.testing.assert_array_equal(scaler.transform([[-np.inf], [np.inf]]).ravel(), out)
    back = scaler.inverse_transform([[-10.0], [10.0], [-np.inf], [np.inf]]).ravel()
    np.testing.assert_array_equal(back, [train.min(), train.max(), train.min(), train.max()])


def test_extrapolate_continues_the_end_segments_and_inverts(rng):
    train = rng.normal(size=(300, 1))
    scaler = GaussRankScaler(extrapolate=True)
    z = scaler.fit_transform(train)
    xs = np.sort(train.ravel())
    zs = np.sort(z.ravel())
    beyond = np.array([[xs[0] - 1.0], [xs[0] - 2.0], [xs[-1] + 1.0], [xs[-1] + 2.0]])
    out = scaler.transform(beyond).ravel()
    lo_slope = (zs[1] - zs[0]) / (xs[1] - xs[0])
    hi_slope = (zs[-1] - zs[-2]) / (xs[-1] - xs[-2])
    expected = [zs[0] - lo_slope, zs[0] - 2 * lo_slope, zs[-1] + hi_slope, zs[-1] + 2 * hi_slope]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(out[:, None]), beyond, rtol=1e-12)
    # continuous at the boundary and the training rows are unaffected
    np.testing.assert_allclose(scaler.transform([[xs[-1]]]), [[zs[-1]]], rtol=1e-12)
    np.testing.assert_array_equal(scaler.inverse_transform(z), train)


def test_ties_share_the_score_of_their_mean_rank():
    x = np.array([[3.0], [1.0], [2.0], [2.0], [2.0], [5.0]])
    scaler = GaussRankScaler()
    z = scaler.fit_transform(x).ravel()
    n = 6
    expected_tie = ndtri((2.0 + 0.5) / n)  # ranks 1, 2, 3 -> mean 2
    np.testing.assert_allclose(z[2:5], expected_tie, rtol=1e-15)
    assert scaler.transform([[2.0]])[0, 0] == pytest.approx(expected_tie, abs=1e-15)
    np.testing.assert_array_equal(scaler.inverse_transform(z[:, None]), x)


def test_nan_is_ignored_in_fit_and_passes_through():
    with_nan = np.array([[4.0], [np.nan], [1.0], [3.0], [np.nan], [2.0]])
    scaler = GaussRankScaler()
    z = scaler.fit_transform(with_nan).ravel()
    assert np.isnan(z[[1, 4]]).all()
    clean = GaussRankScaler().fit_transform(with_nan[~np.isnan(with_nan)][:, None]).ravel()
    np.testing.assert_array_equal(z[[0, 2, 3, 5]], clean)
    assert scaler.table(0).n == 4
    assert np.isnan(scaler.transform([[np.nan]])[0, 0])
    back = scaler.inverse_transform(np.array([[np.nan], [0.0]]))
    assert np.isnan(back[0, 0]) and not np.isnan(back[1, 0])


def test_constant_column_maps_to_zero_and_back():
    x = np.array([[7.5, 1.0], [7.5, 2.0], [np.nan, 3.0], [7.5, 4.0]])
    scaler = GaussRankScaler(extrapolate=True)
    z = scaler.fit_transform(x)
    np.testing.assert_array_equal(z[[0, 1, 3], 0], 0.0)
    assert np.isnan(z[2, 0])
    np.testing.assert_array_equal(scaler.transform([[1.0, 1.0], [99.0, 1.0]])[:, 0], 0.0)
    np.testing.assert_array_equal(scaler.inverse_transform([[-3.0, 0.0], [3.0, 0.0]])[:, 0], 7.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_recovers_training_values(rng, dtype):
    x = rng.lognormal(size=(20_000, 2)).astype(dtype)
    x[:, 1] = np.round(x[:, 1], 1)  # many ties
    x[::97, 0] = np.nan
    scaler = GaussRankScaler()
    z = scaler.fit_transform(x)
    back = scaler.inverse_transform(z)
    assert z.dtype == dtype and back.dtype == dtype
    if dtype == np.float64:
        np.testing.assert_array_equal(back, x)  # bit for bit
    else:  # within the resolution of float32 scores: a few float32 ulps
        np.testing.assert_allclose(back, x, rtol=2e-6)


def test_round_trip_is_exact_beyond_the_seed_epsilon_size(rng):
    x = rng.normal(size=(1_000_000, 1))  # the seed's 1e-6 clip would merge the extremes
    scaler = GaussRankScaler()
    np.testing.assert_array_equal(scaler.inverse_transform(scaler.fit_transform(x)), x)


def test_single_row_fits_to_zero():
    scaler = GaussRankScaler()
    assert scaler.fit_transform([[4.0]])[0, 0] == 0.0
    assert scaler.inverse_transform([[1.5]])[0, 0] == 4.0


def test_n_quantiles_bounds_the_table(rng):
    x = rng.lognormal(size=(50_000, 1))
    exact = GaussRankScaler().fit(x)
    small = GaussRankScaler(n_quantiles=1000).fit(x)
    table = small.table(0)
    assert table.m == 1000 and table.n == 50_000
    assert table.knots[0] == x.min() and table.knots[-1] == x.max()
    new = rng.lognormal(size=(5000, 1))
    bulk = (new > np.quantile(x, 0.01)) & (new < np.quantile(x, 0.99))  # tails are coarser
    difference = np.abs(small.transform(new) - exact.transform(new))
    assert np.median(difference) < 1e-3 and difference[bulk].max() < 0.02
    back = small.inverse_transform(exact.transform(x))
    in_bulk = (x > np.quantile(x, 0.01)) & (x < np.quantile(x, 0.99))
    assert np.abs(back - x)[in_bulk].max() < 0.01 * (x.max() - x.min())
    # with fewer rows than n_quantiles the table stays exact
    few = GaussRankScaler(n_quantiles=1000).fit(x[:500])
    assert few.table(0).m == 500


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"flavor": "blog"}, "flavor"),
        ({"n_quantiles": 1}, "n_quantiles"),
        ({"n_quantiles": 2.5}, "n_quantiles"),
        ({"epsilon": 0.0}, "epsilon"),
    ],
)
def test_invalid_parameters_raise_at_fit(params, match):
    with pytest.raises(GaussRankInputError, match=match):
        GaussRankScaler(**params).fit([[1.0], [2.0]])


def test_bad_data_raises_clear_errors():
    with pytest.raises(GaussRankInputError, match="no values"):
        GaussRankScaler().fit([[np.nan], [np.nan]])
    with pytest.raises(ValueError, match="infinity"):
        GaussRankScaler().fit([[1.0], [np.inf]])
    with pytest.raises(ValueError, match="0 sample"):
        GaussRankScaler().fit(np.empty((0, 2)))


def test_docstring_example_is_true():
    import doctest

    import graft.tabular.scaler as module

    assert doctest.testmod(module).failed == 0
