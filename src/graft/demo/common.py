"""Pieces the demo workflows share: the summary row, spec writing, model facts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.console import console

if TYPE_CHECKING:
    from graft.tasks.base import Task

__all__ = ["Row", "console", "export_fp32_and_int8", "num_params", "prune_options", "write_spec"]


@dataclass
class Row:
    """One line of the demo summary (and of ``summary.json``)."""

    workflow: str
    step: str
    model: str
    params: int | None
    metric: str
    value: float
    seconds: float
    outputs: str
    data: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    """Write a YAML spec atomically (users open these to see what the demo ran).

    ``Path`` values (relative to the working directory) are written relative to the spec's
    folder, graft's rule for paths in spec files: the demo's output folder works from any
    working directory and can be moved as a whole.
    """
    from graft.fsutil import write_text

    folder = os.path.abspath(path.parent)

    def portable(value: Any) -> Any:
        if isinstance(value, Path):
            return os.path.relpath(os.path.abspath(value), folder)
        if isinstance(value, dict):
            return {k: portable(v) for k, v in value.items()}
        return [portable(v) for v in value] if isinstance(value, list) else value

    import yaml

    write_text(path, yaml.safe_dump(portable(spec), sort_keys=False))
    return path


def num_params(model_path: Path) -> int:
    import graft

    return graft.load(model_path).num_params


CALIBRATION_BATCHES, CALIBRATION_BATCH_SIZE = 8, 16  # 128 real training images


@dataclass
class Export:
    """One exported model of :func:`export_fp32_and_int8`."""

    data_type: str
    path: Path
    start: float  # perf_counter() before the export, for the summary's time column

    @property
    def step(self) -> str:
        return f"ONNX {self.data_type.upper()} (onnxruntime)"


def export_fp32_and_int8(task: Task, model: Path, work: Path, cal_image_dir: Path
                         ) -> Iterator[Export]:
    """Export ``model`` to ONNX FP32, then INT8 calibrated on ``cal_image_dir`` (which also
    gives FP32 its real-image parity check)."""
    from graft.optimize.cli import run_export

    for data_type in ("fp32", "int8"):
        start = time.perf_counter()
        path = work / f"model.{data_type}.onnx"
        run_export(task, model, path, None, data_type=data_type, cal_image_dir=cal_image_dir,
                   batches=CALIBRATION_BATCHES, batch_size=CALIBRATION_BATCH_SIZE)
        yield Export(data_type, path, start)


def prune_options(task: Task, model_path: Path, threshold: float, min_removed: float = 0.5,
                  step: float = 0.01, min_num_filters: int = 16) -> Any:
    """TLT prune options at ``threshold``, raised by ``step`` until pruning removes at least
    ``min_removed`` of the parameters: how far a few minutes of training from scratch spread a
    layer's filter norms varies from run to run (and with the CPU's conv kernels).
    ``min_num_filters`` is TLT's ``-nf``: the fewest channels any group keeps."""
    import copy

    import graft
    from graft.optimize.prune import PruneOptions, prune_module

    model = graft.load(model_path)
    example = task.example_inputs(model.manifest)
    heads_of = task.output_layers
    while True:
        options = PruneOptions(threshold=round(threshold, 4), granularity=8,
                               min_num_filters=min_num_filters)
        trial = copy.deepcopy(model.module)
        result = prune_module(trial, example, options, check_rebuild=False,
                              output_layers=heads_of(trial, model.manifest))
        if 1 - result.params_after / result.params_before >= min_removed or threshold >= 1:
            return options
        threshold += step
