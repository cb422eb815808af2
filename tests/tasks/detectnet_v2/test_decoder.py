"""Post-processing on hand-made coverage/box maps: DBSCAN's weighted core rule, cluster means,
the filters, NMS and HYBRID, and the normalized score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.metrics.detection import iou_matrix
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.encoder import TargetEncoder, anchors
from graft.tasks.detectnet_v2.sections import ClusteringConfig, RasterClass

SIZE = (64, 128)  # a 4 x 8 grid


def _by_x(det):
    """A Detections' boxes and confidences ordered left to right."""
    order = np.argsort(det.boxes[:, 0])
    return det.boxes[order], det.confidences[order]


def _maps(cells: dict[tuple[int, int, int], tuple[list[float], float]], classes: int = 1):
    """cov (1, C, 4, 8) and bbox (1, 4C, 4, 8) whose cell (c, i, j) decodes to ``box``."""
    h, w = SIZE[0] // 16, SIZE[1] // 16
    cov, bbox = torch.zeros(1, classes, h, w), torch.zeros(1, classes, 4, h, w)
    ax, ay = anchors(h, w)
    for (c, i, j), (box, coverage) in cells.items():
        x1, y1, x2, y2 = box
        cov[0, c, i, j] = coverage
        bbox[0, c, :, i, j] = torch.tensor([ax[j] - x1, ay[i] - y1, x2 - ax[j], y2 - ay[i]]) / 35
    return cov, bbox.reshape(1, 4 * classes, h, w)


A, B1, B2 = [10.0, 10.0, 50.0, 60.0], [70.0, 5.0, 110.0, 45.0], [72.0, 5.0, 112.0, 45.0]


def test_dbscan_needs_a_unit_of_coverage_and_averages_by_coverage() -> None:
    cells = {(0, 0, 0): (A, 0.5), (0, 1, 1): (A, 0.4), (0, 2, 1): (A, 0.3),
             (0, 0, 5): (B1, 0.6), (0, 1, 5): (B2, 0.2),  # IoU 0.905: one cluster, sum 0.8
             (0, 3, 7): ([0.0, 0.0, 128.0, 64.0], 0.004)}  # below the coverage threshold
    decode = DetectionDecoder([ClusteringConfig()], SIZE)
    det = decode(*_maps(cells))[0]
    # B's cells sum to 0.8 < min_samples 1: no core point, so noise (TLT's weighted DBSCAN)
    np.testing.assert_allclose(det.boxes, [A], atol=1e-4)
    np.testing.assert_allclose(det.confidences, [1.2], atol=1e-6)
    np.testing.assert_allclose(det.scores, [0.4], atol=1e-6)  # mean coverage without rasterizer
    cells[(0, 0, 5)] = (B1, 0.9)  # now 1.1: a cluster, its box the coverage-weighted mean
    det = decode(*_maps(cells))[0]
    mean_b = (0.9 * np.array(B1) + 0.2 * np.array(B2)) / 1.1
    boxes, confidences = _by_x(det)
    np.testing.assert_allclose(boxes, [A, mean_b], atol=1e-4)
    np.testing.assert_allclose(confidences, [1.2, 1.1], atol=1e-6)
    assert det.labels.tolist() == [0, 0]
    assert det.scores.tolist() == pytest.approx([0.55, 0.4])  # sorted by score


def test_dbscan_eps_separates_boxes_by_iou() -> None:
    assert iou_matrix(np.array([B1]), np.array([B2]))[0, 0] == pytest.approx(1520 / 1680)
    cells = {(0, 0, 5): (B1, 0.9), (0, 1, 5): (B2, 0.9)}
    together = DetectionDecoder([ClusteringConfig(dbscan_eps=0.1)], SIZE)(*_maps(cells))[0]
    apart = DetectionDecoder([ClusteringConfig(dbscan_eps=0.09)], SIZE)(*_maps(cells))[0]
    assert len(together) == 1 and len(apart) == 0  # apart: each 0.9 < 1 alone
    apart = DetectionDecoder([ClusteringConfig(dbscan_eps=0.09, dbscan_min_samples=0.05)],
                             SIZE)(*_maps(cells))[0]
    assert len(apart) == 0  # old specs' 0.05 is max(int(0.05), 1) = 1


