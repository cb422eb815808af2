"""Ground truth -> targets -> the production decoder -> the production evaluator (check_labels):
near-perfect on varied boxes with TLT's default parameters, and what the gridbox design loses."""

from __future__ import annotations

import numpy as np
import pytest

from graft.metrics.detection import ClassRule, GroundTruth, iou_matrix
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.encoder import TargetEncoder
from graft.tasks.detectnet_v2.roundtrip import round_trip
from graft.tasks.detectnet_v2.sections import ClusteringConfig, RasterClass

SIZE = (384, 640)
CLASSES = ["car", "truck", "person"]


def _centre_inside(a: np.ndarray, b: np.ndarray) -> bool:
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return bool(b[0] <= cx <= b[2] and b[1] <= cy <= b[3])


def _scene(rng: np.random.Generator, n: int) -> GroundTruth:
    """Up to n boxes, 21 to ~250 px, a quarter against an image edge. Same-class boxes may
    overlap up to IoU 0.3 but not hold each other's centre; other classes overlap freely."""
    height, width = SIZE
    boxes, labels = [], []
    while len(boxes) < n:
        w = float(np.exp(rng.uniform(np.log(21), np.log(250))))
        h = float(np.clip(w * rng.uniform(0.5, 2.0), 21, height))
        w = min(w, width)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        edge = rng.integers(0, 8)
        x = 0.0 if edge == 0 else width - w if edge == 1 else x
        y = 0.0 if edge == 2 else height - h if edge == 3 else y
        box, cls = np.array([x, y, x + w, y + h]), int(rng.integers(0, len(CLASSES)))
        same = [b for b, c in zip(boxes, labels, strict=True) if c == cls]
        if same and (iou_matrix(box[None], np.array(same)).max() > 0.3
                     or any(_centre_inside(box, b) or _centre_inside(b, box) for b in same)):
            continue
        boxes.append(box)
        labels.append(cls)
    return GroundTruth.of(boxes, labels)


@pytest.fixture(scope="module")
def scenes() -> list[GroundTruth]:
    rng = np.random.default_rng(12)
    return [_scene(rng, int(rng.integers(1, 12))) for _ in range(24)]


def _defaults() -> tuple[TargetEncoder, DetectionDecoder]:
    raster = [RasterClass()] * len(CLASSES)
    return (TargetEncoder(raster, SIZE),
            DetectionDecoder([ClusteringConfig()] * len(CLASSES), SIZE, rasterizer=raster))


def test_the_generated_set_is_varied(scenes: list[GroundTruth]) -> None:
    boxes = np.concatenate([s.boxes for s in scenes])
    heights = boxes[:, 3] - boxes[:, 1]
    assert len(boxes) > 100 and heights.min() < 25 and heights.max() > 200
    assert (boxes[:, 0] == 0).sum() > 5 and (boxes[:, 3] == SIZE[0]).sum() > 5
    same_class_overlaps = sum(
        int((np.triu(iou_matrix(s.boxes[s.labels == c], s.boxes[s.labels == c]), 1) > 0).sum())
        for s in scenes for c in range(len(CLASSES)))
    assert same_class_overlaps >= 5
    assert all(np.bincount(s.labels, minlength=3).min() >= 0 for s in scenes)


@pytest.mark.parametrize("mode", ["integrate", "sample"])
def test_tlts_defaults_round_trip_near_perfectly(scenes: list[GroundTruth], mode: str) -> None:
    encoder, decoder = _defaults()
    result = round_trip(encoder, decoder, scenes, CLASSES, rules=ClassRule(iou=0.7), mode=mode)
    assert result.mean_ap >= 0.99, result.class_rows()  # 1.0 when written; check_labels: 0.95
    assert all(c.ground_truth > 20 for c in result.classes)


def test_what_the_gridbox_design_loses() -> None:
    encoder, decoder = _defaults()
    nested = GroundTruth.of([[100, 100, 300, 300], [160, 150, 240, 250]], [0, 0])  # inner above
    merged = GroundTruth.of([[100, 100, 300, 300], [104, 100, 304, 300]], [0, 0])  # IoU 0.96
    short = GroundTruth.of([[100, 100, 300, 120]], [0])  # 20 px tall
    other_class = GroundTruth.of([[100, 100, 300, 300], [160, 150, 240, 250]], [0, 1])
    result = round_trip(encoder, decoder, [nested, merged, short, other_class], CLASSES)
    car, truck = result.classes[:2]
    assert (car.ground_truth, car.true_positives) == (6, 3)  # the inner, merged, short boxes
    assert truck.true_positives == 1  # in its own class the inner box is found
