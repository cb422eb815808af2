"""Seeded dataset splits (``graft split``), by image or by group, for COCO, KITTI and image
folders.

Parts are given as fractions of the images (``0.1`` -> 10 % and the rest); the last name
always takes the rest. With a group key (a video, a user, a sequence), whole groups are
assigned, so near-duplicate frames never straddle two parts; part sizes then come as close
to the fractions as the group sizes allow. The same data, fractions, key and seed give the
same split on every machine (groups are ordered by key before the seeded shuffle, so the
order files are listed in does not matter).

Group keys:
- ``regex:PATTERN``: searched in the image's path relative to the dataset root (KITTI: the
  image folder; an image folder: the class folder); the first capture group, else the whole
  match, is the key. A path it does not match is an error naming it.
- ``subfolder``: the first folder of that relative path.
- ``field:NAME`` (COCO only): an image entry's field, e.g. ``video_id``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graft.errors import UserError

GroupKey = Callable[[Path, dict[str, Any] | None], str]


@dataclass(frozen=True)
class SplitPlan:
    """What to make: part names (the last takes the rest) and the fractions of the others."""

    names: tuple[str, ...]
    fractions: tuple[float, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.names) != len(self.fractions) + 1:
            raise UserError(f"{len(self.fractions)} fraction(s) need {len(self.fractions) + 1} "
                            f"part names, got {len(self.names)} ({', '.join(self.names)})",
                            "give one name more than fractions: the last part takes the rest")
        if len(set(self.names)) != len(self.names) or not all(
                re.fullmatch(r"[\w.-]+", n) for n in self.names):
            raise UserError(f"part names {', '.join(self.names)} must be distinct file names",
                            "use letters, digits, '_', '-' or '.'")
        if any(not 0 < f < 1 for f in self.fractions) or sum(self.fractions) >= 1:
            raise UserError(f"fractions {', '.join(f'{f:g}' for f in self.fractions)} must each "
                            "lie in (0, 1) and sum to less than 1", "e.g. --fraction 0.1")


def parse_plan(fraction: str, names: str, seed: int) -> SplitPlan:
    """``"0.1"``, ``"val,train"`` -> a :class:`SplitPlan`."""
    try:
        fractions = tuple(float(f) for f in fraction.split(","))
    except ValueError:
        raise UserError(f"--fraction {fraction!r} is not a number or a comma list of numbers",
                        "e.g. --fraction 0.1 or --fraction 0.1,0.1") from None
    return SplitPlan(tuple(n.strip() for n in names.split(",")), fractions, seed)


def group_rule(rule: str | None, coco: bool = False) -> GroupKey | None:
    """The key function of a ``--group`` value (module docstring), or None for no groups."""
    if not rule:
        return None
    kind, _, arg = rule.partition(":")
    if kind == "subfolder" and not arg:
        def subfolder(path: Path, _: dict | None) -> str:
            return path.parts[0] if len(path.parts) > 1 else ""
        return subfolder
    if kind == "regex" and arg:
        try:
            pattern = re.compile(arg)
        except re.error as exc:
            raise UserError(f"--group regex {arg!r} does not compile ({exc})") from None

        def by_regex(path: Path, _: dict | None) -> str:
            match = pattern.search(path.as_posix())
            if match is None:
                raise UserError(f"{path.as_posix()} does not match --group regex {arg!r}",
                                "fix the pattern so every file name has a group")
            return match.group(1) if pattern.groups else match.group(0)
        return by_regex
    if kind == "field" and arg and coco:
        def by_field(path: Path, image: dict | None) -> str:
            if image is None or arg not in image:
                raise UserError(f"image {path.as_posix()} has no field {arg!r}",
                                "name a field every image entry has, e.g. field:video_id")
            return str(image[arg])
        return by_field
    forms = "regex:PATTERN, subfolder" + (" or field:NAME" if coco else "")
    raise UserError(f"--group {rule!r} is not a group rule", f"use {forms}")


def assign(keys: Sequence[str], plan: SplitPlan, what: str = "images") -> np.ndarray:
    """Part index per item. Groups (equal keys) are shuffled with the seed and dealt in that
    order: each goes to the first part it half fits into (filled + size / 2 <= target), or
    else to the part furthest below its target; single items fill the parts in turn."""
    n = len(keys)
    groups = sorted(set(keys))
    order = np.random.default_rng(plan.seed).permutation(len(groups))
    sizes: dict[str, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    targets = np.diff(np.r_[0.0, np.round(np.cumsum(plan.fractions) * n), n])
    filled = np.zeros(len(targets))
    part_of: dict[str, int] = {}
    for g in order:
        key = groups[g]
        fits = np.flatnonzero(filled + sizes[key] / 2 <= targets)
        part = int(fits[0]) if len(fits) else int(np.argmax(targets - filled))
        part_of[key] = part
        filled[part] += sizes[key]
    parts = np.array([part_of[k] for k in keys], dtype=np.int64)
    counts = np.bincount(parts, minlength=len(plan.names))
    empty = [plan.names[k] for k in range(len(plan.names)) if counts[k] == 0]
    if empty:
        raise UserError(f"part {empty[0]!r} would be empty ({n} {what}"
                        + (f" in {len(groups)} groups" if len(groups) < n else "") + ")",
                        "use larger fractions, more data or smaller groups")
    return parts


def keys_for(paths: Sequence[Path], rule: GroupKey | None,
             entries: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """One group key per item; without a rule every item is its own group."""
    if rule is None:
        return [f"\0{k}" for k in range(len(paths))]  # unique, never equal to a real key
    return [rule(p, entries[k] if entries is not None else None) for k, p in enumerate(paths)]


def split_coco(annotation_file: str | Path, out_dir: str | Path, plan: SplitPlan,
               group: str | None = None) -> dict[str, Any]:
    """``OUT/<name>.json`` per part: its images, their annotations, every category."""
    from graft.data.coco import read_coco_json, validate_coco
    from graft.data.convert import require_new_dir
    from graft.fsutil import atomic_dir, write_json

    out = require_new_dir(out_dir, "output")
    data = read_coco_json(annotation_file)
    validate_coco(data, Path(annotation_file))
    images = sorted(data["images"], key=lambda im: im["id"])
    if not images:
        raise UserError(f"{annotation_file} lists no images", "nothing to split")
    keys = keys_for([Path(im["file_name"]) for im in images], group_rule(group, coco=True),
                    images)
    parts = assign(keys, plan)
    summary: dict[str, Any] = {}
    with atomic_dir(out) as tmp:
        for k, name in enumerate(plan.names):
            chosen = [im for im, p in zip(images, parts, strict=True) if p == k]
            ids = {im["id"] for im in chosen}
            anns = [a for a in data.get("annotations", []) if a["image_id"] in ids]
            write_json(tmp / f"{name}.json", {**data, "images": chosen, "annotations": anns})
            summary[name] = {"images": len(chosen), "annotations": len(anns),
                             "groups": len({keys[i] for i in np.flatnonzero(parts == k)})
                             if group else len(chosen)}
    return summary


def split_files(items: Sequence[tuple[Path, ...]], roots: tuple[Path, ...],
                out_dir: str | Path, plan: SplitPlan, group: str | None,
                folders: tuple[str, ...], mode: str = "copy",
                strata: Sequence[str] | None = None,
                group_paths: Sequence[Path] | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Split file tuples (an image and its label file, or an image alone).

    Member ``j`` of a tuple lies under ``roots[j]`` and lands in ``OUT/<part>/<folders[j]>``
    at the same relative path. ``mode``: ``copy``, ``link`` (hard links; copies across file
    systems) or ``list`` (``OUT/<part>.txt`` with the first members' paths). ``strata`` (the
    classes of an image folder) are split one by one when there is no group rule, so every
    class keeps its share. Group rules see ``group_paths`` (default: the first members'
    paths relative to ``roots[0]``)."""
    from graft.data.convert import place_file, require_new_dir, track
    from graft.fsutil import atomic_dir, write_text

    if mode not in ("copy", "link", "list"):
        raise UserError(f"--mode {mode!r} is not copy, link or list")
    out = require_new_dir(out_dir, "output")
    if not items:
        raise UserError(f"no images under {roots[0]}", "nothing to split")
    rel = list(group_paths) if group_paths is not None else [t[0].relative_to(roots[0])
                                                             for t in items]
    rule = group_rule(group)
    parts = np.zeros(len(items), dtype=np.int64)
    if rule is None and strata is not None:
        for stratum in sorted(set(strata)):
            idx = [i for i, s in enumerate(strata) if s == stratum]
            parts[idx] = assign(keys_for([rel[i] for i in idx], None), plan,
                                f"images of {stratum!r}")
    else:
        parts = assign(keys_for(rel, rule), plan)
    summary: dict[str, Any] = {}
    with atomic_dir(out) as tmp:
        for k, name in enumerate(plan.names):
            chosen = [items[i] for i in np.flatnonzero(parts == k)]
            summary[name] = {"images": len(chosen)}
            if mode == "list":
                write_text(tmp / f"{name}.txt", "".join(f"{t[0]}\n" for t in chosen))
                continue
            for member in track(chosen, f"writing {name}", disable=not progress):
                for path, root, folder in zip(member, roots, folders, strict=True):
                    place_file(path, tmp / name / folder / path.relative_to(root), mode)
    return summary


