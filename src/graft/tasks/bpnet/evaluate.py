"""``graft bpnet evaluate``: COCO keypoint AP of a model on a dataset spec's test split.

Every image of the test annotation file is run through :class:`PoseEstimator` with the
inference spec's settings; the predictions (in image pixels, model joint order) are scored by
:func:`~graft.tasks.bpnet.metrics.coco_keypoint_ap`. The results dir receives
``results.json``/``results.csv`` (the 10 numbers) and ``predictions.json`` (COCO results
format, evaluated joints only).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from graft.data.images import read_rgb_array
from graft.errors import UserError
from graft.fsutil import check_output_dir, write_json
from graft.tasks.bpnet.inference import PoseEstimator, pose_config_of
from graft.tasks.bpnet.metrics import (
    METRIC_DESCRIPTIONS,
    METRIC_NAMES,
    coco_keypoint_ap,
    evaluation_joints,
    write_results,
)
from graft.tasks.bpnet.spec import InferenceSpec


def evaluation_pose(model_pose, dataset_pose):
    """The model's joints with the dataset's annotation order (``source_joints``)."""
    if list(dataset_pose.joints) != list(model_pose.joints):
        raise UserError(
            f"the dataset spec's pose config has {len(dataset_pose.joints)} joints "
            f"{dataset_pose.joints}, the model {len(model_pose.joints)} {model_pose.joints}",
            "point the dataset spec at the pose config the model was trained with")
    return dataset_pose


def predict_people(estimator: PoseEstimator, image_dir: Path, images: list[dict[str, Any]],
                   progress: bool = False) -> list[dict[str, Any]]:
    """People found in each COCO ``images`` entry (read from ``image_dir``), as COCO-style
    predictions: ``image_id``, ``keypoints`` (J, 3) in image pixels, ``score``."""
    from rich.progress import track

    def pixels():
        for img in images:
            yield read_rgb_array(image_dir / img["file_name"])

    predictions: list[dict[str, Any]] = []
    people_per_image = estimator.predict_many(pixels())
    for img, people in track(zip(images, people_per_image, strict=False), total=len(images),
                             description="evaluate", disable=not progress):
        for p in people:
            predictions.append({"image_id": int(img["id"]), "keypoints": p["keypoints"],
                                "score": float(p["score"])})
    return predictions


def evaluate(spec: InferenceSpec, model: Any, dataset_spec: str | Path, *,
             results_dir: str | Path | None = None, mode: str = "test",
             device: str | None = "auto", max_images: int | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Evaluate ``model`` (a loaded GraftModel) and return the metrics plus run facts."""
    from graft.tasks.bpnet.dataset_spec import load_dataset_spec

    if results_dir is not None:
        check_output_dir(results_dir)
    ds = load_dataset_spec(dataset_spec)
    pose = evaluation_pose(pose_config_of(model.manifest), ds.load_pose_config())
    ann_file, image_dir = ds.annotation_file(mode), ds.image_dir(mode)
    if not ann_file.is_file():
        raise UserError(f"annotation file not found: {ann_file}", "check the dataset spec")
    gt = json.loads(ann_file.read_text())
    images = list(gt.get("images", []))
    if max_images is not None:
        images = images[:max_images]
    if not images:
        raise UserError(f"{ann_file} lists no images", "evaluate on a split with images")
    estimator = PoseEstimator(model, spec, device)
    start = time.perf_counter()
    predictions = predict_people(estimator, image_dir, images, progress)
    seconds = time.perf_counter() - start
    metrics = coco_keypoint_ap(gt, predictions, pose, image_ids=[int(i["id"]) for i in images])
    result = {"metrics": metrics, "images": len(images), "persons": len(predictions),
              "seconds": round(seconds, 2), "images_per_second": round(len(images) / seconds, 2),
              "annotation_file": str(ann_file), "backend": getattr(model, "backend", "pytorch"),
              "input_shape": list(estimator.spec.input_shape),
              "keep_aspect_ratio_mode": estimator.spec.keep_aspect_ratio_mode}
    if results_dir is not None:
        out = Path(results_dir)
        write_results(out, metrics)
        joints = evaluation_joints(pose)
        keep = [pose.joints.index(j) for j in joints]
        write_json(out / "predictions.json", {
            "joints": joints,
            "results": [{"image_id": p["image_id"], "category_id": 1, "score": p["score"],
                         "keypoints": [round(float(v), 2) for v in p["keypoints"][keep].ravel()]}
                        for p in predictions]})
    return result


def metrics_table(metrics: dict[str, float], title: str):
    """A rich table of the 10 COCO keypoint numbers."""
    from graft.metrics.tables import metrics_table as table

    return table({name: metrics[name] for name in METRIC_NAMES}, METRIC_DESCRIPTIONS,
                 title=title)
