"""``dataset_convert``: COCO person keypoints -> validated training index (+ loss masks).

The annotation file is read and checked by the shared COCO layer (:mod:`graft.data.coco`:
polygons, compressed and uncompressed RLE, crowd annotations); this module adds the pose
checks (keypoint counts, visibility flags, joints inside the image) and stops at the first
problem with a one-line error naming the image and annotation. The result is a compact
``index.npz`` (:class:`~graft.tasks.bpnet.pose_index.PoseIndex`, no pickle): per image its
file, size, optional mask and its persons' keypoints already mapped to the pose config's
joints (a synthesized joint such as the neck exists only when every joint it is made from is
labeled).

Loss masks (``--generate_masks``) are PNGs, 255 where the loss applies and 0 where it must not:
crowd regions (minus labeled persons inside them) and persons annotated without keypoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from graft.data.coco import image_file, load_coco, where
from graft.errors import UserError
from graft.fsutil import check_output_dir, write_bytes, write_json
from graft.tasks.bpnet.dataset_spec import DatasetSpec, load_dataset_spec, normalize_mode
from graft.tasks.bpnet.persons import loss_mask, map_keypoints, select_main_persons
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.pose_index import INDEX_FILE, SUMMARY_FILE, PoseIndex

__all__ = ["PoseIndex", "build_index", "dataset_convert", "load_coco", "loss_mask",
           "map_keypoints", "select_main_persons"]

# Labeled keypoints may sit up to this far outside the pixel area (annotation tools round).
OUT_OF_IMAGE_TOLERANCE = 1.0


def build_index(spec: DatasetSpec, mode: str, generate_masks: bool = False,
                progress: bool = True) -> PoseIndex:
    """Validate the annotations of ``mode`` and build its index (writes masks if asked)."""
    from rich.progress import track

    mode = normalize_mode(mode)
    pose = spec.load_pose_config()
    ann_file, image_dir, mask_dir = (spec.annotation_file(mode), spec.image_dir(mode),
                                     spec.mask_dir(mode))
    coco = load_coco(ann_file, "check annotation_root_dir_path in the dataset spec")
    cat_ids = _category_ids(coco, spec, pose, ann_file)
    lookup = spec.visibility_flags.code_of()
    num_src = len(pose.source_joints)

    if not coco.imgs:
        raise UserError(f"empty dataset: {ann_file} lists no images", "check the annotation file")
    rows: list[dict[str, Any]] = []
    counts = {"crowd_annotations": 0, "unlabeled_persons": 0, "masks_written": 0,
              "masks_reused": 0, "images_without_persons": 0}
    for img_id in track(sorted(coco.imgs), description=f"converting {mode}", disable=not progress):
        image = coco.imgs[img_id]
        h, w = int(image["height"]), int(image["width"])
        labeled, crowd, unlabeled = [], [], []
        kps_list, boxes, areas, nlab = [], [], [], []
        for ann in coco.imgToAnns.get(img_id, []):
            if ann.get("category_id") not in cat_ids:
                continue
            raw = ann.get("keypoints") or []
            if raw and len(raw) != 3 * num_src:
                raise UserError(
                    f"{where(ann, image)} has {len(raw) // 3} keypoints but the pose config "
                    f"lists {num_src} source_joints",
                    "set source_joints in the pose config to the annotation's joint order")
            if ann.get("iscrowd", 0):
                crowd.append(ann)
                continue
            src = np.asarray(raw, dtype=np.float64).reshape(-1, 3) if raw else np.zeros((0, 3))
            vis = _visibility(src[:, 2], lookup, ann, image)
            if not (vis > 0).any():
                unlabeled.append(ann)
                continue
            _check_inside(src, vis, w, h, pose, ann, image)
            src = np.concatenate([src[:, :2], vis[:, None]], axis=1)
            kps_list.append(src)
            labeled.append(ann)
            boxes.append(_bbox(ann, src))
            areas.append(float(ann.get("area") or boxes[-1][2] * boxes[-1][3]))
            nlab.append(int((vis > 0).sum()))
        counts["crowd_annotations"] += len(crowd)
        counts["unlabeled_persons"] += len(unlabeled)
        if not labeled:
            counts["images_without_persons"] += 1
            if mode == "train":
                continue
        image_file(image_dir, image, "check images_root_dir_path in the dataset spec")
        mask_name = str(Path(image["file_name"]).with_suffix(".png"))
        if generate_masks:
            mask = loss_mask(coco, image, labeled, crowd, unlabeled)
            if mask is None:
                mask_name = ""
            else:
                ok, png = cv2.imencode(".png", mask)
                if not ok:
                    raise UserError(f"could not encode the mask of image {img_id}")
                write_bytes(mask_dir / mask_name, png.tobytes())
                counts["masks_written"] += 1
        elif (mask_dir / mask_name).is_file():
            counts["masks_reused"] += 1
        else:
            mask_name = ""
        src = np.stack(kps_list) if kps_list else np.zeros((0, num_src, 3))
        boxes_arr = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        rows.append({
            "id": img_id, "file": image["file_name"], "h": h, "w": w, "mask": mask_name,
            "kps": map_keypoints(src, pose), "boxes": boxes_arr,
            "main": select_main_persons(boxes_arr, np.asarray(areas), np.asarray(nlab),
                                        spec.data_filtering_params),
        })
    if not rows or (mode == "train" and not any(len(r["kps"]) for r in rows)):
        raise UserError(f"empty dataset: no {spec.category!r} annotation in {ann_file} has "
                        "labeled keypoints", "check the annotation file and category")
    return _assemble(rows, mode, pose, spec, image_dir, mask_dir, ann_file, counts)


def _category_ids(coco: Any, spec: DatasetSpec, pose: PoseConfig, ann_file: Path) -> set[int]:
    cats = [c for c in coco.cats.values() if c.get("name") == spec.category]
    if not cats:
        names = sorted({str(c.get("name")) for c in coco.cats.values()})
        raise UserError(f"{ann_file} has no category {spec.category!r} (found: "
                        f"{', '.join(names) or 'none'})", "set category in the dataset spec")
    for cat in cats:
        names = cat.get("keypoints")
        if names and len(names) != len(pose.source_joints):
            raise UserError(
                f"category {spec.category!r} in {ann_file} lists {len(names)} keypoints but the "
                f"pose config has {len(pose.source_joints)} source_joints",
                "set source_joints (or categories[].keypoints in the dataset spec) to the "
                "annotation's joint order")
    return {int(c["id"]) for c in cats}


def _visibility(flags: np.ndarray, lookup: dict[int, int], ann: dict, image: dict) -> np.ndarray:
    codes = np.empty(len(flags), dtype=np.float64)
    for k, value in enumerate(flags.tolist()):
        code = lookup.get(int(value)) if float(value).is_integer() else None
        if code is None:
            raise UserError(f"{where(ann, image)} has visibility flag {value:g}, which the "
                            "dataset spec does not define", "add it to visibility_flags")
        codes[k] = code
    return codes


def _check_inside(src: np.ndarray, vis: np.ndarray, w: int, h: int, pose: PoseConfig,
                  ann: dict, image: dict) -> None:
    tol = OUT_OF_IMAGE_TOLERANCE
    x, y = src[:, 0], src[:, 1]
    outside = (vis > 0) & ((x < -tol) | (y < -tol) | (x > w - 1 + tol) | (y > h - 1 + tol))
    if outside.any():
        j = int(np.argmax(outside))
        raise UserError(
            f"{where(ann, image)}: keypoint {pose.source_joints[j]!r} at ({x[j]:.1f}, "
            f"{y[j]:.1f}) lies outside the {w}x{h} image",
            "fix the annotation or mark the keypoint not labeled")


def _bbox(ann: dict, src: np.ndarray) -> list[float]:
    box = ann.get("bbox")
    if box and len(box) == 4 and box[2] > 0 and box[3] > 0:
        return [float(v) for v in box]
    pts = src[src[:, 2] > 0, :2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return [float(x0), float(y0), float(max(x1 - x0, 1.0)), float(max(y1 - y0, 1.0))]


def _assemble(rows: list[dict], mode: str, pose: PoseConfig, spec: DatasetSpec, image_dir: Path,
              mask_dir: Path, ann_file: Path, counts: dict[str, int]) -> PoseIndex:
    sizes = np.array([len(r["kps"]) for r in rows], dtype=np.int64)
    start = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=start[1:])
    j = pose.num_joints
    kps = [r["kps"] for r in rows if len(r["kps"])]
    boxes = [r["boxes"] for r in rows if len(r["boxes"])]
    main = [r["main"] for r in rows if len(r["main"])]
    stats = {"images": len(rows), "persons": int(start[-1]),
             "main_persons": int(sum(m.sum() for m in main)), **counts}
    return PoseIndex(
        mode=mode,
        image_ids=np.array([r["id"] for r in rows], dtype=np.int64),
        file_names=np.array([r["file"] for r in rows], dtype=str),
        heights=np.array([r["h"] for r in rows], dtype=np.int32),
        widths=np.array([r["w"] for r in rows], dtype=np.int32),
        mask_files=np.array([r["mask"] for r in rows], dtype=str),
        person_start=start,
        keypoints=np.concatenate(kps).astype(np.float32) if kps else np.zeros((0, j, 3), "f4"),
        bboxes=np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), "f4"),
        main=np.concatenate(main) if main else np.zeros(0, dtype=bool),
        image_dir=image_dir, mask_dir=mask_dir, annotation_file=ann_file, pose_config=pose,
        duplicate_each_person=spec.duplicate_data_with_each_person_as_center, stats=stats,
    )


def dataset_convert(dataset_spec: str | Path | DatasetSpec, mode: str, output_dir: str | Path,
                    generate_masks: bool = False, progress: bool = True) -> dict[str, Any]:
    """Convert one split: write ``OUT/index.npz`` and ``OUT/summary.json``; return the summary.

    ``generate_masks`` writes the loss masks into the spec's mask folder; without it, masks
    already there (from an earlier run) are used.
    """
    out = check_output_dir(output_dir, "output folder (-o)")
    spec = (dataset_spec if isinstance(dataset_spec, DatasetSpec)
            else load_dataset_spec(dataset_spec))
    index = build_index(spec, mode, generate_masks=generate_masks, progress=progress)
    index.save(out / INDEX_FILE)
    summary = {
        "mode": index.mode,
        "index": str(out / INDEX_FILE),
        "annotation_file": str(index.annotation_file),
        "image_dir": str(index.image_dir),
        "mask_dir": str(index.mask_dir),
        "joints": index.pose_config.joints,
        **index.stats,
    }
    write_json(out / SUMMARY_FILE, summary)
    return summary
