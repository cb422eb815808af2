"""Training samples: resized and augmented with their boxes, ignore regions by class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graft.spec import validate
from graft.tasks.detectnet_v2.data import (
    DetectionData,
    DetectionDataset,
    collate,
    eval_transform,
    train_transform,
)
from graft.tasks.detectnet_v2.records import load_dataset
from graft.tasks.detectnet_v2.spec import DetectNetSpec
from tests.tasks.detectnet_v2.conftest import spec_dict


def _spec(root: Path, **sections) -> DetectNetSpec:
    from graft.spec_paths import resolve_spec_paths

    return resolve_spec_paths(validate(DetectNetSpec, spec_dict(**sections)), root)


def test_validation_samples_are_resized_with_the_truth_kept(kitti: Path) -> None:
    spec = _spec(kitti, augmentation_config={"preprocessing": {
        "output_image_width": 32, "output_image_height": 48}})
    records = load_dataset(spec.dataset_config).val
    item = DetectionDataset(records, eval_transform((48, 32)), (48, 32))[0]
    assert item["image"].shape == (3, 48, 32) and item["image"].dtype == torch.uint8
    assert item["scale"] == (2.0, 64 / 48)
    truth = item["truth"]["boxes"]
    expected = truth / np.array([2.0, 64 / 48, 2.0, 64 / 48])
    assert torch.allclose(item["boxes"], torch.as_tensor(expected, dtype=torch.float32),
                          atol=1e-4)
    assert item["labels"].tolist() == [0, 1]


def test_flips_move_boxes_and_small_or_crowd_objects_become_class_ignore(kitti: Path) -> None:
    spec = _spec(kitti, augmentation_config={
        "preprocessing": {"output_image_width": 64, "output_image_height": 64,
                          "min_bbox_width": 20.0},
        "spatial_augmentation": {"hflip_probability": 1.0, "translate_max_x": 0,
                                 "translate_max_y": 0}})
    record = load_dataset(spec.dataset_config).train[0]
    record.ignored = np.array([False, False])
    ds = DetectionDataset([record], train_transform(spec.augmentation_config), (64, 64),
                          (20.0, 1.0))
    item = ds[0]
    car = record.boxes[0]
    # the car (26 px wide) is kept, flipped; the person (14 px) is an ignore region of class 1
    assert item["labels"].tolist() == [0]
    assert torch.allclose(item["boxes"][0], torch.tensor([64 - car[2], car[1], 64 - car[0],
                                                          car[3]]), atol=1e-4)
    assert 1 in item["ignore_labels"].tolist()
    record.ignored = np.array([True, False])  # a crowd car: ignore region of class 0 only
    item = DetectionDataset([record], eval_transform((64, 64)), (64, 64))[0]
    assert item["labels"].tolist() == [1]
    assert item["ignore_labels"].tolist() == [0]


def test_the_data_module_batches_with_source_weights(kitti: Path) -> None:
    spec = _spec(kitti)
    spec.dataset_config.data_sources[0].source_weight = 0.5
    data = DetectionData(load_dataset(spec.dataset_config), spec.augmentation_config, 3, 0)
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (3, 3, 64, 64) and batch["weight"].tolist() == [0.5] * 3
    assert len(batch["boxes"]) == 3 and len(batch["truth"]) == 3
    assert len(data.val_dataloader().dataset) == 2
    items = [data.train_set[k] for k in range(len(data.train_set))]
    merged = collate(items)
    regions = [len(r.regions) for r in data.train_set.records]
    assert sum(regions) > 0  # DontCare lines: ignore regions of every class
    assert [x.tolist().count(-1) for x in merged["ignore_labels"]] == regions
