"""Typer options shared by every task's commands (TLT flag names)."""

from __future__ import annotations

from pathlib import Path

import typer

SPEC: Path = typer.Option(..., "-e", "--spec", "--experiment_spec_file", help="YAML spec file.")
RESULTS: Path = typer.Option(..., "-r", "--results_dir", "--results-dir", help="Results directory.")
RESULTS_OPT: Path | None = typer.Option(
    None,
    "-r",
    "--results_dir",
    "--results-dir",
    help="Directory for result files (JSON, CSV, PNG).",
)
MODEL: Path = typer.Option(
    ..., "-m", "--model", help="Model file (.graft; .onnx/.engine where supported)."
)


def model_or_url(value: str) -> Path | str:
    """``-m``'s value for commands that run models through the shared runner: a Triton model
    URL (``grpc://HOST:8001/NAME``) stays a string, since a Path folds its ``//``."""
    from graft.runtime.model_url import is_triton_url

    return value if is_triton_url(value) else Path(value)


MODEL_OR_URL: Path = typer.Option(
    ..., "-m", "--model", parser=model_or_url, metavar="<path|url>",
    help="Model file (.graft, .onnx, TensorRT .engine) or a model on a Triton server: "
    "grpc://HOST:8001/NAME, http://HOST:8000/NAME.")
KEY: str | None = typer.Option(
    None,
    "-k",
    "--key",
    envvar="GRAFT_KEY",
    help="Encryption key of the model file(s) (env GRAFT_KEY).",
)
GPUS: int = typer.Option(
    1,
    "--gpus",
    min=1,
    help="Processes per node (GPUs; CPU processes with --accelerator cpu). >1 uses DDP.",
)
NUM_NODES: int = typer.Option(
    1, "--num_nodes", "--num-nodes", min=1, help="Nodes (torchrun/SLURM)."
)
def overrides_option(example: str, spec: str = "spec") -> list[str]:
    """``--set`` with an example that applies to the command's own spec."""
    return typer.Option([], "--set", help=f"Override a field of the {spec}: --set {example} "
                        "(repeatable; paths relative to the working directory).")


OVERRIDES: list[str] = overrides_option("trainer.epochs=5")
ACCELERATOR: str = typer.Option("auto", "--accelerator", help="auto | gpu | cpu")
FORCE: bool = typer.Option(
    False, "--force", help="Replace the run in the results dir and train from scratch (the old "
    "run waits in RESULTS/.previous until the new one writes its first checkpoint)."
)
