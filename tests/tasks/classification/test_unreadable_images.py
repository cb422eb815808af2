"""Issue 17: 16-bit PNGs mixed with 8-bit images, and unreadable files in an inference folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from graft.cli import main
from graft.tasks.classification.data import eval_transform, image_folder


def add_16_bit_png(folder, name="wide.png"):
    wide = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(wide).save(folder / name)
    return folder / name


def test_16_bit_png_batches_with_8_bit_images(shapes_dir, tmp_path):
    data = tmp_path / "train"
    shutil.copytree(shapes_dir / "train", data)
    add_16_bit_png(data / "circle")
    dataset = image_folder(data, eval_transform((32, 32)), "train")
    batches = list(DataLoader(dataset, batch_size=len(dataset)))
    images = batches[0][0]
    assert images.dtype == torch.uint8 and images.shape == (len(dataset), 3, 32, 32)


def test_inference_skips_unreadable_images(untrained_model, shapes_dir, tmp_path, capsys):
    images = tmp_path / "images"
    shutil.copytree(shapes_dir / "val" / "square", images)
    good = sorted(images.iterdir())
    (images / "empty.png").write_bytes(b"")
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    add_16_bit_png(images)
    out = tmp_path / "out"
    assert main(["classification", "inference", "-m", str(untrained_model), "-i", str(images),
                 "-r", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(good) + 1} images classified, 2 unreadable images skipped" in printed
    results = json.loads((out / "results.json").read_text())
    assert len(results) == len(good) + 3
    failed = {Path(r["image"]).name: r for r in results if r.get("error")}
    assert set(failed) == {"empty.png", "broken.jpg"}
    assert "empty" in failed["empty.png"]["error"] and failed["empty.png"]["label"] is None
    rows = (out / "result.csv").read_text().splitlines()
    assert rows[0] == "image,label,score" and len(rows) == len(results) + 1
    assert any(r.endswith("empty.png,,") for r in rows)


def test_inference_fails_only_when_nothing_is_readable(untrained_model, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"")
    (images / "b.png").write_bytes(b"junk")
    out = tmp_path / "out"
    assert main(["classification", "inference", "-m", str(untrained_model), "-i", str(images),
                 "-r", str(out)]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 images could be read" in err and len(err.strip().splitlines()) == 1
    assert len(json.loads((out / "results.json").read_text())) == 2  # the list is still written
