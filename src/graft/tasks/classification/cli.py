"""``graft classification ACTION``: thin wrappers over the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from graft.cli_options import (
    ACCELERATOR,
    FORCE,
    GPUS,
    KEY,
    MODEL_OR_URL,
    NUM_NODES,
    OVERRIDES,
    RESULTS,
    RESULTS_OPT,
    SPEC,
    overrides_option,
)
from graft.console import console

if TYPE_CHECKING:
    from graft.tasks.base import Task

EVAL_OVERRIDES: list[str] = overrides_option("eval.batch_size=16")


def _spec_first(spec: Path, overrides: list[str], results_dir: Path | None):
    """Validate the spec and the results folder before PyTorch loads (seconds), so a typo is
    reported at once."""
    from graft.fsutil import check_output_dir
    from graft.spec import load_spec
    from graft.tasks.classification.spec import ClassificationSpec

    parsed = load_spec(spec, ClassificationSpec, overrides)
    if results_dir is not None:
        check_output_dir(results_dir)
    return parsed


def build_app(task: Task) -> typer.Typer:
    """The ``graft classification`` commands; ``task`` (the registry's) gets prune and export."""
    app = typer.Typer(no_args_is_help=True, help="Image classification (ImageFolder data).")

    @app.command()
    def train(
        spec: Path = SPEC,
        results_dir: Path = RESULTS,
        key: str | None = KEY,
        gpus: int = GPUS,
        num_nodes: int = NUM_NODES,
        overrides: list[str] = OVERRIDES,
        accelerator: str = ACCELERATOR,
        force: bool = FORCE,
    ) -> None:
        """Train a classifier from a spec; rerun the same command to resume.

        `graft classification spec` prints a complete spec to start from (every key, its
        default and meaning).

        Example: graft classification train -e spec.yaml -r results/ --set trainer.epochs=5
        """
        parsed = _spec_first(spec, overrides, results_dir)
        from graft.tasks.classification.train import train as run

        summary = run(
            spec,
            results_dir,
            spec=parsed,
            key=key,
            gpus=gpus,
            num_nodes=num_nodes,
            overrides=overrides,
            accelerator=accelerator,
            force=force,
        )
        for line in summary.lines():
            console.print(line)

    @app.command()
    def evaluate(
        spec: Path = SPEC,
        model: Path = MODEL_OR_URL,
        key: str | None = KEY,
        results_dir: Path | None = RESULTS_OPT,
        overrides: list[str] = EVAL_OVERRIDES,
    ) -> None:
        """Evaluate a model (.graft, .onnx, .engine or a Triton URL) on the spec's val_dir.

        Example: graft classification evaluate -e spec.yaml -m results/model.graft -r results/eval

        Example: graft classification evaluate -e spec.yaml -m grpc://triton-host:8001/classifier
        """
        parsed = _spec_first(spec, overrides, results_dir)
        from graft.tasks.classification.evaluate import evaluate as run

        m = run(spec, model, key=key, results_dir=results_dir, overrides=overrides, spec=parsed)
        table = Table(title=f"evaluation of {model} ({m['backend']}, {m['images']} images)")
        for col in ("class", "precision", "recall", "f1", "support"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for row in m["per_class"]:
            table.add_row(
                row["class"],
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
                str(row["support"]),
            )
        console.print(table)
        k = m["top_k"]
        console.print(
            f"loss {m['loss']:.4f}   top-1 accuracy {m['top1_accuracy']:.4f}   "
            f"top-{k} accuracy {m[f'top{k}_accuracy']:.4f}"
        )
        if results_dir:
            console.print(
                f"results in {results_dir} (evaluation.json, per_class.csv, confusion_matrix.png)"
            )

    @app.command()
    def inference(
        spec: Path | None = typer.Option(
            None,
            "-e",
            "--spec",
            help="Spec (unused fields are fine; kept for TLT-compatible command lines).",
        ),
        model: Path = MODEL_OR_URL,
        images: Path | None = typer.Option(
            None, "-i", "--image", "--input", help="An image, a directory or a .txt list."),
        image_dir: Path | None = typer.Option(
            None, "-d", "--image_dir", "--image-dir", help="A directory of images (TLT's flag "
            "for folders; -i takes folders too)."),
        key: str | None = KEY,
        results_dir: Path = RESULTS,
        top_k: int = typer.Option(5, "--top_k", "--top-k", min=1),
        no_images: bool = typer.Option(False, "--no_images", "--no-images",
                                       help="Skip the labeled copies in RESULTS/images."),
    ) -> None:
        """Classify images; writes result.csv, results.json and a copy of each image with its
        label and score drawn (RESULTS/images/NAME.png) into the results dir.

        Example: graft classification inference -m model.graft -i images/ -r results/infer
        """
        from graft.data.images import skipped_note
        from graft.errors import UserError
        from graft.tasks.classification.inference import infer

        if (images is None) == (image_dir is None):
            raise UserError("give the images with -i (an image, a folder or a .txt list) or "
                            "-d (a folder)", "pass exactly one of them")
        results = infer(model, images or image_dir, results_dir, key=key, top_k=top_k,
                        render=not no_images)
        failed = sum(1 for r in results if r.get("error"))
        drawn = "" if no_images else f", labeled images in {results_dir / 'images'}"
        console.print(f"{len(results) - failed} images classified"
                      f"{skipped_note(failed, 'results.json')}; results in "
                      f"{results_dir / 'result.csv'}{drawn}")

    from graft.optimize.cli import add_optimize_commands

    add_optimize_commands(app, task)
    return app
