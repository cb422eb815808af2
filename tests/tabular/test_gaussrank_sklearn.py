"""scikit-learn compatibility: the estimator checks, pipelines, feature names, set_output."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from graft.tabular import GaussRankScaler


@parametrize_with_checks([GaussRankScaler(), GaussRankScaler(flavor="seed", extrapolate=True)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_pipeline_and_column_transformer(rng):
    frame = pd.DataFrame({"skewed": rng.lognormal(size=200), "plain": rng.normal(size=200)})
    target = np.log(frame["skewed"]) + 0.1 * rng.normal(size=200)
    columns = ColumnTransformer([("gauss", GaussRankScaler(), ["skewed"]),
                                 ("std", StandardScaler(), ["plain"])])
    model = make_pipeline(columns, Ridge(alpha=1e-3)).fit(frame, target)
    assert model.score(frame, target) > 0.9
    assert list(columns.get_feature_names_out()) == ["gauss__skewed", "std__plain"]


def test_feature_names_params_and_set_output(rng):
    frame = pd.DataFrame({"a": rng.normal(size=20), "b": rng.normal(size=20)})
    scaler = GaussRankScaler(n_quantiles=10).fit(frame)
    assert list(scaler.get_feature_names_out()) == ["a", "b"]
    assert clone(scaler).get_params() == {"epsilon": 1e-6, "extrapolate": False, "flavor": "exact",
                                          "group_by": None, "n_quantiles": 10}
    as_frame = GaussRankScaler().set_output(transform="pandas").fit_transform(frame.to_numpy())
    assert list(as_frame.columns) == ["x0", "x1"]
