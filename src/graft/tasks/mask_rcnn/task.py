"""The Mask R-CNN task as graft's registry sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graft.tasks.base import Task

if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel
    from torch import nn

    from graft.api import GraftModel
    from graft.manifest import Manifest
    from graft.optimize.prune import PruneOptions, PruneResult


class MaskRCNNTask(Task):
    name = "mask_rcnn"
    summary = ("Mask R-CNN instance segmentation (TAO's mask_rcnn on torchvision): train, "
               "evaluate, inference, prune, export.")

    def build_model(self, architecture: dict[str, Any]) -> nn.Module:
        from graft.tasks.mask_rcnn.model import build_model

        return build_model(architecture)

    def cli(self) -> typer.Typer:
        from graft.tasks.mask_rcnn.cli import build_app

        return build_app(self)

    def spec_kinds(self) -> tuple[str, ...]:
        return ("train",)

    def spec_models(self) -> dict[str, type[BaseModel]]:
        from graft.tasks.mask_rcnn.spec import MaskRCNNSpec

        return {"train": MaskRCNNSpec}

    def synth_command(self) -> tuple[str, Any]:
        from graft.tasks.mask_rcnn.synth_cli import synth_instances

        return "instances", synth_instances

    def prune_network(self, model: nn.Module, manifest: Manifest, options: PruneOptions
                      ) -> PruneResult:
        """TLT's pruning on a dense view of the detector, predictors kept, frozen batch norm
        pruned with its convs (:mod:`graft.tasks.mask_rcnn.prune`)."""
        from graft.tasks.mask_rcnn.prune import prune_detector

        inp = manifest.require_input()
        return prune_detector(model, options, inp.height, inp.width)

    def predict(self, model: GraftModel, inputs: Any, threshold: float = 0.0,
                **options: Any) -> list[dict[str, Any]]:
        """Paths, uint8 (3, H, W) tensors, (H, W, 3) arrays or PIL images -> per image a dict
        of ``boxes`` (N, 4) x1 y1 x2 y2 pixels, ``scores``, ``labels`` (1..K, ``model.classes``
        [label - 1]) and ``masks`` (N, H, W) bool, scores at least ``threshold``."""
        from graft.tasks.mask_rcnn.inference import as_uint8_images, predict_images

        return predict_images(model.module, as_uint8_images(inputs), threshold)


TASK = MaskRCNNTask()
