from __future__ import annotations

import numpy as np
import pytest

from graft.tasks.bpnet.encoder import (
    HEATMAP_FLOOR,
    TargetEncoder,
    cell_centres,
    encode_targets,
    input_to_grid,
)
from graft.tasks.bpnet.pose_config import PoseConfig

STRIDE = 8


def person(points, num_joints=2, vis=2):
    kps = np.zeros((num_joints, 3), dtype=np.float32)
    for j, (x, y) in points.items():
        kps[j] = (x, y, vis)
    return kps


def test_grid_convention_round_trip():
    xs = cell_centres(4, STRIDE)
    np.testing.assert_allclose(xs, [3.5, 11.5, 19.5, 27.5])  # centres of the 8-pixel blocks
    np.testing.assert_allclose(input_to_grid(xs, STRIDE), [0, 1, 2, 3])


def test_heatmap_is_a_gaussian_on_cell_centres():
    enc = TargetEncoder([(0, 1)], 2, (64, 96), STRIDE, heatmap_sigma=7.0)
    kps = person({0: (40.3, 21.7)})[None]
    heat = enc.heatmaps(kps)
    assert heat.shape == (3, 8, 12)
    xs, ys = cell_centres(12, STRIDE), cell_centres(8, STRIDE)
    expected = np.exp(-((xs[None] - 40.3) ** 2 + (ys[:, None] - 21.7) ** 2) / (2 * 49.0))
    expected[expected < HEATMAP_FLOOR] = 0
    np.testing.assert_allclose(heat[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(heat[1], 0)  # joint 1 unlabeled
    np.testing.assert_allclose(heat[2], 1 - expected, atol=1e-6)  # background


def test_heatmap_takes_the_max_over_people():
    enc = TargetEncoder([(0, 1)], 2, (64, 64), STRIDE)
    a, b = person({0: (19.5, 19.5)}), person({0: (27.5, 19.5)})
    both = enc.heatmaps(np.stack([a, b]))[0]
    one, two = enc.heatmaps(a[None])[0], enc.heatmaps(b[None])[0]
    np.testing.assert_allclose(both, np.maximum(one, two))
    assert both.max() == pytest.approx(1.0)  # not a sum


def test_paf_band_along_one_limb():
    enc = TargetEncoder([(0, 1)], 2, (64, 128), STRIDE, paf_ortho_dist_thresh=1.0)
    y = cell_centres(8, STRIDE)[3]  # the limb runs along the centre line of row 3
    paf = enc.pafs(person({0: (20.0, y), 1: (90.0, y)})[None])
    xs = cell_centres(16, STRIDE)
    inside_x = (xs >= 20) & (xs <= 90)
    for row in range(8):
        expect = 1.0 if abs(row - 3) <= 1 else 0.0  # |dy| <= 1.0 * stride
        np.testing.assert_allclose(paf[0, row], np.where(inside_x, expect, 0.0))
    np.testing.assert_allclose(paf[1], 0)
    # the heatmap peak of the limb's end sits on the same row: one grid for both maps
    heat = enc.heatmaps(person({0: (20.0, y), 1: (90.0, y)})[None])
    assert np.unravel_index(np.argmax(heat[1]), heat[1].shape)[0] == 3
    rows = paf[0].sum(axis=1)
    assert np.average(np.arange(8), weights=rows) == pytest.approx(3.0)  # band centred on it


def test_paf_is_averaged_where_people_overlap():
    enc = TargetEncoder([(0, 1)], 2, (64, 64), STRIDE, paf_ortho_dist_thresh=0.5)
    c = cell_centres(8, STRIDE)[4]
    horizontal = person({0: (c - 20, c), 1: (c + 20, c)})
    vertical = person({0: (c, c - 20), 1: (c, c + 20)})
    paf = enc.pafs(np.stack([horizontal, vertical]))
    np.testing.assert_allclose(paf[:, 4, 4], [0.5, 0.5])  # mean, not the last one drawn
    np.testing.assert_allclose(paf[:, 4, 2], [1.0, 0.0])  # only the horizontal limb here
    np.testing.assert_allclose(paf[:, 2, 4], [0.0, 1.0])
    same = enc.pafs(np.stack([horizontal, horizontal]))
    np.testing.assert_allclose(same, enc.pafs(horizontal[None]))  # still unit length


def test_paf_needs_both_ends_labeled_and_a_length():
    enc = TargetEncoder([(0, 1), (1, 2)], 3, (64, 64), STRIDE)
    kps = np.zeros((2, 3, 3), dtype=np.float32)
    kps[0] = [(10, 10, 2), (40, 40, 0), (50, 10, 2)]  # joint 1 unlabeled
    kps[1] = [(20, 20, 1), (20, 20, 1), (0, 0, 0)]  # zero-length limb
    np.testing.assert_allclose(enc.pafs(kps), 0)


def test_empty_and_bad_input():
    enc = TargetEncoder(PoseConfig().limbs, 18, (32, 32), STRIDE)
    heat, paf = enc(np.zeros((0, 18, 3)))
    assert heat.shape == (19, 4, 4) and paf.shape == (38, 4, 4)
    np.testing.assert_allclose(heat[-1], 1)
    with pytest.raises(ValueError):
        enc(np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match="multiple of stride"):
        TargetEncoder([(0, 1)], 2, (30, 32), STRIDE)


def test_default_skeleton_channels_and_functional_form():
    pose = PoseConfig()
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.uniform(0, 256, (5, 18, 2)), np.full((5, 18, 1), 2)], -1)
    heat, paf = encode_targets(kps, pose.limbs, (256, 256), STRIDE)
    assert heat.shape == (19, 32, 32) and paf.shape == (38, 32, 32)
    assert heat.dtype == paf.dtype == np.float32
    norms = np.hypot(paf[0::2], paf[1::2])
    assert norms.max() <= 1 + 1e-5 and (norms > 0.99).any()


