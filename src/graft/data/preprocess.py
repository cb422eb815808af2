"""Input normalization shared by training, inference, calibration and export.

A model's manifest stores its normalization (:class:`graft.manifest.Normalization`: mode, scale,
mean, std, channel_order): the network sees ``(x * scale - mean) / std`` where ``x`` is the
0..255 image in ``channel_order``. The three TLT/Keras preprocess modes are special cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from graft.manifest import Normalization

if TYPE_CHECKING:  # imported when normalizing, so specs can name a mode without torch
    import torch

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

PreprocessMode = Literal["torch", "caffe", "tf"]


def normalization_for(mode: PreprocessMode) -> Normalization:
    """torch: /255 then ImageNet mean/std (RGB); caffe: BGR minus ImageNet means in 0..255;
    tf: scale to [-1, 1]."""
    if mode == "torch":
        return Normalization(mode=mode, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                             channel_order="RGB")
    if mode == "caffe":
        return Normalization(mode=mode, scale=1.0, mean=[103.939, 116.779, 123.68],
                             std=[1.0, 1.0, 1.0], channel_order="BGR")
    return Normalization(mode=mode, scale=1 / 127.5, mean=[1.0, 1.0, 1.0], std=[1.0, 1.0, 1.0],
                         channel_order="RGB")


def normalize(images: torch.Tensor, norm: Normalization | Mapping[str, Any]) -> torch.Tensor:
    """uint8 (or 0..255 float) RGB batch (B, C, H, W) -> normalized float batch, on its device.
    Keys the normalization leaves out follow :meth:`Normalization.resolved`."""
    import torch

    n = Normalization.of(norm).resolved(images.shape[1])
    x = images.float()
    if n.channel_order == "BGR":
        x = x.flip(1)
    mean = torch.tensor(n.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(n.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x * float(n.scale) - mean) / std
