"""A DetectNet_v2 detector over any model file: ``.graft`` (PyTorch), ONNX or a TensorRT engine.

The shared :class:`graft.runtime.Runner` runs the network; this module keeps what is the
task's own: the preprocessing (an antialiased resize of the uint8 image to the input size, the
normalization the model's metadata records) and the post-processing
(:class:`~graft.tasks.detectnet_v2.decoder.DetectionDecoder`), so ``evaluate``, ``inference``
and the Python API score and draw every backend's outputs the same way.

The clustering comes from the spec given to the command (TLT's behaviour: ``-e SPEC``), or else
from the spec the model was trained with (recorded in its manifest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms import v2

from graft.data.kitti import class_key
from graft.data.preprocess import normalize
from graft.errors import UserError
from graft.manifest import Manifest
from graft.metrics.detection import Detections
from graft.runtime import Runner, load_runner
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.model import OUTPUT_NAMES
from graft.tasks.detectnet_v2.spec import DetectNetSpec

TASK_NAME = "detectnet_v2"


def spec_of(manifest: Manifest | Mapping[str, Any]) -> DetectNetSpec:
    """The spec a model was trained with (its manifest's copy)."""
    from graft.spec import validate

    data = Manifest.of(manifest).spec
    if not isinstance(data, dict):
        raise UserError("the model file records no DetectNet_v2 spec",
                        "pass the training spec with -e SPEC")
    return validate(DetectNetSpec, data, "the model's recorded spec")


@dataclass
class Detector:
    """Callable on uint8 RGB (3, H, W) images of any size: detections in image pixels."""

    runner: Runner
    classes: list[str]
    input_size: tuple[int, int]
    normalization: dict[str, Any]
    decoder: DetectionDecoder

    @classmethod
    def from_runner(cls, runner: Runner, spec: DetectNetSpec | None = None) -> Detector:
        info = runner.info
        if info.task != TASK_NAME or not info.classes or info.input_size is None \
                or info.normalization is None:
            raise UserError(f"{runner.path or 'the model'} is not a DetectNet_v2 model with "
                            f"graft metadata (task {info.task!r})",
                            "export it with `graft detectnet_v2 export`")
        missing = [n for n in OUTPUT_NAMES if n not in runner.output_names]
        if missing:
            raise UserError(f"{runner.path} has outputs {runner.output_names}, not "
                            f"{', '.join(OUTPUT_NAMES)}", "evaluate the plain export")
        spec = spec or spec_of(info.manifest)
        if [class_key(c) for c in spec.class_names] != [class_key(c) for c in info.classes]:
            raise UserError(f"the model detects {', '.join(info.classes)} but the spec's "
                            f"target classes are {', '.join(spec.class_names)}",
                            "use the spec the model was trained with (same classes, same order)")
        fixed = runner.fixed_input_size
        size = fixed or info.input_size
        if spec.input_size != size:
            spec = spec.model_copy(deep=True)
            pre = spec.augmentation_config.preprocessing
            pre.output_image_height, pre.output_image_width = size
        return cls(runner, list(info.classes), size, dict(info.normalization),
                   DetectionDecoder.from_spec(spec))

    @property
    def backend(self) -> str:
        return self.runner.kind

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """uint8 (3, H, W) images -> a uint8 batch at the input size."""
        resize = v2.Resize(self.input_size, antialias=True)
        return torch.stack([resize(img) for img in images])

    def maps(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's coverage and box maps of a uint8 batch at the input size."""
        x = normalize(batch.to(self.runner.device), self.normalization)
        out = self.runner(x, returns="torch")
        return out[OUTPUT_NAMES[0]].float().cpu(), out[OUTPUT_NAMES[1]].float().cpu()

    def __call__(self, images: Sequence[torch.Tensor]) -> list[Detections]:
        if not images:
            return []
        cov, bbox = self.maps(self.preprocess(images))
        h, w = self.input_size
        return [d.scaled(img.shape[-1] / w, img.shape[-2] / h)
                for d, img in zip(self.decoder(cov, bbox), images, strict=True)]


def load_detector(path: str | Path, spec: DetectNetSpec | None = None, key: str | None = None,
                  device: str = "auto", batch_size: int | None = None) -> Detector:
    """A DetectNet_v2 ``.graft`` model or an export of one, on ``device``."""
    runner = load_runner(path, key=key, device=device, task=TASK_NAME, batch_size=batch_size)
    return Detector.from_runner(runner, spec)


def as_records(detections: Detections, classes: Sequence[str]) -> list[dict[str, Any]]:
    """JSON-ready detections: class, box (x1, y1, x2, y2 pixels), score, TLT's confidence."""
    conf = detections.confidences if detections.confidences is not None else detections.scores
    return [{"class": classes[int(c)], "box": [round(float(v), 2) for v in box],
             "score": round(float(s), 4), "confidence": round(float(k), 4)}
            for box, c, s, k in zip(detections.boxes, detections.labels, detections.scores,
                                    conf, strict=True)]
