"""``dataset_convert``: COCO person keypoints -> validated training index (+ loss masks).

Reads the annotation file with pycocotools (polygons, compressed and uncompressed RLE, crowd
annotations), checks every annotation the index uses and stops at the first problem with a
one-line error naming the image and annotation. The result is a compact ``index.npz`` (no
pickle): per image its file, size, optional mask and its persons' keypoints already mapped to
the pose config's joints (a synthesized joint such as the neck exists only when every joint it
is made from is labeled).

Loss masks (``--generate_masks``) are PNGs, 255 where the loss applies and 0 where it must not:
crowd regions (minus labeled persons inside them) and persons annotated without keypoints.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from graft.errors import UserError
from graft.fsutil import atomic_open, write_bytes, write_json
from graft.spec_paths import path_origin
from graft.tasks.bpnet.dataset_spec import (
    DataFilteringParams,
    DatasetSpec,
    load_dataset_spec,
    normalize_mode,
)
from graft.tasks.bpnet.pose_config import PoseConfig

INDEX_FILE = "index.npz"
SUMMARY_FILE = "summary.json"
INDEX_FORMAT = "graft-bpnet-index"
INDEX_VERSION = 1
# Labeled keypoints may sit up to this far outside the pixel area (annotation tools round).
OUT_OF_IMAGE_TOLERANCE = 1.0


@dataclass
class PoseIndex:
    """Images of one split and their persons, as flat arrays (CSR layout over persons)."""

    mode: str
    image_ids: np.ndarray  # (N,) int64
    file_names: np.ndarray  # (N,) str, relative to image_dir
    heights: np.ndarray  # (N,) int32
    widths: np.ndarray  # (N,) int32
    mask_files: np.ndarray  # (N,) str relative to mask_dir, "" = no mask
    person_start: np.ndarray  # (N + 1,) int64: persons of image i are [start[i], start[i+1])
    keypoints: np.ndarray  # (P, J, 3) float32: x, y, visibility 0/1/2 in image pixels
    bboxes: np.ndarray  # (P, 4) float32: x, y, w, h
    main: np.ndarray  # (P,) bool: may be the centre of a person-centric crop
    image_dir: Path
    mask_dir: Path
    annotation_file: Path
    pose_config: PoseConfig
    duplicate_each_person: bool = True
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def num_persons(self) -> int:
        return int(self.keypoints.shape[0])

    def persons(self, i: int) -> slice:
        return slice(int(self.person_start[i]), int(self.person_start[i + 1]))

    def image_path(self, i: int) -> Path:
        return self.image_dir / str(self.file_names[i])

    def mask_path(self, i: int) -> Path | None:
        name = str(self.mask_files[i])
        return self.mask_dir / name if name else None

    def save(self, path: str | Path) -> None:
        """Write ``index.npz`` atomically; paths are stored relative to its folder."""
        path = Path(path)
        base = path.resolve().parent
        meta = {
            "format": INDEX_FORMAT,
            "version": INDEX_VERSION,
            "mode": self.mode,
            "paths": {k: _portable(v, base) for k, v in (
                ("image_dir", self.image_dir), ("mask_dir", self.mask_dir),
                ("annotation_file", self.annotation_file))},
            "pose_config": self.pose_config.model_dump(mode="json"),
            "duplicate_each_person": self.duplicate_each_person,
            "stats": self.stats,
        }
        with atomic_open(path, "wb") as fh:
            np.savez_compressed(
                fh, meta=np.array(json.dumps(meta)), image_ids=self.image_ids,
                file_names=self.file_names.astype(str), heights=self.heights,
                widths=self.widths, mask_files=self.mask_files.astype(str),
                person_start=self.person_start, keypoints=self.keypoints,
                bboxes=self.bboxes, main=self.main)

    @classmethod
    def load(cls, path: str | Path) -> PoseIndex:
        """Read an index written by :meth:`save` (a folder means its ``index.npz``)."""
        path = Path(path)
        if path.is_dir():
            path = path / INDEX_FILE
        if not path.is_file():
            raise UserError(f"training index not found: {path}{path_origin(path)}",
                            "run `graft bpnet dataset_convert` first")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            meta = json.loads(str(data.pop("meta")))
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"{path} is not a graft bpnet index ({exc})",
                            "re-run dataset_convert") from None
        if meta.get("format") != INDEX_FORMAT or meta.get("version") != INDEX_VERSION:
            raise UserError(f"{path} is not a version-{INDEX_VERSION} graft bpnet index",
                            "re-run dataset_convert")
        base = path.resolve().parent
        paths = {k: _resolve(v, base) for k, v in meta["paths"].items()}
        return cls(
            mode=meta["mode"], image_ids=data["image_ids"], file_names=data["file_names"],
            heights=data["heights"], widths=data["widths"], mask_files=data["mask_files"],
            person_start=data["person_start"], keypoints=data["keypoints"],
            bboxes=data["bboxes"], main=data["main"], image_dir=paths["image_dir"],
            mask_dir=paths["mask_dir"], annotation_file=paths["annotation_file"],
            pose_config=PoseConfig.model_validate(meta["pose_config"]),
            duplicate_each_person=bool(meta.get("duplicate_each_person", True)),
            stats=meta.get("stats", {}),
        )


def _portable(p: Path, base: Path) -> dict[str, str]:
    absolute = Path(p).resolve()
    try:
        rel = os.path.relpath(absolute, base)
    except ValueError:  # another drive on Windows
        rel = str(absolute)
    return {"relative": rel, "absolute": str(absolute)}


def _resolve(entry: dict[str, str], base: Path) -> Path:
    """Prefer the path relative to the index (the folder may have moved with the data)."""
    rel = base / entry["relative"]
    return rel.resolve() if rel.exists() else Path(entry["absolute"])


# -- keypoint mapping -------------------------------------------------------------------------
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
            region |= _ann_mask(coco, ann, image).astype(bool)
        return region

    ignore = union(crowd) & ~union(labeled) if crowd else np.zeros((h, w), dtype=bool)
    if unlabeled:
        ignore |= union(unlabeled)
    if not ignore.any():
        return None
    return np.where(ignore, 0, 255).astype(np.uint8)


def _ann_mask(coco: Any, ann: dict, image: dict) -> np.ndarray:
    h, w = int(image["height"]), int(image["width"])
    seg = ann.get("segmentation")
    if not seg:  # no outline: fall back to the box
        mask = np.zeros((h, w), dtype=np.uint8)
        x, y, bw, bh = (float(v) for v in ann.get("bbox", (0, 0, 0, 0)))
        x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
        mask[y0:int(np.ceil(y + bh)), x0:int(np.ceil(x + bw))] = 1
        return mask
    try:
        mask = coco.annToMask(ann)
    except Exception as exc:  # pycocotools raises bare Exceptions/TypeErrors on bad shapes
        raise UserError(
            f"annotation {ann.get('id')} (image {image['id']}, {image['file_name']}): "
            f"segmentation cannot be decoded ({type(exc).__name__}: {exc})",
            "fix its polygon/RLE or remove the segmentation") from None
    if mask.shape != (h, w):
        raise UserError(
            f"annotation {ann.get('id')} (image {image['id']}, {image['file_name']}): RLE size "
            f"{mask.shape[::-1]} differs from the {w}x{h} image", "fix the segmentation size")
    return mask


# -- conversion -------------------------------------------------------------------------------
def load_coco(annotation_file: Path) -> Any:
    """pycocotools COCO object, with I/O and format problems as one-line errors."""
    from pycocotools.coco import COCO

    if not annotation_file.is_file():
        raise UserError(f"annotation file not found: {annotation_file}",
                        "check annotation_root_dir_path in the dataset spec")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(annotation_file))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{annotation_file} is not valid JSON ({exc})", "fix the file") from None
    except (AssertionError, KeyError, TypeError) as exc:
        raise UserError(f"{annotation_file} is not a COCO annotation file ({exc!r})",
                        "it needs images, annotations and categories lists") from None
    return coco


def _where(ann: dict, image: dict) -> str:
    return f"annotation {ann.get('id')} (image {image['id']}, {image['file_name']})"


def build_index(spec: DatasetSpec, mode: str, generate_masks: bool = False,
                progress: bool = True) -> PoseIndex:
    """Validate the annotations of ``mode`` and build its index (writes masks if asked)."""
    from rich.progress import track

    mode = normalize_mode(mode)
    pose = spec.load_pose_config()
    ann_file, image_dir, mask_dir = (spec.annotation_file(mode), spec.image_dir(mode),
                                     spec.mask_dir(mode))
    coco = load_coco(ann_file)
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
        if "file_name" not in image or "height" not in image or "width" not in image:
            raise UserError(f"image {img_id} in {ann_file} lacks file_name/height/width",
                            "every COCO image entry needs them")
        h, w = int(image["height"]), int(image["width"])
        labeled, crowd, unlabeled = [], [], []
        kps_list, boxes, areas, nlab = [], [], [], []
        for ann in coco.imgToAnns.get(img_id, []):
            if ann.get("category_id") not in cat_ids:
                continue
            raw = ann.get("keypoints") or []
            if raw and len(raw) != 3 * num_src:
                raise UserError(
                    f"{_where(ann, image)} has {len(raw) // 3} keypoints but the pose config "
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
        image_path = image_dir / image["file_name"]
        if not image_path.is_file():
            raise UserError(f"image file not found: {image_path} (image id {img_id})",
                            "check images_root_dir_path in the dataset spec")
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
            raise UserError(f"{_where(ann, image)} has visibility flag {value:g}, which the "
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
            f"{_where(ann, image)}: keypoint {pose.source_joints[j]!r} at ({x[j]:.1f}, "
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
    spec = (dataset_spec if isinstance(dataset_spec, DatasetSpec)
            else load_dataset_spec(dataset_spec))
    index = build_index(spec, mode, generate_masks=generate_masks, progress=progress)
    out = Path(output_dir)
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
