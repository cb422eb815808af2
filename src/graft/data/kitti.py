"""KITTI 2D object labels: read and write label files, and map their class names to targets.

A label line has 15 space-separated fields (16 in result files, the last being the score)::

    type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]

2D detection uses ``type`` and the box (corner coordinates in pixels); the 3D fields are
read, kept and written back, 0 where unknown.

Rules (TLT's where TLT is right, stricter where it fails silently):

- A line with the wrong number of fields or a non-numeric field is an error naming the file,
  the line and the field, never a silent skip.
- A box with ``int(x1) >= int(x2)`` or ``int(y1) >= int(y2)`` is skipped with a warning naming
  file and line, as TLT does (such boxes are common in real datasets; failing on them would
  reject data TLT accepts), and the caller lists the warnings (:class:`KittiLabels`).
- ``DontCare`` objects (any case) are ignore regions: detections on them count neither as
  true nor as false positives.
- Class names are matched case-insensitively through a target-class mapping
  (:class:`ClassMap`); a class the mapping does not name is an error naming it, not a silent
  drop. Map a class to ``dontcare`` to keep it as an ignore region, or list it in ``ignore``
  to leave it out entirely.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from graft.errors import UserError
from graft.fsutil import write_text

FIELDS = ("type", "truncated", "occluded", "alpha", "x1", "y1", "x2", "y2", "height", "width",
          "length", "x", "y", "z", "rotation_y", "score")
LINE_FORMAT = "type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]"
DONTCARE = "dontcare"


@dataclass(frozen=True)
class KittiObject:
    """One label line. ``box`` is (x1, y1, x2, y2) in pixels; ``score`` only in result files."""

    type: str
    box: tuple[float, float, float, float]
    truncated: float = 0.0
    occluded: int = 0
    alpha: float = 0.0
    dimensions: tuple[float, float, float] = (0.0, 0.0, 0.0)  # h, w, l (metres)
    location: tuple[float, float, float] = (0.0, 0.0, 0.0)  # x, y, z (camera coordinates)
    rotation_y: float = 0.0
    score: float | None = None
    line: int = 0  # 1-based line in the file it was read from (0: not read from a file)

    @property
    def is_dontcare(self) -> bool:
        return self.type.lower() == DONTCARE

    def to_line(self) -> str:
        """The label line (2 decimals, as KITTI writes them; the score with 4)."""
        numbers = (self.truncated, self.occluded, self.alpha, *self.box, *self.dimensions,
                   *self.location, self.rotation_y)
        text = " ".join([self.type, *(_fmt(v, k) for k, v in enumerate(numbers))])
        return text if self.score is None else f"{text} {self.score:.4f}"


def _fmt(value: float, k: int) -> str:
    return str(int(value)) if k == 1 else f"{value:.2f}"


@dataclass
class KittiLabels:
    """The objects of one label file and the lines skipped with a warning."""

    path: Path
    objects: list[KittiObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_line(text: str, path: Path | str, line: int, scores: bool | None = None) -> KittiObject:
    """One label line; ``scores`` True requires the 16th field, False forbids it, None allows
    both. Errors name ``path:line``."""
    parts = text.split()
    n = len(parts)
    allowed = {None: (15, 16), True: (16,), False: (15,)}[scores]
    if n not in allowed:
        expected = " or ".join(str(a) for a in allowed)
        hint = (" (class names cannot contain spaces)" if n > 16 or (n == 16 and scores is False)
                else "")
        raise UserError(f"{path}:{line}: {n} fields, a KITTI label line has {expected}{hint}",
                        f"write: {LINE_FORMAT}")
    values: list[float] = []
    for k, token in enumerate(parts[1:], start=1):
        try:
            value = float(token)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            spaces = " (class names cannot contain spaces)" if k == 1 else ""
            raise UserError(f"{path}:{line}: field {k + 1} ({FIELDS[k]}) is {token!r}, not a "
                            f"number{spaces}", f"write: {LINE_FORMAT}")
        values.append(value)
    return KittiObject(
        type=parts[0], truncated=values[0], occluded=int(values[1]), alpha=values[2],
        box=(values[3], values[4], values[5], values[6]), dimensions=tuple(values[7:10]),
        location=tuple(values[10:13]), rotation_y=values[13],
        score=values[14] if n == 16 else None, line=line)


def degenerate(box: tuple[float, float, float, float]) -> bool:
    """TLT's rule for boxes it skips: ``int(x1) >= int(x2)`` or ``int(y1) >= int(y2)``."""
    x1, y1, x2, y2 = box
    return int(x1) >= int(x2) or int(y1) >= int(y2)


