"""``graft gesturenet ACTION``: thin wrappers; prune and export are graft's shared commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

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
)
from graft.console import console

if TYPE_CHECKING:
    from graft.tasks.base import Task


def _spec_first(spec: Path, overrides: list[str], results_dir: Path | None):
    """Validate the spec and results folder before PyTorch loads, so a typo shows at once."""
    from graft.fsutil import check_output_dir
    from graft.spec import load_spec
    from graft.tasks.gesturenet.spec import GestureSpec

    parsed = load_spec(spec, GestureSpec, overrides)
    if results_dir is not None:
        check_output_dir(results_dir)
    return parsed


def build_app(task: Task) -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="GestureNet: hand-gesture classification.")

    @app.command("dataset_convert")
    def dataset_convert(
        data_dir: Path = typer.Option(..., "-d", "--data_dir", "--data-dir",
                                      help="Folder of label JSONs (one per hand image)."),
        output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                        help="Folder for train.json, val.json, test.json."),
        val_fraction: float = typer.Option(0.25, "--val_fraction", "--val-fraction",
                                           min=0.01, max=0.9),
        kpi_users: str = typer.Option("", "--kpi_users", "--kpi-users",
                                      help="Comma list of user ids held out as the test set."),
        seed: int = typer.Option(0, "--seed"),
        force: bool = typer.Option(False, "--force", help="Replace OUTPUT_DIR if not empty."),
    ) -> None:
        """Split hand labels into train / val / test lists by user id (no user in two parts).

        Example: graft gesturenet dataset_convert -d hands/gesturenet -o splits --kpi_users user07
        """
        from graft.tasks.gesturenet.convert import dataset_convert as run

        users = [u.strip() for u in kpi_users.split(",") if u.strip()]
        s = run(data_dir, output_dir, val_fraction=val_fraction, kpi_users=users, seed=seed,
                force=force)
        for part in ("train", "val", "test"):
            if part in s:
                console.print(f"{part}: {s[part]['hands']} hands from "
                              f"{len(s[part]['users'])} users")
        console.print(f"lists in {output_dir}")

    @app.command()
    def train(spec: Path = SPEC, results_dir: Path = RESULTS, key: str | None = KEY,
              gpus: int = GPUS, num_nodes: int = NUM_NODES, overrides: list[str] = OVERRIDES,
              accelerator: str = ACCELERATOR, force: bool = FORCE) -> None:
        """Train GestureNet from a spec; rerun the same command to resume.

        Example: graft gesturenet train -e spec.yaml -r results/ --set trainer.epochs=5
        """
        parsed = _spec_first(spec, overrides, results_dir)
        from graft.tasks.gesturenet.train import train as run

        summary = run(spec, results_dir, spec=parsed, key=key, gpus=gpus, num_nodes=num_nodes,
                      overrides=overrides, accelerator=accelerator, force=force)
        for line in summary.lines():
            console.print(line)

    @app.command()
    def evaluate(spec: Path = SPEC, model: Path = MODEL_OR_URL, key: str | None = KEY,
                 results_dir: Path | None = RESULTS_OPT, overrides: list[str] = OVERRIDES,
                 split: Path | None = typer.Option(None, "--split", help="A split list to "
                                                   "score (default: the spec's val_file)."),
                 ) -> None:
        """Evaluate a model (.graft, .onnx, .engine or a Triton URL) on users it never saw.

        Example: graft gesturenet evaluate -e spec.yaml -m out/model.graft --split test.json
        """
        parsed = _spec_first(spec, overrides, results_dir)
        from graft.tasks.gesturenet.evaluate import evaluate as run

        m = run(spec, model, key=key, results_dir=results_dir, split_file=split, spec=parsed)
        for row in m["per_class"]:
            console.print(f"{row['class']}: precision {row['precision']:.3f} recall "
                          f"{row['recall']:.3f} f1 {row['f1']:.3f} support {row['support']}")
        k = m["top_k"]
        console.print(f"{m['images']} hands of {len(m['users'])} users ({m['backend']}): "
                      f"loss {m['loss']:.4f}   top-1 accuracy {m['top1_accuracy']:.4f}   "
                      f"top-{k} accuracy {m[f'top{k}_accuracy']:.4f}")

    @app.command()
    def inference(
        model: Path = MODEL_OR_URL,
        inputs: Path = typer.Option(..., "-i", "--input", "--image_dir",
                                    help="A split list (.json) or a folder of label JSONs."),
        key: str | None = KEY,
        results_dir: Path = RESULTS,
        no_images: bool = typer.Option(False, "--no_images", "--no-images",
                                       help="Skip the labeled crops in RESULTS/images."),
    ) -> None:
        """Classify each labeled hand; writes result.csv, results.json (class probabilities)
        and each crop with its label drawn.

        Example: graft gesturenet inference -m model.graft -i splits/test.json -r results/infer
        """
        from graft.tasks.gesturenet.evaluate import infer

        results = infer(model, inputs, results_dir, key=key, render=not no_images)
        console.print(f"{len(results)} hands classified; results in "
                      f"{results_dir / 'results.json'}")

    from graft.optimize.cli import add_optimize_commands

    add_optimize_commands(app, task)
    return app
