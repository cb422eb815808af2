"""bpnet's keypoint AP moved from its own pycocotools call onto graft.metrics.coco: the numbers
must not change. The reference below is the former code path (pycocotools' COCOeval, results
re-boxed around their found joints after loadRes), kept here verbatim in substance."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from graft.tasks.bpnet.metrics import (
    METRIC_NAMES,
    _ground_truth,
    coco_keypoint_ap,
    evaluation_joints,
    oks_sigmas,
)
from graft.tasks.bpnet.pose_config import PoseConfig
from tests.tasks.bpnet.test_metrics import COCO_FILE, CUSTOM_DIR, perfect_predictions


def former_keypoint_ap(gt: dict, predictions: list[dict], pose: PoseConfig) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    joints = evaluation_joints(pose)
    gt_dict, category_id = _ground_truth(gt, pose, joints)
    model_index = [pose.joints.index(j) for j in joints]
    results = [{"image_id": p["image_id"], "category_id": category_id, "score": p["score"],
                "keypoints": np.asarray(p["keypoints"], float).reshape(-1, 3)[model_index]
                .reshape(-1).tolist()} for p in predictions]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_dict
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        for ann in coco_dt.dataset["annotations"]:
            kps = np.asarray(ann["keypoints"], float).reshape(-1, 3)
            found = kps[kps[:, 2] > 0, :2]
            if len(found):
                (x0, y0), (x1, y1) = found.min(0), found.max(0)
                ann["bbox"] = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
                ann["area"] = float((x1 - x0) * (y1 - y0))
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        evaluator.params.imgIds = sorted(int(img["id"]) for img in gt_dict["images"])
        evaluator.params.kpt_oks_sigmas = oks_sigmas(joints)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats]


def noisy_predictions(gt: dict, pose: PoseConfig, seed: int) -> list[dict]:
    """Shifted, partly missing and rescored people plus false ones with missing joints."""
    rng = np.random.default_rng(seed)
    people = perfect_predictions(gt, pose)
    out = []
    for p in people:
        if rng.random() < 0.2:
            continue
        kps = np.asarray(p["keypoints"], float).copy()
        kps[:, :2] += rng.normal(0, 4, kps[:, :2].shape)
        kps[rng.random(len(kps)) < 0.2] = 0  # joints not found
        out.append({"image_id": p["image_id"], "keypoints": kps,
                    "score": float(rng.uniform(0.1, 1))})
    for image in gt["images"]:
        kps = np.zeros((pose.num_joints, 3))
        n = pose.num_joints // 2 + 1
        kps[:n] = np.c_[rng.uniform(0, image["width"], (n, 2)), np.full(n, 0.5)]
        out.append({"image_id": image["id"], "keypoints": kps,
                    "score": float(rng.uniform(0, 0.6))})
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fixture", ["coco_small", "custom5"])
def test_keypoint_ap_is_unchanged(fixture: str, seed: int) -> None:
    if fixture == "coco_small":
        pose, gt_file = PoseConfig(), COCO_FILE
    else:
        pose = PoseConfig.model_validate_json((CUSTOM_DIR / "pose_config.json").read_text())
        gt_file = CUSTOM_DIR / "person_keypoints.json"
    gt = json.loads(gt_file.read_text())
    predictions = noisy_predictions(gt, pose, seed)
    new = coco_keypoint_ap(gt_file, predictions, pose)
    assert list(new) == METRIC_NAMES
    assert 0 < new["AP"] < 1
    np.testing.assert_allclose(list(new.values()), former_keypoint_ap(gt, predictions, pose),
                               atol=1e-9)
