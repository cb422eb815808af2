"""``graft convert coco2kitti|kitti2coco`` and ``graft split coco|kitti|folder``.

Dataset preparation that every detection-style task shares; the work is in
:mod:`graft.data.convert` and :mod:`graft.data.split`, this module only parses flags and
prints what was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from graft.console import console

CONTEXT = {"help_option_names": ["-h", "--help"]}

convert_app = typer.Typer(
    help="Convert annotations between COCO and KITTI (crowd regions <-> DontCare).\n\n"
    "Example: graft convert coco2kitti -a annotations/train.json -i images/train -o kitti/train "
    "--images link",
    no_args_is_help=True, add_completion=False, context_settings=CONTEXT)
split_app = typer.Typer(
    help="Split a dataset into parts by seeded random fractions, whole groups (videos, users) "
    "kept together.\n\n"
    "Example: graft split coco -a real/train.json -o real_split --fraction 0.1 "
    "--names train10,rest --seed 0",
    no_args_is_help=True, add_completion=False, context_settings=CONTEXT)

_FRACTION = typer.Option(..., "--fraction", "-f",
                         help="Fraction(s) of the images for the first part(s): 0.1 or "
                              "0.1,0.2; the last part takes the rest.")
_NAMES = typer.Option("val,train", "--names", "-n",
                      help="Part names, one more than fractions; the last takes the rest.")
_SEED = typer.Option(0, "--seed", "-s", help="Random seed: the same seed, the same split.")
_GROUP = typer.Option(
    None, "--group", "-g",
    help="Keep groups whole: regex:PATTERN (searched in the relative path; first group is the "
         "key), subfolder, or (COCO) field:NAME of the image entries.")
_MODE = typer.Option("copy", "--mode",
                     help="copy | link (hard links) | list (OUT/<part>.txt of image paths)")


def _parts(summary: dict[str, Any], out: Path, suffix: str) -> None:
    for name, facts in summary.items():
        details = ", ".join(f"{v} {k}" for k, v in facts.items())
        console.print(f"{name}: {details} -> {out / (name + suffix)}")


@convert_app.command("coco2kitti")
def coco2kitti(
    annotation_file: Path = typer.Option(..., "-a", "--annotation_file", "--annotation-file",
                                         help="COCO annotation file (instances JSON)."),
    output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                    help="New (or empty) folder: OUT/labels[, OUT/images]."),
    image_dir: Path | None = typer.Option(None, "-i", "--image_dir", "--image-dir",
                                          help="Folder of the COCO images (for --images)."),
    images: str = typer.Option("none", "--images",
                               help="none (labels only) | copy | link (hard links) the images "
                                    "into OUT/images"),
) -> None:
    """COCO boxes -> KITTI label files, one per image (crowd regions as DontCare lines).

    Category names become KITTI class names as TLT writes them: lowercased, spaces removed
    ("Traffic Light" -> trafficlight). An image without objects gets an empty label file.

    Example: graft convert coco2kitti -a annotations/train.json -i images/train -o kitti/train
    --images link
    """
    from graft.data.convert import coco_to_kitti

    r = coco_to_kitti(annotation_file, output_dir, image_dir, images)
    counts = ", ".join(f"{n} {c}" for c, n in r["objects"].items()) or "no objects"
    console.print(f"{r['images']} images, {counts} -> {r['labels']}")
    if images != "none":
        console.print(f"images: {r['images_dir']}")


@convert_app.command("kitti2coco")
def kitti2coco(
    image_dir: Path = typer.Option(..., "-i", "--image_dir", "--image-dir",
                                   help="KITTI image folder (searched recursively)."),
    label_dir: Path = typer.Option(..., "-l", "--label_dir", "--label-dir",
                                   help="KITTI label folder (same relative paths, .txt)."),
    output: Path = typer.Option(..., "-o", "--output", help="COCO annotation file to write."),
    class_map: list[str] = typer.Option(
        [], "--map", "-m",
        help="SOURCE=TARGET class mapping, case-insensitive (repeatable); with a mapping, an "
             "unmapped class is an error. TARGET dontcare keeps an ignore region."),
    ignore: list[str] = typer.Option([], "--ignore",
                                     help="A class to leave out entirely (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
) -> None:
    """KITTI images + label files -> one COCO annotation file (DontCare as crowd regions).

    Without --map every class is kept, lowercased. Boxes with no area in whole pixels are
    skipped as TLT skips them and listed in OUTPUT.warnings.txt.

    Example: graft convert kitti2coco -i kitti/images -l kitti/labels -o coco/train.json
    --map car=car --map van=car --map pedestrian=person --ignore misc
    """
    from graft.data.convert import kitti_to_coco
    from graft.data.kitti import ClassMap
    from graft.errors import UserError
    from graft.fsutil import check_output_file, write_text

    check_output_file(output, "output (-o)")
    if output.exists() and not force:
        raise UserError(f"{output} already exists", "choose another --output or pass --force")
    mapping = None
    if class_map:
        pairs = [m.split("=", 1) for m in class_map]
        if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
            raise UserError(f"--map {class_map} is not SOURCE=TARGET", "e.g. --map van=car")
        mapping: dict[str, str] = {}
        for source, target in pairs:
            if mapping.get(source, target) != target:
                raise UserError(f"--map gives {source!r} two targets ({mapping[source]!r} and "
                                f"{target!r})", "keep one")
            mapping[source] = target
    r = kitti_to_coco(image_dir, label_dir, output, ClassMap(mapping, ignore))
    counts = ", ".join(f"{n} {c}" for c, n in r["objects"].items()) or "no objects"
    console.print(f"{r['images']} images, {counts} -> {r['annotation_file']}")
    if r["warnings"]:
        warnings_file = output.with_name(output.name + ".warnings.txt")
        write_text(warnings_file, "".join(f"{w}\n" for w in r["warnings"]))
        console.print(f"{len(r['warnings'])} boxes skipped (no area in whole pixels), listed "
                      f"in {warnings_file}")


@split_app.command("coco")
def split_coco(
    annotation_file: Path = typer.Option(..., "-a", "--annotation_file", "--annotation-file",
                                         help="COCO annotation file to split."),
    output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                    help="New (or empty) folder: OUT/<part>.json per part."),
    fraction: str = _FRACTION, names: str = _NAMES, seed: int = _SEED,
    group: str | None = _GROUP,
) -> None:
    """Split a COCO file by image: OUT/<part>.json, each with its images' annotations and all
    categories.

    Example (the RarePlanes recipe, 10 % of the real data): graft split coco -a real/train.json
    -o real_split --fraction 0.1 --names train10,rest --seed 0

    Example (frames of one video together): graft split coco -a train.json -o split
    --fraction 0.2 --group field:video_id
    """
    from graft.data.split import parse_plan
    from graft.data.split import split_coco as run

    _parts(run(annotation_file, output_dir, parse_plan(fraction, names, seed), group),
           output_dir, ".json")


@split_app.command("kitti")
def split_kitti(
    image_dir: Path = typer.Option(..., "-i", "--image_dir", "--image-dir",
                                   help="KITTI image folder."),
    label_dir: Path = typer.Option(..., "-l", "--label_dir", "--label-dir",
                                   help="KITTI label folder."),
    output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                    help="New (or empty) folder: OUT/<part>/images + labels."),
    fraction: str = _FRACTION, names: str = _NAMES, seed: int = _SEED,
    group: str | None = _GROUP, mode: str = _MODE,
) -> None:
    """Split a KITTI image/label folder pair into OUT/<part>/images and OUT/<part>/labels.

    Example (sequences kept whole, files named SEQ_FRAME.png): graft split kitti -i images
    -l labels -o split --fraction 0.1 --group "regex:^([^_]+)_"
    """
    from graft.data.split import parse_plan
    from graft.data.split import split_kitti as run

    summary = run(image_dir, label_dir, output_dir, parse_plan(fraction, names, seed), group,
                  mode)
    _parts(summary, output_dir, ".txt" if mode == "list" else "")


@split_app.command("folder")
def split_folder(
    root: Path = typer.Option(..., "-i", "--input", help="Image folder ROOT/<class>/<image>."),
    output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                    help="New (or empty) folder: OUT/<part>/<class>/..."),
    fraction: str = _FRACTION, names: str = _NAMES, seed: int = _SEED,
    group: str | None = _GROUP, mode: str = _MODE,
) -> None:
    """Split a classification image folder; every class keeps its share (without --group).

    Example (users never on both sides, files named user7_0001.jpg): graft split folder
    -i gestures -o split --fraction 0.2 --group "regex:^(user\\d+)_"
    """
    from graft.data.split import parse_plan
    from graft.data.split import split_folder as run

    summary = run(root, output_dir, parse_plan(fraction, names, seed), group, mode)
    _parts(summary, output_dir, ".txt" if mode == "list" else "")
