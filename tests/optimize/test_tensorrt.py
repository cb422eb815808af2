"""What the TensorRT builder decides without TensorRT: optimization-profile shapes per input
and the ENGINE.json beside an engine (the build itself needs a GPU and is not run here)."""

from __future__ import annotations

import json

import pytest
import torch

from graft.errors import UserError
from graft.optimize.tensorrt import profile_shapes, write_engine_description
from graft.runtime.metadata import sidecar_path


def test_batched_input_spans_batches_one_to_max() -> None:
    assert profile_shapes("input", (-1, 3, 32, 48), batched=True, input_shape=(3, 32, 48),
                          opt_batch=4, max_batch=8) == (
        (1, 3, 32, 48), (4, 3, 32, 48), (8, 3, 32, 48))


def test_batched_input_with_dynamic_spatial_axes_takes_the_models_size() -> None:
    assert profile_shapes("input", (-1, 3, -1, -1), batched=True, input_shape=(3, 64, 96),
                          opt_batch=2, max_batch=2) == (
        (1, 3, 64, 96), (2, 3, 64, 96), (2, 3, 64, 96))


def test_unbatched_image_is_fixed_at_its_own_shape() -> None:
    """Mask R-CNN's ``image`` (3, H, W): axis 0 is channels, never a batch to range over,
    and no batch size (0 in ENGINE.json) may make it fail."""
    shapes = profile_shapes("image", (3, 64, 80), batched=False, input_shape=(3, 64, 80),
                            opt_batch=0, max_batch=0)
    assert shapes == ((3, 64, 80),) * 3


def test_unbatched_input_fills_only_its_dynamic_axes() -> None:
    shapes = profile_shapes("image", (3, -1, -1), batched=False, input_shape=(3, 40, 56),
                            opt_batch=16, max_batch=16)
    assert shapes == ((3, 40, 56),) * 3


def test_dynamic_axes_the_input_size_cannot_fill_are_a_user_error() -> None:
    with pytest.raises(UserError, match="does not fill"):
        profile_shapes("image", (3, -1, -1), batched=False, input_shape=(64, 80),
                       opt_batch=1, max_batch=1)


@pytest.mark.parametrize(("opt", "largest"), [(1, 0), (9, 8), (0, 8)])
def test_a_batched_input_needs_a_sane_batch_range(opt: int, largest: int) -> None:
    with pytest.raises(UserError, match="max_batch_size"):
        profile_shapes("input", (-1, 3, 8, 8), batched=True, input_shape=(3, 8, 8),
                       opt_batch=opt, max_batch=largest)


def test_engine_description_of_an_unbatched_detector(tmp_path) -> None:
    """Mask R-CNN's engine: the image keeps its shape, every output has -1 on its
    detections axis, and max_batch_size 0 says there is no batch axis."""
    axes = {"image": {}, "boxes": {0: "detections"}, "labels": {0: "detections"},
            "masks": {0: "detections"}}
    path = write_engine_description(
        tmp_path / "m.engine", {"task": "mask_rcnn", "data_type": "fp16"},
        {"image": torch.zeros(3, 64, 80)},
        {"boxes": torch.zeros(5, 4), "labels": torch.zeros(5, dtype=torch.int64),
         "masks": torch.zeros(0, 1, 64, 80)}, axes, max_batch_size=0)
    assert path == sidecar_path(tmp_path / "m.engine")
    info = json.loads(path.read_text())
    assert info["max_batch_size"] == 0 and info["metadata"]["data_type"] == "fp16"
    assert info["inputs"] == [{"name": "image", "dtype": "float32", "shape": [3, 64, 80]}]
    assert [(t["name"], t["dtype"], t["shape"]) for t in info["outputs"]] == [
        ("boxes", "float32", [-1, 4]), ("labels", "int64", [-1]),
        ("masks", "float32", [-1, 1, 64, 80])]
