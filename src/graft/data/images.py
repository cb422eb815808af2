"""Image reading with one-line errors for missing or corrupt files."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from torchvision.io import ImageReadMode, decode_image, read_file

from graft.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def read_rgb(path: str | Path) -> torch.Tensor:
    """Decode an image file to a uint8 RGB tensor (3, H, W)."""
    p = Path(path)
    try:
        data = read_file(str(p))
    except (FileNotFoundError, RuntimeError):
        raise UserError(f"image not found or unreadable: {p}", "check the path") from None
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its decoders in favour of TorchCodec; they remain the
            # fastest libjpeg-turbo path (and nvjpeg on GPU) until TorchCodec covers images.
            warnings.simplefilter("ignore", DeprecationWarning)
            return decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError:
        try:  # formats torchvision.io cannot decode (bmp, tiff, ...) go through PIL
            import numpy as np
            from PIL import Image

            with Image.open(p) as im:
                arr = np.asarray(im.convert("RGB"))
            return torch.from_numpy(arr.copy()).permute(2, 0, 1)
        except Exception:
            raise UserError(
                f"corrupt or unsupported image: {p}", "remove or replace the file"
            ) from None


def list_images(path: str | Path) -> list[Path]:
    """Images given as one file, a directory (recursive) or a text file listing paths."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise UserError(
                f"no images found in {p}", f"expected files ending in {IMAGE_EXTENSIONS}"
            )
        return files
    if not p.exists():
        raise UserError(f"input not found: {p}", "pass an image, a directory or a list file")
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        return [p]
    if p.suffix.lower() in (".txt", ".lst", ".list"):
        lines = [
            ln.strip() for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")
        ]
        files = [(p.parent / ln) if not Path(ln).is_absolute() else Path(ln) for ln in lines]
        missing = [f for f in files if not f.exists()]
        if missing:
            raise UserError(f"{p} lists a missing image: {missing[0]}", "fix the list file")
        if not files:
            raise UserError(f"list file {p} is empty", "add one image path per line")
        return files
    raise UserError(f"unsupported input {p}", "pass an image, a directory or a .txt list of images")
