"""Inference preprocessing: image -> network input of the right size, and the way back.

``keep_aspect_ratio_mode`` (TLT's inference modes):

- ``adjust_network_input``: the network input height is ``input_shape[0] x scale`` and its
  width follows the image's aspect ratio (rounded to a multiple of the stride); the image is
  resized to exactly that size. Best accuracy; every image gets its own input size.
- ``pad_image_input``: the image is resized to fit inside ``input_shape x scale`` keeping its
  aspect ratio and padded (bottom/right, black) to that fixed size, as a fixed-size TensorRT
  engine needs.
- ``none``: the image is stretched to ``input_shape x scale``.

Pixel centres follow the half-pixel convention everywhere (OpenCV's ``resize`` and the
encoder's grid), so mapping back is ``x_image = (x_net + 0.5) / ratio - 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class InputGeometry:
    """How one image maps onto one network input."""

    image_size: tuple[int, int]  # (H, W) of the original image
    net_size: tuple[int, int]  # (H, W) of the network input (multiples of the stride)
    content_size: tuple[int, int]  # (H, W) of the resized image inside the input (rest: pad)

    @property
    def ratio(self) -> tuple[float, float]:
        """(y, x) resize factors image -> network input."""
        return (self.content_size[0] / self.image_size[0],
                self.content_size[1] / self.image_size[1])


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def plan_input(image_size: tuple[int, int], input_shape: tuple[int, int], mode: str,
               stride: int = 8, scale: float = 1.0) -> InputGeometry:
    """The network input for an image of ``image_size`` (H, W) at one inference ``scale``."""
    h, w = (int(v) for v in image_size)
    if h < 1 or w < 1:
        raise ValueError(f"empty image of size {h}x{w}")
    in_h, in_w = (float(v) * scale for v in input_shape)
    if mode == "adjust_network_input":
        net_h = _round_to(in_h, stride)
        net_w = _round_to(net_h * w / h, stride)
        return InputGeometry((h, w), (net_h, net_w), (net_h, net_w))
    net_h, net_w = _round_to(in_h, stride), _round_to(in_w, stride)
    if mode == "pad_image_input":
        ratio = min(net_h / h, net_w / w)
        content = (max(1, min(net_h, int(round(h * ratio)))),
                   max(1, min(net_w, int(round(w * ratio)))))
        return InputGeometry((h, w), (net_h, net_w), content)
    if mode == "none":
        return InputGeometry((h, w), (net_h, net_w), (net_h, net_w))
    raise ValueError(f"unknown keep_aspect_ratio_mode {mode!r}")


def resize_to_input(image: np.ndarray, geometry: InputGeometry) -> np.ndarray:
    """(H, W, 3) uint8 image -> (net_h, net_w, 3) uint8, resized and padded as planned."""
    ch, cw = geometry.content_size
    interp = cv2.INTER_AREA if ch < image.shape[0] else cv2.INTER_LINEAR
    resized = cv2.resize(image, (cw, ch), interpolation=interp)
    if geometry.content_size == geometry.net_size:
        return resized
    out = np.zeros((*geometry.net_size, image.shape[2]), dtype=image.dtype)
    out[:ch, :cw] = resized
    return out


def to_image_coords(keypoints: np.ndarray, geometry: InputGeometry) -> np.ndarray:
    """(..., J, 3) keypoints in network-input pixels -> original-image pixels.

    Missing joints (score 0) stay at (0, 0, 0).
    """
    out = np.array(keypoints, dtype=np.float32, copy=True)
    ry, rx = geometry.ratio
    found = out[..., 2] > 0
    out[..., 0] = np.where(found, (out[..., 0] + 0.5) / rx - 0.5, 0.0)
    out[..., 1] = np.where(found, (out[..., 1] + 0.5) / ry - 0.5, 0.0)
    return out


def map_grid_size(geometry: InputGeometry, stride: int = 8) -> tuple[int, int]:
    """(h, w) of the network's output maps for this input."""
    return geometry.net_size[0] // stride, geometry.net_size[1] // stride
