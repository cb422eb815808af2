"""INT8 calibration data: real images through exactly the inference preprocessing.

Calibration ranges computed on anything but real, correctly preprocessed images give an INT8
model that looks fine and scores zero, so there is no fallback to random data: no images, no
calibration (a :class:`UserError` says what to pass). A task declares its preprocessing with the
``calibration_batches(manifest, image_dir, batches, batch_size)`` hook; image classifiers get
:func:`default_calibration_batches`: graft's image decoder, an antialiased resize to the input
size and :func:`graft.data.preprocess.normalize` with the manifest's normalization, exactly as
classification evaluates.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.data.images import IMAGE_EXTENSIONS as IMAGE_SUFFIXES
from graft.errors import UserError, require_dir
from graft.manifest import Manifest, Normalization

if TYPE_CHECKING:
    import torch

    from graft.tasks.base import Task

BatchSource = Callable[[Manifest, Path, int, int], Iterable[np.ndarray]]


def list_images(image_dir: str | Path) -> list[Path]:
    """Image files under ``image_dir`` (recursively, so an ImageFolder tree works), sorted."""
    root = require_dir(image_dir, "calibration image directory")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def sample_images(image_dir: str | Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` images spread over the whole directory (a seeded sample, exactly ``count``)."""
    images = list_images(image_dir)
    if not images:
        raise UserError(f"no images in {image_dir} to calibrate INT8 with",
                        f"put {count} representative training images there "
                        f"({', '.join(IMAGE_SUFFIXES[:4])} ...)")
    if len(images) < count:
        from graft.console import err_console, labeled

        err_console.print(labeled("warning:", "yellow", f"{image_dir} has {len(images)} images, "
                                  f"fewer than batches x batch_size = {count}; using all of them"))
        return images
    return sorted(random.Random(seed).sample(images, count))


def classifier_preprocess(manifest: Manifest | Mapping[str, Any]
                          ) -> Callable[[Path], torch.Tensor]:
    """The image classifier's inference transform: file -> uint8 RGB (3, H, W) at input size.

    The same ops as classification evaluation: graft's decoder, the manifest's resize (or crop
    and resize, :func:`graft.data.preprocess.input_transform`) of the uint8 image;
    :func:`graft.data.preprocess.normalize` then runs on the whole batch.
    """
    from torchvision.transforms import v2

    from graft.data.images import read_rgb
    from graft.data.preprocess import input_transform

    inp = Manifest.of(manifest).require_input()
    channels, height, width = inp.shape
    resize = input_transform((height, width), inp.resize)
    gray = v2.Grayscale() if channels == 1 else None

    def preprocess(path: Path) -> torch.Tensor:
        image = resize(read_rgb(path))
        return gray(image) if gray is not None else image

    return preprocess


def normalization_of(manifest: Manifest | Mapping[str, Any]) -> Normalization:
    """The manifest's normalization, with torchvision's conventions for keys it leaves out."""
    inp = Manifest.of(manifest).require_input()
    return (inp.normalization or Normalization()).resolved(inp.channels)


def default_calibration_batches(manifest: Manifest | Mapping[str, Any], image_dir: str | Path,
                                batches: int,
                                batch_size: int) -> Iterator[np.ndarray]:
    """Batches ``(N, C, H, W)`` float32 of real images, preprocessed as a classifier infers."""
    import torch

    from graft.data.preprocess import normalize

    preprocess = classifier_preprocess(manifest)
    norm = normalization_of(manifest)
    paths = sample_images(image_dir, batches * batch_size)
    for start in range(0, len(paths), batch_size):
        images = torch.stack([preprocess(p) for p in paths[start:start + batch_size]])
        yield normalize(images, norm).numpy().astype(np.float32)


def calibration_batches(task: Task, manifest: Manifest, image_dir: str | Path | None,
                        batches: int, batch_size: int) -> Iterator[np.ndarray]:
    """The task's calibration batches (its hook, else the classifier default); never empty."""
    if image_dir is None:
        raise UserError("INT8 calibration needs real images and none were given",
                        "pass --cal_image_dir DIR (a few hundred training images), or reuse a "
                        "calibration cache with --cal_cache_file")
    if batches < 1 or batch_size < 1:
        raise UserError(f"--batches and --batch_size must be >= 1, got {batches} and {batch_size}")
    return require_batches(task.calibration_batches(manifest, Path(image_dir), batches,
                                                    batch_size), str(image_dir))


def require_batches(source: Iterable[np.ndarray], where: str = "the calibration source"
                    ) -> Iterator[np.ndarray]:
    """Pass batches through, raising a :class:`UserError` if there is not a single one."""
    it = iter(source)
    first = next(it, None)
    if first is None:
        raise UserError(f"{where} produced no calibration batches",
                        "give real, preprocessed images: INT8 is never calibrated on random data")
    return itertools.chain([first], it)


class BatchReader:
    """An onnxruntime ``CalibrationDataReader`` over an iterator of preprocessed batches."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray], limit: int | None = None,
                 progress: Callable[[], None] | None = None) -> None:
        self.input_name = input_name
        self._batches = iter(batches)
        self._limit = limit
        self._progress = progress
        self.count = 0
        self.images = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._limit is not None and self.count >= self._limit:
            return None
        batch = next(self._batches, None)
        if batch is None:
            return None
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self.count += 1
        self.images += int(batch.shape[0])
        if self._progress is not None:
            self._progress()
        return {self.input_name: batch}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        while (item := self.get_next()) is not None:
            yield item
