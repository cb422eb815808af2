"""The GPU input path, written once for every task and device-agnostic (tested on the CPU).

A trainer on a GPU is input-bound when loader processes decode, warp and rasterize targets
on the CPU. This module moves the batched parts to the trainer's device:

- :func:`decode_batch`: JPEG bytes -> uint8 (3, H, W) tensors on the device (nvJPEG through
  TorchCodec or torchvision when the device is CUDA; graft's reader otherwise);
- :func:`pad_stack`: images of different sizes -> one (B, 3, Hmax, Wmax) batch;
- :func:`warp_batch`: one affine warp per sample (the transforms v2 geometry of a whole batch
  at once), bilinear with a zero border, in OpenCV's ``warpAffine`` pixel convention;
  :func:`crop_affines` makes those of resized crops and flips (no antialiasing: a crop shrunk
  by more than 2x aliases where the CPU path's ``antialias=True`` would not);
- :func:`normalize_batch`: uint8 -> float ``x * scale + shift`` per channel.

Targets are made where the batch lives by each task's own batched encoder (bpnet:
:mod:`graft.tasks.bpnet.device_targets`; DetectNet_v2 already rasterizes in its training step).
:func:`use_device_path` picks the path: on when the trainer's device is CUDA, the CPU path
otherwise or when ``GRAFT_CPU_INPUT=1`` (``GRAFT_DEVICE_INPUT=1`` forces it on, e.g. on a CPU).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


def use_device_path(device: torch.device | str | None) -> bool:
    """True when targets/augmentation should run on ``device`` (CUDA) rather than in loaders.

    ``GRAFT_CPU_INPUT=1`` keeps the CPU path; ``GRAFT_DEVICE_INPUT=1`` takes the device path
    on any device (to test it, or to measure it, on a CPU)."""
    if device is None or os.environ.get("GRAFT_CPU_INPUT", "") not in ("", "0"):
        return False
    forced = os.environ.get("GRAFT_DEVICE_INPUT", "") not in ("", "0")
    return forced or torch.device(device).type == "cuda"


def trainer_device(trainer: Any) -> torch.device | None:
    """The device a Lightning trainer trains on (None before it is attached)."""
    strategy = getattr(trainer, "strategy", None)
    return getattr(strategy, "root_device", None) if strategy is not None else None


def _gpu_jpeg_decoder() -> Any:
    try:
        from torchcodec.decoders import decode_jpeg

        return decode_jpeg
    except Exception:  # noqa: BLE001 - missing or built for another torch
        pass
    try:
        from torchvision.io import decode_jpeg

        return decode_jpeg
    except Exception:  # noqa: BLE001
        return None


def decode_batch(encoded: Sequence[bytes], device: torch.device | str = "cpu"
                 ) -> list[torch.Tensor]:
    """JPEG/PNG bytes -> uint8 RGB (3, H, W) tensors on ``device``.

    On CUDA, JPEGs go to nvJPEG in one batched call; anything it refuses (PNG, CMYK) falls
    back to graft's reader and is copied over. On the CPU it is graft's reader.
    """
    from pathlib import Path

    from graft.data.images import _decode_chw

    dev = torch.device(device)
    out: list[torch.Tensor | None] = [None] * len(encoded)
    if dev.type == "cuda":
        decode = _gpu_jpeg_decoder()
        jpegs = [i for i, b in enumerate(encoded) if b[:3] == b"\xff\xd8\xff"]
        if decode is not None and jpegs:
            data = [torch.frombuffer(bytearray(encoded[i]), dtype=torch.uint8) for i in jpegs]
            try:
                images = decode(data, device=dev)
                for i, im in zip(jpegs, images, strict=True):
                    out[i] = im if im.shape[0] == 3 else im.expand(3, -1, -1)
            except (RuntimeError, ValueError, TypeError):
                pass  # the per-image reader below words the error
    for i, b in enumerate(encoded):
        if out[i] is None:
            out[i] = _decode_chw(b, Path(f"<image {i}>")).to(dev, non_blocking=True)
    return out  # type: ignore[return-value]


def pad_stack(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """(B, C, Hmax, Wmax) from (C, H_i, W_i) images, zero-padded at the bottom and right.

    Padding there leaves every image's pixel coordinates unchanged, so warps in source pixels
    stay valid and read zeros past each image's edge (the warp's border value).
    """
    c = images[0].shape[0]
    h = max(im.shape[-2] for im in images)
    w = max(im.shape[-1] for im in images)
    out = images[0].new_zeros(len(images), c, h, w)
    for i, im in enumerate(images):
        out[i, :, :im.shape[-2], :im.shape[-1]] = im
    return out


def warp_batch(images: torch.Tensor, matrices: torch.Tensor, out_size: tuple[int, int],
               edges: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
    """Per-sample affine warps of a batch: float (B, C, h, w).

    ``matrices`` (B, 2, 3) map source pixels to output pixels (OpenCV's ``warpAffine``
    forward matrix, pixel centres at integer coordinates); bilinear, zero outside the source.
    With ``edges`` (each image's (h, w) before :func:`pad_stack`), source points are clamped
    into each image instead: its edge pixels repeat, as ``Resize`` and crops sample them.
    """
    b, _, src_h, src_w = images.shape
    h, w = out_size
    m = matrices.to(images.device, torch.float32)
    full = torch.cat([m, m.new_tensor([0.0, 0.0, 1.0]).expand(b, 1, 3)], dim=1)
    inv = torch.linalg.inv(full)[:, :2]  # output pixel -> source pixel
    ys, xs = torch.meshgrid(torch.arange(h, device=m.device, dtype=torch.float32),
                            torch.arange(w, device=m.device, dtype=torch.float32), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, h * w, 3)
    src = pts @ inv.transpose(1, 2)  # (B, h*w, 2) source pixel coordinates
    if edges is not None:
        top = torch.tensor([[w_ - 1, h_ - 1] for h_, w_ in edges], dtype=torch.float32,
                           device=m.device).view(b, 1, 2)
        src = torch.minimum(src.clamp_min(0.0), top)
    grid = torch.stack([(2 * src[..., 0] + 1) / src_w - 1, (2 * src[..., 1] + 1) / src_h - 1],
                       dim=-1).view(b, h, w, 2)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def crop_affines(boxes: Sequence[tuple[int, int, int, int]], out_size: tuple[int, int],
                 hflip: Sequence[bool] = (), vflip: Sequence[bool] = ()) -> torch.Tensor:
    """(B, 2, 3) maps of each crop box (top, left, h, w) in source pixels onto the whole
    output (a resized crop, as RandomResizedCrop), mirrored where ``hflip``/``vflip`` say."""
    h_out, w_out = out_size
    m = torch.zeros(len(boxes), 2, 3)
    for k, (top, left, h, w) in enumerate(boxes):
        sx, sy = w_out / w, h_out / h
        # output pixel centre u <-> source x = left + (u + 0.5) / sx - 0.5
        m[k] = torch.tensor([[sx, 0.0, sx * (0.5 - left) - 0.5],
                             [0.0, sy, sy * (0.5 - top) - 0.5]])
        if k < len(hflip) and hflip[k]:
            m[k, 0] = -m[k, 0]
            m[k, 0, 2] += w_out - 1
        if k < len(vflip) and vflip[k]:
            m[k, 1] = -m[k, 1]
            m[k, 1, 2] += h_out - 1
    return m


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def jitter_batch(x: torch.Tensor, brightness: torch.Tensor | None = None,
                 contrast: torch.Tensor | None = None, saturation: torch.Tensor | None = None,
                 order: Sequence[int] = (0, 1, 2)) -> torch.Tensor:
    """Colour jitter of a float 0..1 batch with one factor per sample ((B,) tensors), in
    ``order`` (0 brightness, 1 contrast, 2 saturation): torchvision's ``adjust_*`` formulas
    for the whole batch at once, instead of a few kernels per image."""
    for op in order:
        f = (brightness, contrast, saturation)[op]
        if f is None:
            continue
        f = f.to(x.device, x.dtype).view(-1, 1, 1, 1)
        if op == 0:
            other = torch.zeros_like(x[:, :1])
        elif op == 1:
            other = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        else:
            other = _gray(x)
        x = (f * x + (1.0 - f) * other).clamp(0.0, 1.0)
    return x


def normalize_batch(images: torch.Tensor, scale: Sequence[float], shift: Sequence[float]
                    ) -> torch.Tensor:
    """``x * scale + shift`` per channel of a (B, 3, H, W) batch, as float32."""
    s = torch.as_tensor(scale, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    t = torch.as_tensor(shift, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return images.float() * s + t
