"""INT8 post-training quantization: explicit QDQ ONNX calibrated on real batches.

onnxruntime's ``quantize_static`` writes symmetric int8 activations and per-channel int8 weights
as QuantizeLinear/DequantizeLinear pairs (TensorRT's explicit-quantization format). The tensor
ranges go to a JSON calibration cache that a later export reuses, after checking that it was
made for the same graph.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from graft.errors import UserError


def _check_cache(cache: Path, model_path: Path, input_name: str) -> None:
    """A cache made for another graph would quantize with wrong ranges: refuse it."""
    import onnx

    try:
        ranges = json.loads(cache.read_text(encoding="utf-8"))["data"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{cache} is not a graft/onnxruntime calibration cache",
                        "delete it to recalibrate") from None
    model = onnx.load(str(model_path), load_external_data=False)
    names = {i.name for i in model.graph.input} | {o for n in model.graph.node for o in n.output}
    unknown = sorted(set(ranges) - names)
    if unknown or input_name not in ranges:
        raise UserError(f"calibration cache {cache} was made for another model "
                        f"(e.g. tensor {(unknown or [input_name])[0]!r})",
                        "delete it, or pass --cal_image_dir to recalibrate into a new file")


def quantize_int8(fp32_path: Path, out_path: Path, batches: Iterable[np.ndarray] | None,
                  cal_cache_file: str | Path | None, method: str = "minmax",
                  max_batches: int | None = None, progress: Any = None,
                  input_name: str = "input") -> dict[str, Any]:
    """Explicit-QDQ int8 ONNX from real calibration batches or an existing cache."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from graft.optimize.calibration import BatchReader

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise UserError(f"unknown calibration method {method!r}",
                        f"use one of {', '.join(methods)}")
    cache = Path(cal_cache_file) if cal_cache_file else None
    reuse = cache is not None and cache.is_file()
    if not reuse and batches is None:
        raise UserError("INT8 calibration needs real images and none were given",
                        "pass --cal_image_dir DIR, or an existing --cal_cache_file")
    with tempfile.TemporaryDirectory(prefix="graft-int8-") as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32_path), str(prepped), skip_symbolic_shape=False)
        if reuse:
            _check_cache(cache, prepped, input_name)
        reader = None if reuse else BatchReader(input_name, batches, limit=max_batches,
                                                progress=progress)
        quantize_static(
            str(prepped), str(out_path), reader, quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            calibrate_method=methods[method],
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                           "CalibMaxIntermediateOutputs": 16},
            calibration_cache_path=str(cache) if cache else None,
        )
    if reader is not None and reader.count == 0:
        raise UserError("INT8 calibration got no batches", "check --cal_image_dir")
    return {"method": method, "cache_file": str(cache) if cache else None, "reused_cache": reuse,
            "batches": None if reader is None else reader.count,
            "images": None if reader is None else reader.images}


class FirstBatch:
    """Passes batches through and keeps the first one, to reuse as real parity inputs."""

    def __init__(self, batches: Iterable[np.ndarray]) -> None:
        self._it = iter(batches)
        self.first: np.ndarray | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        for b in self._it:
            if self.first is None:
                self.first = np.asarray(b, dtype=np.float32)
            yield b


def calibrate(fp32_path: Path, out_path: Path, first: FirstBatch | None, batches: int | None,
              cal_cache_file: str | Path | None, method: str, console: Any,
              input_name: str = "input") -> dict[str, Any]:
    """Quantize with a progress bar over the calibration batches (or from the cache)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if first is None:  # reusing a cache
        return quantize_int8(fp32_path, out_path, None, cal_cache_file, method,
                             input_name=input_name)
    with Progress(TextColumn("calibrating INT8"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        job = bar.add_task("calibrate", total=batches)
        return quantize_int8(fp32_path, out_path, first, cal_cache_file, method,
                             max_batches=batches, progress=lambda: bar.advance(job),
                             input_name=input_name)
