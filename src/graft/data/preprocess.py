"""Input normalization shared by training, inference, calibration and export.

A model's manifest stores its normalization (:class:`graft.manifest.Normalization`: mode, scale,
mean, std, channel_order): the network sees ``(x * scale - mean) / std`` where ``x`` is the
0..255 image in ``channel_order``. The three TLT/Keras preprocess modes are special cases.
Its optional ``resize`` (:func:`input_transform`) says how an image becomes the input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


def center_crop_box(height: int, width: int, size: tuple[int, int], fraction: float
                    ) -> tuple[int, int, int, int]:
    """TF's ImageNet evaluation crop (``top, left, h, w``): the central region of the network's
    aspect ratio covering ``fraction`` of the image's limiting side; offsets round up."""
    scale = fraction * min(height / size[0], width / size[1])
    h, w = max(1, int(size[0] * scale)), max(1, int(size[1] * scale))
    return (height - h + 1) // 2, (width - w + 1) // 2, h, w


def input_transform(size: tuple[int, int], resize: dict[str, Any] | None = None
                    ) -> Callable[[torch.Tensor], torch.Tensor]:
    """uint8 (C, H, W) image -> uint8 (C, *size): how a model's input is made from an image.

    A manifest's ``input.resize`` says how; absent, the whole image is resized (antialiased
    bilinear), as graft trains. ``{"crop_fraction": f, "interpolation": "bicubic"}`` is the
    evaluation preprocessing of ImageNet weights such as EfficientNet's (TF crops
    ``size / (size + 32)`` of the shorter side, then resizes bicubically): the aspect ratio is
    kept and the borders dropped. Resizes are antialiased (TF's bicubic is not, which differs
    only when shrinking a photo far beyond the crop).
    """
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    resize = resize or {}
    fraction = resize.get("crop_fraction")
    interpolation = InterpolationMode(resize.get("interpolation", "bilinear"))
    if fraction is not None and not 0 < float(fraction) <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1], got {fraction}")

    def apply(image: torch.Tensor) -> torch.Tensor:
        if fraction is not None:
            top, left, h, w = center_crop_box(image.shape[-2], image.shape[-1], size,
                                              float(fraction))
            image = TF.crop(image, top, left, h, w)
        return TF.resize(image, list(size), interpolation=interpolation, antialias=True)

    return apply
