"""The target rasterizer and box encoding: hand-worked cells, and a literal per-cell version of
TLT's rasterizer kernel as the reference for random scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graft.tasks.detectnet_v2.encoder import TargetEncoder, coverage_mass, decode_boxes
from graft.tasks.detectnet_v2.sections import BboxObjective, RasterClass

DEFAULT = RasterClass()


def _encode(boxes, labels, size, classes=1, **kw):
    enc = TargetEncoder([DEFAULT] * classes, size, **kw)
    return enc([torch.tensor(boxes, dtype=torch.float32)], [torch.tensor(labels)])


def test_a_small_box_is_a_unit_circle_at_its_centre() -> None:
    # 32 x 32 px box at (16, 16) on a 4 x 4 grid: 2 x 2 cells, semi-axes 0.4 cell -> raised to
    # the minimum radius 1; dead zone 0.33 + 0.67 * 1 = 1. The circle of radius 1 around the
    # corner (2, 2) covers 13 of each neighbouring cell's 16 samples.
    t = _encode([[16, 16, 48, 48]], [0], (64, 64))
    expected = torch.zeros(4, 4)
    expected[1:3, 1:3] = 13 / 16
    torch.testing.assert_close(t.cov[0, 0], expected)
    torch.testing.assert_close(t.cov_norm[0, 0], expected / 4)  # 1 / max(4 * 1 * 1, 1)
    # cell (1, 1): anchor (16.5, 16.5) -> L = T = 0.5 / 35, R = B = 31.5 / 35
    torch.testing.assert_close(t.bbox[0, 0, :, 1, 1] * 35, torch.tensor([0.5, 0.5, 31.5, 31.5]))
    # cell (2, 2): anchor (32.5, 32.5) -> 16.5 px to the left/top edges, 15.5 to the others
    torch.testing.assert_close(t.bbox[0, 0, :, 2, 2] * 35, torch.tensor([16.5, 16.5, 15.5, 15.5]))
    assert t.bbox[0, 0, :, 0, 0].abs().sum() == 0  # no coverage, no box target
    assert t.mask.min() == 1


def test_a_wide_box_keeps_its_aspect_ratio_when_raised_to_the_minimum_radius() -> None:
    # 128 x 64 px -> 8 x 4 cells, centre (4, 2), half extents 4 and 2: semi-axes 1.6 and 0.8;
    # 0.8 < 1 -> (2, 1). Cell (1, 3) lies wholly inside the ellipse (x-4)^2/4 + (y-2)^2 < 1;
    # in cell (1, 2) 1 + 2 + 3 + 3 samples are inside.
    t = _encode([[0, 0, 128, 64]], [0], (128, 128))
    assert t.cov[0, 0, 1, 3] == 1.0
    assert t.cov[0, 0, 1, 2] == 9 / 16
    assert t.cov_norm[0, 0, 1, 2] == pytest.approx(9 / 16 / 8)  # 1 / (4 * 2 * 1)
    assert float(t.cov[0, 0].sum()) == pytest.approx(2 * math.pi, rel=0.05)  # ellipse area
    cov = t.cov[0, 0]
    torch.testing.assert_close(cov, cov.flip(1))  # symmetric about x = 4
    torch.testing.assert_close(cov[:4], cov[:4].flip(0))  # ... and about y = 2


def test_encoding_decodes_back_to_the_box_on_every_covered_cell() -> None:
    box = torch.tensor([[21.0, 7.0, 101.5, 60.25]])
    objective = BboxObjective(scale=20.0, offset=0.25)
    t = _encode(box.tolist(), [0], (64, 128), objective=objective)
    decoded = decode_boxes(t.bbox[0, 0], (64, 128), scale=20.0, offset=0.25)
    covered = t.cov[0, 0] > 0
    assert covered.sum() > 4
    torch.testing.assert_close(decoded[:, covered].T, box.expand(int(covered.sum()), 4))


def test_decoding_clips_to_the_image() -> None:
    bbox = torch.zeros(4, 2, 2)
    bbox[0], bbox[2] = 10.0, -10.0  # x1 far left, x2 left of x1
    decoded = decode_boxes(bbox, (32, 32))
    assert decoded[0].max() == 0.0 and (decoded[2] == decoded[0]).all()
    bbox = torch.full((4, 2, 2), 10.0)
    assert decode_boxes(bbox, (32, 32))[2:].max() == 32.0


def _reference(boxes, labels, classes, size, deadzone=0.67, stride=16):
    """TLT's rasterizer kernel, literally: per cell, per box back to front, 4 x 4 samples."""
    h, w = size[0] // stride, size[1] // stride
    cleared = 0  # cells a dead zone took from a box with coverage there, leaving them empty
    cov = np.zeros((len(classes), h, w))
    norm, bbox = np.zeros_like(cov), np.zeros((len(classes), 4, h, w))
    for cls in range(len(classes)):
        p = classes[cls]
        mine = sorted([b for b, lab in zip(boxes, labels, strict=True) if lab == cls],
                      key=lambda b: b[3])
        shapes = []
        for x1, y1, x2, y2 in mine:
            ox1, oy1, ox2, oy2 = x1 / stride, y1 / stride, x2 / stride, y2 / stride
            cx, cy = ox1 + p.cov_center_x * (ox2 - ox1), oy1 + p.cov_center_y * (oy2 - oy1)
            sx = cx - ox1 if p.cov_center_x < 0.5 else ox2 - cx
            sy = cy - oy1 if p.cov_center_y < 0.5 else oy2 - cy
            csx, csy = max(p.cov_radius_x * sx, 0.1), max(p.cov_radius_y * sy, 0.1)
            if csx < p.bbox_min_radius:
                csx, csy = p.bbox_min_radius, p.bbox_min_radius * csy / csx
            if csy < p.bbox_min_radius:
                csx, csy = p.bbox_min_radius * csx / csy, p.bbox_min_radius
            dsx = max((1 - deadzone) * csx + deadzone * sx, csx)
            dsy = max((1 - deadzone) * csy + deadzone * sy, csy)
            shapes.append((cx, cy, csx, csy, dsx, dsy, (x1, y1, x2, y2)))
        for i in range(h):
            for j in range(w):
                best, value = 0.0, (0.0, 0.0, (0.0,) * 4)
                for cx, cy, csx, csy, dsx, dsy, (x1, y1, x2, y2) in shapes:
                    a = c = 0
                    for sy_ in range(4):
                        for sx_ in range(4):
                            fx, fy = j + (sx_ + 0.5) / 4, i + (sy_ + 0.5) / 4
                            c += ((fx - cx) / csx) ** 2 + ((fy - cy) / csy) ** 2 < 1
                            a += ((fx - cx) / dsx) ** 2 + ((fy - cy) / dsy) ** 2 < 1
                    a, c = a / 16, c / 16
                    if a >= best and a > 0:
                        cleared += best > 0 and c == 0
                        best, value = 0.0, (0.0, 0.0, (0.0,) * 4)
                    if c >= best and c > 0:
                        ax, ay = j * stride + 0.5, i * stride + 0.5
                        best = c
                        value = (c, c / max(4 * csx * csy, 1),
                                 ((ax - x1) / 35, (ay - y1) / 35, (x2 - ax) / 35, (y2 - ay) / 35))
                cov[cls, i, j], norm[cls, i, j] = value[0], value[1]
                bbox[cls, :, i, j] = value[2]
    return cov, norm, bbox, cleared


