"""``graft classification inference`` writes each image with its label and score drawn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from graft.cli import main


def test_inference_writes_labeled_images(untrained_model, shapes_dir, tmp_path, capsys):
    images = tmp_path / "in"
    shutil.copytree(shapes_dir / "val", images)
    sources = sorted(images.rglob("*.jpg"))
    twin = images / "twin"
    twin.mkdir()
    shutil.copy(sources[0], twin / sources[0].name)  # same stem as another input
    out = tmp_path / "out"
    assert main(["classification", "inference", "-m", str(untrained_model), "-d", str(images),
                 "-r", str(out)]) == 0
    assert f"labeled images in {out / 'images'}" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert len(results) == len(sources) + 1
    rendered = [r["rendered"] for r in results]
    assert len(set(rendered)) == len(rendered)
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(
        Path(r).name for r in rendered)
    for record in results:
        original = np.asarray(Image.open(record["image"]).convert("RGB"))
        drawn = np.asarray(Image.open(out / record["rendered"]))
        assert drawn.shape == original.shape
        band = drawn[:3, :3]
        assert (band == 0).all()  # the black band at the top left
        changed = np.abs(drawn.astype(int) - original.astype(int)).max(axis=2) > 0
        rows = np.flatnonzero(changed.any(axis=1))
        assert rows.max() <= drawn.shape[0] // 2  # only the band changed
        assert (drawn[: rows.max() + 1].min(axis=2) > 200).any()  # white text on it


def test_no_images_skips_them(untrained_model, shapes_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["classification", "inference", "-m", str(untrained_model), "-i",
                 str(shapes_dir / "val" / "circle"), "-r", str(out), "--no_images"]) == 0
    assert not (out / "images").exists()
    assert "rendered" not in json.loads((out / "results.json").read_text())[0]
    capsys.readouterr()
