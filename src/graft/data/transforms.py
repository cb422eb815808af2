"""Augmentation of images together with their boxes, masks and keypoints (torchvision v2).

A sample is a dict made by :func:`make_sample`: the image as a ``tv_tensors.Image``, the
objects' boxes (``BoundingBoxes``, XYXY), ``labels``, ignore regions (``ignore``, a second
``BoundingBoxes``: KITTI DontCare, COCO crowds), and optionally instance ``masks``
(``Mask``) and ``keypoints`` (``KeyPoints``, (N, K, 2)) with their ``visibility`` (N, K).
torchvision moves every tv_tensor with the image; this module adds what torchvision leaves to
the caller:

- :class:`RandomFlip`: flips that also swap left and right keypoints (``flip_pairs``);
- :class:`SanitizeTargets`: boxes clipped to the image; an object whose box keeps less than
  ``min_visible`` of its area (or is thinner than ``min_size`` pixels) after the geometry is
  dropped or kept as an ignore region (``outside``); keypoints outside the image become
  unlabeled (visibility 0);
- :class:`RandomShift`: a whole-pixel translation as a crop (what ``RandomAffine`` does
  with translation alone, without resampling: 0.1 instead of 16-30 ms at 384x1248);
- :class:`RandomColour`: hue rotation, saturation, contrast and a per-channel shift as one
  random affine map of RGB, TLT's kind of colour augmentation (a 3x3 matrix and an offset
  per image: about 4 ms of one core at 384x1248 where torchvision's HSV-based
  ``ColorJitter`` took 40-70 ms, most of a DetectNet_v2 sample's augmentation);
- :func:`detection_augmentation` (DetectNet_v2's spatial and colour augmentation: flips,
  zoom, translate, rotate, hue, saturation, contrast) and :func:`instance_augmentation`
  (Mask R-CNN's flip and scale jitter), each ending in :class:`SanitizeTargets`.

Boxes are corner coordinates (a box around pixel 0 is [0, 1]); keypoints are pixel indices
(COCO's and torchvision's convention: a horizontal flip takes x to W - 1 - x). Boxes are
carried without clamping (``clamping_mode=None``) until :class:`SanitizeTargets`, so how much
of an object left the image is known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

Outside = Literal["drop", "ignore"]


def make_sample(image: torch.Tensor, boxes: Any = (), labels: Any = (),
                ignore: Any = (), masks: torch.Tensor | None = None,
                keypoints: torch.Tensor | None = None) -> dict[str, Any]:
    """A sample dict from plain tensors: ``image`` uint8 (3, H, W); ``boxes`` / ``ignore``
    (N, 4) XYXY pixels; ``labels`` (N,); ``masks`` (N, H, W); ``keypoints`` (N, K, 3) as
    x, y, visibility (0 = unlabeled)."""
    h, w = image.shape[-2:]

    def box_tensor(data: Any) -> tv_tensors.BoundingBoxes:
        t = torch.as_tensor(data, dtype=torch.float32).reshape(-1, 4)
        return tv_tensors.BoundingBoxes(t, format="XYXY", canvas_size=(h, w),
                                        clamping_mode=None)

    sample: dict[str, Any] = {
        "image": tv_tensors.Image(image),
        "boxes": box_tensor(boxes),
        "labels": torch.as_tensor(labels, dtype=torch.int64).reshape(-1),
        "ignore": box_tensor(ignore),
    }
    if masks is not None:
        sample["masks"] = tv_tensors.Mask(torch.as_tensor(masks).to(torch.uint8))
    if keypoints is not None:
        kps = torch.as_tensor(keypoints, dtype=torch.float32)
        sample["keypoints"] = tv_tensors.KeyPoints(kps[..., :2], canvas_size=(h, w))
        sample["visibility"] = kps[..., 2].clone()
    return sample


class _PermutingFlip:
    """Mixin: after the flip, keypoint ``j`` takes the place of its mirror partner."""

    permutation: torch.Tensor | None

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        out = super().transform(inpt, params)  # type: ignore[misc]
        if isinstance(out, tv_tensors.KeyPoints) and self.permutation is not None:
            out = tv_tensors.wrap(out[..., self.permutation, :], like=out)
        return out


class _HorizontalFlip(_PermutingFlip, v2.RandomHorizontalFlip):
    pass


class _VerticalFlip(_PermutingFlip, v2.RandomVerticalFlip):
    pass


def _permutation(flip_pairs: Sequence[tuple[int, int]] | None,
                 num_keypoints: int | None) -> torch.Tensor | None:
    if not flip_pairs:
        return None
    size = num_keypoints or 1 + max(max(p) for p in flip_pairs)
    perm = list(range(size))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return torch.tensor(perm)


class RandomFlip(v2.Compose):
    """Horizontal and vertical flips with their own probabilities; ``flip_pairs`` (left,
    right) keypoint indices swap places on a horizontal flip (and on a vertical one, where
    ``swap_on_vertical``: an upside-down person's left is still on the other side)."""

    def __init__(self, horizontal: float = 0.5, vertical: float = 0.0,
                 flip_pairs: Sequence[tuple[int, int]] | None = None,
                 num_keypoints: int | None = None, swap_on_vertical: bool = False) -> None:
        perm = _permutation(flip_pairs, num_keypoints)
        h, vt = _HorizontalFlip(horizontal), _VerticalFlip(vertical)
        h.permutation = perm
        vt.permutation = perm if swap_on_vertical else None
        super().__init__([t for t, p in ((h, horizontal), (vt, vertical)) if p > 0]
                         or [v2.Identity()])


class RandomShift(v2.Transform):
    """Translate by whole pixels, uniform in +-``translate`` (fractions of width, height)
    rounded as ``v2.RandomAffine`` rounds them; uncovered pixels are 0. Every tv_tensor moves
    (a crop at a negative or shifted corner); boxes are not clipped here."""

    def __init__(self, translate: tuple[float, float]) -> None:
        super().__init__()
        self.translate = (float(translate[0]), float(translate[1]))

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        from torchvision.transforms.v2._utils import query_size

        h, w = query_size(flat_inputs)
        dx = int(round(torch.empty(1).uniform_(-self.translate[0] * w,
                                               self.translate[0] * w).item()))
        dy = int(round(torch.empty(1).uniform_(-self.translate[1] * h,
                                               self.translate[1] * h).item()))
        return {"top": -dy, "left": -dx, "height": h, "width": w}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(F.crop, inpt, **params)


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights: the grey a desaturated pixel becomes


def colour_matrix(hue_deg: float = 0.0, saturation: float = 1.0, contrast: float = 1.0,
                  center: float = 0.5, shift: Sequence[float] = (0.0, 0.0, 0.0)
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine map ``rgb -> M @ rgb + b`` (0..255 values) that rotates hues by ``hue_deg``
    about the grey axis, scales saturation by ``saturation`` (0: grey), scales contrast by
    ``contrast`` around ``center`` (a fraction of 255), then adds ``shift`` per channel.
    Greys stay grey under the first two; all factors 1 and no shift give the identity."""
    t = math.radians(hue_deg)
    k = torch.full((3,), 1.0 / math.sqrt(3.0), dtype=torch.float64)
    cross = torch.tensor([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]],
                         dtype=torch.float64)
    hue = (math.cos(t) * torch.eye(3, dtype=torch.float64) + math.sin(t) * cross
           + (1.0 - math.cos(t)) * torch.outer(k, k))  # Rodrigues' rotation about k
    luma = torch.tensor(LUMA, dtype=torch.float64)
    sat = saturation * torch.eye(3, dtype=torch.float64) + (1.0 - saturation) * luma.expand(3, 3)
    matrix = contrast * sat @ hue
    offset = (1.0 - contrast) * center * 255.0 + torch.as_tensor(shift, dtype=torch.float64)
    return matrix.float(), offset.float()


def apply_colour(image: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor
                 ) -> torch.Tensor:
    """``matrix @ rgb + offset`` on every pixel of a uint8 (3, H, W) image, rounded and
    clipped to uint8."""
    flat = image.reshape(3, -1).float()
    out = torch.addmm(offset.view(3, 1), matrix, flat)
    return out.round_().clamp_(0, 255).to(torch.uint8).reshape(image.shape)


class RandomColour(v2.Transform):
    """Per image: hue rotated by an angle uniform in +-``hue_deg``, saturation and contrast
    scaled by factors uniform in 1 +- ``saturation`` and 1 +- ``contrast`` (contrast around
    ``contrast_center`` of the range), plus a per-channel shift N(0, ``shift_stddev`` of the
    range); applied as one :func:`colour_matrix`. Only images change."""

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, hue_deg: float = 0.0, saturation: float = 0.0, contrast: float = 0.0,
                 contrast_center: float = 0.5, shift_stddev: float = 0.0) -> None:
        super().__init__()
        self.hue_deg, self.saturation, self.contrast = hue_deg, saturation, contrast
        self.contrast_center, self.shift_stddev = contrast_center, shift_stddev

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        u = (torch.rand(3) * 2.0 - 1.0).tolist()
        shift = (torch.randn(3) * self.shift_stddev * 255.0).tolist() if self.shift_stddev \
            else (0.0, 0.0, 0.0)
        matrix, offset = colour_matrix(u[0] * self.hue_deg, 1.0 + u[1] * self.saturation,
                                       1.0 + u[2] * self.contrast, self.contrast_center, shift)
        return {"matrix": matrix, "offset": offset}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if inpt.dtype != torch.uint8:
            raise TypeError(f"RandomColour takes uint8 images, not {inpt.dtype}")
        out = apply_colour(inpt.as_subclass(torch.Tensor), params["matrix"], params["offset"])
        return tv_tensors.wrap(out, like=inpt)


class SanitizeTargets(v2.Transform):
    """Clip boxes to the image and decide what becomes of objects that (mostly) left it.

    An object keeps its place if its clipped box is at least ``min_size`` pixels wide and
    high and keeps at least ``min_visible`` of its unclipped area; otherwise it is dropped, or
    with ``outside="ignore"`` its clipped box (if any area remains) joins the ignore regions.
    Masks, labels and keypoints follow their boxes; keypoints outside the image get
    visibility 0. Ignore regions are clipped and kept while they have area."""

    def __init__(self, min_size: float = 1.0, min_visible: float = 0.0,
                 outside: Outside = "drop") -> None:
        super().__init__()
        if outside not in ("drop", "ignore"):
            raise ValueError(f"outside must be 'drop' or 'ignore', not {outside!r}")
        self.min_size, self.min_visible, self.outside = min_size, min_visible, outside

    def forward(self, *inputs: Any) -> Any:
        sample = inputs[0] if len(inputs) == 1 else inputs
        if not isinstance(sample, dict) or "boxes" not in sample:
            raise TypeError("SanitizeTargets expects a sample dict made by make_sample")
        out = dict(sample)
        boxes = sample["boxes"]
        h, w = boxes.canvas_size
        clipped = _clip(boxes.as_subclass(torch.Tensor), h, w)
        area = _area(boxes.as_subclass(torch.Tensor))
        kept_area = _area(clipped)
        size_ok = ((clipped[:, 2] - clipped[:, 0]) >= self.min_size) & (
            (clipped[:, 3] - clipped[:, 1]) >= self.min_size)
        keep = size_ok & (kept_area >= self.min_visible * area.clamp(min=1e-6))
        out["boxes"] = _like(clipped[keep], boxes)
        out["labels"] = sample["labels"][keep]
        if "masks" in sample:
            out["masks"] = tv_tensors.wrap(sample["masks"][keep], like=sample["masks"])
        if "keypoints" in sample:
            kps = sample["keypoints"][keep]
            vis = sample["visibility"][keep].clone()
            x, y = kps[..., 0], kps[..., 1]
            vis[(x < 0) | (y < 0) | (x > w - 1) | (y > h - 1)] = 0
            out["keypoints"] = tv_tensors.wrap(kps, like=sample["keypoints"])
            out["visibility"] = vis
        ignore = _clip(sample["ignore"].as_subclass(torch.Tensor), h, w)
        if self.outside == "ignore":
            ignore = torch.cat([ignore, clipped[~keep]])
        out["ignore"] = _like(ignore[_area(ignore) > 0], sample["ignore"])
        return out


def _clip(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    limit = torch.tensor([w, h, w, h], dtype=boxes.dtype)
    return torch.minimum(boxes.clamp(min=0), limit)


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def _like(data: torch.Tensor, boxes: tv_tensors.BoundingBoxes) -> tv_tensors.BoundingBoxes:
    return tv_tensors.wrap(data.reshape(-1, 4), like=boxes)


def detection_augmentation(output_size: tuple[int, int], *, hflip: float = 0.5,
                           vflip: float = 0.0, zoom: tuple[float, float] = (1.0, 1.0),
                           translate: tuple[float, float] = (0.0, 0.0), rotate_deg: float = 0.0,
                           rotate_probability: float = 1.0, hue_deg: float = 0.0,
                           saturation: float = 0.0, contrast: float = 0.0,
                           contrast_center: float = 0.5, colour_shift: float = 0.0,
                           min_visible: float = 0.5, outside: Outside = "ignore",
                           fill: int = 0) -> v2.Compose:
    """DetectNet_v2-style augmentation to ``output_size`` (H, W): resize, flips, one random
    affine (``zoom`` range of scales, ``translate`` as fractions of the size, rotation up to
    ``rotate_deg`` either way), colour (:class:`RandomColour`: hue up to ``hue_deg`` either
    way, saturation and contrast factors in ``1 +- value``, contrast around
    ``contrast_center``, a per-channel shift of ``colour_shift`` standard deviation), then
    :class:`SanitizeTargets`. With ``rotate_probability`` below 1 the rotation is a second
    affine applied that often."""
    ops: list[Any] = [v2.Resize(output_size, antialias=True),
                      RandomFlip(hflip, vflip)]
    rotate_always = rotate_deg if rotate_probability >= 1.0 else 0.0
    interpolation = v2.InterpolationMode.BILINEAR
    if zoom == (1.0, 1.0) and not rotate_always and any(translate):
        ops.append(RandomShift(translate))  # the same whole-pixel shift, without resampling
    elif zoom != (1.0, 1.0) or any(translate) or rotate_always:
        ops.append(v2.RandomAffine(degrees=rotate_always, translate=translate or None,
                                   scale=zoom, interpolation=interpolation, fill=fill))
    if rotate_deg and not rotate_always and rotate_probability > 0:
        ops.append(v2.RandomApply([v2.RandomAffine(degrees=rotate_deg, interpolation=interpolation,
                                                   fill=fill)], p=rotate_probability))
    if hue_deg or saturation or contrast or colour_shift:
        ops.append(RandomColour(hue_deg, saturation, contrast, contrast_center, colour_shift))
    ops.append(SanitizeTargets(min_visible=min_visible, outside=outside))
    return v2.Compose(ops)


def instance_augmentation(output_size: tuple[int, int], *, hflip: float = 0.5,
                          scale: tuple[float, float] = (0.8, 1.25), min_size: float = 1.0,
                          outside: Outside = "drop") -> v2.Compose:
    """Mask R-CNN-style augmentation: horizontal flip, scale jitter around ``output_size``
    (H, W; the image scaled to fit it, times a factor in ``scale``), a random crop or pad
    to ``output_size``, then :class:`SanitizeTargets`."""
    return v2.Compose([
        RandomFlip(hflip),
        v2.ScaleJitter(output_size, scale_range=scale, antialias=True),
        v2.RandomCrop(output_size, pad_if_needed=True),
        SanitizeTargets(min_size=min_size, outside=outside),
    ])


def resize_sample(sample: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """Resize a sample to ``size`` (H, W) without randomness (validation, inference)."""
    return {k: (F.resize(v, list(size), antialias=True) if isinstance(v, tv_tensors.TVTensor)
                else v) for k, v in sample.items()}
