"""``graft synth instances``: the command (kept free of numpy so ``graft --help`` stays fast);
the generator is :mod:`graft.tasks.mask_rcnn.synth`."""

from __future__ import annotations

from pathlib import Path

import typer


def synth_instances(
    out_dir: Path = typer.Option(..., "-o", "--output", help="Output folder (must be new or "
                                 "empty unless --force)."),
    images: int = typer.Option(300, "--images", min=2, help="Images, train and val together."),
    size: str = typer.Option("256x256", "--size", help="WIDTHxHEIGHT, multiples of 32."),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same files."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", "--val_fraction", min=0.01,
                                       max=0.9, help="Share of the images for validation."),
    max_per_level: int = typer.Option(3, "--max-per-level", "--max_per_level", min=1,
                                      help="Most objects per mounting height (1-3 heights)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder."),
) -> None:
    """Generate telecom towers with panel antennas, dishes and radio units (COCO polygons,
    a labels file and a Mask R-CNN spec).

    Example: graft synth instances -o data/towers --images 300 --size 256x256
    """
    from graft.console import console
    from graft.data.synthetic import parse_wxh
    from graft.tasks.mask_rcnn.synth import make_instances_dataset

    hw = parse_wxh(size, "--size", multiple=32)
    counts = make_instances_dataset(out_dir, images, hw, seed, val_fraction, max_per_level, force)
    console.print(f"{counts['train']['images']} train images ({counts['train']['objects']} "
                  f"objects), {counts['val']['images']} val images ({counts['val']['objects']} "
                  f"objects) -> {out_dir}; train with: {Path(out_dir) / 'spec.yaml'}")
