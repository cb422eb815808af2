"""Hand crops for training and evaluation: uint8 crops out of the loader (normalized on the
device by classification's module), cut by the model's :class:`CropRule`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF

from graft.data.images import read_rgb
from graft.data.loader import make_loader
from graft.errors import UserError
from graft.tasks.gesturenet.crop import CLASSES, CropRule, preprocess
from graft.tasks.gesturenet.labels import HandLabel, read_split
from graft.tasks.gesturenet.spec import GestureAugmentation, GestureDataSpec


class HandCrops(Dataset):
    """(uint8 crop (3, *size), class index) per hand label."""

    def __init__(self, labels: Sequence[HandLabel], size: tuple[int, int], rule: CropRule,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.labels, self.size, self.rule, self.augment = list(labels), size, rule, augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        lab = self.labels[i]
        image = read_rgb(lab.image)
        crop = preprocess(image, lab.pixel_box(image.shape[-1], image.shape[-2]), self.rule,
                          self.size)
        if self.augment is not None:
            crop = self.augment(crop)
        return crop, CLASSES.index(lab.label)


def augmentation(aug: GestureAugmentation, generator: torch.Generator | None = None
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rotation, brightness, gamma, occlusion and flip of a uint8 crop (TAO's set)."""

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    def apply(crop: torch.Tensor) -> torch.Tensor:
        if aug.rotation:
            crop = TF.rotate(crop, uniform(-aug.rotation, aug.rotation))
        crop = TF.adjust_brightness(crop, uniform(*aug.brightness))
        if uniform(0, 1) < aug.gamma_probability:
            crop = TF.adjust_gamma(crop, uniform(*aug.gamma))
        if uniform(0, 1) < aug.occlusion_probability:
            h, w = crop.shape[-2:]
            area = uniform(*aug.occlusion_area) * h * w
            side = uniform(0.5, 2.0)  # aspect of the occluder
            oh = max(1, min(h, round((area * side) ** 0.5)))
            ow = max(1, min(w, round(area / oh)))
            top, left = round(uniform(0, h - oh)), round(uniform(0, w - ow))
            crop = crop.clone()
            crop[:, top:top + oh, left:left + ow] = torch.randint(
                0, 256, (crop.shape[0], 1, 1), generator=generator, dtype=torch.uint8)
        if uniform(0, 1) < aug.horizontal_flip:
            crop = TF.horizontal_flip(crop)
        return crop

    return apply


def class_weights(labels: Sequence[HandLabel], rule: str | dict[str, float]) -> torch.Tensor:
    """One cross-entropy weight per class: balanced = n / (classes * count), mean 1 over the
    classes present (absent classes weigh 0: nothing to learn)."""
    if rule == "none":
        return torch.ones(len(CLASSES))
    if isinstance(rule, dict):
        unknown = sorted(set(rule) - set(CLASSES))
        if unknown:
            raise UserError(f"data.class_weights names unknown class {unknown[0]!r}",
                            f"use the classes {', '.join(CLASSES)}")
        return torch.tensor([float(rule.get(c, 1.0)) for c in CLASSES])
    counts = Counter(lab.label for lab in labels)
    present = [c for c in CLASSES if counts.get(c)]
    n = sum(counts.values())
    return torch.tensor([n / (len(present) * counts[c]) if counts.get(c) else 0.0
                         for c in CLASSES])


class GestureData(L.LightningDataModule):
    def __init__(self, spec: GestureDataSpec, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.spec = spec
        rule = CropRule(spec.crop.ratio, spec.crop.square)
        self.train_labels = read_split(spec.train_file)
        self.train_set = HandCrops(self.train_labels, input_size, rule,
                                   augmentation(spec.augmentation))
        self.val_set = (HandCrops(read_split(spec.val_file), input_size, rule)
                        if spec.val_file is not None else None)
        if self.val_set is not None:
            shared = ({lab.user_id for lab in self.train_labels}
                      & {lab.user_id for lab in self.val_set.labels})
            if shared:
                raise UserError(f"user(s) {', '.join(sorted(shared))} are in both the train "
                                "and val lists", "split by user: graft gesturenet "
                                "dataset_convert")

    @property
    def classes(self) -> list[str]:
        return list(CLASSES)

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        return make_loader(ds, self.spec.batch_size, workers=self.spec.workers, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, False) if self.val_set is not None else []