def _scene(rng: np.random.Generator, n: int, size: tuple[int, int]):
    wh = rng.uniform(6, 90, (n, 2))
    xy = rng.uniform(0, 1, (n, 2)) * (np.array(size[::-1]) - wh)
    boxes = np.concatenate([xy, xy + wh], 1).round(2)
    return boxes.tolist(), rng.integers(0, 2, n).tolist()


def test_random_scenes_match_the_literal_kernel() -> None:
    rng = np.random.default_rng(3)
    classes = [RasterClass(), RasterClass(cov_center_x=0.3, cov_radius_y=0.7, bbox_min_radius=0.5)]
    size = (96, 160)
    enc = TargetEncoder(classes, size)
    scenes = [_scene(rng, n, size) for n in (9, 1, 0, 12)]
    t = enc([torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for b, _ in scenes],
            [torch.tensor(lab, dtype=torch.int64) for _, lab in scenes])
    assert (t.cov > 0).sum() > 40 and (t.cov == 1).any()
    cleared = 0
    for k, (boxes, labels) in enumerate(scenes):
        cov, norm, bbox, n = _reference(boxes, labels, classes, size)
        cleared += n
        np.testing.assert_allclose(t.cov[k].numpy(), cov, atol=1e-6)
        np.testing.assert_allclose(t.cov_norm[k].numpy(), norm, atol=1e-6)
        np.testing.assert_allclose(t.bbox[k].numpy(), bbox, atol=1e-5)
    assert cleared > 0  # the scenes exercise the dead-zone band between neighbours


