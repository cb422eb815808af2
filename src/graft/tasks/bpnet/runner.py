"""Any bpnet model behind one interface: a ``.graft`` file, a model in memory, or an exported
ONNX model / TensorRT engine, all run by the shared :class:`graft.runtime.Runner`.

Evaluation and inference take what :func:`load_pose_model` returns, so an exported FP32, FP16
or INT8 model is measured with exactly the preprocessing, decoder and metrics of the PyTorch
model it came from. Exported networks have a fixed input size (only the batch axis is
dynamic), so they run with ``pad_image_input`` at that size, as a deployed engine does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graft.errors import UserError
from graft.manifest import Manifest
from graft.runtime import Runner, load_runner


class RuntimePoseNet:
    """A pose network called like :class:`BpNetLite` in eval mode: a normalized
    ``(B, 3, H, W)`` tensor in, ``(paf, heatmap)`` tensors out (on the input's device).

    ``input_size`` is the (H, W) an exported network is fixed to; None takes any size."""

    def __init__(self, runtime: Any, input_size: tuple[int, int] | None) -> None:
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
        return self  # the runner's device was chosen when it was made

    @property
    def torch_module(self) -> Any:
        """The PyTorch network of a ``.graft`` model (None for an export)."""
        return getattr(self.runtime, "module", None)

    @property
    def num_stages(self) -> int | None:
        return getattr(self.torch_module, "num_stages", None)

    @property
    def output_stage(self) -> int | None:
        return getattr(self.torch_module, "output_stage", None)

    @output_stage.setter
    def output_stage(self, stage: int | None) -> None:
        if self.torch_module is not None:
            self.torch_module.output_stage = stage
        elif stage is not None:
            raise UserError("output_stage_to_use cannot change an exported model's output "
                            "stage", "set it to null, or evaluate the .graft model")

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fixed_input_size is not None and tuple(x.shape[-2:]) != self.fixed_input_size:
            raise UserError(f"the exported model takes {self.fixed_input_size} inputs, got "
                            f"{tuple(x.shape[-2:])}", "run it with pad_image_input at that size")
        out = self.runtime(x)
        return (torch.as_tensor(out["paf"]).float().to(x.device),
                torch.as_tensor(out["heatmap"]).float().to(x.device))


@dataclass
class PoseModel:
    """What evaluation and inference need: the network, its manifest and where it runs."""

    module: Any
    manifest: Manifest
    backend: str  # "pytorch", "onnx" or "tensorrt"

    @classmethod
    def from_runner(cls, runner: Runner) -> PoseModel:
        return cls(RuntimePoseNet(runner, runner.fixed_input_size), runner.manifest, runner.kind)

    @property
    def fixed_input_size(self) -> tuple[int, int] | None:
        return getattr(self.module, "fixed_input_size", None)

    @property
    def num_params(self) -> int | None:
        """Parameters of the PyTorch network (as recorded in the manifest for an export)."""
        torch_module = getattr(self.module, "torch_module", None)
        if torch_module is not None:
            return sum(p.numel() for p in torch_module.parameters())
        return self.manifest.params


def as_pose_model(model: Any, device: torch.device) -> PoseModel:
    """A :class:`PoseModel` as is; a loaded ``GraftModel`` (``graft.load``) run on ``device``."""
    if isinstance(model, PoseModel):
        return model
    return PoseModel.from_runner(Runner.from_model(model, device))


def load_pose_model(path: str | Path, key: str | None = None, device: str = "auto") -> PoseModel:
    """A bpnet ``.graft`` model, or an ONNX model / TensorRT engine exported from one."""
    return PoseModel.from_runner(load_runner(path, key=key, device=device, task="bpnet"))
