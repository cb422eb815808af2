"""``classification train``: seeded runs are identical; a run without val_dir keeps its model."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from graft.api import load
from graft.tasks.classification.train import train
from tests.conftest import assert_seeded_runs_match, classification_spec_dict


def test_the_same_seed_gives_the_same_model(tmp_path: Path, shapes_dir: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(classification_spec_dict(shapes_dir, epochs=1)))
    assert_seeded_runs_match(train, spec, tmp_path)


def test_a_run_without_validation_ends_with_its_last_model(tmp_path: Path,
                                                           shapes_dir: Path) -> None:
    data = classification_spec_dict(shapes_dir, epochs=1)
    del data["data"]["val_dir"]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    summary = train(spec, tmp_path / "r", accelerator="cpu", progress=False)
    assert summary.written and summary.monitor is None
    assert summary.lines()[0].startswith(
        "done: 1 epochs, no validation set, so the last epoch's model")
    state = json.loads((tmp_path / "r" / "run.json").read_text())
    assert state["status"] == "finished" and state["model_checkpoint"] == "last.ckpt"
    assert not (tmp_path / "r" / "checkpoints" / "best.ckpt").exists()
    assert load(tmp_path / "r" / "model.graft").manifest["metrics"] == {"epochs": 1}
