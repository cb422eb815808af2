"""``graft gesturenet dataset_convert``: label JSONs -> train / val (/ test) lists by user id.

Hands of one user never land in two parts (near-identical crops of the same person would make
validation read high). ``kpi_users`` are held out as the test part, as TAO does; the other
users are dealt to val (``val_fraction`` of the hands) and train by graft's grouped splitter.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from graft.data.split import SplitPlan, assign
from graft.errors import UserError
from graft.fsutil import atomic_dir, check_fresh_dir, write_json
from graft.tasks.gesturenet.crop import CLASSES
from graft.tasks.gesturenet.labels import HandLabel, scan_labels


def split_by_user(labels: list[HandLabel], val_fraction: float, kpi_users: list[str],
                  seed: int) -> dict[str, list[HandLabel]]:
    """{"train", "val", "test"} (test only with ``kpi_users``), no user in two parts."""
    unknown = sorted(set(kpi_users) - {lab.user_id for lab in labels})
    if unknown:
        raise UserError(f"kpi user(s) {', '.join(unknown)} have no labels",
                        "name users that appear in the labels' user_id")
    parts: dict[str, list[HandLabel]] = {"train": [], "val": []}
    rest = [lab for lab in labels if lab.user_id not in kpi_users]
    if kpi_users:
        parts["test"] = [lab for lab in labels if lab.user_id in kpi_users]
    if len({lab.user_id for lab in rest}) < 2:
        raise UserError("fewer than two users are left for train and val",
                        "label more users or hold out fewer kpi users")
    index = assign([lab.user_id for lab in rest], SplitPlan(("val", "train"), (val_fraction,),
                                                            seed), what="hands")
    for lab, part in zip(rest, index, strict=True):
        parts[("val", "train")[int(part)]].append(lab)
    return parts


def dataset_convert(data_dir: str | Path, output_dir: str | Path, *, val_fraction: float = 0.25,
                    kpi_users: list[str] | None = None, seed: int = 0,
                    force: bool = False) -> dict[str, Any]:
    """Write ``OUT/{train,val,test}.json`` and ``OUT/summary.json``; returns the summary."""
    out = check_fresh_dir(output_dir, force)
    labels = scan_labels(data_dir)
    parts = split_by_user(labels, val_fraction, list(kpi_users or []), seed)
    summary: dict[str, Any] = {"classes": CLASSES, "val_fraction": val_fraction, "seed": seed}
    with atomic_dir(out, replace=force) as tmp:
        for name, items in parts.items():
            write_json(tmp / f"{name}.json", {"classes": CLASSES, "records": [
                lab.to_record(out.resolve()) for lab in items]})
            counts = Counter(lab.label for lab in items)
            summary[name] = {"hands": len(items),
                             "users": sorted({lab.user_id for lab in items}),
                             "per_class": {c: counts.get(c, 0) for c in CLASSES}}
        write_json(tmp / "summary.json", summary)
    return summary
