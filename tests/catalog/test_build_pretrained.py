"""``graft catalog build-pretrained``: ImageNet models from installed packages, with cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graft.cli import main


def test_build_and_push_lite0(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, catalog = tmp_path / "models", tmp_path / "catalog"
    assert main(["catalog", "build-pretrained", "-o", str(out), "-m", "efficientnet_lite0",
                 "--bench-seconds", "0.2", "--push", str(catalog)]) == 0
    assert "pushed efficientnet_lite0_imagenet:1.0.0" in capsys.readouterr().out
    card = json.loads((catalog / "models" / "efficientnet_lite0_imagenet" / "1.0.0" /
                       "card.json").read_text())
    assert card["task"] == "classification" and card["architecture"] == "efficientnet_lite0"
    assert card["metrics"]["imagenet_top1_published"] == 75.1
    assert card["metrics"]["cpu_images_per_second"] > 0
    assert card["license"] == "Apache-2.0" and len(card["classes"]) == 1000
    assert card["input_size"] == [3, 224, 224] and card["params"] == 4_652_008
    text = (out / "efficientnet_lite0_imagenet.md").read_text()
    assert "75.1 %" in text and "images/s" in text and "579344248a93" in text


def test_unknown_weights_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["catalog", "build-pretrained", "-o", str(tmp_path), "-m", "efficientnet_b9"]) == 2
    err = capsys.readouterr().err
    assert "no packaged weights named efficientnet_b9" in err and len(err.strip().splitlines()) == 1
