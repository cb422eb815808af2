"""``graft synth detection``: a generated aerial aircraft dataset in the spirit of RarePlanes.

Aircraft of a few types (the classes: airliner, propeller, fighter, helicopter) seen from
above, rotated, of varied size, with shadows, on textured airfield ground with buildings,
vehicles, tanks and runway markings as distractors (:mod:`~graft.tasks.detectnet_v2.
synth_scene`). Two visual domains, as in the RarePlanes recipe (train on synthetic data,
fine-tune on a little real data): ``synthetic``, a clean rendering, and ``real``, the same
kind of scene hazier, colour-cast, desaturated, blurred, noisy and JPEG-compressed harder.

Output (each domain's folder is self-contained; paths in the specs are relative to them)::

    OUT/README.json                     what was generated: options, counts, layout
    OUT/<domain>/train/images/*.jpg     <domain>_00000.jpg, ...
    OUT/<domain>/train/labels/*.txt     KITTI, 15 fields, class names as strings
    OUT/<domain>/val/{images,labels}/
    OUT/<domain>/train.json, val.json   COCO instances (file_name relative to */images)
    OUT/<domain>/dataset_spec.yaml      dataset_config: train source + validation source
    OUT/<domain>/spec.yaml              a full DetectNet_v2 training spec (BENCHMARKS.md)

KITTI fields: the class, truncation (share of the aircraft's area outside the image, 2
decimals), occluded 0, alpha 0, the box, zero 3D fields and ``rotation_y`` = the heading
(radians, nose direction clockwise from image up, in [-pi, pi)). An aircraft more than half
outside the image, or whose visible box is under 8 px on a side, is written as ``DontCare``
(COCO: ``iscrowd`` 1 of its class), an ignore region. Every image is drawn from its own
generator seeded with (seed, domain, index): the same seed gives the same files, and image
N is the same whatever ``--images`` is (the last ``--val-fraction`` of them are validation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from graft.errors import UserError

DOMAINS = ("synthetic", "real")
CLASSES = ("airliner", "propeller", "fighter", "helicopter")
JPEG_QUALITY = {"synthetic": (95, 95), "real": (55, 80)}
DEFAULT_SIZE = "256x256"


def parse_classes(text: str) -> list[str]:
    """``--classes 3`` (the first three types) or ``--classes airliner,helicopter``."""
    text = str(text).strip().lower()
    if text.isdigit():
        n = int(text)
        if not 1 <= n <= len(CLASSES):
            raise UserError(f"--classes {n}: there are {len(CLASSES)} aircraft types",
                            f"use 1..{len(CLASSES)} or names from {','.join(CLASSES)}")
        return list(CLASSES[:n])
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLASSES]
    if unknown or not names or len(set(names)) != len(names):
        what = f"unknown type {unknown[0]!r}" if unknown else "empty or repeated"
        raise UserError(f"--classes {text!r}: {what}",
                        f"name distinct types from {','.join(CLASSES)} or give a count")
    return names


def _domains(domain: str) -> list[str]:
    if domain == "both":
        return list(DOMAINS)
    if domain not in DOMAINS:
        raise UserError(f"--domain {domain!r} is not synthetic, real or both",
                        "e.g. --domain both")
    return [domain]


def _output(out: Path, force: bool) -> bool:
    """Whether ``out`` is to be replaced; refuses a full folder without ``force``."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a folder", "choose another -o")
    full = out.is_dir() and any(out.iterdir())
    if full and not force:
        raise UserError(f"output folder {out} already exists and is not empty",
                        "choose a new -o folder, or pass --force to replace it")
    resolved = out.resolve()
    if full and (resolved == Path.home().resolve() or resolved in Path.cwd().resolve().parents
                 or resolved == Path.cwd().resolve() or resolved.parent == resolved):
        raise UserError(f"--force would replace {out}, which holds the working or home folder",
                        "choose a dedicated -o folder")
    return full


