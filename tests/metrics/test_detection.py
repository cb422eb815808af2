"""Per-class AP (KITTI/TLT style): hand-worked cases, TLT's two INTEGRATE bugs, ignore
regions, per-class IoU and size filters, and agreement with the COCO evaluator."""

from __future__ import annotations

import numpy as np
import pytest

from graft.metrics.confusion import detection_confusion_matrix
from graft.metrics.detection import (
    ClassRule,
    Detections,
    GroundTruth,
    average_precision,
    confusion_pairs,
    evaluate_detections,
    to_coco,
)

BOX = [10.0, 10.0, 50.0, 90.0]  # 40 x 80


def _shifted(box, dx: float) -> list[float]:
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


@pytest.mark.parametrize("mode", ["integrate", "sample"])
def test_four_perfect_detections_of_four_objects_score_one(mode: str) -> None:
    # TLT's INTEGRATE skips the last recall step and scores this 0.75.
    truths = [GroundTruth.of([_shifted(BOX, 100 * k) for k in range(4)], [0] * 4)]
    dets = [Detections.of([_shifted(BOX, 100 * k) for k in range(4)], [0] * 4,
                          [0.9, 0.8, 0.7, 0.6])]
    assert evaluate_detections(truths, dets, ["car"], mode=mode).ap("car") == 1.0


@pytest.mark.parametrize("mode", ["integrate", "sample"])
def test_one_perfectly_found_object_scores_one(mode: str) -> None:
    # TLT's INTEGRATE has a single recall value, skips it, and scores this class 0.0.
    result = evaluate_detections([GroundTruth.of([BOX], [0])],
                                 [Detections.of([BOX], [0], [0.3])], ["car"], mode=mode)
    assert result.ap("car") == 1.0 and result.mean_ap == 1.0


def test_integrate_and_sample_by_hand() -> None:
    # 2 objects; by score: TP, FP, TP -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
    truths = [GroundTruth.of([BOX, _shifted(BOX, 100)], [0, 0])]
    dets = [Detections.of([BOX, _shifted(BOX, 300), _shifted(BOX, 100)], [0, 0, 0],
                          [0.9, 0.8, 0.7])]
    # integrate: envelope 1 up to recall 1/2, 2/3 up to 1 -> 0.5 + 0.5 * 2/3
    assert evaluate_detections(truths, dets, ["car"]).ap("car") == pytest.approx(5 / 6)
    # sample: recall >= 0, .1, ..., .5 -> 1 (6 points); .6 ... 1.0 -> 2/3 (5 points)
    sample = evaluate_detections(truths, dets, ["car"], mode="sample").ap("car")
    assert sample == pytest.approx((6 + 5 * 2 / 3) / 11)
    result = evaluate_detections(truths, dets, ["car"]).classes[0]
    assert (result.true_positives, result.detections, result.ground_truth) == (2, 3, 2)
    np.testing.assert_allclose(result.precision, [1, 0.5, 2 / 3])
    np.testing.assert_allclose(result.recall, [0.5, 0.5, 1])


def test_average_precision_of_a_miss_and_of_nothing() -> None:
    assert average_precision(np.array([1.0]), np.array([0.5]), "integrate") == 0.5
    assert average_precision(np.zeros(0), np.zeros(0), "integrate") == 0.0
    assert average_precision(np.zeros(0), np.zeros(0), "sample") == 0.0
    with pytest.raises(ValueError, match="sample"):
        average_precision(np.zeros(0), np.zeros(0), "voc")


def test_a_second_detection_of_one_object_is_a_false_positive() -> None:
    truths = [GroundTruth.of([BOX], [0])]
    dets = [Detections.of([BOX, _shifted(BOX, 1)], [0, 0], [0.9, 0.8])]
    c = evaluate_detections(truths, dets, ["car"]).classes[0]
    assert (c.true_positives, c.detections, c.ap) == (1, 2, 1.0)  # the FP comes after recall 1


def test_iou_threshold_is_per_class() -> None:
    # a detection shifted by 10 px: IoU 30/50 = 0.6 -> a match at 0.5, not at 0.7
    truths = [GroundTruth.of([BOX, _shifted(BOX, 200)], [0, 1])]
    dets = [Detections.of([_shifted(BOX, 10), _shifted(BOX, 210)], [0, 1], [0.9, 0.9])]
    rules = {"car": ClassRule(iou=0.7), "pedestrian": ClassRule(iou=0.5)}
    result = evaluate_detections(truths, dets, ["car", "pedestrian"], rules=rules)
    assert result.ap("car") == 0.0 and result.ap("pedestrian") == 1.0
    assert result.mean_ap == 0.5


def test_dontcare_regions_ignore_detections_inside_them() -> None:
    region = [200.0, 0.0, 400.0, 100.0]
    truths = [GroundTruth.of([BOX], [0], regions=[region])]
    inside = [250.0, 10.0, 290.0, 90.0]
    half_out = [380.0, 10.0, 440.0, 90.0]  # a third inside: a false positive
    dets = [Detections.of([BOX, inside, half_out], [0, 0, 0], [0.5, 0.9, 0.8])]
    c = evaluate_detections(truths, dets, ["car"]).classes[0]
    assert (c.ignored_detections, c.detections, c.true_positives) == (1, 2, 1)
    # the surviving FP ranks above the TP: precision 0 then 1/2 at recall 1 -> AP 1/2
    assert c.ap == pytest.approx(0.5)


