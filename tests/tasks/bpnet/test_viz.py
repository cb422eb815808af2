"""Skeleton drawing."""

from __future__ import annotations

import numpy as np

from graft.tasks.bpnet.viz import draw_poses, limb_colours


def test_limbs_and_found_joints_are_drawn_missing_ones_not() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    kps = np.array([[10, 10, 0.9], [70, 10, 0.8], [40, 50, 0.0]], np.float32)
    out = draw_poses(image, [{"keypoints": kps, "score": 0.5}], [(0, 1), (1, 2)])
    assert image.max() == 0, "the input must not be changed"
    colour = np.array(limb_colours(2)[0])
    assert np.abs(out[10, 40].astype(int) - colour).max() < 40  # on the first limb
    assert out[10, 10].min() > 200  # a joint: white dot
    assert out[30, 55].max() == 0  # the second limb ends at a missing joint: not drawn
    assert out[50, 40].max() == 0


def test_colours_are_distinct() -> None:
    colours = limb_colours(19)
    assert len(set(colours)) == 19
