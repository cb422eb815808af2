"""The one image reader: orientation, colour modes, bit depth and unreadable files, through
TorchCodec and through the Pillow path (formats TorchCodec lacks, or no TorchCodec at all)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from graft.data import images
from graft.data.images import (
    Skipped,
    UnreadableImage,
    iter_readable,
    read_rgb,
    read_rgb_array,
    read_rgb_reduced,
)
from graft.errors import UserError


@pytest.fixture(params=["torchcodec", "pillow"])
def backend(request, monkeypatch):
    """Run a test through each decoder path (the Pillow path as where TorchCodec is missing)."""
    if request.param == "pillow":
        monkeypatch.setattr(images, "_torchcodec_decoder", lambda: None)
    elif images._torchcodec_decoder() is None:
        pytest.skip("TorchCodec is not installed")
    return request.param


def pixels(seed: int = 0, h: int = 30, w: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def corner_marked(h: int = 30, w: int = 40) -> np.ndarray:
    """Flat grey with a white top-left block: orientation is visible after JPEG."""
    a = np.full((h, w, 3), 60, np.uint8)
    a[:8, :12] = 255
    return a


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, backend, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.jpg"
    Image.fromarray(corner_marked()).save(path, quality=95, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = read_rgb_array(path)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).max() <= 2
    if orientation in (5, 6, 7, 8):
        assert got.shape[:2] == (40, 30)  # portrait after rotation


def test_grayscale_palette_and_alpha_become_rgb(tmp_path, backend):
    rgb = pixels()
    gray = rgb[..., 0]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(gray).save(tmp_path / "gray.jpg", quality=100)
    Image.fromarray(np.dstack([rgb, gray])).save(tmp_path / "rgba.png")
    Image.fromarray(np.dstack([gray, gray // 2])[..., :2].copy(), "LA").save(tmp_path / "la.png")
    palette = Image.fromarray(rgb).quantize(16)
    palette.save(tmp_path / "palette.png", transparency=0)
    for name in ("gray.png", "gray.jpg", "la.png"):
        image = read_rgb(tmp_path / name)
        assert image.shape == (3, 30, 40) and image.dtype == torch.uint8
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    assert torch.equal(read_rgb(tmp_path / "gray.png")[0], torch.from_numpy(gray))
    # alpha is dropped, not composited
    np.testing.assert_array_equal(read_rgb_array(tmp_path / "rgba.png"), rgb)
    np.testing.assert_array_equal(read_rgb_array(tmp_path / "palette.png"),
                                  np.asarray(palette.convert("RGB")))


def test_16_bit_pngs_are_scaled_to_8_bit(tmp_path, backend):
    wide = np.linspace(0, 65535, 30 * 40).reshape(30, 40).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode.startswith("I;16")
    image = read_rgb_array(tmp_path / "gray16.png")
    assert image.dtype == np.uint8 and image.shape == (30, 40, 3)
    expected = np.rint(wide * (255 / 65535)).astype(int)
    assert np.abs(image[..., 0].astype(int) - expected).max() <= 1
    assert image.max() == 255 and image.min() == 0  # scaled, not clipped


def test_16_bit_rgb_png(tmp_path, backend):
    import cv2

    rgb16 = (pixels(1).astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[..., ::-1])
    image = read_rgb_array(tmp_path / "rgb16.png")
    assert image.dtype == np.uint8
    assert np.abs(image.astype(int) - pixels(1)).max() <= 1


def test_other_formats_through_pillow(tmp_path, backend):
    rgb = pixels(2)
    for name in ("x.bmp", "x.tif", "x.webp"):
        Image.fromarray(rgb).save(tmp_path / name, **({"lossless": True} if "webp" in name
                                                      else {}))
        np.testing.assert_array_equal(read_rgb_array(tmp_path / name), rgb)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_corrupt_truncated_empty_and_missing_files(tmp_path, backend):
    Image.fromarray(pixels()).save(tmp_path / "good.jpg", quality=90)
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"nonsense" * 20)
    (tmp_path / "text.jpg").write_text("not an image at all")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name in ("truncated.jpg", "garbage.png", "text.jpg"):
        with pytest.raises(UnreadableImage) as info:
            read_rgb(tmp_path / name)
        assert "corrupt" in one_line(info) and str(tmp_path / name) in str(info.value)
    with pytest.raises(UnreadableImage) as info:
        read_rgb(tmp_path / "empty.jpg")
    assert "empty (0 bytes)" in one_line(info) and "empty.jpg" in str(info.value)
    with pytest.raises(UnreadableImage) as info:
        read_rgb(tmp_path / "missing.jpg")
    assert "not found" in one_line(info)
    assert isinstance(info.value, UserError)


def test_reduced_jpeg_decode(tmp_path, backend):
    rgb = np.repeat(np.repeat(pixels(3, 12, 16), 8, axis=0), 8, axis=1)  # 96 x 128
    Image.fromarray(rgb).save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(rgb).save(tmp_path / "big.png")
    small, factor = read_rgb_reduced(tmp_path / "big.jpg", 4)
    assert factor == 4 and small.shape == (24, 32, 3)
    assert np.abs(small.astype(int) - rgb[::4, ::4]).mean() < 12  # same picture, smaller
    full, factor = read_rgb_reduced(tmp_path / "big.png", 4)
    assert factor == 1 and full.shape == (96, 128, 3)  # only JPEGs shrink while decoding
    same, factor = read_rgb_reduced(tmp_path / "big.jpg", 1)
    assert factor == 1 and np.array_equal(same, read_rgb_array(tmp_path / "big.jpg"))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "turned.jpg", quality=95, exif=exif.tobytes())
    small, factor = read_rgb_reduced(tmp_path / "turned.jpg", 2)
    assert factor == 2 and small.shape == (64, 48, 3)  # oriented like the full decode
    full = read_rgb_array(tmp_path / "turned.jpg").reshape(64, 2, 48, 2, 3).mean(axis=(1, 3))
    assert np.abs(small - full).mean() < 8
    data = (tmp_path / "big.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UnreadableImage, match="corrupt"):  # not a grey-filled picture
        read_rgb_reduced(tmp_path / "cut.jpg", 2)


def test_iter_readable_skips_and_counts(tmp_path):
    Image.fromarray(pixels()).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "c.jpg").write_bytes(b"\xff\xd8\xff broken")
    skipped = Skipped()
    paths = [tmp_path / n for n in ("a.png", "b.png", "c.jpg")]
    read = list(iter_readable(paths, skipped))
    assert [p.name for p, _ in read] == ["a.png"]
    assert [Path(r["image"]).name for r in skipped.records()] == ["b.png", "c.jpg"]
    assert "empty" in skipped.records()[0]["error"]
    assert skipped.note("results.json") == (
        ", 2 unreadable images skipped (listed in results.json)")
    skipped.require_some_read(1)  # something was read: no error
    with pytest.raises(UserError, match="none of the 2 images could be read"):
        skipped.require_some_read(0)
    only = Skipped()
    list(iter_readable([tmp_path / "b.png"], only))
    with pytest.raises(UnreadableImage, match="empty"):
        only.require_some_read(0)
