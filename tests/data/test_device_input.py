"""The shared GPU input path, run on the CPU: same pixels as the CPU path's tools."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from graft.data.device_input import (
    decode_batch,
    normalize_batch,
    pad_stack,
    use_device_path,
    warp_batch,
)
from graft.data.images import read_rgb


def smooth_image(h: int, w: int, seed: int, cell: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // cell + 1, w // cell + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def affine(rng: np.random.Generator, src: tuple[int, int], out: tuple[int, int]) -> np.ndarray:
    """A random rotate/scale/flip/shift matrix (source pixels -> output pixels)."""
    angle, scale = rng.uniform(-30, 30), rng.uniform(0.6, 1.4)
    m = cv2.getRotationMatrix2D((src[1] / 2, src[0] / 2), angle, scale)
    if rng.random() < 0.5:
        m = np.array([[-1, 0, out[1] - 1], [0, 1, 0]]) @ np.vstack([m, [0, 0, 1]])
    m[:, 2] += rng.uniform(-10, 10, 2)
    return m.astype(np.float32)


def test_warp_batch_matches_opencv_warp_affine():
    rng = np.random.default_rng(0)
    sizes, out = [(60, 80), (48, 50), (72, 64)], (56, 64)
    images = [smooth_image(h, w, i) for i, (h, w) in enumerate(sizes)]
    mats = [affine(rng, s, out) for s in sizes]
    batch = pad_stack([torch.from_numpy(im).permute(2, 0, 1) for im in images])
    got = warp_batch(batch, torch.from_numpy(np.stack(mats)), out)
    assert got.shape == (3, 3, *out)
    for i, (im, m) in enumerate(zip(images, mats, strict=True)):
        want = cv2.warpAffine(im, m, (out[1], out[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float32)
        diff = np.abs(got[i].permute(1, 2, 0).numpy() - want)
        # OpenCV interpolates in 1/32-pixel fixed point: small differences, and at the border
        # a pixel can straddle it; everything else agrees to a couple of levels
        assert np.median(diff) <= 1.0
        assert np.mean(diff <= 3.0) > 0.97
        assert want.sum() > 0


def test_warp_batch_identity_is_exact():
    x = torch.randint(0, 256, (2, 3, 20, 30), dtype=torch.uint8)
    eye = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(2, 2, 3)
    torch.testing.assert_close(warp_batch(x, eye, (20, 30)), x.float(), atol=1e-3, rtol=0)


def test_decode_batch_on_cpu_is_graft_reader(tmp_path):
    encoded, paths = [], []
    for i, fmt in enumerate(["JPEG", "PNG"]):
        buf = io.BytesIO()
        Image.fromarray(smooth_image(40, 56, i)).save(buf, format=fmt)
        encoded.append(buf.getvalue())
        paths.append(tmp_path / f"{i}.{fmt.lower()}")
        paths[-1].write_bytes(buf.getvalue())
    got = decode_batch(encoded, "cpu")
    for im, path in zip(got, paths, strict=True):
        assert im.dtype == torch.uint8 and im.shape == (3, 40, 56)
        torch.testing.assert_close(im, read_rgb(path))


def test_pad_stack_keeps_pixels_and_pads_zero():
    a = torch.ones(3, 4, 5, dtype=torch.uint8)
    b = 2 * torch.ones(3, 6, 2, dtype=torch.uint8)
    out = pad_stack([a, b])
    assert out.shape == (2, 3, 6, 5)
    assert out[0, :, :4, :5].eq(1).all() and out[0, :, 4:].eq(0).all()
    assert out[1, :, :, :2].eq(2).all() and out[1, :, :, 2:].eq(0).all()


def test_normalize_batch():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize_batch(x, [1 / 255] * 3, [-0.5, 0.0, 0.5])
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.5, 1.0, 1.5]))


@pytest.mark.parametrize("device,env,want", [("cuda", "", True), ("cuda:1", "", True),
                                             ("cpu", "", False), (None, "", False),
                                             ("cuda", "1", False)])
def test_use_device_path(monkeypatch, device, env, want):
    monkeypatch.setenv("GRAFT_CPU_INPUT", env)
    assert use_device_path(device) is want


def test_warp_batch_edges_repeat_each_images_own_border():
    import torch.nn.functional as F

    from graft.data.device_input import crop_affines

    big = torch.randint(0, 256, (3, 20, 30), dtype=torch.uint8)
    small = torch.randint(0, 256, (3, 12, 16), dtype=torch.uint8)
    m = crop_affines([(0, 0, 20, 30), (0, 0, 12, 16)], (24, 32))
    got = warp_batch(pad_stack([big, small]), m, (24, 32), edges=[(20, 30), (12, 16)])
    for out, im in zip(got, (big, small), strict=True):
        want = F.interpolate(im[None].float(), size=(24, 32), mode="bilinear",
                             align_corners=False)[0]
        torch.testing.assert_close(out, want, atol=1e-3, rtol=0)


def test_jitter_batch_is_torchvisions_adjust_per_image():
    from torchvision.transforms.v2 import functional as TF

    from graft.data.device_input import jitter_batch

    x = torch.rand(3, 3, 8, 10)
    b, c, s = torch.tensor([0.7, 1.0, 1.3]), torch.tensor([1.2, 0.8, 1.0]), \
        torch.tensor([0.5, 1.4, 1.1])
    got = jitter_batch(x, b, c, s, order=(2, 0, 1))
    for i in range(3):
        want = TF.adjust_contrast(TF.adjust_brightness(TF.adjust_saturation(
            x[i], s[i].item()), b[i].item()), c[i].item())
        torch.testing.assert_close(got[i], want, atol=1e-5, rtol=0)
    assert not torch.allclose(got, x)


def test_device_input_can_be_forced_on_any_device(monkeypatch):
    monkeypatch.delenv("GRAFT_CPU_INPUT", raising=False)
    monkeypatch.setenv("GRAFT_DEVICE_INPUT", "1")
    assert use_device_path("cpu") is True
    monkeypatch.setenv("GRAFT_CPU_INPUT", "1")
    assert use_device_path("cuda") is False