def test_crowd_objects_are_ignore_regions_of_their_class_only() -> None:
    truths = [GroundTruth.of([BOX, _shifted(BOX, 100)], [0, 0], ignored=[False, True])]
    dets = [Detections.of([BOX, _shifted(BOX, 100), _shifted(BOX, 100)], [0, 0, 1],
                          [0.9, 0.95, 0.9])]
    result = evaluate_detections(truths, dets, ["car", "truck"])
    car, truck = result.classes
    assert (car.ground_truth, car.ignored_detections, car.ap) == (1, 1, 1.0)
    assert (truck.ground_truth, truck.ap, truck.detections) == (0, -1.0, 1)
    assert result.mean_ap == 1.0  # classes without ground truth are left out


def test_size_filters_ignore_ground_truth_and_detections_out_of_range() -> None:
    small = [300.0, 10.0, 320.0, 30.0]  # 20 x 20: below the 40 px minimum height
    truths = [GroundTruth.of([BOX, small], [0, 0])]
    found_small = Detections.of([BOX, small], [0, 0], [0.9, 0.95])
    rule = ClassRule(min_height=40)
    c = evaluate_detections(truths, [found_small], ["car"], rules={"car": rule}).classes[0]
    # TLT drops the small object, so its detection is a false positive; here it is ignored
    assert (c.ground_truth, c.ignored_detections, c.ap) == (1, 1, 1.0)
    stray_small = Detections.of([BOX, [300.0, 200.0, 320.0, 220.0]], [0, 0], [0.9, 0.95])
    c = evaluate_detections(truths, [stray_small], ["car"], rules={"car": rule}).classes[0]
    assert (c.ignored_detections, c.ap) == (1, 1.0)  # out of range and unmatched: ignored
    assert ClassRule(max_width=30).in_range(np.array([BOX, small])).tolist() == [False, True]


def test_images_and_classes_are_kept_apart() -> None:
    truths = [GroundTruth.of([BOX], [0]), GroundTruth.of([], [])]
    dets = [Detections.of([BOX], [1], [0.9]), Detections.of([BOX], [0], [0.8])]
    result = evaluate_detections(truths, dets, ["car", "truck"])
    assert result.ap("car") == 0.0  # the car detection is in the other image
    assert result.classes[0].detections == 1 and result.classes[1].ap == -1.0
    with pytest.raises(ValueError, match="2 ground-truth images but 1"):
        evaluate_detections(truths, dets[:1], ["car"])


def test_results_for_reports(tmp_path) -> None:
    from graft.metrics.plots import plot_pr_curves
    from graft.metrics.tables import write_csv

    truths = [GroundTruth.of([BOX], [0])]
    result = evaluate_detections(truths, [Detections.of([BOX], [0], [0.9])], ["car", "bus"])
    assert list(result.pr_curves()) == ["car AP 1.000"]
    data = result.to_json()
    assert data["mAP"] == 1.0 and data["per_class"][0]["false_positives"] == 0
    assert data["per_class"][1]["AP"] == -1.0
    png = plot_pr_curves(tmp_path / "pr.png", {"IoU per class": result.pr_curves()})
    assert png.read_bytes()[:4] == b"\x89PNG"
    rows = result.class_rows()
    text = write_csv(tmp_path / "ap.csv", list(rows[0]), rows).read_text()
    assert text.splitlines()[1].startswith("car,1.000000,1,1,1,0,0,1.000000")


def test_confusion_pairs_feed_the_detection_confusion_matrix() -> None:
    region = [200.0, 0.0, 400.0, 100.0]
    truths = [GroundTruth.of([BOX, _shifted(BOX, 100)], [0, 1], regions=[region])]
    dets = [Detections.of([BOX, _shifted(BOX, 100), [250, 10, 290, 90], [500, 0, 540, 80]],
                          [1, 1, 0, 0], [0.9, 0.9, 0.9, 0.1])]
    cm = detection_confusion_matrix(confusion_pairs(truths, dets, score_threshold=0.5), 2)
    # car seen as truck, truck found, the DontCare detection and the low score left out
    assert cm.tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_coco_conversion_agrees_with_the_coco_evaluator() -> None:
    from graft.metrics.coco import evaluate_coco

    region = [200.0, 0.0, 400.0, 100.0]
    truths = [GroundTruth.of([BOX, _shifted(BOX, 100)], [0, 0], regions=[region]),
              GroundTruth.of([BOX, _shifted(BOX, 450)], [0, 1], ignored=[False, True])]
    dets = [Detections.of([BOX, _shifted(BOX, 450), _shifted(BOX, 100), [250, 10, 290, 90]],
                          [0, 0, 0, 0], [0.9, 0.8, 0.7, 0.95]),
            Detections.of([BOX, _shifted(BOX, 450)], [0, 1], [0.6, 0.9])]
    ours = evaluate_detections(truths, dets, ["car", "truck"])
    gt, results = to_coco(truths, dets, ["car", "truck"], [(100, 600)] * 2)
    coco = evaluate_coco(gt, results)
    # 3 cars: TP .9, FP .8, TP .7, TP .6 (the DontCare detection ignored by both):
    # precision 1, 1/2, 2/3, 3/4 at recall 1/3, 1/3, 2/3, 1 -> area 1/3 + 2/3 * 3/4
    assert ours.ap("car") == pytest.approx(1 / 3 + 2 / 3 * 3 / 4)
    car = next(c for c in coco.categories if c.name == "car")
    assert car.ap50 == pytest.approx(ours.ap("car"), abs=0.01)  # COCO samples 101 recalls
    assert ours.ap("truck") == -1.0
    assert next(c for c in coco.categories if c.name == "truck").ground_truth == 0