def split_kitti(image_dir: str | Path, label_dir: str | Path, out_dir: str | Path,
                plan: SplitPlan, group: str | None = None, mode: str = "copy",
                progress: bool = True) -> dict[str, Any]:
    """``OUT/<part>/images`` + ``OUT/<part>/labels`` per part (or ``OUT/<part>.txt``)."""
    from graft.data.kitti import pair_images_and_labels

    pairs = pair_images_and_labels(image_dir, label_dir)
    return split_files(pairs, (Path(image_dir), Path(label_dir)), out_dir, plan, group,
                       ("images", "labels"), mode, progress=progress)


def split_folder(root: str | Path, out_dir: str | Path, plan: SplitPlan,
                 group: str | None = None, mode: str = "copy",
                 progress: bool = True) -> dict[str, Any]:
    """An image-classification folder (``ROOT/<class>/...``) -> ``OUT/<part>/<class>/...``;
    each class is split by the fractions unless a group rule is given."""
    from graft.data.images import IMAGE_EXTENSIONS
    from graft.errors import require_dir

    root = require_dir(root, "image folder")
    items, strata, inside = [], [], []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        for image in sorted(f for f in cls.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS):
            items.append((image,))
            strata.append(cls.name)
            inside.append(image.relative_to(cls))
    if not items:
        raise UserError(f"no images in class folders under {root}",
                        "use the layout ROOT/<class>/<image>")
    return split_files(items, (root,), out_dir, plan, group, ("",), mode, strata, inside,
                       progress)