def read_labels(path: str | Path, scores: bool | None = None) -> KittiLabels:
    """Read a label file (an empty file is an image without objects). Degenerate boxes are
    skipped with a warning; everything else that is wrong is a one-line error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"label file not found: {path}", "check the label folder") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text file", "KITTI labels are UTF-8 text") from None
    labels = KittiLabels(path)
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        obj = parse_line(raw, path, line, scores)
        if degenerate(obj.box):
            x1, y1, x2, y2 = obj.box
            labels.warnings.append(f"{path}:{line}: {obj.type} box ({x1:g}, {y1:g}, {x2:g}, "
                                   f"{y2:g}) has no area in whole pixels; skipped")
            continue
        labels.objects.append(obj)
    return labels


def write_labels(path: str | Path, objects: Iterable[KittiObject]) -> None:
    """Write a label file atomically (an image without objects gets an empty file)."""
    lines = [obj.to_line() for obj in objects]
    write_text(path, "".join(f"{line}\n" for line in lines))


def class_key(name: str) -> str:
    """How class names are compared: case-insensitive, surrounding blanks ignored."""
    return name.strip().lower()


@dataclass
class ClassMap:
    """``target_class_mapping``: source class (any case) -> target class.

    ``mapping`` None keeps every class as itself (lowercased, as TLT's converters write
    them). A target ``dontcare`` makes the source an ignore region. ``ignore`` lists source
    classes dropped without a trace. ``DontCare`` itself is always an ignore region.
    """

    mapping: Mapping[str, str] | None = None
    ignore: Iterable[str] = ()
    _map: dict[str, str] = field(init=False, repr=False)
    _ignore: set[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._map = {}
        for source, target in (self.mapping or {}).items():
            key = class_key(source)
            if key in self._map and self._map[key] != target.strip():
                raise UserError(f"target_class_mapping maps {source!r} twice (names are "
                                f"matched ignoring case): to {self._map[key]!r} and "
                                f"{target.strip()!r}", "keep one of the two keys")
            self._map[key] = target.strip()
        self._ignore = {class_key(c) for c in self.ignore}

    @property
    def targets(self) -> list[str]:
        """The target classes, sorted, without ``dontcare``."""
        return sorted({t for t in self._map.values() if class_key(t) != DONTCARE})

    def target(self, name: str, where: str = "") -> str | None:
        """The target of a source class, ``"dontcare"`` for an ignore region, None to drop.

        ``where`` (e.g. ``labels/0001.txt:3``) names the place in the error for an unmapped
        class."""
        key = class_key(name)
        if key in self._ignore:
            return None
        if key == DONTCARE:
            return DONTCARE
        if self.mapping is None:
            return key
        target = self._map.get(key)
        if target is None:
            prefix = f"{where}: " if where else ""
            raise UserError(
                f"{prefix}class {name!r} is not in target_class_mapping (keys: "
                f"{', '.join(sorted(self._map)) or 'none'})",
                "add it to target_class_mapping, map it to dontcare to keep it as an ignore "
                "region, or list it among the ignored classes to leave it out")
        return DONTCARE if class_key(target) == DONTCARE else target

    def apply(self, labels: KittiLabels) -> tuple[list[KittiObject], list[KittiObject]]:
        """(objects with their target class as ``type``, ignore regions) of a label file."""
        objects, ignored = [], []
        for obj in labels.objects:
            target = self.target(obj.type, f"{labels.path}:{obj.line}")
            if target is None:
                continue
            if target == DONTCARE:
                ignored.append(obj)
            else:
                objects.append(_with_type(obj, target))
        return objects, ignored


def _with_type(obj: KittiObject, name: str) -> KittiObject:
    from dataclasses import replace

    return replace(obj, type=name)


def label_path(label_dir: Path, image_dir: Path, image: Path) -> Path:
    """The label file of an image: same relative path under the label folder, ``.txt``."""
    return (label_dir / image.relative_to(image_dir)).with_suffix(".txt")


def pair_images_and_labels(image_dir: str | Path, label_dir: str | Path) -> list[tuple[Path, Path]]:
    """(image, label file) for every image under ``image_dir`` (recursive, sorted).

    An image without a label file, or a label file without an image, is an error: an image
    without objects needs an empty label file (so a forgotten label is never read as "no
    objects")."""
    from graft.data.images import IMAGE_EXTENSIONS
    from graft.errors import require_dir

    image_dir, label_dir = require_dir(image_dir, "image folder"), require_dir(label_dir,
                                                                               "label folder")
    images = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise UserError(f"no images in {image_dir}", f"expected files ending in "
                        f"{', '.join(IMAGE_EXTENSIONS)}")
    pairs, seen = [], set()
    for image in images:
        label = label_path(label_dir, image_dir, image)
        if label in seen:
            raise UserError(f"two images share the label file {label} (one is {image})",
                            "give every image its own file name stem")
        if not label.is_file():
            raise UserError(f"image {image} has no label file {label}",
                            "add the label file (an empty one for an image without objects)")
        seen.add(label)
        pairs.append((image, label))
    orphans = sorted(set(label_dir.rglob("*.txt")) - seen)
    if orphans:
        raise UserError(f"label file {orphans[0]} has no image in {image_dir}"
                        + (f" ({len(orphans)} such files)" if len(orphans) > 1 else ""),
                        "add the image or remove the label file")
    return pairs
