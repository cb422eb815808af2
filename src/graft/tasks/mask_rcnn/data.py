"""COCO instance data for Mask R-CNN: images, boxes, labels and masks per image.

Read through the shared COCO loader (:mod:`graft.data.coco`: checked file, polygons, RLE,
crowds). Categories map to labels 1..K in the file's category order (0 is background). Crowd
regions and boxes under a pixel wide are left out of the training targets (torchvision's
losses have no ignore regions); the COCO evaluator still sees the crowds in the ground truth
and ignores detections on them. Images without objects stay in: they teach the background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from graft.data.coco import annotation_mask, image_file, load_coco
from graft.data.loader import make_loader


class CocoInstances(Dataset):
    """(image float (3, H, W) in [0, 1], target dict) per image of a COCO file."""

    def __init__(self, annotations: str | Path, images: str | Path, flip: bool = False,
                 field: str = "data_config") -> None:
        self.coco = load_coco(annotations, f"set {field} to the COCO JSON")
        self.image_dir = Path(images)
        self.ids = sorted(self.coco.imgs)
        cats = self.coco.dataset["categories"]
        self.category_ids = [int(c["id"]) for c in cats]
        self.class_names = [str(c["name"]) for c in cats]
        self.label_of = {cid: k + 1 for k, cid in enumerate(self.category_ids)}
        self.flip = flip

    def __len__(self) -> int:
        return len(self.ids)

    def target(self, image_id: int) -> dict[str, torch.Tensor]:
        """Boxes (x1, y1, x2, y2), labels 1..K and uint8 masks of the non-crowd objects."""
        image = self.coco.imgs[image_id]
        h, w = int(image["height"]), int(image["width"])
        boxes, labels, masks = [], [], []
        for ann in self.coco.imgToAnns.get(image_id, []):
            x, y, bw, bh = (float(v) for v in ann.get("bbox") or (0, 0, 0, 0))
            if ann.get("iscrowd", 0) or bw < 1 or bh < 1:
                continue
            boxes.append([max(x, 0.0), max(y, 0.0), min(x + bw, w), min(y + bh, h)])
            labels.append(self.label_of[int(ann["category_id"])])
            masks.append(annotation_mask(self.coco, ann, image))
        return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(labels, dtype=torch.int64),
                "masks": torch.from_numpy(np.stack(masks)) if masks
                else torch.zeros((0, h, w), dtype=torch.uint8),
                "image_id": torch.tensor(image_id)}

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from graft.data.images import read_rgb

        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        image = read_rgb(image_file(self.image_dir, info))
        if tuple(image.shape[1:]) != (int(info["height"]), int(info["width"])):
            from graft.errors import UserError

            raise UserError(f"image {info['file_name']} is {image.shape[2]}x{image.shape[1]}, "
                            f"the annotation file says {info['width']}x{info['height']}",
                            "fix width/height in the COCO file")
        target = self.target(image_id)
        if self.flip and torch.rand(()) < 0.5:
            image, target = hflip(image, target)
        return image.float().div_(255), target


def hflip(image: torch.Tensor, target: dict[str, torch.Tensor]
          ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mirror an image and its boxes and masks left-right."""
    w = image.shape[-1]
    out = dict(target)
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = w - target["boxes"][:, [2, 0]]
    out["boxes"] = boxes
    out["masks"] = target["masks"].flip(-1)
    return image.flip(-1), out


def collate(batch: list[Any]) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


class InstanceData(L.LightningDataModule):
    """Training and validation loaders of a ``data_config``."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.train_set = CocoInstances(config.train_annotations, config.train_images,
                                       flip=config.augment_input_data,
                                       field="data_config.train_annotations")
        self.val_set = None
        if config.val_annotations is not None:
            self.val_set = CocoInstances(config.val_annotations, config.val_images,
                                         field="data_config.val_annotations")
            if self.val_set.class_names != self.train_set.class_names:
                from graft.errors import UserError

                raise UserError(
                    f"validation categories {self.val_set.class_names} differ from the "
                    f"training ones {self.train_set.class_names}",
                    "use the same categories list in both COCO files")

    def _loader(self, dataset: Dataset, batch: int, shuffle: bool) -> DataLoader:
        return make_loader(dataset, batch, workers=self.config.num_workers, shuffle=shuffle,
                           collate_fn=collate)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.config.batch_size, True)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None
        return self._loader(self.val_set, self.config.eval_batch_size, False)
