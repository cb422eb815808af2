"""Image decode speed per decoder: which library replaces torchvision's deprecated decoders.

Every decoder turns a file path into what graft's reader returns, a uint8 RGB tensor
(3, H, W), so colour conversion and copies are part of the cost. Images are generated
(smooth colour fields, shapes and sensor noise, like a photo compresses) as JPEG (quality 90,
4:2:0) and PNG (8-bit RGB, zlib level 6) at 640x480 and 1920x1080, plus a 640x480 JPEG
with an EXIF orientation tag (6 = rotate 90) to measure what applying the orientation costs.
One thread everywhere (torch, OpenCV); each figure is images per second of this process's CPU
time (wall time would count the other jobs of a shared machine), the best of ``--rounds``
rounds of at least ``--seconds`` CPU seconds.

    python benchmarks/image_decode.py
    python benchmarks/image_decode.py --decoders pillow-numpy --json simd.json  # Pillow-SIMD venv

Decoders: ``opencv`` (cv2.imread, which applies EXIF orientation itself), ``pillow``
(Image.open + ImageOps.exif_transpose + convert), ``torchvision`` (torchvision.io.decode_image,
deprecated since 0.29) and ``torchcodec`` (torchcodec.decoders.decode_image, which applies the
EXIF orientation of JPEG and PNG files itself and cannot be told not to, so its two EXIF columns
measure the same thing); ``graft`` is graft's reader itself (:mod:`graft.data.images`:
TorchCodec plus its checks). A decoder whose package is missing is skipped.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {"640x480": (480, 640), "1920x1080": (1080, 1920)}


def photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """RGB uint8 with smooth gradients, hard edges and mild noise."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    cells = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
    base = Image.fromarray(cells).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(h // 40, h // 6))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            draw.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=colour)
    noisy = np.asarray(base, dtype=np.float32) + rng.normal(0, 4, (h, w, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write_images(folder: Path) -> dict[str, Path]:
    from PIL import Image

    files: dict[str, Path] = {}
    for name, (h, w) in SIZES.items():
        image = Image.fromarray(photo_like(h, w))
        files[f"jpeg {name}"] = folder / f"{name}.jpg"
        image.save(files[f"jpeg {name}"], quality=90)
        files[f"png {name}"] = folder / f"{name}.png"
        image.save(files[f"png {name}"], compress_level=6)
    exif = Image.Exif()
    exif[0x0112] = 6
    h, w = SIZES["640x480"]
    files["jpeg 640x480 EXIF-rotated"] = folder / "rotated.jpg"
    Image.fromarray(photo_like(h, w)).save(files["jpeg 640x480 EXIF-rotated"], quality=90,
                                           exif=exif.tobytes())
    return files


# -- decoders: path -> uint8 RGB (3, H, W) tensor --------------------------------------------
def opencv(exif: bool) -> Callable[[Path], object]:
    import cv2
    import torch

    cv2.setNumThreads(1)
    flags = cv2.IMREAD_COLOR if exif else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION

    def decode(path: Path):
        bgr = cv2.imread(str(path), flags)
        return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)

    return decode


def pillow_numpy(exif: bool) -> Callable[[Path], object]:
    """Pillow alone (no torch), for a venv with Pillow-SIMD installed instead of Pillow."""
    from PIL import Image, ImageOps

    def decode(path: Path):
        with Image.open(path) as im:
            if exif:
                im = ImageOps.exif_transpose(im)
            return np.array(im.convert("RGB")).transpose(2, 0, 1)

    return decode


def pillow(exif: bool) -> Callable[[Path], object]:
    import torch

    decode_array = pillow_numpy(exif)
    return lambda path: torch.from_numpy(decode_array(path))


def torchvision(exif: bool) -> Callable[[Path], object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_image, read_file

    def decode(path: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return decode_image(read_file(str(path)), mode=ImageReadMode.RGB,
                                apply_exif_orientation=exif)

    return decode


def torchcodec(exif: bool) -> Callable[[Path], object]:
    from torchcodec.decoders import decode_image

    def decode(path: Path):  # applies the EXIF orientation itself (JPEG, PNG), always
        return decode_image(path, mode="RGB")

    return decode


def graft_reader(exif: bool) -> Callable[[Path], object]:
    """graft's own reader (TorchCodec underneath; always applies the orientation)."""
    from graft.data.images import read_rgb

    return read_rgb


DECODERS = {"graft": graft_reader, "opencv": opencv, "pillow": pillow, "torchvision": torchvision,
            "torchcodec": torchcodec, "pillow-numpy": pillow_numpy}


def best_rates(decoders: dict[Any, Callable[[Path], object]], path: Path, seconds: float,
               rounds: int) -> dict[Any, float]:
    """Images per CPU second per decoder, the best of ``rounds``. CPU time of this process
    (not wall time) is what is counted, and the decoders take turns in every round, so that
    other processes on a shared machine hit them alike."""
    best = dict.fromkeys(decoders, 0.0)
    for decode in decoders.values():
        decode(path)
    for _ in range(rounds):
        for name, decode in decoders.items():
            n, start = 0, time.process_time()
            while (elapsed := time.process_time() - start) < seconds:
                decode(path)
                n += 1
            best[name] = max(best[name], n / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoders", default="opencv,pillow,torchvision,torchcodec,graft")
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    plain: dict[str, Callable[[Path], object]] = {}
    with_exif: dict[str, Callable[[Path], object]] = {}
    for name in args.decoders.split(","):
        try:
            plain[name], with_exif[name] = DECODERS[name](False), DECODERS[name](True)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
    rows = {name: {"decoder": name} for name in plain}
    with tempfile.TemporaryDirectory() as tmp:
        files = write_images(Path(tmp))
        rotated = files.pop("jpeg 640x480 EXIF-rotated")
        for label, path in files.items():
            for name, value in best_rates(with_exif, path, args.seconds, args.rounds).items():
                rows[name][label] = round(value, 1)
            print(label, "done", flush=True)
        both = {**{(n, "applied"): d for n, d in with_exif.items()},
                **{(n, "ignored"): d for n, d in plain.items()}}  # interleaved, alike
        rates = best_rates(both, rotated, args.seconds, args.rounds)
        for name in plain:
            rows[name]["EXIF jpeg 640x480, applied"] = round(rates[name, "applied"], 1)
            rows[name]["same, ignored"] = round(rates[name, "ignored"], 1)
            rows[name]["shape applied"] = "x".join(map(str, with_exif[name](rotated).shape))
    table = list(rows.values())
    columns = [k for k in table[0] if k != "decoder"] if table else []
    print(f"\n{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          "one thread, images per CPU second (higher is better)\n")
    print("| decoder | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for row in table:
        print(f"| {row['decoder']} | " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
