"""The bpnet task as graft's registry sees it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.tasks.base import Task

if TYPE_CHECKING:
    import numpy as np
    import torch
    import typer
    from pydantic import BaseModel
    from torch import nn

    from graft.api import GraftModel
    from graft.manifest import Manifest


class BpnetTask(Task):
    name = "bpnet"
    summary = "BodyPoseNet multi-person 2D pose: convert, train, evaluate, inference, calibrate."

    def build_model(self, architecture: dict[str, Any]) -> nn.Module:
        from graft.tasks.bpnet.model import build_model

        return build_model(architecture)

    def upgrade_archive(self, tensors: dict[str, torch.Tensor], manifest: Manifest
                        ) -> tuple[dict[str, torch.Tensor], Manifest]:
        from graft.tasks.bpnet.model import upgrade_archive

        return upgrade_archive(tensors, manifest)

    def cli(self) -> typer.Typer:
        from graft.tasks.bpnet.cli import build_app

        return build_app(self)

    def spec_kinds(self) -> tuple[str, ...]:
        return ("train", "inference", "dataset", "pose_config")

    def spec_models(self) -> dict[str, type[BaseModel]]:
        from graft.tasks.bpnet.dataset_spec import DatasetSpec
        from graft.tasks.bpnet.pose_config import PoseConfig
        from graft.tasks.bpnet.spec import BpnetTrainSpec, InferenceSpec

        return {"train": BpnetTrainSpec, "inference": InferenceSpec, "dataset": DatasetSpec,
                "pose_config": PoseConfig}

    def predict(self, model: GraftModel, inputs: Any, inference_spec: Any = None,
                device: str = "auto", **options: Any) -> list[list[dict[str, Any]]]:
        """Paths, RGB uint8 (H, W, 3) arrays, uint8 (3, H, W) tensors or PIL images -> people
        per image (``keypoints`` (J, 3) in image pixels, ``score``, ``num_parts``).

        ``inference_spec``: an InferenceSpec, a dict of its fields, or a YAML path; keyword
        ``options`` override single fields (e.g. ``keep_aspect_ratio_mode="none"``).
        """
        import numpy as np
        import torch

        from graft.data.images import read_rgb_array
        from graft.spec import load_spec, validate
        from graft.tasks.bpnet.inference import PoseEstimator
        from graft.tasks.bpnet.spec import InferenceSpec

        if isinstance(inference_spec, InferenceSpec):
            spec = inference_spec.model_copy(update=options) if options else inference_spec
            spec = validate(InferenceSpec, spec.model_dump())
        elif isinstance(inference_spec, str | Path):
            spec = load_spec(inference_spec, InferenceSpec)
            spec = validate(InferenceSpec, {**spec.model_dump(), **options})
        else:
            spec = validate(InferenceSpec, {**(inference_spec or {}), **options})
        items = inputs if isinstance(inputs, list | tuple) else [inputs]
        images = []
        for item in items:
            if isinstance(item, str | Path):
                images.append(read_rgb_array(item))
            elif isinstance(item, torch.Tensor):
                images.append(item.permute(1, 2, 0).cpu().numpy().astype(np.uint8))
            elif hasattr(item, "convert"):  # PIL
                images.append(np.asarray(item.convert("RGB")))
            else:
                images.append(np.asarray(item, dtype=np.uint8))
        estimator = PoseEstimator(model, spec, device)
        return list(estimator.predict_many(images))

    def synth_command(self) -> tuple[str, Callable[..., Any]]:
        from graft.tasks.bpnet.cli import synth_pose

        return "pose", synth_pose

    def output_names(self, manifest: Manifest) -> list[str]:
        return ["paf", "heatmap"]

    def output_layers(self, model: nn.Module, manifest: Manifest) -> list[nn.Module]:
        return list(model.heads())

    def calibration_batches(self, manifest: Manifest, image_dir: Path, batches: int,
                            batch_size: int) -> Iterator[np.ndarray]:
        """INT8 calibration batches as a fixed-size engine infers: ``pad_image_input`` to the
        model's input size (aspect kept, padded), then the manifest's normalization."""
        import numpy as np
        import torch

        from graft.data.images import read_rgb_array
        from graft.data.preprocess import normalize
        from graft.optimize.calibration import sample_images
        from graft.tasks.bpnet.preprocess import plan_input, resize_to_input

        _, h, w = self.input_shape(manifest)
        from graft.manifest import Manifest

        norm = Manifest.of(manifest).normalization
        paths = sample_images(image_dir, batches * batch_size)
        for start in range(0, len(paths), batch_size):
            batch = []
            for path in paths[start:start + batch_size]:
                image = read_rgb_array(path)
                geometry = plan_input(image.shape[:2], (h, w), "pad_image_input")
                batch.append(resize_to_input(image, geometry))
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
            yield normalize(x, norm).numpy().astype(np.float32)

    def sdk_compatible_head(self, manifest: Manifest) -> tuple[nn.Module, list[str]]:
        """Deployment variant: the PAF output upsampled 2x by a ConvTranspose layer, the layout
        deployment pipelines (DeepStream-style bodypose apps) expect; heatmaps are unchanged."""
        from graft.manifest import Manifest
        from graft.tasks.bpnet.model import PafUpsampleHead

        arch = Manifest.of(manifest).architecture
        paf_channels = 2 * len(arch["pose_config"]["limbs"])
        return PafUpsampleHead(paf_channels), ["paf_upsampled", "heatmap"]

    def export_metadata(self, manifest: Manifest) -> dict[str, Any]:
        """What a pose pipeline needs besides the manifest: joints, limbs, stride, input mode."""
        from graft.manifest import Manifest

        arch = Manifest.of(manifest).architecture
        pose = arch.get("pose_config", {})
        return {"joints": pose.get("joints", []), "limbs": pose.get("limbs", []),
                "stride": arch.get("stride", 8),
                "keep_aspect_ratio_mode": "pad_image_input",
                "outputs": {"paf": "2 x limbs channels", "heatmap": "joints + background"}}


TASK = BpnetTask()
