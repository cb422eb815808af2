"""Tiny generated tower datasets and a CPU-sized Mask R-CNN spec for the task's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def towers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 generated 64x64 tower images (6 train, 2 val) with COCO polygons."""
    from graft.tasks.mask_rcnn.synth import make_instances_dataset

    root = tmp_path_factory.mktemp("towers") / "data"
    make_instances_dataset(root, images=8, hw=(64, 64), seed=1, val_fraction=0.25)
    return root


def tiny_spec(data: Path, epochs: int = 1, **model: Any) -> dict[str, Any]:
    """A spec small enough to train in seconds on a CPU (random-init ResNet-18, 64x64)."""
    return {
        "maskrcnn_config": {"arch": "resnet", "nlayers": 18, "freeze_blocks": [],
                            "fast_rcnn_mlp_head_dim": 32, "anchor_scale": 2,
                            "rpn_pre_nms_topn_train": 100, "rpn_post_nms_topn_train": 50,
                            "rpn_pre_nms_topn_test": 100, "rpn_post_nms_topn_test": 50,
                            "rpn_batch_size_per_im": 32, "batch_size_per_im": 16, **model},
        "data_config": {"train_annotations": str(data / "train.json"),
                        "train_images": str(data), "val_annotations": str(data / "val.json"),
                        "val_images": str(data), "image_size": [64, 64], "batch_size": 2,
                        "eval_batch_size": 2, "num_workers": 0},
        "lr_schedule": {"name": "constant", "learning_rate": 0.005},
        "trainer": {"epochs": epochs, "precision": "32", "log_every_n_steps": 1,
                    "keep_checkpoints": -1, "gradient_clip_val": 5.0},
    }
