"""Confusion matrices of classifications and detections, and the detection matching."""

from __future__ import annotations

import numpy as np
import pytest

from graft.metrics.confusion import (
    confusion_matrix,
    detection_confusion_matrix,
    match_detections,
    per_class_report,
)


def test_classification_matrix_and_report() -> None:
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    report = per_class_report(cm, ["a", "b", "c"])
    assert report[0] == {"class": "a", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report[1]["precision"] == 0.5 and report[1]["recall"] == 1.0
    assert report[2]["f1"] == pytest.approx(0.8)


def test_detection_matrix_has_a_background_row_and_column() -> None:
    cm = detection_confusion_matrix([(0, 0), (0, 1), (1, None), (None, 1), (None, None)], 2)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="class index out of 0..1"):
        detection_confusion_matrix([(2, 0)], 2)


def test_matching_pairs_by_overlap_whatever_the_class() -> None:
    gt = [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]]
    det = [[1, 1, 10, 10],  # on object 0, right class
           [20, 21, 30, 30],  # on object 1, wrong class
           [0, 0, 9, 10],  # a second, lesser box on object 0: background
           [80, 80, 90, 90],  # nothing there
           [100, 100, 110, 110]]  # inside an ignore region: dropped
    pairs = match_detections(gt, [0, 1, 2], det, [0, 2, 0, 1, 1], iou_threshold=0.5,
                             ignore_boxes=[[95, 95, 120, 120]])
    assert sorted(pairs, key=str) == sorted([(0, 0), (1, 2), (2, None), (None, 0), (None, 1)],
                                            key=str)
    # the best overlap wins even when a worse box comes first
    assert match_detections([[0, 0, 10, 10]], [0], [[0, 0, 6, 10], [0, 0, 10, 10]], [1, 0]) == [
        (0, 0), (None, 1)]


def test_matching_empty_images() -> None:
    assert match_detections(np.zeros((0, 4)), [], [[0, 0, 5, 5]], [3]) == [(None, 3)]
    assert match_detections([[0, 0, 5, 5]], [3], np.zeros((0, 4)), []) == [(3, None)]
    assert match_detections([], [], [], []) == []
    with pytest.raises(ValueError, match="one label per box"):
        match_detections([[0, 0, 5, 5]], [], [], [])
