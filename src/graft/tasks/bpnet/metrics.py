"""COCO keypoint AP/AR of pose predictions, through graft's COCO evaluator (``keypoints``).

Joint mapping: predictions are in the model's joint order (``pose_config.joints``); annotations
are in ``pose_config.source_joints`` order. Evaluation uses the joints that are in both, in
annotation order, so the 18-joint model is scored on COCO's 17 (its neck, a synthesized joint,
is dropped) and a custom skeleton on its own labeled joints.

OKS sigmas: a joint named like one of COCO's 17 (``l_wrist`` or ``left_wrist``) gets COCO's
per-joint sigma. Any other joint gets ``default_sigma`` (0.079, COCO's shoulder value: a
mid-sized body joint) unless ``sigmas`` names it; AP with such joints compares models of that
skeleton with each other, not with COCO numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graft.errors import UserError
from graft.fsutil import write_json
from graft.metrics.coco import COCO_KEYPOINT_SIGMAS, KEYPOINT_METRICS, evaluate_coco
from graft.metrics.tables import write_metrics_csv
from graft.tasks.bpnet.pose_config import COCO_17_JOINTS, PoseConfig

METRIC_NAMES = list(KEYPOINT_METRICS)
METRIC_DESCRIPTIONS = KEYPOINT_METRICS
COCO_SIGMAS = dict(zip(COCO_17_JOINTS, COCO_KEYPOINT_SIGMAS, strict=True))
DEFAULT_SIGMA = 0.079


def evaluation_joints(pose_config: PoseConfig) -> list[str]:
    """Joints scored: labeled in the annotations and predicted by the model, annotation order."""
    predicted = set(pose_config.joints)
    return [j for j in pose_config.source_joints if j in predicted]


def oks_sigmas(joints: Sequence[str], sigmas: Mapping[str, float] | None = None,
               default_sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """Per-joint OKS sigmas: explicit ``sigmas``, else COCO's by name, else ``default_sigma``."""
    given = dict(sigmas or {})
    return np.array([given.get(j, COCO_SIGMAS.get(_short_name(j), default_sigma)) for j in joints],
                    float)


def _short_name(joint: str) -> str:
    """``left_wrist`` -> ``l_wrist`` (COCO's file names vs. BodyPoseNet's)."""
    for long, short in (("left_", "l_"), ("right_", "r_")):
        if joint.startswith(long):
            return short + joint[len(long):]
    return joint


def _ground_truth(gt: dict[str, Any], pose_config: PoseConfig, joints: list[str]
                  ) -> tuple[dict[str, Any], int]:
    """A copy of the annotation dict restricted to the evaluated joints (area/bbox filled)."""
    cats = [c for c in gt.get("categories", []) if c.get("keypoints")] or gt.get("categories", [])
    if not cats:
        raise UserError("the annotation file has no categories", "is it a COCO keypoints file?")
    category = cats[0]
    src = list(pose_config.source_joints)
    columns = [src.index(j) for j in joints]
    anns = []
    for ann in gt.get("annotations", []):
        if ann.get("category_id", category["id"]) != category["id"]:
            continue
        kps = np.asarray(ann.get("keypoints") or [0] * (3 * len(src)), float).reshape(-1, 3)
        if len(kps) != len(src):
            raise UserError(
                f"annotation {ann.get('id')} has {len(kps)} keypoints, the pose config's "
                f"source_joints has {len(src)}", "set source_joints to the file's joint order")
        kps = kps[columns]
        new = dict(ann)
        new["keypoints"] = kps.reshape(-1).tolist()
        new["num_keypoints"] = int((kps[:, 2] > 0).sum())
        new["category_id"] = category["id"]
        labeled = kps[kps[:, 2] > 0, :2]
        if "bbox" not in new:
            if len(labeled):
                lo, hi = labeled.min(0), labeled.max(0)
                new["bbox"] = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]),
                               float(hi[1] - lo[1])]
            else:
                new["bbox"] = [0.0, 0.0, 0.0, 0.0]
        if "area" not in new:
            new["area"] = float(new["bbox"][2] * new["bbox"][3])
        new.setdefault("iscrowd", 0)
        anns.append(new)
    out = {"images": gt.get("images", []), "annotations": anns,
           "categories": [dict(category, keypoints=list(joints), skeleton=[])]}
    return out, int(category["id"])


def _flatten_predictions(predictions: Any) -> list[dict[str, Any]]:
    """Accept ``[{"image_id", "keypoints", "score"}]`` or ``{image_id: [person, ...]}``."""
    if isinstance(predictions, Mapping):
        return [dict(p, image_id=image_id) for image_id, people in predictions.items()
                for p in people]
    return list(predictions)


def coco_keypoint_ap(gt_annotation_file: str | Path | dict[str, Any], predictions: Any,
                     pose_config: PoseConfig, image_ids: Iterable[int] | None = None, *,
                     sigmas: Mapping[str, float] | None = None,
                     default_sigma: float = DEFAULT_SIGMA) -> dict[str, float]:
    """The 10 standard COCO keypoint numbers of ``predictions`` against the annotation file.

    ``predictions``: people with ``image_id``, ``keypoints`` ((J, 3) in the model's joint order,
    original-image pixels, third column the joint score, 0 = missing) and ``score``; or a
    mapping image_id -> list of such people. ``image_ids`` restricts the evaluation (default:
    every image of the file). Scored by :func:`graft.metrics.coco.evaluate_coco`, each person
    boxed around its found joints (so APm/APl see its real size). Writes nothing.
    """
    if isinstance(gt_annotation_file, dict):
        raw = gt_annotation_file
    else:
        path = Path(gt_annotation_file)
        if not path.is_file():
            raise UserError(f"annotation file not found: {path}", "check the dataset spec")
        raw = json.loads(path.read_text())
    joints = evaluation_joints(pose_config)
    if not joints:
        raise UserError("no joint of the model is labeled in the annotations",
                        "check pose_config joints and source_joints")
    gt_dict, category_id = _ground_truth(raw, pose_config, joints)
    model_index = [pose_config.joints.index(j) for j in joints]
    known = {int(img["id"]) for img in gt_dict["images"]}
    ids = sorted(known if image_ids is None else known & {int(i) for i in image_ids})
    wanted = set(ids)

    results = []
    for p in _flatten_predictions(predictions):
        if int(p["image_id"]) not in wanted:
            continue
        kps = np.asarray(p["keypoints"], float).reshape(-1, 3)
        if len(kps) != pose_config.num_joints:
            raise ValueError(f"prediction has {len(kps)} joints, the pose config "
                             f"{pose_config.num_joints}")
        kps = kps[model_index]
        results.append({"image_id": int(p["image_id"]), "category_id": category_id,
                        "keypoints": kps.reshape(-1).tolist(), "score": float(p["score"])})
    if not ids or not results:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    evaluation = evaluate_coco(gt_dict, results, "keypoints", image_ids=ids,
                               kpt_oks_sigmas=oks_sigmas(joints, sigmas, default_sigma),
                               keypoint_boxes="labeled")
    return {name: evaluation.metrics[name] for name in METRIC_NAMES}


def write_results(out_dir: str | Path, metrics: Mapping[str, float]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.csv`` (metric, value) into ``out_dir``."""
    out = Path(out_dir)
    json_path = out / "results.json"
    write_json(json_path, dict(metrics))
    return json_path, write_metrics_csv(out / "results.csv", metrics)
