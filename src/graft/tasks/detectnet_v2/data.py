"""DetectNet_v2 training data: labelled images -> augmented uint8 batches with their boxes.

Images are read by graft's one reader (:mod:`graft.data.images`), resized to the network input
and augmented by torchvision v2 through :func:`graft.data.transforms.detection_augmentation`
(``augmentation_config``: flips, zoom, translate, rotate, hue, saturation, contrast), so boxes
and ignore regions move with the pixels. Translation alone is a whole-pixel crop and the
colour changes one affine map of RGB per image, TLT's way (``contrast_center`` and
``color_shift_stddev`` included), which keeps a sample at 384x1248 near 15 ms of one core.
Targets are rasterized on the accelerator by the training module
(:class:`~graft.tasks.detectnet_v2.encoder.TargetEncoder` is batched torch), not in the loader.

A batch is a dict: ``image`` uint8 (B, 3, H, W) at the input size, and per image ``boxes``
(N, 4) input pixels, ``labels`` (N,), ``ignore`` (M, 4) with ``ignore_labels`` (M,) (-1: every
class), ``weight`` (B,) the source weights, ``truth`` the ground truth in original image
pixels and ``scale`` (x, y) = original / input size, for scoring detections where the
evaluator scores them.

Ignore regions: DontCare regions (every class), COCO crowds (their class), objects that leave
the image under augmentation (every class) and objects smaller than ``min_bbox_width`` x
``min_bbox_height`` after resizing (their class). Ignored objects travel through the transforms
as boxes with negative labels (-1 - class) and are split off afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from graft.data.images import read_rgb
from graft.data.loader import make_loader
from graft.data.transforms import SanitizeTargets, detection_augmentation, make_sample
from graft.tasks.detectnet_v2.data_spec import AugmentationConfig
from graft.tasks.detectnet_v2.records import Dataset, ImageRecord, check_boxes


def train_transform(aug: AugmentationConfig) -> v2.Compose:
    """``augmentation_config`` as torchvision v2 ops (sizes in pixels of the network input)."""
    h, w = aug.input_size
    sp, co = aug.spatial_augmentation, aug.color_augmentation
    pipeline = detection_augmentation(
        (h, w), hflip=sp.hflip_probability, vflip=sp.vflip_probability,
        zoom=(sp.zoom_min, sp.zoom_max),
        translate=(min(sp.translate_max_x / w, 1.0), min(sp.translate_max_y / h, 1.0)),
        rotate_deg=math.degrees(sp.rotate_rad_max), rotate_probability=sp.rotate_probability,
        hue_deg=co.hue_rotation_max, saturation=co.saturation_shift_max,
        contrast=co.contrast_scale_max, contrast_center=co.contrast_center,
        colour_shift=co.color_shift_stddev)
    return pipeline


def eval_transform(input_size: tuple[int, int]) -> v2.Compose:
    """Validation: a resize to the input size (the same op inference uses), nothing random."""
    return v2.Compose([v2.Resize(input_size, antialias=True),
                       SanitizeTargets(min_visible=0.0, outside="ignore")])


class DetectionDataset(torch.utils.data.Dataset):
    """Records -> samples (see the module docstring for the fields)."""

    def __init__(self, records: Sequence[ImageRecord], transform: v2.Compose,
                 input_size: tuple[int, int], min_box: tuple[float, float] = (1.0, 1.0)) -> None:
        self.records = list(records)
        self.transform = transform
        self.input_size = input_size
        self.min_box = min_box

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        image = read_rgb(record.image)
        height, width = image.shape[-2:]
        check_boxes(record, height, width)
        labels = np.where(record.ignored, -1 - record.labels, record.labels)
        sample = self.transform(make_sample(image, record.boxes, labels, record.regions))
        boxes = sample["boxes"].as_subclass(torch.Tensor).float()
        labels = sample["labels"]
        size = boxes[:, 2:] - boxes[:, :2]
        keep = (labels >= 0) & (size[:, 0] >= self.min_box[0]) & (size[:, 1] >= self.min_box[1])
        regions = sample["ignore"].as_subclass(torch.Tensor).float().reshape(-1, 4)
        own_class = torch.where(labels >= 0, labels, -1 - labels)[~keep]
        h, w = self.input_size
        return {
            "image": sample["image"].as_subclass(torch.Tensor),
            "boxes": boxes[keep], "labels": labels[keep],
            "ignore": torch.cat([regions, boxes[~keep]]),
            "ignore_labels": torch.cat([torch.full((len(regions),), -1, dtype=torch.int64),
                                        own_class]),
            "weight": float(record.weight), "truth": record.truth(),
            "scale": (width / w, height / h),
        }


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the images, keep per-image lists of everything else."""
    return {"image": torch.stack([it["image"] for it in items]),
            "weight": torch.tensor([it["weight"] for it in items], dtype=torch.float32),
            **{k: [it[k] for it in items] for k in ("boxes", "labels", "ignore", "ignore_labels",
                                                    "truth", "scale")}}


class DetectionData(L.LightningDataModule):
    """Train (augmented) and validation (resized) loaders of a :class:`Dataset`."""

    def __init__(self, dataset: Dataset, augmentation: AugmentationConfig, batch_size: int,
                 workers: int = 0) -> None:
        super().__init__()
        pre = augmentation.preprocessing
        size = augmentation.input_size
        self.dataset = dataset
        self.batch_size, self.workers = batch_size, workers
        self.train_set = DetectionDataset(dataset.train, train_transform(augmentation), size,
                                          (pre.min_bbox_width, pre.min_bbox_height))
        self.val_set = (DetectionDataset(dataset.val, eval_transform(size), size, (0.0, 0.0))
                        if dataset.val else None)

    @property
    def classes(self) -> list[str]:
        return self.dataset.classes

    def _loader(self, ds: DetectionDataset, shuffle: bool) -> DataLoader:
        return make_loader(ds, self.batch_size, workers=self.workers, shuffle=shuffle,
                           collate_fn=collate)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, False) if self.val_set is not None else []
