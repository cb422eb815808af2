"""The classification task as graft's registry sees it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.tasks.base import Task
from graft.tasks.classification.outputs import LOGITS, PROBABILITIES

if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel
    from torch import nn

    from graft.api import GraftModel
    from graft.manifest import Manifest


class ClassificationTask(Task):
    name = "classification"
    summary = "Image classification: train, evaluate, inference, prune, export."

    def build_model(self, architecture: dict[str, Any]) -> nn.Module:
        from graft.tasks.classification.model import build_from_architecture

        return build_from_architecture(architecture)

    def cli(self) -> typer.Typer:
        from graft.tasks.classification.cli import build_app

        return build_app(self)

    def spec_kinds(self) -> tuple[str, ...]:
        return ("train",)

    def spec_models(self) -> dict[str, type[BaseModel]]:
        from graft.tasks.classification.spec import ClassificationSpec

        return {"train": ClassificationSpec}

    def predict(self, model: GraftModel, inputs: Any, top_k: int = 5,
                **options: Any) -> list[dict[str, Any]]:
        """Paths, uint8 (3,H,W) tensors, or PIL images -> top-k labels and scores each."""
        import numpy as np
        import torch

        from graft.data.images import read_rgb
        from graft.runtime import Runner
        from graft.tasks.classification.inference import classify
        from graft.tasks.classification.runner import Classifier

        items = inputs if isinstance(inputs, list | tuple) else [inputs]
        images = []
        for item in items:
            if isinstance(item, str | Path):
                images.append(read_rgb(item))
            elif isinstance(item, torch.Tensor):
                images.append(item)
            else:  # PIL image or HxWx3 array
                images.append(
                    torch.from_numpy(
                        np.asarray(item.convert("RGB") if hasattr(item, "convert") else item).copy()
                    ).permute(2, 0, 1)
                )
        return classify(Classifier.from_runner(Runner.from_model(model)), images, top_k)

    def synth_command(self) -> tuple[str, Callable[..., Any]]:
        from graft.tasks.classification.synth_cli import synth_classification

        return "classification", synth_classification

    def output_names(self, manifest: Manifest) -> list[str]:
        return [LOGITS]

    def sdk_compatible_head(self, manifest: Manifest) -> tuple[nn.Module, list[str]]:
        """Deployment variant: a softmax after the logits, as TLT's classification exports
        end, so DeepStream's ``classifier-threshold`` compares probabilities (output
        ``probabilities``; graft's runners read it back as log-probabilities)."""
        from torch import nn

        return nn.Softmax(dim=1), [PROBABILITIES]

    def output_layers(self, model: nn.Module, manifest: Manifest) -> list[nn.Module]:
        from graft.manifest import Manifest
        from graft.nn.backbones import classifier_name

        arch = Manifest.of(manifest).architecture["arch"]
        return [model.get_submodule(classifier_name(arch))]


TASK = ClassificationTask()
