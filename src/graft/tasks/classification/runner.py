"""One way to run a classifier, whatever the model file: ``.graft`` (PyTorch) or exported ONNX /
TensorRT (through :mod:`graft.optimize.runtime`). Evaluation and inference use only this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.data.preprocess import normalize
from graft.errors import UserError


@dataclass
class Classifier:
    classes: list[str]
    input_size: tuple[int, int]
    normalization: dict[str, Any]
    backend: str
    _fn: Any

    def logits(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8 RGB at ``input_size`` -> (B, num_classes) float logits on CPU."""
        return self._fn(images_uint8)


def _torch_classifier(path: Path, key: str | None, device: str) -> Classifier:
    from graft.api import load

    model = load(path, key=key, device=device)
    if model.manifest.get("task") != "classification":
        raise UserError(
            f"{path} is a {model.manifest.get('task')!r} model, not classification",
            "pass a classification model",
        )
    inp = model.manifest["input"]
    norm = inp["normalization"]

    @torch.inference_mode()
    def fn(images: torch.Tensor) -> torch.Tensor:
        return model.module(normalize(images.to(device), norm)).float().cpu()

    return Classifier(model.classes, (inp["height"], inp["width"]), norm, "pytorch", fn)


def _runtime_classifier(path: Path) -> Classifier:
    from graft.optimize.runtime import load_runtime

    rt = load_runtime(path)
    manifest = rt.manifest
    try:
        classes = list(manifest["classes"])
        inp = manifest["input"]
        norm = inp["normalization"]
    except (KeyError, TypeError):
        raise UserError(
            f"{path} carries no graft metadata (classes, input, normalization)",
            "export it with `graft classification export`",
        ) from None

    def fn(images: torch.Tensor) -> torch.Tensor:
        x = normalize(images, norm).numpy().astype(np.float32)
        out = rt(x)
        return torch.from_numpy(np.asarray(out[rt.output_names[0]], dtype=np.float32))

    return Classifier(classes, (inp["height"], inp["width"]), norm, rt.kind, fn)


def load_classifier(path: str | Path, key: str | None = None, device: str = "cpu") -> Classifier:
    from graft.optimize.runtime import is_exported

    p = Path(path)
    if is_exported(p):
        if not p.is_file():
            raise UserError(f"model file not found: {p}", "check the -m/--model path")
        return _runtime_classifier(p)
    return _torch_classifier(p, key, device)