def test_the_lower_box_wins_where_they_overlap() -> None:
    upper, lower = [0.0, 0.0, 96.0, 64.0], [48.0, 8.0, 144.0, 72.0]
    t = _encode([upper, lower], [0, 0], (80, 160))
    decoded = decode_boxes(t.bbox[0, 0], (80, 160))
    covered = t.cov[0, 0] > 0
    owners = {tuple(decoded[:, i, j].tolist()) for i, j in covered.nonzero().tolist()}
    assert owners == {tuple(upper), tuple(lower)}
    # cell (2, 4) lies in both coverage ellipses (5/16 of the upper's, 8/16 of the lower's)
    assert tuple(decoded[:, 2, 4].tolist()) == tuple(lower)
    assert t.cov[0, 0, 2, 4] == 0.5
    # moved 9 px down, the first box is drawn last and takes the cell with 7/16 coverage
    moved = [upper[0], upper[1] + 9, upper[2], upper[3] + 9]
    t2 = _encode([moved, lower], [0, 0], (80, 160))
    assert tuple(decode_boxes(t2.bbox[0, 0], (80, 160))[:, 2, 4].tolist()) == tuple(moved)
    assert t2.cov[0, 0, 2, 4] == 7 / 16


def test_classes_are_drawn_apart() -> None:
    t = _encode([[16, 16, 48, 48], [16, 16, 48, 48]], [0, 1], (64, 64), classes=2)
    torch.testing.assert_close(t.cov[0, 0], t.cov[0, 1])


def test_a_batch_equals_its_images_encoded_one_by_one() -> None:
    rng = np.random.default_rng(5)
    enc = TargetEncoder([DEFAULT, DEFAULT], (96, 160))
    scenes = [_scene(rng, n, (96, 160)) for n in (4, 7)]
    tensors = [(torch.tensor(b, dtype=torch.float32), torch.tensor(lab)) for b, lab in scenes]
    both = enc([b for b, _ in tensors], [lab for _, lab in tensors])
    for k, (b, lab) in enumerate(tensors):
        one = enc([b], [lab])
        torch.testing.assert_close(both.cov[k], one.cov[0])
        torch.testing.assert_close(both.bbox[k], one.bbox[0])


def test_ignore_regions_zero_the_loss_mask_except_under_objects() -> None:
    enc = TargetEncoder([DEFAULT, DEFAULT], (64, 128))
    obj = torch.tensor([[16.0, 16.0, 48.0, 48.0]])
    dontcare = torch.tensor([[0.0, 0.0, 64.0, 64.0], [64.0, 0.0, 72.0, 16.0]])  # 2nd: half cell
    crowd = torch.tensor([[96.0, 32.0, 128.0, 48.0]])
    t = enc([obj], [torch.tensor([0])], ignore=[torch.cat([dontcare, crowd])],
            ignore_labels=[torch.tensor([-1, -1, 1])])
    mask = t.mask[0]
    assert mask[1, :4, :4].sum() == 0  # class 1 ignores the whole DontCare region
    assert mask[0, :4, :4].sum() == 4 and (mask[0, 1:3, 1:3] == 1).all()  # the object's cells
    assert mask[:, 0, 4].tolist() == [0.0, 0.0]  # half a cell inside is enough
    assert mask[1, 2, 6:8].tolist() == [0.0, 0.0] and mask[0, 2, 6:8].tolist() == [1.0, 1.0]
    assert int((mask == 0).sum()) == 12 + 16 + 1 + 1 + 2
    t = enc([obj], [torch.tensor([0])], ignore=[dontcare[:1]], ignore_labels=None)
    assert int((t.mask[0] == 0).sum()) == 12 + 16


