"""GestureNet labels: one JSON per hand image (class, hand box in % of the image, user id), and
the split lists ``dataset_convert`` writes (train / val / test by user id, as TAO's
``kpi_users`` and its per-user validation split).

A label file::

    {"image": "../frames/000012.png", "user_id": "user03", "class": "ok",
     "box": [x1, y1, x2, y2], "box_units": "percent"}

``image`` is relative to the label file; ``box_units`` is ``percent`` (0..100 of the image's
width and height, TAO's form) or ``pixels``. Without ``user_id`` the label's first folder under
the data root is the user.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.errors import UserError
from graft.tasks.gesturenet.crop import CLASSES


@dataclass(frozen=True)
class HandLabel:
    image: Path
    user_id: str
    label: str
    box: tuple[float, float, float, float]
    units: str = "percent"

    def pixel_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        if self.units == "pixels":
            return self.box
        x1, y1, x2, y2 = self.box
        return x1 * width / 100, y1 * height / 100, x2 * width / 100, y2 * height / 100

    def to_record(self, relative_to: Path) -> dict[str, Any]:
        return {"image": os.path.relpath(self.image, relative_to), "user_id": self.user_id,
                "class": self.label, "box": list(self.box), "box_units": self.units}


def parse_label(data: Any, where: Path, base: Path, default_user: str) -> HandLabel:
    """One label dict -> :class:`HandLabel`, or a one-line error naming the file."""
    fix = 'write {"image": ..., "class": ..., "box": [x1, y1, x2, y2], "user_id": ...}'
    if not isinstance(data, dict):
        raise UserError(f"{where}: a label must be a JSON object", fix)
    missing = [k for k in ("image", "class", "box") if k not in data]
    if missing:
        raise UserError(f"{where}: no {missing[0]!r}", fix)
    if data["class"] not in CLASSES:
        raise UserError(f"{where}: unknown class {data['class']!r}",
                        f"use one of {', '.join(CLASSES)}")
    box = data["box"]
    units = str(data.get("box_units", "percent"))
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(v, int | float) for v in box)):
        raise UserError(f"{where}: box must be [x1, y1, x2, y2]", fix)
    if units not in ("percent", "pixels") or not (box[2] > box[0] and box[3] > box[1]):
        raise UserError(f"{where}: box {box} ({units}) is empty or its units unknown",
                        "give x2 > x1, y2 > y1 and box_units percent or pixels")
    return HandLabel(image=(base / data["image"]).resolve(), user_id=str(data.get(
        "user_id", default_user)), label=data["class"], box=tuple(float(v) for v in box),
        units=units)


def scan_labels(root: str | Path) -> list[HandLabel]:
    """Every ``*.json`` label under ``root`` (sorted), images checked to exist."""
    base = Path(root)
    if not base.is_dir():
        raise UserError(f"label folder {base} does not exist", "pass the folder of label JSONs")
    labels = []
    for path in sorted(base.rglob("*.json")):
        rel = path.relative_to(base)
        user = rel.parts[0] if len(rel.parts) > 1 else "unknown"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not readable JSON ({exc})", "fix or remove it") from None
        label = parse_label(data, path, path.parent, user)
        if not label.image.is_file():
            raise UserError(f"{path}: image {label.image} does not exist",
                            "make `image` relative to the label file")
        labels.append(label)
    if not labels:
        raise UserError(f"no label JSONs under {base}", "run `graft synth hands` for an example")
    return labels


def read_split(path: str | Path) -> list[HandLabel]:
    """A split list written by ``dataset_convert`` (images relative to the list's folder)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read split list {p} ({exc})",
                        "make it with `graft gesturenet dataset_convert`") from None
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list) or not records:
        raise UserError(f"{p} lists no records", "make it with `graft gesturenet "
                        "dataset_convert`")
    return [parse_label(r, p, p.parent, "unknown") for r in records]
