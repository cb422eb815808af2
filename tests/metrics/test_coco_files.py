"""Malformed ground truth and result files: one line naming the file, the entry and the fix."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from graft.errors import UserError
from graft.metrics.coco import evaluate_coco
from tests.metrics.coco_problem import make_problem

GT, RESULTS = make_problem(1)


def _set(index: int, **fields) -> Callable[[list], None]:
    def change(results: list) -> None:
        results[index].update(fields)
    return change


def _drop(index: int, key: str) -> Callable[[list], None]:
    def change(results: list) -> None:
        del results[index][key]
    return change


BAD_RESULTS = [
    ("bbox", _set(2, image_id=999), r"results\[2\] has image_id 999, which is not an image of"),
    ("bbox", _set(0, category_id=3), r"results\[0\] has category_id 3, which is not a category "
     r"of .* \(ids 1, 2, 5, 7\)"),
    ("bbox", _set(1, image_id="10"), r"results\[1\] has image_id '10'"),
    ("bbox", _drop(1, "score"), r"results\[1\] has score None"),
    ("bbox", _set(1, score=float("nan")), r"results\[1\] has score nan"),
    ("bbox", _set(4, bbox=[1, 2, 3]), r"results\[4\] has 3 numbers in bbox, expected 4"),
    ("bbox", _set(4, bbox=[1, 2, -3, 4]), r"results\[4\] has a bbox with negative width"),
    ("bbox", _drop(0, "bbox"), r"results\[0\] has no bbox"),
    ("segm", _set(0, segmentation=[[1, 2, 3, 4]]), r"results\[0\] has a segmentation that is "
     "neither RLE nor polygons"),
    ("segm", _set(0, segmentation={"size": [10, 10], "counts": "abc"}),
     r"results\[0\] has a 10x10 RLE mask on a 240x320 image"),
    ("segm", _set(0, segmentation={"size": [240, 320], "counts": [5, 7]}),
     r"results\[0\] has uncompressed RLE counts that do not cover the 240x320 image"),
    ("segm", _set(0, segmentation={"counts": "abc"}), r"results\[0\] has an RLE segmentation "
     "without a \\[height, width\\] size"),
    ("keypoints", _set(3, keypoints=[1.0] * 50), r"results\[3\] has 50 numbers in keypoints, "
     "expected 51"),
    ("keypoints", _set(3, keypoints="many"), r"results\[3\] has a keypoints that is not a list"),
]


@pytest.mark.parametrize(("iou_type", "change", "message"), BAD_RESULTS)
def test_a_malformed_result_is_one_line(tmp_path: Path, iou_type: str, change, message) -> None:
    results = copy.deepcopy(RESULTS[iou_type])
    change(results)
    gt_file, results_file = tmp_path / "gt.json", tmp_path / "results.json"
    gt_file.write_text(json.dumps(GT))
    results_file.write_text(json.dumps(results))
    with pytest.raises(UserError, match=message) as err:
        evaluate_coco(gt_file, results_file, iou_type)
    text = str(err.value)
    assert "\n" not in text and str(results_file) in text and err.value.fix


def test_files_that_are_not_results(tmp_path: Path) -> None:
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(GT))
    with pytest.raises(UserError, match="it is a COCO dataset, not results"):
        evaluate_coco(gt_file, gt_file, "bbox")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"image_id": 1,')
    with pytest.raises(UserError, match=r"is not valid JSON \(Expecting .* at line 1 column"):
        evaluate_coco(gt_file, broken, "bbox")
    with pytest.raises(UserError, match="results file not found: .*missing.json"):
        evaluate_coco(gt_file, tmp_path / "missing.json", "bbox")
    with pytest.raises(UserError, match="is not a list of detections"):
        evaluate_coco(GT, 5, "bbox")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="unknown IoU type 'box'"):
        evaluate_coco(GT, [], "box")  # type: ignore[arg-type]


def _gt_change(path: str, value) -> dict:
    gt = copy.deepcopy(GT)
    *keys, last = path.split(".")
    target = gt
    for key in keys:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return gt


BAD_GROUND_TRUTH = [
    ("images", KeyError, "has no 'images' list"),
    ("images.1.id", 10, r"images\[1\] repeats id 10"),
    ("categories.0.id", "one", r"categories\[0\] has id 'one'"),
    ("annotations.0.image_id", 4, r"annotations\[0\] \(id 1\) is on image 4, which .* does not "
     "list"),
    ("annotations.0.category_id", 9, r"annotations\[0\] \(id 1\) has category_id 9"),
    ("annotations.0.bbox", KeyError, r"annotations\[0\] \(id 1\) has no bbox"),
    ("annotations.0.area", "big", r"annotations\[0\] \(id 1\) has area 'big'"),
    ("annotations.0.segmentation", [[1, 2, 3]], r"annotations\[0\] \(id 1\) has a "
     "segmentation that is neither polygons nor RLE"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_GROUND_TRUTH)
def test_malformed_ground_truth_is_one_line(path: str, value, message: str) -> None:
    iou_type = "segm" if "segmentation" in path else "bbox"
    with pytest.raises(UserError, match=message) as err:
        evaluate_coco(_gt_change(path, value), RESULTS[iou_type], iou_type)
    assert "\n" not in str(err.value)


def test_ground_truth_defaults_fill_what_cocoeval_needs() -> None:
    gt = copy.deepcopy(GT)
    for ann in gt["annotations"]:
        if not ann["iscrowd"]:
            del ann["iscrowd"]
        del ann["num_keypoints"]
    reference = evaluate_coco(GT, RESULTS["keypoints"], "keypoints").metrics
    assert evaluate_coco(gt, RESULTS["keypoints"], "keypoints").metrics == reference
    no_area = copy.deepcopy(GT)
    for ann in no_area["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    filled = copy.deepcopy(no_area)
    for ann in filled["annotations"]:
        del ann["area"]
    assert (evaluate_coco(filled, RESULTS["bbox"], "bbox").metrics
            == evaluate_coco(no_area, RESULTS["bbox"], "bbox").metrics)


def test_ground_truth_that_is_a_results_list(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(RESULTS["bbox"]))
    with pytest.raises(UserError, match="is a JSON list, not a COCO annotation object "
                       r"\(pass the annotation file to -a and the results list to -p\)"):
        evaluate_coco(results_file, results_file, "bbox")