def make_detection_dataset(out_dir: str | Path, images: int = 600,
                           size: tuple[int, int] = (256, 256), domain: str = "both",
                           seed: int = 0, classes: list[str] | None = None,
                           val_fraction: float = 0.2,
                           object_size: tuple[float, float] = (24, 80), max_objects: int = 6,
                           force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Write the dataset (layout in the module docstring) and return README.json's content.

    ``images`` per domain, train and val together; ``size`` (height, width), multiples of 16.
    """
    from graft.fsutil import atomic_dir, write_json
    from graft.tasks.detectnet_v2.data_spec import STRIDE
    from graft.tasks.detectnet_v2.synth_write import write_domain

    h, w = (int(v) for v in size)
    if h % STRIDE or w % STRIDE or h < 64 or w < 64:
        raise UserError(f"--size {w}x{h}: DetectNet_v2 needs sides that are multiples of 16, "
                        "at least 64", "e.g. --size 256x256")
    classes = list(classes or CLASSES[:3])
    lo, hi = (float(v) for v in object_size)
    if not 8 <= lo <= hi <= min(h, w) * 0.8:
        raise UserError(f"--object-size {lo:g},{hi:g} does not fit {w}x{h} images",
                        f"give 8 <= MIN <= MAX <= {int(min(h, w) * 0.8)} pixels")
    if images < 2 or not 0 < val_fraction < 1 or max_objects < 1:
        raise UserError(f"--images {images}, --val-fraction {val_fraction:g}, --max-objects "
                        f"{max_objects}", "give --images >= 2, --val-fraction in (0, 1) and "
                        "--max-objects >= 1")
    n_val = min(max(1, round(images * val_fraction)), images - 1)
    out = Path(out_dir)
    replace = _output(out, force)
    readme: dict[str, Any] = {
        "generator": "graft synth detection", "seed": seed,
        "image_size": {"width": w, "height": h},
        "classes": classes, "object_size_px": [lo, hi], "max_objects": max_objects,
        "images_per_domain": {"train": images - n_val, "val": n_val},
        "layout": {"<domain>/<split>/images": "JPEG images <domain>_NNNNN.jpg",
                   "<domain>/<split>/labels": "KITTI labels (15 fields; DontCare = ignore)",
                   "<domain>/<split>.json": "COCO instances (iscrowd 1 = ignore)",
                   "<domain>/dataset_spec.yaml": "DetectNet_v2 dataset_config",
                   "<domain>/spec.yaml": "DetectNet_v2 training spec (recommended settings)"},
        "domains": {}}
    domains = _domains(domain)
    with atomic_dir(out, replace=replace) as tmp:
        for d in domains:
            readme["domains"][d] = write_domain(
                tmp / d, d, DOMAINS.index(d), images, n_val, (h, w), classes, seed, (lo, hi),
                max_objects, JPEG_QUALITY[d], progress)
        write_json(tmp / "README.json", readme)
    return readme


def synth_detection(
    out_dir: Path = typer.Option(..., "-o", "--output", help="Output folder (must be new or "
                                 "empty unless --force)."),
    images: int = typer.Option(600, "--images", min=2, help="Images per domain, train and val "
                               "together."),
    size: str = typer.Option(DEFAULT_SIZE, "--size", help="WIDTHxHEIGHT, multiples of 16."),
    domain: str = typer.Option("both", "--domain", help="synthetic, real or both."),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same files."),
    classes: str = typer.Option("3", "--classes", help="A count (the first N of "
                                f"{','.join(CLASSES)}) or names, comma-separated."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", "--val_fraction",
                                       help="Share of each domain's images for validation."),
    object_size: str = typer.Option("24,80", "--object-size", "--object_size",
                                    help="MIN,MAX aircraft size in pixels (longest side)."),
    max_objects: int = typer.Option(6, "--max-objects", "--max_objects", min=1,
                                    help="Most aircraft per image."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder."),
) -> None:
    """Generate aerial aircraft images (KITTI + COCO labels, DetectNet_v2 specs).

    Example (the CPU recipe of BENCHMARKS.md): graft synth detection -o data/planes --images 750
    --size 128x128 --object-size 18,52 --max-objects 4 --domain both
    """
    from graft.console import console
    from graft.data.synthetic import parse_range, parse_wxh
    from graft.tasks.detectnet_v2.data_spec import STRIDE

    hw = parse_wxh(size, "--size", multiple=STRIDE)
    readme = make_detection_dataset(out_dir, images, hw, domain, seed, parse_classes(classes),
                                    val_fraction, parse_range(object_size, "--object-size", 1),
                                    max_objects, force)
    for d, info in readme["domains"].items():
        counts = ", ".join(f"{k} {v}" for k, v in info["train"]["objects"].items())
        console.print(f"{d}: {info['train']['images']} train + {info['val']['images']} val "
                      f"images ({counts} in train) -> {Path(out_dir) / d}")
    console.print(f"train with: {Path(out_dir) / next(iter(readme['domains'])) / 'spec.yaml'}")
