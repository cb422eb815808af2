"""Optimization-profile shapes per engine input (pure: no TensorRT needed)."""

from __future__ import annotations

import pytest

from graft.errors import UserError
from graft.optimize.tensorrt import profile_shapes


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
