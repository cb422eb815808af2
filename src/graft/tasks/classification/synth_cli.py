"""``graft synth classification``."""

from __future__ import annotations

from pathlib import Path

import typer


def synth_classification(
    out_dir: Path = typer.Option(..., "-o", "--output", help="Output directory."),
    classes: int = typer.Option(4, "--classes", min=2, max=8, help="Number of shape classes."),
    per_class: int = typer.Option(
        200, "--per-class", "--per_class", min=2, help="Images per class."
    ),
    size: int = typer.Option(64, "--size", min=16, help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(False, "--force",
                               help="Replace OUT if it holds files (else that is refused)."),
) -> None:
    """Generate a shapes dataset in ImageFolder layout (OUT/train, OUT/val).

    OUT must be new or empty (or pass --force to replace it); it appears whole when done.

    Example: graft synth classification -o data/shapes --classes 4 --per-class 200 --size 64
    """
    from graft.console import console
    from graft.data.synthetic import make_classification_dataset

    s = make_classification_dataset(out_dir, classes, per_class, size, seed, force=force)
    console.print(
        f"wrote {s['classes']} ({s['train_per_class']} train + {s['val_per_class']} "
        f"val per class, {size}x{size}) to {out_dir}"
    )
