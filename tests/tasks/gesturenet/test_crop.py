"""The crop rule GestureNet and the app share: square, enlarged, clipped edge by edge."""

from __future__ import annotations

import pytest
import torch

from graft.tasks.gesturenet.crop import CropRule, crop_box, enlarged_box, preprocess


def test_inside_box_is_made_square_and_enlarged_about_its_centre():
    # 20 x 40 box centred at (60, 50): square side 40, x1.1 -> 44
    assert enlarged_box((50, 30, 70, 70), 1.1, True) == pytest.approx((38, 28, 82, 72))
    assert crop_box((50, 30, 70, 70), (200, 100), 1.1, True) == (38, 28, 82, 72)


def test_without_square_each_side_grows_on_its_own():
    assert crop_box((50, 30, 70, 70), (200, 100), 1.5, False) == (45, 20, 75, 80)


def test_box_at_the_left_and_top_edges_is_clipped_there_only():
    # enlarged: (-2, -12, 38, 28) -> the far edges stay coordinates, not widths
    x1, y1, x2, y2 = crop_box((0, 0, 36, 16), (640, 480), 1.1, True)
    assert (x1, y1, x2, y2) == (0, 0, 38, 28)


def test_blog_margin_bug_regression_far_edge_is_not_left_plus_width():
    # the blog's C code stores clip(left + width + margin) as the WIDTH; for a box far from the
    # origin that runs past the frame. Here the right edge must stay inside the 640 px frame.
    x1, _, x2, _ = crop_box((500, 100, 600, 200), (640, 480), 1.5, True)
    assert x2 == 625 and x1 == 475 and x2 - x1 == 150
    x1, _, x2, _ = crop_box((580, 100, 640, 160), (640, 480), 2.0, True)
    assert x2 == 640  # clipped to the frame
    assert x1 == 550


def test_box_at_the_right_and_bottom_edges_is_clipped_to_the_image():
    assert crop_box((90, 80, 100, 100), (100, 100), 1.2, True) == (83, 78, 100, 100)


def test_box_outside_or_empty_is_refused():
    with pytest.raises(ValueError, match="outside"):
        crop_box((120, 10, 150, 40), (100, 100))
    with pytest.raises(ValueError, match="empty"):
        crop_box((10, 10, 10, 40), (100, 100))


def test_preprocess_pads_the_part_past_the_image_with_zeros_keeping_the_aspect():
    image = torch.full((3, 100, 100), 200, dtype=torch.uint8)
    # box at the left edge: region (-10, 20, 30, 60) is 40x40, 10 columns lie off the image
    crop = preprocess(image, (0, 20, 20, 60), CropRule(ratio=1.0, square=True), (40, 40))
    assert crop.shape == (3, 40, 40) and crop.dtype == torch.uint8
    assert crop[:, :, :9].max() == 0  # padding, not stretched image
    assert crop[:, :, 11:].min() == 200


def test_preprocess_inside_the_image_is_the_resized_region():
    image = torch.arange(100 * 100, dtype=torch.int64).reshape(1, 100, 100) % 251
    image = image.to(torch.uint8).expand(3, 100, 100).contiguous()
    crop = preprocess(image, (20, 30, 40, 50), CropRule(ratio=1.0), (20, 20))
    assert torch.equal(crop, image[:, 30:50, 20:40])


def test_rule_is_read_from_a_model_input_section():
    rule = CropRule.of({"height": 160, "crop": {"ratio": 1.2, "square": False}})
    assert rule == CropRule(ratio=1.2, square=False)
    assert CropRule.of(None) == CropRule(ratio=1.1, square=True)
