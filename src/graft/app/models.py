"""The two models of a detect-then-classify application, behind two small interfaces so any
graft model file (``.graft``, ONNX, TensorRT engine; each on its own device and batch size,
run by the shared :class:`graft.runtime.Runner`), a model on a Triton server
(``grpc://HOST:PORT/NAME``: computed there, graft's metadata read from the config that
``graft deploy triton`` wrote) or any object with the same methods plugs in.

- a hand detector: ``detect(frames) -> [(boxes (K, 4) xyxy pixels, scores (K,))]``;
- a crop classifier: ``classes`` and ``probs(crops) -> (N, C)`` class probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from graft.errors import UserError


class HandDetector(Protocol):
    def detect(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]: ...


class CropClassifier(Protocol):
    classes: list[str]

    def probs(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


class ModelDetector:
    """A DetectNet_v2 model (:class:`graft.tasks.detectnet_v2.detector.Detector`) keeping the
    boxes of ``classes`` (all when None) scoring at least ``threshold``."""

    def __init__(self, detector: Any, classes: Sequence[str] | None = None,
                 threshold: float = 0.0) -> None:
        from graft.data.kitti import class_key

        self.detector = detector
        names = [class_key(c) for c in detector.classes]
        wanted = [class_key(c) for c in classes] if classes else names
        unknown = [c for c in wanted if c not in names]
        if unknown:
            raise UserError(f"the detector has no class {unknown[0]!r}",
                            f"its classes are {', '.join(detector.classes)}")
        self.keep = np.array([names.index(c) for c in wanted])
        self.threshold = threshold

    @classmethod
    def load(cls, path: str | Path, *, classes: Sequence[str] | None = None,
             threshold: float = 0.0, device: str = "auto", batch_size: int | None = None,
             key: str | None = None) -> ModelDetector:
        from graft.tasks.detectnet_v2.detector import load_detector

        return cls(load_detector(path, key=key, device=device, batch_size=batch_size),
                   classes, threshold)

    @property
    def backend(self) -> str:
        return self.detector.backend

    def detect(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        images = [torch.from_numpy(f).permute(2, 0, 1) for f in frames]
        out = []
        for d in self.detector(images):
            ok = np.isin(d.labels, self.keep) & (d.scores >= self.threshold)
            out.append((np.asarray(d.boxes[ok], np.float64), np.asarray(d.scores[ok])))
        return out


class ModelClassifier:
    """A classification-style model (classes, input size and normalization in its metadata,
    :class:`graft.tasks.classification.runner.Classifier`): each crop resized (antialiased)
    to the input size, normalized as the model file records, softmax probabilities out."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.classes = list(classifier.classes)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto", batch_size: int | None = None,
             key: str | None = None) -> ModelClassifier:
        from graft.runtime import load_runner
        from graft.tasks.classification.runner import Classifier

        return cls(Classifier.from_runner(load_runner(path, key=key, device=device,
                                                      batch_size=batch_size)))

    @property
    def model_input(self) -> dict[str, Any]:
        """The model's input section (``crop``, when it records the rule it was trained on)."""
        return dict(self.classifier.runner.info.input or {})

    @property
    def backend(self) -> str:
        return self.classifier.backend

    def probs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        import torch
        from torchvision.transforms.v2 import functional as TF

        if not crops:
            return np.zeros((0, len(self.classes)), np.float32)
        size = list(self.classifier.input_size)
        batch = torch.stack([TF.resize(torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1),
                                       size, antialias=True) for c in crops])
        return self.classifier.logits(batch).softmax(1).numpy()
