"""save/load: an npz archive with meta.json, no pickle, same results after loading."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from graft.errors import UserError
from graft.tabular import GaussRankScaler


def test_save_load_round_trip_with_groups(tmp_path, rng):
    frame = pd.DataFrame({"y": rng.gamma(2.0, size=400), "kind": rng.choice(["a", "b"], 400),
                          "x": rng.normal(size=400).astype(np.float32)})
    scaler = GaussRankScaler(group_by="kind", extrapolate=True).fit(frame)
    path = scaler.save(tmp_path / "scaler.npz")
    loaded = GaussRankScaler.load(path)
    assert loaded.get_params() == scaler.get_params()
    assert loaded.groups_ == scaler.groups_ and loaded.columns_ == ["y", "x"]
    new = frame.assign(y=frame["y"] * 1.5)
    pd.testing.assert_frame_equal(loaded.transform(new), scaler.transform(new))
    pd.testing.assert_frame_equal(loaded.inverse_transform(scaler.transform(frame)), frame)
    assert loaded.table("x", "a").knots.dtype == np.float32


def test_file_is_a_documented_zip_without_pickle(tmp_path, rng):
    scaler = GaussRankScaler().fit(rng.normal(size=(50, 2)))
    path = scaler.save(tmp_path / "s.npz")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    assert meta["format"] == "graft.gaussrank" and meta["version"] == 1
    assert [t["member"] for t in meta["tables"]] == ["g0_c0.npy", "g0_c1.npy"]
    with np.load(path, allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["g0_c1"], scaler.table(1).knots)


def test_a_tensor_fitted_scaler_saves_and_loads(tmp_path, rng):
    values = torch.from_numpy(rng.normal(size=(300, 1)))
    scaler = GaussRankScaler()
    scaler._backend_preference = "torch"
    z = scaler.fit_transform(values)
    loaded = GaussRankScaler.load(scaler.save(tmp_path / "t.npz"))
    np.testing.assert_array_equal(loaded.inverse_transform(z.numpy()), values.numpy())


def test_bad_files_are_user_errors(tmp_path):
    not_zip = tmp_path / "x.npz"
    not_zip.write_text("hello")
    with pytest.raises(UserError, match="not a Gauss rank scaler file"):
        GaussRankScaler.load(not_zip)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(UserError, match="not a Gauss rank scaler file"):
        GaussRankScaler.load(other)
    with pytest.raises(UserError, match="not found"):
        GaussRankScaler.load(tmp_path / "missing.npz")
