"""The converted training index of one split (``index.npz``): images and their persons.

Written by ``dataset_convert`` (:mod:`graft.tasks.bpnet.convert`) and read by training,
``check_labels`` and evaluation. A compressed ``.npz`` with a JSON header, no pickle; paths
are stored relative to the index so a dataset folder can move.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graft.errors import UserError
from graft.fsutil import atomic_open
from graft.spec_paths import path_origin
from graft.tasks.bpnet.pose_config import PoseConfig

INDEX_FILE = "index.npz"
SUMMARY_FILE = "summary.json"
INDEX_FORMAT = "graft-bpnet-index"
INDEX_VERSION = 1


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
