"""ImageFolder data for classification: uint8 tensors out of the loader, normalized on device.

Keeping batches as uint8 until they reach the accelerator quarters host-to-device traffic and
lets the GPU do the float conversion and normalization. When the trainer's device is CUDA
(:func:`graft.data.device_input.use_device_path`), training loaders only read file bytes and
the batch is decoded, crop-resized, flipped and colour-jittered on the device after transfer
(:class:`DeviceAugment`); float 0..255 batches, normalized by the module as before.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.transforms import v2

from graft.data.device_input import (
    crop_affines,
    decode_batch,
    jitter_batch,
    pad_stack,
    trainer_device,
    use_device_path,
    warp_batch,
)
from graft.data.images import IMAGE_EXTENSIONS, read_rgb
from graft.data.loader import make_loader
from graft.data.preprocess import input_transform
from graft.errors import UserError, require_dir
from graft.tasks.classification.spec import AugmentationSpec, DataSpec


def train_transform(size: tuple[int, int], aug: AugmentationSpec) -> v2.Compose:
    ops: list = [
        v2.RandomResizedCrop(size, scale=aug.crop_scale, ratio=aug.crop_ratio, antialias=True)
        if aug.random_crop
        else v2.Resize(size, antialias=True)
    ]
    if aug.horizontal_flip:
        ops.append(v2.RandomHorizontalFlip(aug.horizontal_flip))
    if aug.vertical_flip:
        ops.append(v2.RandomVerticalFlip(aug.vertical_flip))
    if any(aug.color_jitter):
        b, c, s, h = aug.color_jitter
        ops.append(v2.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    return v2.Compose(ops)


def eval_transform(size: tuple[int, int], resize: dict[str, Any] | None = None
                   ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's input from an image: a resize, or the crop and resize of the manifest's
    ``input.resize`` (:func:`graft.data.preprocess.input_transform`)."""
    return input_transform(size, resize)


def image_folder(root: str | Path, transform: Callable | None, what: str) -> datasets.ImageFolder:
    """An ImageFolder dataset with graft's image reader and one-line errors."""
    path = require_dir(root, f"{what} directory")
    try:
        ds = datasets.ImageFolder(
            str(path),
            loader=read_rgb,
            transform=transform,
            is_valid_file=lambda f: f.lower().endswith(IMAGE_EXTENSIONS),
        )
    except FileNotFoundError as exc:
        raise UserError(
            f"{what} directory {path} has no images in class sub-directories ({exc})",
            "use the ImageFolder layout: ROOT/<class>/<image>",
        ) from None
    if len(ds.classes) < 2:
        raise UserError(
            f"{what} directory {path} has {len(ds.classes)} class", "need at least 2 classes"
        )
    return ds


class FileBytes(Dataset):
    """(file bytes, class index) of an ImageFolder's samples: decode happens on the device."""

    def __init__(self, samples: list[tuple[str, int]]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[bytes, int]:
        path, label = self.samples[i]
        return Path(path).read_bytes(), label


class DeviceAugment:
    """:func:`train_transform`'s augmentation for a batch of encoded images, on their device."""

    def __init__(self, size: tuple[int, int], aug: AugmentationSpec) -> None:
        from torchvision import transforms as v1

        self.size, self.aug = size, aug
        self._crop = v1.RandomResizedCrop.get_params
        self._jitter = v2.ColorJitter(*aug.color_jitter) if aug.color_jitter[3] else None

    def __call__(self, encoded: list[bytes], device: torch.device) -> torch.Tensor:
        images = decode_batch(encoded, device)
        aug, b = self.aug, len(images)
        if aug.random_crop:
            boxes = [self._crop(im, list(aug.crop_scale), list(aug.crop_ratio)) for im in images]
        else:
            boxes = [(0, 0, im.shape[-2], im.shape[-1]) for im in images]
        coin = torch.rand(2, b)
        m = crop_affines(boxes, self.size, (coin[0] < aug.horizontal_flip).tolist(),
                         (coin[1] < aug.vertical_flip).tolist())
        edges = [(im.shape[-2], im.shape[-1]) for im in images]
        out = warp_batch(pad_stack(images), m, self.size, edges)
        b_, c_, s_, hue = aug.color_jitter
        if hue and self._jitter is not None:  # hue: per sample, as on the CPU (in 0..1)
            out = torch.stack([self._jitter(x / 255.0) for x in out]) * 255.0
        elif b_ or c_ or s_:  # one factor per sample drawn as ColorJitter does, applied batched
            def factors(v: float) -> torch.Tensor | None:
                return torch.empty(b).uniform_(max(0.0, 1.0 - v), 1.0 + v) if v else None

            out = jitter_batch(out / 255.0, factors(b_), factors(c_), factors(s_),
                               torch.randperm(3).tolist()) * 255.0
        return out.clamp_(0.0, 255.0)


class ClassificationData(L.LightningDataModule):
    def __init__(self, spec: DataSpec, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.spec = spec
        self.train_set = image_folder(
            spec.train_dir, train_transform(input_size, spec.augmentation), "train"
        )
        self.val_set = (image_folder(spec.val_dir, eval_transform(input_size), "val")
                        if spec.val_dir is not None else None)
        if self.val_set is not None and self.train_set.classes != self.val_set.classes:
            only = sorted(set(self.train_set.classes) ^ set(self.val_set.classes))
            raise UserError(
                f"train and val class directories differ ({only})",
                "give both the same class sub-directories",
            )
        self.device_augment: DeviceAugment | None = None
        self._augment = DeviceAugment(input_size, spec.augmentation)

    def setup(self, stage: str | None = None) -> None:
        trainer = getattr(self, "trainer", None)
        on_device = use_device_path(trainer_device(trainer))
        self.device_augment = self._augment if on_device else None

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Decode and augment a batch of file bytes (the device path) where it now lives."""
        images, labels = batch
        if isinstance(images, list | tuple) and images and isinstance(images[0], bytes):
            return self._augment(list(images), labels.device), labels
        return batch

    @property
    def classes(self) -> list[str]:
        return list(self.train_set.classes)

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        return make_loader(ds, self.spec.batch_size, workers=self.spec.workers, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        if self.device_augment is not None:
            return self._loader(FileBytes(self.train_set.samples), True)
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, False) if self.val_set is not None else []