def test_height_and_confidence_filters() -> None:
    short = [0.0, 40.0, 30.0, 60.0]  # 20 px tall: dropped (height <= 20)
    cells = {(0, 0, 0): (A, 0.6), (0, 1, 0): (A, 0.6), (0, 3, 2): (short, 0.8),
             (0, 3, 3): (short, 0.8), (0, 0, 5): (B1, 0.9), (0, 1, 5): (B2, 0.2)}
    det = DetectionDecoder([ClusteringConfig()], SIZE)(*_maps(cells))[0]
    assert len(det) == 2 and det.boxes[:, 3].min() > 40
    strict = ClusteringConfig(dbscan_confidence_threshold=1.15, minimum_bounding_box_height=0)
    det = DetectionDecoder([strict], SIZE)(*_maps(cells))[0]
    np.testing.assert_allclose(_by_x(det)[1], [1.6, 1.2], atol=1e-6)  # B's 1.1 < 1.15


def test_nms_keeps_the_best_cell_of_overlapping_ones() -> None:
    cells = {(0, 0, 5): (B1, 0.9), (0, 1, 5): (B2, 0.8), (0, 0, 0): (A, 0.3),
             (0, 2, 0): ([0.0, 10.0, 30.0, 60.0], 0.009)}
    nms = ClusteringConfig(clustering_algorithm="NMS", nms_iou_threshold=0.5)
    det = DetectionDecoder([nms], SIZE)(*_maps(cells))[0]
    np.testing.assert_allclose(det.boxes, [B1, A], atol=1e-4)  # 0.009 < 0.01: dropped
    np.testing.assert_allclose(det.scores, [0.9, 0.3], atol=1e-6)
    np.testing.assert_allclose(det.confidences, det.scores)


def test_hybrid_runs_nms_over_the_surviving_clusters_cells() -> None:
    lone = [0.0, 0.0, 40.0, 40.0]  # a single cell with 0.7: no cluster, so not an NMS candidate
    cells = {(0, 0, 0): (A, 0.5), (0, 1, 1): (A, 0.4), (0, 2, 1): (A, 0.3),
             (0, 0, 5): (B1, 0.9), (0, 1, 5): (B2, 0.3), (0, 3, 7): (lone, 0.7)}
    hybrid = ClusteringConfig(clustering_algorithm="hybrid", nms_iou_threshold=0.5)
    det = DetectionDecoder([hybrid], SIZE)(*_maps(cells))[0]
    np.testing.assert_allclose(det.boxes, [B1, A], atol=1e-4)
    np.testing.assert_allclose(det.confidences, [0.9, 0.5], atol=1e-6)


def test_classes_and_images_are_decoded_apart() -> None:
    cells = {(0, 0, 0): (A, 0.6), (0, 1, 0): (A, 0.6), (1, 0, 5): (B1, 0.7),
             (1, 1, 5): (B1, 0.7)}
    cov, bbox = _maps(cells, classes=2)
    decode = DetectionDecoder([ClusteringConfig(), ClusteringConfig(coverage_threshold=0.65)],
                              SIZE)
    first, second = decode(torch.cat([cov, torch.zeros_like(cov)]), torch.cat([bbox, bbox]))
    assert first.labels.tolist() == [1, 0] and first.scores.tolist() == pytest.approx([0.7, 0.6])
    assert len(second) == 0 and second.boxes.shape == (0, 4)
    with pytest.raises(ValueError, match="2 coverage channels for 1 classes"):
        DetectionDecoder([ClusteringConfig()], SIZE)(cov, bbox)


def test_perfect_targets_score_near_one_whatever_the_size() -> None:
    classes = [RasterClass()]
    boxes = torch.tensor([[8.0, 8.0, 40.0, 44.0], [60.0, 4.0, 250.0, 120.0]])
    targets = TargetEncoder(classes, (128, 256))([boxes], [torch.tensor([0, 0])])
    decode = DetectionDecoder([ClusteringConfig()], (128, 256), rasterizer=classes)
    det = decode(targets.cov, targets.bbox.reshape(1, 4, 8, 16))[0]
    np.testing.assert_allclose(det.boxes[np.argsort(det.boxes[:, 0])], boxes.numpy(), atol=1e-3)
    assert det.confidences.max() > 2.5 * det.confidences.min()  # TLT's sum grows with size
    assert (det.scores > 0.99).all() and (det.scores <= 1).all()  # ... the score does not
    assert float(targets.cov.sum()) == pytest.approx(det.confidences.sum(), rel=1e-5)
