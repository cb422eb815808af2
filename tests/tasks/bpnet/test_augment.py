from __future__ import annotations

import cv2
import numpy as np
import pytest

from graft.tasks.bpnet.augment import (
    augment_sample,
    build_transform,
    sample_transform,
    transform_keypoints,
    warp_mask,
)
from graft.tasks.bpnet.data_spec import SpatialAugParams
from graft.tasks.bpnet.pose_config import PoseConfig

INPUT = (128, 128)
MODES = ("person_centric", "standard", "standard_with_fixed_aspect_ratio")


def dot_image(h, w, points):
    """Black image with a small white disc at each point; returns the image."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    for x, y in points:
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), 3 * 16, (255, 255, 255), -1,
                   cv2.LINE_AA, 4)
    return img


def centroid(channel):
    ys, xs = np.nonzero(channel > 0)
    weights = channel[ys, xs].astype(float)
    return np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])


@pytest.mark.parametrize("mode", MODES)
def test_keypoints_follow_the_image(mode):
    rng = np.random.default_rng(1)
    params = SpatialAugParams(flip_lr_prob=0.5, rotate_deg_max=40, zoom_prob=1.0,
                              zoom_ratio_min=0.8, zoom_ratio_max=1.2, translate_max_x=10,
                              translate_max_y=10)
    h, w = 150, 200
    points = [(60.0, 50.0), (140.0, 100.0)]
    image = dot_image(h, w, points)
    kps = np.array([[[x, y, 2] for x, y in points]], dtype=np.float32)
    for _ in range(6):
        t = sample_transform(mode, params, (h, w), INPUT, rng, person_box=(40, 30, 120, 90))
        warped = cv2.warpAffine(image, t.matrix, INPUT[::-1], flags=cv2.INTER_LINEAR)
        moved = transform_keypoints(kps, t)[0]
        for x, y, _ in moved:
            if not (8 <= x <= INPUT[1] - 9 and 8 <= y <= INPUT[0] - 9):
                continue  # dot partly outside the crop
            window = warped[int(y) - 7:int(y) + 8, int(x) - 7:int(x) + 8, 0]
            found = centroid(window) + (int(x) - 7, int(y) - 7)
            np.testing.assert_allclose(found, (x, y), atol=0.6)


def test_flip_swaps_left_and_right():
    pose = PoseConfig()
    perm = pose.flip_permutation()
    lw, rw = pose.joints.index("l_wrist"), pose.joints.index("r_wrist")
    kps = np.zeros((1, 18, 3), dtype=np.float32)
    kps[0, lw] = (100, 40, 2)
    kps[0, rw] = (20, 40, 2)
    t = build_transform("standard", INPUT, INPUT, flip_lr=True)
    out = transform_keypoints(kps, t, perm)[0]
    np.testing.assert_allclose(out[rw], (INPUT[1] - 1 - 100, 40, 2))  # mirrored, now "right"
    np.testing.assert_allclose(out[lw], (INPUT[1] - 1 - 20, 40, 2))
    both = build_transform("standard", INPUT, INPUT, flip_lr=True, flip_tb=True)
    assert not both.mirrored  # two flips are a rotation: no swap
    out = transform_keypoints(kps, both, perm)[0]
    np.testing.assert_allclose(out[lw], (INPUT[1] - 1 - 100, INPUT[0] - 1 - 40, 2))


def test_flip_moves_image_and_keypoints_together():
    image = dot_image(*INPUT, [(30.0, 70.0)])
    kps = np.array([[[30.0, 70.0, 2], [0, 0, 0]]], dtype=np.float32)
    t = build_transform("standard", INPUT, INPUT, flip_lr=True)
    img, _, out = augment_sample(image, None, kps, t, stride=8, flip_permutation=[1, 0])
    x, y = out[0, 1, :2]  # joint 0 became joint 1
    assert out[0, 0, 2] == 0
    np.testing.assert_allclose(centroid(img[..., 0]), (x, y), atol=0.3)


def test_modes_geometry():
    h, w = 100, 200
    ident = build_transform("standard", INPUT, INPUT)
    np.testing.assert_allclose(ident.matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    stretch = build_transform("standard_with_fixed_aspect_ratio", (h, w), INPUT)
    corners = np.array([[[-0.5, -0.5, 2], [w - 0.5, h - 0.5, 2]]], dtype=np.float32)
    np.testing.assert_allclose(transform_keypoints(corners, stretch)[0, :, :2],
                               [[-0.5, -0.5], [127.5, 127.5]], atol=1e-4)
    keep = build_transform("standard", (h, w), INPUT)  # fits the width, pads top and bottom
    np.testing.assert_allclose(transform_keypoints(corners, keep)[0, :, :2],
                               [[-0.5, 31.5], [127.5, 95.5]], atol=1e-4)
    box = (50, 20, 30, 60)
    crop = build_transform("person_centric", (h, w), INPUT, person_box=box,
                           target_person_scale=0.5)
    top_bottom = np.array([[[64.5, 19.5, 2], [64.5, 79.5, 2]]], dtype=np.float32)
    out = transform_keypoints(top_bottom, crop)[0, :, :2]
    np.testing.assert_allclose(out.mean(axis=0), (63.5, 63.5), atol=1e-4)  # centred
    assert out[1, 1] - out[0, 1] == pytest.approx(0.5 * INPUT[0])  # 0.5 of the height


def test_sampled_ranges_and_no_randomness_without_rng():
    rng = np.random.default_rng(0)
    params = SpatialAugParams()  # TLT COCO defaults: rotate within +-40 degrees
    angles = []
    for _ in range(200):
        t = sample_transform("standard", params, INPUT, INPUT, rng)
        m = t.matrix[:, :2] * np.array([[-1 if t.mirrored else 1, 1], [1, 1]])
        angles.append(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
    angles = np.abs(np.array(angles))
    assert angles.max() <= 40 + 1e-6 and angles.max() > 30
    fixed = sample_transform("standard", params, (50, 60), INPUT, None)
    np.testing.assert_allclose(fixed.matrix, build_transform("standard", (50, 60), INPUT).matrix)


def test_mask_is_warped_and_pooled_to_the_stride():
    mask = np.full(INPUT, 255, dtype=np.uint8)
    mask[:, :64] = 0  # ignore the left half
    t = build_transform("standard", INPUT, INPUT)
    small = warp_mask(mask, t, stride=8)
    assert small.shape == (16, 16) and small.dtype == np.float32
    np.testing.assert_allclose(small[:, :8], 0)
    np.testing.assert_allclose(small[:, 8:], 1)
    flipped = warp_mask(mask, build_transform("standard", INPUT, INPUT, flip_lr=True), 8)
    np.testing.assert_allclose(flipped, small[:, ::-1])
    padded = warp_mask(np.zeros((64, 128), np.uint8), build_transform("standard", (64, 128),
                                                                       INPUT), 8)
    np.testing.assert_allclose(padded[:4], 1)  # padding counts as "use"
    np.testing.assert_allclose(padded[5:11], 0)
    np.testing.assert_allclose(warp_mask(None, t, 8), 1)
