"""``graft gaussrank fit|transform|inverse|plot`` through the root CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graft.cli import main


@pytest.fixture
def train_csv(tmp_path, rng):
    n = 600
    kind = rng.choice(["1JHC", "2JHH"], size=n)
    frame = pd.DataFrame({
        "type": kind,
        "target": np.where(kind == "1JHC", 90.0, -5.0) + rng.gamma(2.0, 4.0, size=n),
        "feature": rng.normal(size=n),
        "name": [f"m{i}" for i in range(n)],
    })
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path


def test_fit_transform_inverse_plot(tmp_path, train_csv):
    scaler = tmp_path / "scaler.npz"
    assert main(["gaussrank", "fit", "-i", str(train_csv), "--columns", "target",
                 "--group_by", "type", "-o", str(scaler)]) == 0
    gauss = tmp_path / "gauss.parquet"
    assert main(["gaussrank", "transform", "-s", str(scaler), "-i", str(train_csv),
                 "-o", str(gauss)]) == 0
    transformed = pd.read_parquet(gauss)
    original = pd.read_csv(train_csv)
    assert list(transformed.columns) == list(original.columns)
    pd.testing.assert_series_equal(transformed["feature"], original["feature"])
    for _, part in transformed.groupby("type"):
        assert abs(part["target"].mean()) < 0.01 and abs(part["target"].std() - 1) < 0.01
    predictions = transformed.rename(columns={"target": "prediction"})
    predictions.to_csv(tmp_path / "pred.csv", index=False)
    back = tmp_path / "back.csv"
    assert main(["gaussrank", "inverse", "-s", str(scaler), "-i", str(tmp_path / "pred.csv"),
                 "--columns", "prediction=target", "-o", str(back)]) == 0
    np.testing.assert_allclose(pd.read_csv(back)["prediction"], original["target"], rtol=1e-12)
    png = tmp_path / "hist.png"
    assert main(["gaussrank", "plot", "-s", str(scaler), "-i", str(train_csv),
                 "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_columns_are_the_numeric_ones(tmp_path, train_csv):
    scaler = tmp_path / "s.npz"
    assert main(["gaussrank", "fit", "-i", str(train_csv), "-o", str(scaler)]) == 0
    from graft.tabular import GaussRankScaler

    assert GaussRankScaler.load(scaler).columns_ == ["target", "feature"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--columns", "nope"], "'nope' not found"),
        (["--columns", "name"], "non-numeric"),
        (["--columns", "target", "--group_by", "kind"], "'kind' not found"),
    ],
)
def test_fit_errors_exit_with_code_2(tmp_path, train_csv, capsys, args, message):
    code = main(["gaussrank", "fit", "-i", str(train_csv), *args, "-o", str(tmp_path / "s.npz")])
    assert code == 2
    assert message in capsys.readouterr().err


def test_empty_and_missing_inputs_exit_with_code_2(tmp_path, train_csv, capsys):
    header_only = tmp_path / "empty.csv"
    header_only.write_text("target,type\n")
    assert main(["gaussrank", "fit", "-i", str(header_only), "-o", str(tmp_path / "s")]) == 2
    assert "no rows" in capsys.readouterr().err
    assert main(["gaussrank", "fit", "-i", str(tmp_path / "nope.csv"), "-o", "s.npz"]) == 2
    assert "not found" in capsys.readouterr().err
    scaler = tmp_path / "s.npz"
    assert main(["gaussrank", "fit", "-i", str(train_csv), "--columns", "target",
                 "-o", str(scaler)]) == 0
    assert main(["gaussrank", "transform", "-s", str(scaler), "-i", str(train_csv),
                 "-o", str(tmp_path / "out.txt")]) == 2
    assert "unsupported table format" in capsys.readouterr().err
    pd.DataFrame({"other": [1.0]}).to_csv(tmp_path / "other.csv", index=False)
    assert main(["gaussrank", "inverse", "-s", str(scaler), "-i", str(tmp_path / "other.csv"),
                 "-o", str(tmp_path / "o.csv")]) == 2
    assert "none of the fitted columns" in capsys.readouterr().err
