"""The one image reader of every task: training, evaluation, inference and INT8 calibration.

Whatever the file holds, the pixels come back as 8-bit RGB in display orientation:

- the EXIF orientation is applied (cameras store portrait shots sideways and tag them);
- grayscale, gray+alpha, palette and CMYK become RGB; an alpha channel is dropped, not
  composited (what OpenCV, torchvision and TLT's readers do);
- 16-bit samples are scaled to 8 bits (``round(v * 255 / 65535)``), so 16-bit PNGs mix with
  8-bit images in one batch;
- an animated GIF or WebP gives its first frame.

Decoding goes through TorchCodec, the fastest decoder measured for JPEG and PNG on one thread
(``benchmarks/image_decode.py``, BENCHMARKS.md) and the library that replaces torchvision's
deprecated decoders; it also decodes JPEGs on a GPU (``torchcodec.decoders.decode_jpeg(paths,
device="cuda")``), the path a GPU input pipeline would take. Files TorchCodec cannot read
(BMP, TIFF, ...) and environments without TorchCodec go through Pillow, with the same rules.

A missing, empty or undecodable file raises :class:`UnreadableImage`, a one-line
:class:`~graft.errors.UserError` naming the file; commands that skip bad images catch it
(:func:`read_or_skip`) and list what they skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
# Formats TorchCodec decodes, by their leading bytes; everything else goes to Pillow.
_TORCHCODEC_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


class UnreadableImage(UserError):
    """An image file that is missing, empty or cannot be decoded."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path = Path(path)
        self.reason = problem
        super().__init__(f"{problem}: {path}", fix)


@functools.cache
def _torchcodec_decoder() -> Callable[..., torch.Tensor] | None:
    """TorchCodec's ``decode_image``, or None where it is not installed or does not load."""
    try:
        from torchcodec.decoders import decode_image
    except Exception:  # noqa: BLE001 - a missing wheel or one built for another torch
        return None
    return decode_image


def _is_torchcodec_format(data: bytes) -> bool:
    return data.startswith(_TORCHCODEC_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImage(path, "image not found", "check the path") from None
    except IsADirectoryError:
        raise UnreadableImage(path, "image path is a directory", "pass an image file") from None
    except OSError as exc:
        raise UnreadableImage(path, f"cannot read image ({exc.strerror or exc})",
                              "check the file's permissions") from None
    if not data:
        raise UnreadableImage(path, "image file is empty (0 bytes)",
                              "copy the image again or remove the file")
    return data


def _pillow_rgb(data: bytes, path: Path) -> np.ndarray:
    """(H, W, 3) uint8 through Pillow."""
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return _pillow_to_rgb8(ImageOps.exif_transpose(im))
    except UnidentifiedImageError:
        raise UnreadableImage(path, "corrupt or unsupported image (no known image format)",
                              "replace or remove the file, or convert it to JPEG or PNG") \
            from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated, corrupt, unsupported mode
        raise UnreadableImage(path, f"corrupt or unsupported image ({exc})",
                              "replace or remove the file") from None


def _pillow_to_rgb8(im: Any) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        wide = np.asarray(im, dtype=np.float64)
        gray = np.clip(np.rint(wide * (255 / 65535)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "F":
        gray = np.clip(np.rint(np.asarray(im)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.array(im.convert("RGB"))


def _decode_chw(data: bytes, path: Path) -> torch.Tensor:
    decode = _torchcodec_decoder()
    if decode is not None and _is_torchcodec_format(data):
        try:
            image = decode(data, mode="RGB")
            return image[0] if image.ndim == 4 else image
        except (RuntimeError, ValueError):
            pass  # Pillow reads some files TorchCodec refuses, and words its errors better
    return torch.from_numpy(np.ascontiguousarray(_pillow_rgb(data, path))).permute(2, 0, 1)


def read_rgb(path: str | Path) -> torch.Tensor:
    """An image file as a uint8 RGB tensor (3, H, W), oriented and 8-bit (module docstring)."""
    p = Path(path)
    return _decode_chw(_read_bytes(p), p)


def read_rgb_array(path: str | Path) -> np.ndarray:
    """The same pixels as :func:`read_rgb`, as a contiguous (H, W, 3) uint8 array (OpenCV)."""
    return np.ascontiguousarray(read_rgb(path).permute(1, 2, 0).numpy())


def read_rgb_reduced(path: str | Path, reduce: int) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 RGB, a JPEG shrunk ``reduce`` (2, 4 or 8) times while decoding (DCT
    scaling, cheaper than a full decode); returns the image and the factor applied (1 for
    other formats, which come back at full size).

    The shrinking decode is OpenCV's (TorchCodec has none; Pillow's ``draft`` measured slower
    than TorchCodec's full decode), used only for a JPEG that ends with its end-of-image
    marker: OpenCV would turn a truncated file into a grey-filled image without an error,
    so anything else takes the full, checked decode."""
    p = Path(path)
    if reduce <= 1:
        return read_rgb_array(p), 1
    import cv2

    data = _read_bytes(p)
    flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}.get(reduce)
    whole = data.startswith(b"\xff\xd8\xff") and data.rstrip(b"\0").endswith(b"\xff\xd9")
    if flag is not None and whole:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        if bgr is not None:
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), reduce
    return np.ascontiguousarray(_decode_chw(data, p).permute(1, 2, 0).numpy()), 1


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as :func:`read_rgb` returns the image (EXIF orientation applied), from
    the file header alone."""
    import io

    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    data = _read_bytes(p)
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            if int(im.getexif().get(0x0112, 1) or 1) in (5, 6, 7, 8):
                width, height = height, width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        _, height, width = _decode_chw(data, p).shape  # decode, or the reader's own error
    return width, height


# -- skipping unreadable files ----------------------------------------------------------------
def skipped_note(count: int, listed_in: str) -> str:
    """The tail of a command's summary line: ``", 2 unreadable images skipped (listed in
    results.json)"``, or ``""`` when none was skipped."""
    if not count:
        return ""
    return f", {count} unreadable image{'s' if count != 1 else ''} skipped (listed in {listed_in})"


@dataclass
class Skipped:
    """Images a command could not read and skipped, with the reason for each."""

    errors: list[UnreadableImage] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.errors)

    def records(self) -> list[dict[str, str]]:
        """``[{"image": path, "error": reason}]`` for a results file."""
        return [{"image": str(e.path), "error": e.reason} for e in self.errors]

    def note(self, listed_in: str) -> str:
        return skipped_note(len(self.errors), listed_in)

    def require_some_read(self, read: int) -> None:
        """Fail at the end of a run only if nothing could be read at all."""
        if read or not self.errors:
            return
        if len(self.errors) == 1:
            raise self.errors[0]
        first = self.errors[0]
        raise UserError(f"none of the {len(self.errors)} images could be read (the first: "
                        f"{first.reason}: {first.path})", "check the input files")


def iter_readable(paths: Iterable[Path], skipped: Skipped,
                  reader: Callable[[Path], Any] = read_rgb) -> Iterator[tuple[Path, Any]]:
    """(path, image) for each path ``reader`` can read, lazily; the rest go to ``skipped``."""
    for path in paths:
        try:
            image = reader(path)
        except UnreadableImage as exc:
            skipped.errors.append(exc)
            continue
        yield path, image


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
