"""COCO keypoint AP through pycocotools: joint mapping, custom skeletons, result files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from graft.tasks.bpnet.metrics import (
    COCO_SIGMAS,
    DEFAULT_SIGMA,
    METRIC_NAMES,
    coco_keypoint_ap,
    evaluation_joints,
    oks_sigmas,
    write_results,
)
from graft.tasks.bpnet.pose_config import PoseConfig

FIXTURES = Path(__file__).parent / "fixtures"
COCO_FILE = FIXTURES / "coco_small" / "person_keypoints.json"
CUSTOM_DIR = FIXTURES / "custom5"


def perfect_predictions(gt: dict, pose: PoseConfig, shift: float = 0.0) -> list[dict]:
    """The annotations themselves, as model-order predictions (synthesized joints made up)."""
    src = list(pose.source_joints)
    preds = []
    for ann in gt["annotations"]:
        if ann.get("iscrowd") or not ann.get("num_keypoints"):
            continue
        kps = np.asarray(ann["keypoints"], float).reshape(-1, 3)
        out = np.zeros((pose.num_joints, 3))
        for j, name in enumerate(pose.joints):
            if name in src and kps[src.index(name), 2] > 0:
                out[j] = (*kps[src.index(name), :2] + shift, 0.9)
            elif name not in src:
                out[j] = (5.0, 5.0, 0.9)  # a synthesized joint: must not be scored
        preds.append({"image_id": ann["image_id"], "keypoints": out, "score": 0.9})
    return preds


def test_ground_truth_as_prediction_scores_one() -> None:
    pose = PoseConfig()
    gt = json.loads(COCO_FILE.read_text())
    metrics = coco_keypoint_ap(COCO_FILE, perfect_predictions(gt, pose), pose)
    assert list(metrics) == METRIC_NAMES
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AR"] == pytest.approx(1.0)


def test_errors_lower_ap_and_missing_people_lower_recall() -> None:
    pose = PoseConfig()
    gt = json.loads(COCO_FILE.read_text())
    shifted = coco_keypoint_ap(COCO_FILE, perfect_predictions(gt, pose, shift=6.0), pose)
    assert 0.0 < shifted["AP"] < 0.9
    half = perfect_predictions(gt, pose)[::2]
    partial = coco_keypoint_ap(COCO_FILE, half, pose)
    assert partial["AR"] < 0.8
    assert coco_keypoint_ap(COCO_FILE, [], pose)["AP"] == 0.0


def test_image_ids_restrict_the_evaluation() -> None:
    pose = PoseConfig()
    gt = json.loads(COCO_FILE.read_text())
    preds = [p for p in perfect_predictions(gt, pose) if p["image_id"] == 1]
    assert coco_keypoint_ap(COCO_FILE, preds, pose)["AR"] < 1.0
    assert coco_keypoint_ap(COCO_FILE, preds, pose, image_ids=[1])["AR"] == pytest.approx(1.0)


def test_mapping_form_of_predictions_is_accepted() -> None:
    pose = PoseConfig()
    gt = json.loads(COCO_FILE.read_text())
    by_image: dict[int, list] = {}
    for p in perfect_predictions(gt, pose):
        by_image.setdefault(p["image_id"], []).append(
            {"keypoints": p["keypoints"], "score": p["score"]})
    assert coco_keypoint_ap(gt, by_image, pose)["AP"] == pytest.approx(1.0)


def test_custom_skeleton_uses_default_sigmas() -> None:
    pose = PoseConfig.model_validate_json((CUSTOM_DIR / "pose_config.json").read_text())
    gt_file = CUSTOM_DIR / "person_keypoints.json"
    gt = json.loads(gt_file.read_text())
    assert evaluation_joints(pose) == pose.joints
    np.testing.assert_allclose(oks_sigmas(pose.joints), [DEFAULT_SIGMA] * 5)
    metrics = coco_keypoint_ap(gt_file, perfect_predictions(gt, pose), pose)
    assert metrics["AP"] == pytest.approx(1.0)


def test_neck_is_dropped_and_coco_sigmas_match_by_name() -> None:
    pose = PoseConfig()
    joints = evaluation_joints(pose)
    assert "neck" not in joints and len(joints) == 17
    sig = oks_sigmas(["l_wrist", "left_wrist", "tail"], {"tail": 0.2})
    np.testing.assert_allclose(sig, [COCO_SIGMAS["l_wrist"], COCO_SIGMAS["l_wrist"], 0.2])


def test_write_results(tmp_path: Path) -> None:
    metrics = dict.fromkeys(METRIC_NAMES, 0.5)
    json_path, csv_path = write_results(tmp_path, metrics)
    assert json.loads(json_path.read_text()) == metrics
    rows = list(csv.reader(csv_path.open()))
    assert rows[0] == ["metric", "value"] and len(rows) == 11 and rows[1] == ["AP", "0.500000"]
