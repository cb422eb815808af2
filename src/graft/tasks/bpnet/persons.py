"""Per-person rules of ``dataset_convert``: joint mapping, TLT's "main persons", loss masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from graft.data.coco import annotation_mask
from graft.tasks.bpnet.dataset_spec import DataFilteringParams
from graft.tasks.bpnet.pose_config import PoseConfig


def map_keypoints(source: np.ndarray, pose: PoseConfig) -> np.ndarray:
    """Map keypoints from the annotation joint order to the pose config's joints.

    ``source`` is (P, S, 3) with internal visibility codes (0 unlabeled, 1 occluded, 2 visible).
    A synthesized joint is the mean of its ``mean_of`` joints, only where all are labeled; its
    visibility is the lowest of theirs. Unlabeled joints come out as (0, 0, 0).
    """
    source = np.asarray(source, dtype=np.float32)
    if source.ndim != 3 or source.shape[1:] != (len(pose.source_joints), 3):
        raise ValueError(f"expected (P, {len(pose.source_joints)}, 3), got {source.shape}")
    index = {name: i for i, name in enumerate(pose.source_joints)}
    synth = {s.name: s for s in pose.synthesized}
    out = np.zeros((source.shape[0], pose.num_joints, 3), dtype=np.float32)
    for j, name in enumerate(pose.joints):
        if name in index:
            out[:, j] = source[:, index[name]]
            continue
        members = source[:, [index[m] for m in synth[name].mean_of]]  # (P, M, 3)
        ok = np.all(members[..., 2] > 0, axis=1)
        out[ok, j, :2] = members[ok, :, :2].mean(axis=1)
        out[ok, j, 2] = members[ok, :, 2].min(axis=1)
    out[out[..., 2] <= 0] = 0.0
    return out


def select_main_persons(
    bboxes: np.ndarray, areas: np.ndarray, num_labeled: np.ndarray, params: DataFilteringParams
) -> np.ndarray:
    """TLT's "main persons": big enough, enough keypoints, not on top of one already chosen."""
    chosen: list[tuple[float, float, float]] = []
    main = np.zeros(len(bboxes), dtype=bool)
    min_area = params.min_acceptable_width * params.min_acceptable_height
    for p, (x, y, w, h) in enumerate(bboxes):
        if num_labeled[p] < params.min_acceptable_kpts or areas[p] < min_area:
            continue
        cx, cy = x + w / 2, y + h / 2
        ratio = params.min_acceptable_interperson_dist_ratio
        if any(np.hypot(cx - px, cy - py) < ratio * size for px, py, size in chosen):
            continue
        main[p] = True
        chosen.append((cx, cy, max(w, h)))
    return main


# -- masks ------------------------------------------------------------------------------------
def loss_mask(coco: Any, image: dict, labeled: list[dict], crowd: list[dict],
              unlabeled: list[dict]) -> np.ndarray | None:
    """uint8 mask, 255 = use in loss, 0 = ignore; ``None`` when nothing is ignored."""
    if not crowd and not unlabeled:
        return None
    h, w = int(image["height"]), int(image["width"])

    def union(anns: list[dict]) -> np.ndarray:
        region = np.zeros((h, w), dtype=bool)
        for ann in anns:
            region |= annotation_mask(coco, ann, image).astype(bool)
        return region

    ignore = union(crowd) & ~union(labeled) if crowd else np.zeros((h, w), dtype=bool)
    if unlabeled:
        ignore |= union(unlabeled)
    if not ignore.any():
        return None
    return np.where(ignore, 0, 255).astype(np.uint8)
