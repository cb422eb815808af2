"""``graft model info``: verifies the file like ``load`` and reports what it holds."""

from __future__ import annotations

import torch

from graft import archive
from graft.cli import main

MANIFEST = {"task": "classification", "architecture": {"arch": "resnet18", "num_classes": 2},
            "classes": ["cat", "dog"], "input": {"channels": 3, "height": 8, "width": 8}}


def test_info_shows_a_sound_model(tmp_path, capsys) -> None:
    path = tmp_path / "m.graft"
    archive.save(path, {"w": torch.ones(1000)}, MANIFEST)
    assert main(["model", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cat, dog" in out and "pruned layers" in out


def test_info_refuses_a_truncated_model(tmp_path, capsys) -> None:
    path = tmp_path / "m.graft"
    archive.save(path, {"w": torch.ones(1000)}, MANIFEST)
    path.write_bytes(path.read_bytes()[:-100])  # a download cut short: the header is intact
    assert main(["model", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "corrupt weights" in err or "integrity check" in err
    assert "Traceback" not in err