def reference_pafs(kps, limbs, size, stride, half_width):
    """The PAF definition written out cell by cell (slow, obviously right)."""
    h, w = size[0] // stride, size[1] // stride
    total = np.zeros((len(limbs), h, w, 2))
    count = np.zeros((len(limbs), h, w))
    for k, (ja, jb) in enumerate(limbs):
        for person in kps:
            (ax, ay, va), (bx, by, vb) = person[ja], person[jb]
            length = np.hypot(bx - ax, by - ay)
            if va <= 0 or vb <= 0 or length <= 1e-6:
                continue
            ux, uy = (bx - ax) / length, (by - ay) / length
            for v in range(h):
                for u in range(w):
                    px, py = (u + 0.5) * stride - 0.5 - ax, (v + 0.5) * stride - 0.5 - ay
                    along, across = px * ux + py * uy, abs(px * uy - py * ux)
                    if 0 <= along <= length and across <= half_width:
                        total[k, v, u] += (ux, uy)
                        count[k, v, u] += 1
    mean = total / np.maximum(count, 1)[..., None]
    return np.stack([mean[..., 0], mean[..., 1]], axis=1).reshape(-1, h, w)


@pytest.mark.parametrize("block", [None, 50])
def test_paf_matches_the_cell_by_cell_definition(monkeypatch, block):
    import graft.tasks.bpnet.encoder as encoder

    if block is not None:  # force the memory-bounded chunked path
        monkeypatch.setattr(encoder, "_MAX_BLOCK", block)
    rng = np.random.default_rng(7)
    limbs = [(0, 1), (1, 2), (2, 3), (0, 3)]
    kps = np.concatenate([rng.uniform(-10, 140, (5, 4, 2)), rng.integers(0, 3, (5, 4, 1))], -1)
    kps = kps.astype(np.float32)
    enc = TargetEncoder(limbs, 4, (96, 128), STRIDE, paf_ortho_dist_thresh=1.5)
    expected = reference_pafs(kps, limbs, (96, 128), STRIDE, 1.5 * STRIDE)
    np.testing.assert_allclose(enc.pafs(kps), expected, atol=1e-6)
    assert np.abs(expected).sum() > 0
