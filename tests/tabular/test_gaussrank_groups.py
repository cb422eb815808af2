"""Per-group tables: fit one table per key and route rows by key in every method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graft.tabular import GaussRankInputError, GaussRankScaler


@pytest.fixture
def frame(rng) -> pd.DataFrame:
    n = 3000
    kind = rng.choice(["1JHC", "2JHH", "3JHN"], size=n)
    offset = pd.Series(kind).map({"1JHC": 95.0, "2JHH": -10.0, "3JHN": 3.0}).to_numpy()
    return pd.DataFrame(
        {"target": offset + rng.gamma(2.0, 3.0, size=n), "type": kind,
         "feature": rng.normal(size=n).astype(np.float32)},
        index=pd.RangeIndex(100, 100 + n, name="row"),
    )


def test_group_by_fits_one_table_per_group(frame):
    scaler = GaussRankScaler(group_by="type")
    out = scaler.fit_transform(frame)
    assert sorted(scaler.groups_) == ["1JHC", "2JHH", "3JHN"]
    assert scaler.columns_ == ["target", "feature"]
    pd.testing.assert_series_equal(out["type"], frame["type"])  # the key passes through
    for _, rows in frame.groupby("type"):
        alone = GaussRankScaler().fit_transform(rows[["target", "feature"]])
        pd.testing.assert_frame_equal(out.loc[rows.index, ["target", "feature"]], alone)
    back = scaler.inverse_transform(out)
    pd.testing.assert_frame_equal(back[["target"]], frame[["target"]])
    np.testing.assert_allclose(back["feature"], frame["feature"], rtol=2e-6)


def test_transform_routes_new_rows_by_their_key(frame):
    scaler = GaussRankScaler(group_by="type").fit(frame.iloc[:2000])
    new = frame.iloc[2000:]
    out = scaler.transform(new)
    train = frame.iloc[:2000]
    for key, rows in new.groupby("type"):
        alone = GaussRankScaler().fit(train.loc[train["type"] == key, ["target"]])
        np.testing.assert_allclose(out.loc[rows.index, "target"],
                                   alone.transform(rows[["target"]])["target"], rtol=1e-12)


def test_groups_argument_with_arrays(frame):
    values = frame[["target"]].to_numpy()
    keys = frame["type"].to_numpy()
    scaler = GaussRankScaler()
    z = scaler.fit_transform(values, groups=keys)
    reference = GaussRankScaler(group_by="type").fit_transform(frame[["target", "type"]])
    np.testing.assert_array_equal(z[:, 0], reference["target"].to_numpy())
    np.testing.assert_array_equal(scaler.inverse_transform(z, groups=keys), values)
    column = scaler.inverse_transform_column(z[:, 0], 0, groups=keys)  # arrays: by position
    np.testing.assert_array_equal(column, values[:, 0])


def test_group_by_position_in_a_numpy_array(rng):
    keys = rng.integers(0, 4, size=1000)
    values = rng.exponential(size=1000) * (keys + 1)
    data = np.column_stack([keys, values])
    scaler = GaussRankScaler(group_by=0)
    z = scaler.fit_transform(data)
    np.testing.assert_array_equal(z[:, 0], keys)
    assert scaler.groups_ == [float(k) for k in pd.unique(keys)]
    np.testing.assert_array_equal(scaler.inverse_transform(z), data)


def test_unseen_group_is_a_clear_error(frame):
    scaler = GaussRankScaler(group_by="type").fit(frame)
    new = frame.iloc[:3].assign(type=["1JHC", "9XYZ", "8ABC"])
    with pytest.raises(GaussRankInputError, match=r"2 group\(s\) were not seen in fit: '9XYZ'"):
        scaler.transform(new)
    with pytest.raises(GaussRankInputError, match="not seen"):
        scaler.inverse_transform_column(np.zeros(3), "target", groups=new["type"])


def test_group_key_problems_are_errors(frame):
    with pytest.raises(GaussRankInputError, match="not in the data"):
        GaussRankScaler(group_by="kind").fit(frame)
    with pytest.raises(GaussRankInputError, match="no group key"):
        GaussRankScaler(group_by="type").fit(frame.assign(type=[None] + list(frame.type[1:])))
    with pytest.raises(GaussRankInputError, match="both group_by and groups"):
        GaussRankScaler(group_by="type").fit(frame, groups=frame["type"])
    grouped = GaussRankScaler(group_by="type").fit(frame)
    with pytest.raises(GaussRankInputError, match="no group keys"):
        grouped.inverse_transform_column(np.zeros(3), "target")
    plain = GaussRankScaler().fit(frame[["target"]])
    with pytest.raises(GaussRankInputError, match="fitted without groups"):
        plain.transform(frame[["target"]], groups=frame["type"])
    only_nan_in_b = frame.assign(target=np.where(frame["type"] == "2JHH", np.nan, frame["target"]))
    with pytest.raises(GaussRankInputError, match="column 'target' in group '2JHH' has no values"):
        GaussRankScaler(group_by="type").fit(only_nan_in_b)
    with pytest.raises(GaussRankInputError, match="entries but the data has"):
        GaussRankScaler().fit(frame[["target"]], groups=frame["type"][:10])
