"""Spatial augmentation: one affine matrix per sample, applied to image, mask and keypoints.

The matrix maps source-image pixels to network-input pixels (pixel centres at integer
coordinates) and is composed as ``T_out . Flip . Rotate . Scale . T_src``:

- ``T_src`` moves the crop centre to the origin: the image centre (standard modes) or the
  centre of one person's box (``person_centric``);
- ``Scale``: ``standard`` fits the whole image keeping its aspect ratio (the rest is padding),
  ``standard_with_fixed_aspect_ratio`` stretches it to the input size, ``person_centric`` makes
  the person's box height ``target_person_scale`` of the input height; a random zoom ratio
  (> 1: smaller content) divides it;
- ``Rotate`` by a random angle, ``Flip`` left/right and/or top/bottom about the centre;
- ``T_out`` moves the origin to the input centre plus a random translation (input pixels, or
  a fraction of the input size with ``use_translate_ratio``).

A flip mirrors the person, so left/right joints swap (``PoseConfig.flip_permutation``); two
flips (left/right and top/bottom) are a rotation and swap nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from graft.tasks.bpnet.data_spec import SpatialAugParams, SpatialMode

PAD_VALUE = (128, 128, 128)  # grey padding: ~0 after the default normalization
MIN_PERSON_HEIGHT = 8.0  # pixels; guards person_centric scaling against degenerate boxes


@dataclass(frozen=True)
class SpatialTransform:
    """A sampled transform: ``matrix`` (2, 3) source -> input pixels; ``mirrored``: swap joints."""

    matrix: np.ndarray
    mirrored: bool
    input_size: tuple[int, int]  # (H, W)

    def inverse(self) -> np.ndarray:
        """(2, 3) matrix mapping input pixels back to source-image pixels."""
        return cv2.invertAffineTransform(self.matrix)


def decode_reduction(transform: SpatialTransform, limit: int = 8) -> int:
    """Largest power of two (<= ``limit``) the source can be shrunk by before warping without
    dropping below the output resolution; JPEG decoders shrink by 2/4/8 almost for free."""
    m = transform.matrix[:, :2]
    scale = float(min(np.hypot(m[0, 0], m[1, 0]), np.hypot(m[0, 1], m[1, 1])))
    factor = 1
    while factor * 2 <= limit and scale * factor * 2 <= 1.0:
        factor *= 2
    return factor


def for_resized_source(transform: SpatialTransform, fx: float, fy: float) -> SpatialTransform:
    """The same transform for a source image resized by (fx, fy) (pixel centres kept)."""
    m = transform.matrix
    inv = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
    full = np.vstack([m, [0, 0, 1]]) @ inv
    return SpatialTransform(full[:2].copy(), transform.mirrored, transform.input_size)


def _affine(a: float = 1, b: float = 0, c: float = 0, d: float = 0, e: float = 1,
            f: float = 0) -> np.ndarray:
    return np.array([[a, b, c], [d, e, f], [0, 0, 1]], dtype=np.float64)


def build_transform(
    mode: SpatialMode,
    image_size: tuple[int, int],
    input_size: tuple[int, int],
    *,
    person_box: Sequence[float] | None = None,
    target_person_scale: float = 0.6,
    zoom: float = 1.0,
    rotate_deg: float = 0.0,
    translate: tuple[float, float] = (0.0, 0.0),
    flip_lr: bool = False,
    flip_tb: bool = False,
) -> SpatialTransform:
    """The deterministic transform for given parameters (see the module docstring)."""
    h, w = image_size
    out_h, out_w = input_size
    if mode == "person_centric" and person_box is not None:
        bx, by, bw, bh = (float(v) for v in person_box)
        centre = (bx + bw / 2 - 0.5, by + bh / 2 - 0.5)
        sx = sy = target_person_scale * out_h / max(bh, MIN_PERSON_HEIGHT)
    else:
        centre = ((w - 1) / 2, (h - 1) / 2)
        if mode == "standard_with_fixed_aspect_ratio":
            sx, sy = out_w / w, out_h / h
        else:  # standard, or person_centric without a person: fit the whole image
            sx = sy = min(out_w / w, out_h / h)
    sx, sy = sx / zoom, sy / zoom
    theta = np.deg2rad(rotate_deg)
    cos, sin = float(np.cos(theta)), float(np.sin(theta))
    m = _affine(c=-centre[0], f=-centre[1])
    m = _affine(a=sx, e=sy) @ m
    m = _affine(a=cos, b=-sin, d=sin, e=cos) @ m
    m = _affine(a=-1.0 if flip_lr else 1.0, e=-1.0 if flip_tb else 1.0) @ m
    m = _affine(c=(out_w - 1) / 2 + translate[0], f=(out_h - 1) / 2 + translate[1]) @ m
    return SpatialTransform(m[:2].copy(), bool(flip_lr) != bool(flip_tb), (out_h, out_w))


def sample_transform(
    mode: SpatialMode,
    params: SpatialAugParams | None,
    image_size: tuple[int, int],
    input_size: tuple[int, int],
    rng: np.random.Generator | None = None,
    person_box: Sequence[float] | None = None,
) -> SpatialTransform:
    """Draw a random transform from ``params``; no ``rng`` or ``params``: no randomness."""
    scale = params.target_person_scale if params is not None else 0.6
    if params is None or rng is None:
        return build_transform(mode, image_size, input_size, person_box=person_box,
                               target_person_scale=scale)
    flip_lr = rng.random() < params.flip_lr_prob
    flip_tb = rng.random() < params.flip_tb_prob
    zoom = (rng.uniform(params.zoom_ratio_min, params.zoom_ratio_max)
            if rng.random() < params.zoom_prob else 1.0)
    rotate = rng.uniform(*params.rotate_range)
    tx, ty = rng.uniform(*params.translate_range("x")), rng.uniform(*params.translate_range("y"))
    if params.use_translate_ratio:
        tx, ty = tx * input_size[1], ty * input_size[0]
    return build_transform(mode, image_size, input_size, person_box=person_box,
                           target_person_scale=scale, zoom=zoom, rotate_deg=rotate,
                           translate=(tx, ty), flip_lr=flip_lr, flip_tb=flip_tb)


def transform_keypoints(keypoints: np.ndarray, transform: SpatialTransform,
                        flip_permutation: Sequence[int] | None = None) -> np.ndarray:
    """(P, J, 3) keypoints through the transform; joints swapped when it mirrors."""
    kps = np.array(keypoints, dtype=np.float32, copy=True)
    if kps.size == 0:
        return kps
    m = transform.matrix.astype(np.float32)
    kps[..., :2] = kps[..., :2] @ m[:, :2].T + m[:, 2]
    kps[kps[..., 2] <= 0] = 0.0
    if transform.mirrored and flip_permutation is not None:
        kps = kps[:, list(flip_permutation)]
    return kps


def warp_image(image: np.ndarray, transform: SpatialTransform,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp an (h, w, 3) uint8 image to the input size; outside the image is grey."""
    out_h, out_w = transform.input_size
    return cv2.warpAffine(image, transform.matrix, (out_w, out_h), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_VALUE)


def warp_mask(mask: np.ndarray | None, transform: SpatialTransform, stride: int) -> np.ndarray:
    """Loss weight at the output stride, (h, w) float32 in [0, 1] (1 = use in loss).

    The uint8 mask (255 use / 0 ignore) is warped at input resolution (padding counts as use)
    and averaged over each stride x stride block, the block an output cell stands for.
    """
    out_h, out_w = transform.input_size
    grid = (out_w // stride, out_h // stride)
    if mask is None:
        return np.ones(grid[::-1], dtype=np.float32)
    warped = cv2.warpAffine(mask, transform.matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    small = cv2.resize(warped, grid, interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def augment_sample(
    image: np.ndarray,
    mask: np.ndarray | None,
    keypoints: np.ndarray,
    transform: SpatialTransform,
    stride: int,
    flip_permutation: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply one transform to image, mask and keypoints: (image, mask at stride, keypoints)."""
    return (warp_image(image, transform), warp_mask(mask, transform, stride),
            transform_keypoints(keypoints, transform, flip_permutation))
