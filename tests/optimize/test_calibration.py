"""Calibration batches: real image files, the inference preprocessing, exactly N images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from graft.errors import UserError
from graft.optimize.calibration import (
    BatchReader,
    calibration_batches,
    default_calibration_batches,
    sample_images,
)

from .conftest import ToyTask, manifest_for


def test_batches_are_resized_and_normalized_like_inference(tmp_path) -> None:
    for i in range(3):
        Image.new("RGB", (50, 30), (255, 0, 128)).save(tmp_path / f"{i}.png")
    manifest = manifest_for("tiny_resnet", size=16)
    manifest["input"]["normalization"] = {"mode": "torch", "scale": 1 / 255,
                                          "mean": [0.5, 0.25, 0.5], "std": [0.5, 0.25, 0.25],
                                          "channel_order": "RGB"}
    batches = list(default_calibration_batches(manifest, tmp_path, batches=2, batch_size=2))
    assert [b.shape for b in batches] == [(2, 3, 16, 16), (1, 3, 16, 16)]  # 3 images < 4 asked
    assert batches[0].dtype == np.float32
    expected = [(1.0 - 0.5) / 0.5, (0.0 - 0.25) / 0.25, (128 / 255 - 0.5) / 0.25]
    assert batches[0][0, :, 5, 5] == pytest.approx(expected, abs=1e-5)

    manifest["input"]["normalization"]["channel_order"] = "BGR"  # caffe-style models
    bgr = next(default_calibration_batches(manifest, tmp_path, 1, 1))
    assert bgr[0, 0, 5, 5] == pytest.approx((128 / 255 - 0.5) / 0.5, abs=1e-5)


def test_exactly_the_requested_number_of_images(tmp_path) -> None:
    for i in range(10):
        Image.new("RGB", (8, 8), (i, i, i)).save(tmp_path / f"{i}.jpg")
    picked = sample_images(tmp_path, 7)
    assert len(picked) == 7 and len(set(picked)) == 7
    assert picked == sample_images(tmp_path, 7)  # reproducible
    batches = list(calibration_batches(ToyTask(), manifest_for("tiny_resnet", 8), tmp_path, 3, 2))
    assert sum(len(b) for b in batches) == 6


def test_reader_feeds_onnxruntime_and_counts(tmp_path) -> None:
    ticks = []
    reader = BatchReader("input", (np.zeros((2, 3, 4, 4)) for _ in range(5)), limit=3,
                         progress=lambda: ticks.append(1))
    items = list(reader)
    assert len(items) == 3 and reader.images == 6 and len(ticks) == 3
    assert items[0]["input"].dtype == np.float32


def test_a_file_is_not_an_image_directory(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        list(calibration_batches(ToyTask(), manifest_for("tiny_resnet"), tmp_path / "a.txt", 1, 1))
