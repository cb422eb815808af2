"""A GestureNet training spec that learns ``graft synth hands`` in a few CPU minutes.

The issue's GestureNet (ResNet-18 from scratch at 160x160, TAO's augmentation) is the spec's
default and stays so. On a CPU it under-fits generated hands within a demo's time
(BENCHMARKS.md: 0.72 top-1 on an unseen user after 21 minutes of training at 64x64). This recipe is
transfer learning instead, graft's point:

- EfficientNet-Lite0 with its ImageNet weights from pip (``pretrained_weights:
  efficientnet_lite0``, no download at run time), normalized as those weights were trained
  (``preprocess_mode: tf``);
- 64x64 input: a generated hand's crop is 60-130 px, its fingers 5-11 px wide, so 64 keeps
  them and costs a sixth of 160's compute;
- the stem and first two stages (``freeze_blocks: [0, 1, 2]``, edges and blobs) kept at their
  ImageNet weights: no backward pass through the largest feature maps;
- milder augmentation than TAO's: the generator already varies lighting, tone and rotation per
  hand, and a 25 % occluder on a 64 px crop hides the very finger that tells "two" from "fist";
- AdamW at 2e-3 with cosine decay, balanced class weights, five epochs.

:func:`demo_spec` returns the spec as a dict (tests and the ``gesture`` demo call it);
:func:`write_demo_spec` writes it beside the split lists of ``graft gesturenet
dataset_convert``. Numbers: BENCHMARKS.md, "GestureNet on graft synth hands".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from graft.fsutil import write_text

DEMO_INPUT = 64
DEMO_EPOCHS = 5
DEMO_FROZEN = (0, 1, 2)


def demo_spec(train_file: str = "train.json", val_file: str | None = "val.json", *,
              input_size: int = DEMO_INPUT, epochs: int = DEMO_EPOCHS,
              learning_rate: float = 2e-3, batch_size: int = 32, workers: int = 1,
              arch: str = "efficientnet_lite0", pretrained: bool = True,
              freeze_blocks: tuple[int, ...] | None = None, seed: int = 0) -> dict[str, Any]:
    """The recipe as a ``graft gesturenet train`` spec dict (paths relative to the spec file).

    ``pretrained=False`` trains the same network from scratch (to measure what the ImageNet
    weights bring); ``arch`` other than a Lite drops the packaged weights too.
    ``freeze_blocks`` None: DEMO_FROZEN with the ImageNet weights, none without them.
    """
    lite = arch.startswith("efficientnet_lite")
    model: dict[str, Any] = {"arch": arch, "input_size": [input_size, input_size]}
    if pretrained and lite:
        model["pretrained_weights"] = arch
    if freeze_blocks is None:
        freeze_blocks = DEMO_FROZEN if "pretrained_weights" in model else ()
    if freeze_blocks:  # ImageNet's first blocks (edges, blobs) kept: no backward through them
        model["freeze_blocks"] = list(freeze_blocks)
    data: dict[str, Any] = {
        "train_file": train_file, "batch_size": batch_size, "workers": workers,
        "preprocess_mode": "tf" if lite else "torch",
        "crop": {"ratio": 1.1, "square": True},
        "augmentation": {"rotation": 5.0, "brightness": [0.75, 1.25], "gamma": [0.7, 1.4],
                         "gamma_probability": 0.3, "occlusion_probability": 0.15,
                         "occlusion_area": [0.03, 0.1], "horizontal_flip": 0.5},
        "class_weights": "balanced"}
    if val_file is not None:
        data["val_file"] = val_file
    return {"model": model, "data": data,
            "optimizer": {"name": "adamw", "weight_decay": 1e-4},
            "lr_schedule": {"name": "cosine", "learning_rate": learning_rate,
                            "soft_start": 0.1},
            "trainer": {"epochs": epochs, "seed": seed, "checkpoint_interval": epochs},
            "eval": {"top_k": 2, "batch_size": 64}}


def write_demo_spec(splits_dir: str | Path, name: str = "gesturenet_spec.yaml",
                    **options: Any) -> Path:
    """Write :func:`demo_spec` into ``splits_dir`` (the output folder of ``dataset_convert``,
    whose train.json and val.json it names) and return its path."""
    folder = Path(splits_dir)
    val = "val.json" if (folder / "val.json").exists() else None
    path = folder / name
    write_text(path, yaml.safe_dump(demo_spec("train.json", val, **options),
                                           sort_keys=False))
    return path