def test_ground_truth_objects_encode_with_their_ignore_regions() -> None:
    from graft.metrics.detection import GroundTruth

    enc = TargetEncoder([DEFAULT, DEFAULT], (64, 128))
    truth = GroundTruth.of([[16, 16, 48, 48], [96, 32, 128, 48]], [0, 1], ignored=[False, True],
                           regions=[[64, 0, 72, 16]])
    t = enc.encode_truths([truth])
    expected = enc([torch.tensor([[16.0, 16, 48, 48]])], [torch.tensor([0])],
                   ignore=[torch.tensor([[96.0, 32, 128, 48], [64, 0, 72, 16]])],
                   ignore_labels=[torch.tensor([1, -1])])
    for ours, theirs in zip((t.cov, t.bbox, t.cov_norm, t.mask),
                            (expected.cov, expected.bbox, expected.cov_norm, expected.mask),
                            strict=True):
        torch.testing.assert_close(ours, theirs)
    assert t.cov[0, 1].sum() == 0 and int((t.mask == 0).sum()) == 4


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        TargetEncoder([DEFAULT], (60, 64))
    enc = TargetEncoder([DEFAULT], (64, 64))
    with pytest.raises(ValueError, match="class index out of 0..0"):
        enc([torch.zeros(1, 4)], [torch.tensor([1])])
    with pytest.raises(ValueError, match="1 boxes with 2 labels"):
        enc([torch.zeros(1, 4)], [torch.tensor([0, 0])])
    empty = enc([torch.zeros(0, 4)], [torch.zeros(0, dtype=torch.int64)])
    assert empty.cov.sum() == 0 and empty.mask.min() == 1


def test_coverage_mass_is_the_ellipse_area_in_cells() -> None:
    mass = coverage_mass(torch.tensor([[0.0, 0.0, 128.0, 64.0], [16, 16, 48, 48]]),
                         torch.tensor([0, 0]), [DEFAULT])
    torch.testing.assert_close(mass, torch.tensor([2 * math.pi, math.pi]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_targets_and_cost_on_cuda_equal_the_cpu_ones() -> None:
    from graft.tasks.detectnet_v2.loss import DetectNetCost

    rng = np.random.default_rng(7)
    scenes = [_scene(rng, n, (96, 160)) for n in (6, 3)]
    boxes = [torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for b, _ in scenes]
    labels = [torch.tensor(lab, dtype=torch.int64) for _, lab in scenes]
    ignore = [torch.tensor([[0.0, 0.0, 40.0, 40.0]]), None]
    enc = TargetEncoder([DEFAULT, DEFAULT], (96, 160))
    cpu = enc(boxes, labels, ignore=ignore)
    gpu = enc([b.cuda() for b in boxes], [lab.cuda() for lab in labels],
              ignore=[r.cuda() if r is not None else None for r in ignore])
    for ours, theirs in zip((gpu.cov, gpu.bbox, gpu.cov_norm, gpu.mask),
                            (cpu.cov, cpu.bbox, cpu.cov_norm, cpu.mask), strict=True):
        assert ours.is_cuda
        torch.testing.assert_close(ours.cpu(), theirs)
    cost = DetectNetCost([1.0, 1.0], [0.05, 0.05], [[1.0, 10.0]] * 2)
    pred = torch.rand(2, 2, 6, 10), torch.randn(2, 8, 6, 10)
    expected = cost(*pred, cpu).total
    got = cost.cuda()(pred[0].cuda(), pred[1].cuda(), gpu).total
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-5, atol=1e-6)
