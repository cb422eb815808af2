"""The ImageNet EfficientNet-Lite classifier names what real photos show, offline."""

from __future__ import annotations

import csv
from pathlib import Path

import graft
from graft.cli import main
from tests.photos import LABELED


def test_inference_names_the_cat_and_the_espresso(imagenet_lite0: Path, labeled_photos: Path,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "infer"
    assert main(["classification", "inference", "-m", str(imagenet_lite0), "-i",
                 str(labeled_photos), "-r", str(out)]) == 0
    with open(out / "result.csv", newline="") as f:
        rows = {Path(r["image"]).name: r for r in csv.DictReader(f)}
    assert rows.keys() == LABELED.keys()
    for photo, names in LABELED.items():
        assert rows[photo]["label"] in names, (photo, rows[photo])


def test_the_model_carries_the_weights_preprocessing(imagenet_lite0: Path) -> None:
    model = graft.load(imagenet_lite0)
    inp = model.manifest["input"]
    assert (inp["height"], inp["width"]) == (224, 224)
    norm = inp["normalization"]
    assert norm["mean"] == [127.0] * 3 and norm["std"] == [128.0] * 3
    assert inp["resize"] == {"crop_fraction": 224 / 256, "interpolation": "bicubic"}
    assert len(model.classes) == 1000 and model.classes[281] == "tabby"
    assert model.manifest["metrics"]["imagenet_top1_published"] == 75.1


def test_the_python_api_predicts_from_a_path(imagenet_lite0: Path, labeled_photos: Path) -> None:
    model = graft.load(imagenet_lite0)
    (pred,) = model.predict(labeled_photos / "coffee.png", top_k=3)
    assert pred["label"] in LABELED["coffee.png"]
    assert len(pred["top_k"]) == 3
