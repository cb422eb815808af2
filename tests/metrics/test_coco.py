"""The COCO evaluator gives pycocotools' numbers, on the cases COCOeval treats specially."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from graft.errors import UserError
from graft.metrics.coco import evaluate_coco
from tests.metrics.coco_problem import _ellipse, make_problem, pycocotools_numbers

IOU_TYPES = ["bbox", "segm", "keypoints"]


@pytest.fixture(scope="module", params=[0, 3])
def problem(request: pytest.FixtureRequest):
    return make_problem(request.param)


def test_the_problem_holds_the_special_cases(problem) -> None:
    gt, results = problem
    anns = gt["annotations"]
    assert any(a["iscrowd"] for a in anns)
    assert any(isinstance(a["segmentation"], dict) for a in anns)  # uncompressed-RLE crowd
    assert any(a["num_keypoints"] == 0 and not a["iscrowd"] for a in anns)
    with_gt = {a["category_id"] for a in anns}
    assert 7 not in with_gt and any(r["category_id"] == 7 for r in results["bbox"])
    with_results = {r["image_id"] for r in results["bbox"]}
    assert {img["id"] for img in gt["images"]} - with_results  # images without detections
    crowd_images = {a["image_id"] for a in anns if a["iscrowd"]}
    assert crowd_images & with_results  # detections where crowds are
    areas = np.array([a["area"] for a in anns])
    assert (areas < 32**2).any() and ((areas > 32**2) & (areas < 96**2)).any()
    assert (areas > 96**2).any()


@pytest.mark.parametrize("iou_type", IOU_TYPES)
def test_numbers_equal_pycocotools(problem, iou_type: str) -> None:
    gt, results = problem
    evaluation = evaluate_coco(gt, results[iou_type], iou_type)
    stats, precision = pycocotools_numbers(gt, results[iou_type], iou_type)
    assert len(evaluation.metrics) == (10 if iou_type == "keypoints" else 12)
    np.testing.assert_allclose(list(evaluation.metrics.values()), stats, atol=1e-4)
    assert evaluation.precision.shape == precision.shape
    np.testing.assert_allclose(evaluation.precision, precision, atol=1e-9)
    assert 0 < evaluation.metrics["AP"] < 1  # neither trivial nor empty
    for k, cat in enumerate(evaluation.categories):
        p = precision[:, :, k, 0, -1]
        expected = p[p > -1].mean() if (p > -1).any() else -1
        assert cat.ap == pytest.approx(expected, abs=1e-9)
        assert cat.ap50 == pytest.approx(p[0][p[0] > -1].mean() if (p[0] > -1).any() else -1)
    never_seen = evaluation.categories[-1]
    assert never_seen.name == "never seen" and never_seen.ap == -1 and never_seen.detections > 0


def test_caller_data_is_not_modified(problem) -> None:
    gt, results = problem
    before = copy.deepcopy((gt, results))
    for iou_type in IOU_TYPES:
        evaluate_coco(gt, results[iou_type], iou_type)
    assert (gt, results) == before


def test_restricting_images_equals_pycocotools(problem) -> None:
    gt, results = problem
    ids = [img["id"] for img in gt["images"][::2]]
    evaluation = evaluate_coco(gt, results["bbox"], "bbox", image_ids=ids)
    stats, _ = pycocotools_numbers(gt, results["bbox"], "bbox", image_ids=ids)
    np.testing.assert_allclose(list(evaluation.metrics.values()), stats, atol=1e-4)
    assert evaluation.images == len(ids)


def test_masks_as_polygons_or_uncompressed_rle_score_as_compressed_rle(problem) -> None:
    gt, results = problem
    rle = results["segm"]
    polygons = [dict(r, segmentation=[_ellipse(*b["bbox"])])
                for r, b in zip(rle, results["bbox"], strict=True)]
    reference = evaluate_coco(gt, rle, "segm").metrics
    assert evaluate_coco(gt, polygons, "segm").metrics == pytest.approx(reference, abs=1e-9)


def test_segm_area_is_the_mask_area_even_when_results_carry_boxes(problem) -> None:
    gt, results = problem
    boxed = [dict(r, bbox=b["bbox"]) for r, b in zip(results["segm"], results["bbox"],
                                                     strict=True)]
    stats, _ = pycocotools_numbers(gt, results["segm"], "segm")  # no bbox: mask areas
    evaluation = evaluate_coco(gt, boxed, "segm")
    np.testing.assert_allclose(list(evaluation.metrics.values()), stats, atol=1e-4)


def test_annotation_ids_from_zero_are_renumbered(problem) -> None:
    """COCOeval reads a match with annotation id 0 as no match: ids are renumbered."""
    gt, results = problem
    from_zero = copy.deepcopy(gt)
    for ann in from_zero["annotations"]:
        ann["id"] -= 1
    stats, _ = pycocotools_numbers(gt, results["bbox"], "bbox")
    evaluation = evaluate_coco(from_zero, results["bbox"], "bbox")
    np.testing.assert_allclose(list(evaluation.metrics.values()), stats, atol=1e-4)


def test_no_results_scores_zero_where_there_is_ground_truth(problem) -> None:
    gt, _ = problem
    evaluation = evaluate_coco(gt, [], "bbox")
    assert evaluation.metrics["AP"] == 0 and evaluation.detections == 0
    assert [c.ap for c in evaluation.categories] == [0.0, 0.0, 0.0, -1.0]


def test_custom_skeleton_with_its_own_sigmas_equals_pycocotools(problem) -> None:
    gt, results = problem
    keep = [0, 5, 6, 11, 12]
    small = copy.deepcopy(gt)
    for cat in small["categories"]:
        cat["keypoints"] = [cat["keypoints"][k] for k in keep]
    for ann in small["annotations"]:
        kps = np.asarray(ann["keypoints"]).reshape(-1, 3)[keep]
        ann["keypoints"] = kps.reshape(-1).tolist()
        ann["num_keypoints"] = int((kps[:, 2] > 0).sum())
    dets = [dict(r, keypoints=np.asarray(r["keypoints"]).reshape(-1, 3)[keep].reshape(-1)
                 .tolist()) for r in results["keypoints"]]
    sigmas = np.array([0.05, 0.08, 0.08, 0.1, 0.1])
    stats, _ = pycocotools_numbers(small, dets, "keypoints", sigmas=sigmas)
    evaluation = evaluate_coco(small, dets, "keypoints", kpt_oks_sigmas=sigmas)
    np.testing.assert_allclose(list(evaluation.metrics.values()), stats, atol=1e-4)
    with pytest.raises(UserError, match="5 keypoints per object; COCO's OKS sigmas"):
        evaluate_coco(small, dets, "keypoints")
    with pytest.raises(UserError, match="3 OKS sigmas for 5 keypoints"):
        evaluate_coco(small, dets, "keypoints", kpt_oks_sigmas=[0.1, 0.1, 0.1])


def test_keypoint_boxes_around_labeled_joints_only() -> None:
    gt = {"images": [{"id": 1, "width": 600, "height": 600}],
          "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b", "c"]}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                           "bbox": [300, 300, 150, 150], "area": 22500.0, "num_keypoints": 3,
                           "keypoints": [300, 300, 2, 450, 450, 2, 375, 375, 2]}]}
    hit = {"image_id": 1, "category_id": 1, "score": 0.5,
           "keypoints": [300, 300, 1, 450, 450, 1, 375, 375, 1]}
    # a false positive ranked first: its labeled joints span a medium box, all of its joints
    # (with the (0, 0) of the unlabeled one) a large one
    miss = {"image_id": 1, "category_id": 1, "score": 0.9,
            "keypoints": [100, 100, 1, 150, 150, 1, 0, 0, 0]}
    sigmas = [0.1, 0.1, 0.1]
    labeled = evaluate_coco(gt, [hit, miss], "keypoints", kpt_oks_sigmas=sigmas,
                            keypoint_boxes="labeled")
    everything = evaluate_coco(gt, [hit, miss], "keypoints", kpt_oks_sigmas=sigmas)
    stats, _ = pycocotools_numbers(gt, [hit, miss], "keypoints", sigmas=np.array(sigmas))
    np.testing.assert_allclose(list(everything.metrics.values()), stats, atol=1e-4)
    assert everything.metrics["APl"] == pytest.approx(0.5, abs=0.01)  # a large false positive
    assert labeled.metrics["APl"] == 1.0  # a medium one: outside the large range
    assert labeled.metrics["AP"] == everything.metrics["AP"]  # area "all" sees both alike


def test_pr_curves_average_as_cocoeval_does(problem) -> None:
    gt, results = problem
    evaluation = evaluate_coco(gt, results["bbox"], "bbox")
    recall, precision = evaluation.pr_curve(None, 0.5)
    assert recall.shape == precision.shape == (101,)
    assert precision.mean() == pytest.approx(evaluation.metrics["AP50"], abs=1e-9)
    _, over_ious = evaluation.pr_curve(None, None)
    assert over_ious.mean() == pytest.approx(evaluation.metrics["AP"], abs=1e-9)
    car = evaluation.pr_curve(2, 0.5)[1]
    assert car.mean() == pytest.approx(evaluation.categories[1].ap50, abs=1e-9)
    assert evaluation.pr_curve(7, 0.5)[0].size == 0  # no ground truth: no curve
    assert set(evaluation.pr_curves()) == {"plane", "car", "ship"}
    with pytest.raises(ValueError, match="no IoU threshold 0.52"):
        evaluation.pr_curve(None, 0.52)


def test_results_serialize(problem) -> None:
    gt, results = problem
    evaluation = evaluate_coco(gt, results["segm"], "segm")
    data = json.loads(json.dumps(evaluation.to_json()))
    assert data["metrics"]["AP"] == evaluation.metrics["AP"]
    assert [c["name"] for c in data["per_category"]] == ["plane", "car", "ship", "never seen"]
    assert data["images"] == len(gt["images"]) and data["engine"].startswith("faster-coco-eval")
    rows = evaluation.csv_rows()
    assert rows[0] == ["metric", "value", "meaning"] and len(rows) == 13
    assert rows[1][:2] == ["AP", f"{evaluation.metrics['AP']:.6f}"]


def test_image_size_is_checked_for_masks() -> None:
    gt, results = make_problem(0)
    image_id = gt["annotations"][0]["image_id"]
    del next(img for img in gt["images"] if img["id"] == image_id)["height"]
    with pytest.raises(UserError, match=f"image {image_id} has no height/width"):
        evaluate_coco(gt, results["segm"], "segm")


def test_evaluation_prints_nothing(problem, capfd: pytest.CaptureFixture,
                                   caplog: pytest.LogCaptureFixture) -> None:
    gt, results = problem
    for iou_type in IOU_TYPES:
        evaluate_coco(gt, results[iou_type], iou_type)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert not [r for r in caplog.records if r.levelno >= 30]  # no warnings logged
