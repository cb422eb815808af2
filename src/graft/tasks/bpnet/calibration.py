"""``graft bpnet sample_calibration``: pick exactly N images for INT8 calibration.

An image qualifies when it has at least ``min_persons`` non-crowd persons with at least
``min_keypoints`` labeled keypoints each. The first N qualifying images by image id are taken,
or N drawn at random with ``randomize`` (reproducible with ``seed``). Exactly N, never N + 1:
an upstream sampler's off-by-one is the bug this replaces.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from graft.data.coco import load_coco
from graft.errors import UserError, require_dir
from graft.fsutil import atomic_dir, check_fresh_dir, write_json

SELECTION_FILE = "calibration_selection.json"


def qualifying_images(coco: Any, min_persons: int, min_keypoints: int,
                      category: str = "person") -> list[int]:
    """Image ids (sorted) with enough well-labeled persons."""
    cat_ids = {int(c["id"]) for c in coco.cats.values() if c.get("name") == category}
    if not cat_ids:
        raise UserError(f"the annotation file has no category {category!r}",
                        "calibration samples person keypoint datasets")
    chosen = []
    for img_id in sorted(coco.imgs):
        persons = 0
        for ann in coco.imgToAnns.get(img_id, []):
            if ann.get("category_id") not in cat_ids or ann.get("iscrowd", 0):
                continue
            flags = (ann.get("keypoints") or [])[2::3]
            if sum(1 for v in flags if v > 0) >= max(min_keypoints, 1):
                persons += 1
        if persons >= min_persons:
            chosen.append(int(img_id))
    return chosen


def sample_calibration(
    annotation_file: str | Path,
    image_dir: str | Path,
    out_dir: str | Path,
    n: int,
    min_persons: int = 1,
    min_keypoints: int = 1,
    randomize: bool = False,
    seed: int = 0,
    category: str = "person",
) -> dict[str, Any]:
    """Copy exactly ``n`` qualifying images into ``out_dir``; return what was picked.

    ``out_dir`` must be new or empty (as TLT's sampler requires); it appears whole when done."""
    if n < 1:
        raise UserError(f"-n {n}: ask for at least one image")
    if min_persons < 0 or min_keypoints < 0:
        raise UserError("--min_persons and --min_keypoints must not be negative")
    image_dir = require_dir(image_dir, "image folder")
    out = check_fresh_dir(out_dir, what="output folder (-o)",
                          fix=f"choose an empty folder, so that it holds exactly {n} images")
    coco = load_coco(Path(annotation_file))
    ids = qualifying_images(coco, min_persons, min_keypoints, category)
    if len(ids) < n:
        raise UserError(
            f"only {len(ids)} images have >= {min_persons} persons with >= {min_keypoints} "
            f"labeled keypoints, fewer than the {n} asked for",
            "lower -n, --min_persons or --min_keypoints")
    if randomize:
        order = np.random.default_rng(seed).permutation(len(ids))
        ids = [ids[i] for i in order]
    picked = ids[:n]
    sources = [image_dir / coco.imgs[i]["file_name"] for i in picked]
    missing = [p for p in sources if not p.is_file()]
    if missing:
        raise UserError(f"image file not found: {missing[0]} ({len(missing)} missing)",
                        "check the image folder (-i)")
    names = [str(Path(coco.imgs[i]["file_name"])).replace("/", "_") for i in picked]
    if len(set(names)) != len(names):
        raise UserError("two picked images share a file name", "give images unique names")
    result = {"annotation_file": str(annotation_file), "image_dir": str(image_dir),
              "qualifying": len(ids), "n": n, "min_persons": min_persons,
              "min_keypoints": min_keypoints, "randomize": randomize, "seed": seed,
              "images": [{"image_id": i, "file": name} for i, name in zip(picked, names,
                                                                          strict=True)]}
    with atomic_dir(out) as tmp:
        for src, name in zip(sources, names, strict=True):
            shutil.copy2(src, tmp / name)
        write_json(tmp / SELECTION_FILE, result)
    return result
