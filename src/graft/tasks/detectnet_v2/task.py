"""The DetectNet_v2 task as graft's registry sees it.

Exports keep TLT's tensor names (input ``input_1``, outputs ``output_cov/Sigmoid`` and
``output_bbox/BiasAdd``), so DeepStream configs written for TLT's models work unchanged; an
export also gets a DeepStream nvinfer config and labels file beside it
(:mod:`graft.deploy.deepstream`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.tasks.base import Task

if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel
    from torch import nn

    from graft.api import GraftModel
    from graft.manifest import Manifest


class DetectNetV2Task(Task):
    name = "detectnet_v2"
    summary = ("DetectNet_v2 object detection (TLT): dataset_convert, train, evaluate, inference, "
               "check_labels, prune, export.")

    def build_model(self, architecture: dict[str, Any]) -> nn.Module:
        from graft.tasks.detectnet_v2.model import build_model

        return build_model(architecture)

    def cli(self) -> typer.Typer:
        from graft.tasks.detectnet_v2.cli import build_app

        return build_app(self)

    def spec_kinds(self) -> tuple[str, ...]:
        return ("train",)

    def synth_command(self) -> tuple[str, Any]:
        from graft.tasks.detectnet_v2.synth import synth_detection

        return "detection", synth_detection

    def spec_models(self) -> dict[str, type[BaseModel]]:
        from graft.tasks.detectnet_v2.spec import DetectNetSpec

        return {"train": DetectNetSpec}

    def predict(self, model: GraftModel, inputs: Any, threshold: float = 0.0, spec: Any = None,
                **options: Any) -> list[list[dict[str, Any]]]:
        """Paths, uint8 (3, H, W) tensors, (H, W, 3) arrays or PIL images -> per image a list of
        detections (class, box x1 y1 x2 y2 in image pixels, score in [0, 1], TLT's
        confidence), scores at least ``threshold``. ``spec``: a DetectNetSpec or YAML path
        whose post-processing to use (default: the one the model was trained with)."""
        import numpy as np
        import torch

        from graft.data.images import read_rgb
        from graft.runtime import Runner
        from graft.spec import load_spec
        from graft.tasks.detectnet_v2.detector import Detector, as_records
        from graft.tasks.detectnet_v2.spec import DetectNetSpec

        if isinstance(spec, str | Path):
            spec = load_spec(spec, DetectNetSpec)
        items = inputs if isinstance(inputs, list | tuple) else [inputs]
        images = []
        for item in items:
            if isinstance(item, str | Path):
                images.append(read_rgb(item))
            elif isinstance(item, torch.Tensor):
                images.append(item)
            else:  # PIL image or HxWx3 array
                array = np.asarray(item.convert("RGB") if hasattr(item, "convert") else item)
                images.append(torch.from_numpy(array.copy()).permute(2, 0, 1))
        detector = Detector.from_runner(Runner.from_model(model), spec)
        return [[d for d in as_records(dets, detector.classes) if d["score"] >= threshold]
                for dets in detector(images)]

    # -- optimization hooks -----------------------------------------------------------------
    def input_names(self, manifest: Manifest) -> list[str]:
        from graft.tasks.detectnet_v2.model import INPUT_NAME

        return [INPUT_NAME]

    def output_names(self, manifest: Manifest) -> list[str]:
        from graft.tasks.detectnet_v2.model import OUTPUT_NAMES

        return list(OUTPUT_NAMES)

    def dynamic_axes(self, manifest: Manifest) -> dict[str, dict[int, str]]:
        """The batch axis only: DeepStream builds engines for one input size."""
        from graft.runtime.backend import BATCH

        return {n: {0: BATCH} for n in self.input_names(manifest) + self.output_names(manifest)}

    def output_layers(self, model: nn.Module, manifest: Manifest) -> list[nn.Module]:
        """The two heads: their channels are the classes (and 4 box sides per class)."""
        return list(model.heads())

    def export_metadata(self, manifest: Manifest) -> dict[str, Any]:
        """What a DetectNet_v2 parser needs besides the manifest: the grid and box encoding."""
        from graft.manifest import Manifest

        m = Manifest.of(manifest)
        bbox = ((m.spec or {}).get("model_config") or {}).get(  # the recorded training spec
            "objective_set", {}).get("bbox", {})
        return {"stride": m.architecture.get("stride", 16),
                "box_encoding": {"scale": bbox.get("scale", 35.0),
                                 "offset": bbox.get("offset", 0.5)},
                "outputs": {"output_cov/Sigmoid": "coverage per class (B, C, H/16, W/16)",
                            "output_bbox/BiasAdd": "L, T, R, B / scale per class "
                                                   "(B, 4C, H/16, W/16), class-major"}}

    def deployment_files(self, manifest: Manifest, model_path: Path, data_type: str,
                         engine_file: Path | None = None) -> list[Path]:
        """``MODEL_nvinfer_config.txt`` and ``MODEL_labels.txt`` beside the export."""
        from graft.tasks.detectnet_v2.deploy import write_deepstream_files

        return write_deepstream_files(manifest, Path(model_path), data_type, engine_file)


TASK = DetectNetV2Task()
