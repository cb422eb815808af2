"""Any bpnet model file behind one interface: ``.graft`` (PyTorch) or an exported ONNX model /
TensorRT engine (through :mod:`graft.optimize.runtime`).

Evaluation and inference take what :func:`load_pose_model` returns, so an exported FP32, FP16
or INT8 model is measured with exactly the preprocessing, decoder and metrics of the PyTorch
model it came from. Exported networks have a fixed input size (only the batch axis is
dynamic), so they run with ``pad_image_input`` at that size, as a deployed engine does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.errors import UserError
from graft.spec_paths import path_origin


class RuntimePoseNet:
    """An exported network called like :class:`BpNetLite` in eval mode: a normalized
    ``(B, 3, H, W)`` tensor in, ``(paf, heatmap)`` tensors out (on the input's device)."""

    def __init__(self, runtime: Any, input_size: tuple[int, int]) -> None:
        names = list(runtime.output_names)
        if "paf" not in names or "heatmap" not in names:
            raise UserError(f"{runtime.path} has outputs {names}, not paf and heatmap",
                            "evaluate the plain export; --sdk_compatible_model changes the PAF "
                            "output for deployment pipelines")
        self.runtime = runtime
        self.fixed_input_size = input_size

    def eval(self) -> RuntimePoseNet:
        return self

    def to(self, device: Any) -> RuntimePoseNet:
        return self

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[-2:]) != self.fixed_input_size:
            raise UserError(f"the exported model takes {self.fixed_input_size} inputs, got "
                            f"{tuple(x.shape[-2:])}", "run it with pad_image_input at that size")
        out = self.runtime(x.detach().float().cpu().numpy())
        return (torch.from_numpy(np.asarray(out["paf"], dtype=np.float32)).to(x.device),
                torch.from_numpy(np.asarray(out["heatmap"], dtype=np.float32)).to(x.device))


@dataclass
class PoseModel:
    """What evaluation and inference need: the network, its manifest and where it runs."""

    module: Any
    manifest: dict[str, Any]
    backend: str  # "pytorch", "onnx" or "tensorrt"

    @property
    def fixed_input_size(self) -> tuple[int, int] | None:
        return getattr(self.module, "fixed_input_size", None)


def load_pose_model(path: str | Path, key: str | None = None, device: str = "auto") -> PoseModel:
    """A bpnet ``.graft`` model, or an ONNX model / TensorRT engine exported from one."""
    from graft.optimize.runtime import is_exported, load_runtime

    p = Path(path)
    if is_exported(p):
        if not p.is_file():
            raise UserError(f"model file not found: {p}{path_origin(p)}",
                            "check the -m/--model path")
        runtime = load_runtime(p, device="cpu" if device == "cpu" else "auto")
        manifest = runtime.manifest
        task = manifest.get("task") if isinstance(manifest, dict) else None
        if task != "bpnet":
            raise UserError(f"{p} is not a bpnet export (task {task!r})",
                            "export it with `graft bpnet export`")
        inp = manifest.get("input", {})
        size = (int(inp["height"]), int(inp["width"]))
        return PoseModel(RuntimePoseNet(runtime, size), manifest, runtime.kind)
    from graft.api import load

    model = load(p, key=key)
    if model.manifest.get("task") != "bpnet":
        raise UserError(f"{p} is a {model.manifest.get('task')!r} model, not bpnet",
                        "pass a model trained with graft bpnet train")
    return PoseModel(model.module, model.manifest, "pytorch")
