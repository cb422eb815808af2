"""A classifier over any model file: ``.graft`` (PyTorch), ONNX or a TensorRT engine, run by the
shared :class:`graft.runtime.Runner`. This module keeps only what is classification's own: the
normalization before the network and logits out. Evaluation and inference use only this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graft.data.preprocess import normalize
from graft.errors import UserError
from graft.runtime import Runner, load_runner
from graft.tasks.classification.outputs import PROBABILITIES


@dataclass
class Classifier:
    runner: Runner
    classes: list[str]
    input_size: tuple[int, int]
    normalization: dict[str, Any]
    resize: dict[str, Any] | None = None  # the manifest's input.resize (crop, interpolation)

    @classmethod
    def from_runner(cls, runner: Runner) -> Classifier:
        info = runner.info
        if not info.classes or info.input_size is None or info.normalization is None:
            raise UserError(
                f"{runner.path or 'the model'} carries no graft metadata (classes, input, "
                "normalization)", "export it with `graft classification export`")
        return cls(runner, info.classes, info.input_size, info.normalization,
                   info.input.get("resize"))

    @property
    def backend(self) -> str:
        return self.runner.kind

    def logits(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8 RGB at ``input_size`` -> (B, num_classes) float logits on CPU;
        log-probabilities for an export that ends in a softmax (``--sdk_compatible_model``),
        which softmax, argmax and cross-entropy treat exactly like its logits."""
        x = normalize(images_uint8.to(self.runner.device), self.normalization)
        name = self.runner.output_names[0]
        out = self.runner(x, outputs=[name], returns="torch")[name].float().cpu()
        return out.clamp_min(1e-30).log() if name == PROBABILITIES else out


def load_classifier(path: str | Path, key: str | None = None, device: str = "auto"
                    ) -> Classifier:
    """A classification ``.graft`` model or an export of one, on ``device`` (auto/cpu/cuda[:N])."""
    return Classifier.from_runner(load_runner(path, key=key, device=device,
                                              task="classification"))
