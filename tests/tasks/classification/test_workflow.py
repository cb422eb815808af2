"""Train -> evaluate -> inference -> model info -> Python API, through the CLI."""

import json
from pathlib import Path

import pytest
import torch
import yaml

import graft
from graft.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shapes_dir) -> tuple[Path, Path]:
    from tests.conftest import classification_spec_dict

    root = tmp_path_factory.mktemp("cls")
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(classification_spec_dict(shapes_dir, validation_interval=1)))
    results = root / "train"
    assert (
        main(
            [
                "classification",
                "train",
                "-e",
                str(spec),
                "-r",
                str(results),
                "-k",
                "k3y",
                "--set",
                "trainer.epochs=2",
            ]
        )
        == 0
    )
    return spec, results


def test_train_writes_everything(trained):
    spec, results = trained
    for name in (
        "model.graft",
        "spec.yaml",
        "run.json",
        "metrics.jsonl",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
    ):
        assert (results / name).exists(), name
    assert list((results / "tensorboard").rglob("events.out.tfevents*"))
    resolved = yaml.safe_load((results / "spec.yaml").read_text())
    assert resolved["trainer"]["epochs"] == 2 and resolved["optimizer"]["momentum"] == 0.9
    rows = [json.loads(line) for line in (results / "metrics.jsonl").read_text().splitlines()]
    assert {r["epoch"] for r in rows if r["phase"] == "train"} == {0, 1}
    assert all("val/acc" in r for r in rows if r["phase"] == "val")
    state = json.loads((results / "run.json").read_text())
    assert state["status"] == "finished" and state["epochs"] == 2


def test_finished_run_is_not_retrained(trained, capsys):
    spec, results = trained
    before = (results / "model.graft").stat().st_mtime_ns
    assert (
        main(
            [
                "classification",
                "train",
                "-e",
                str(spec),
                "-r",
                str(results),
                "-k",
                "k3y",
                "--set",
                "trainer.epochs=2",
            ]
        )
        == 0
    )
    assert "already holds a finished run" in capsys.readouterr().out
    assert (results / "model.graft").stat().st_mtime_ns == before
    # a different spec in the same results dir is refused, naming the difference
    assert (
        main(
            [
                "classification",
                "train",
                "-e",
                str(spec),
                "-r",
                str(results),
                "-k",
                "k3y",
                "--set",
                "trainer.epochs=3",
            ]
        )
        == 2
    )
    assert "trainer.epochs: 2 -> 3" in capsys.readouterr().err


def test_evaluate_outputs(trained, tmp_path, capsys):
    spec, results = trained
    out = tmp_path / "eval"
    assert (
        main(
            [
                "classification",
                "evaluate",
                "-e",
                str(spec),
                "-m",
                str(results / "model.graft"),
                "-k",
                "k3y",
                "-r",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "top-1 accuracy" in printed and "precision" in printed
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["images"] == 9 and 0.0 <= ev["top1_accuracy"] <= 1.0 and "top2_accuracy" in ev
    cm = ev["confusion_matrix"]["matrix"]
    assert sum(map(sum, cm)) == 9 and len(ev["per_class"]) == 3
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "per_class.csv").read_text().startswith("class,precision,recall,f1,support")


def test_inference_outputs_and_python_api(trained, shapes_dir, tmp_path):
    spec, results = trained
    out = tmp_path / "infer"
    assert (
        main(
            [
                "classification",
                "inference",
                "-m",
                str(results / "model.graft"),
                "-k",
                "k3y",
                "-i",
                str(shapes_dir / "val"),
                "-r",
                str(out),
                "--top_k",
                "2",
            ]
        )
        == 0
    )
    rows = (out / "result.csv").read_text().splitlines()
    assert rows[0] == "image,label,score" and len(rows) == 10
    res = json.loads((out / "results.json").read_text())
    assert len(res[0]["top_k"]) == 2 and res[0]["label"] in {"circle", "square", "triangle"}

    model = graft.load(results / "model.graft", key="k3y")
    assert model.classes == ["circle", "square", "triangle"] and model.manifest["params"] > 0
    one = sorted((shapes_dir / "val" / "square").iterdir())[0]
    pred = model.predict([one, torch.zeros(3, 50, 40, dtype=torch.uint8)], top_k=2)
    assert (
        len(pred) == 2
        and pred[0]["label"] == res[[r["image"] for r in res].index(str(one))]["label"]
    )
    copy = tmp_path / "plain.graft"
    model.save(copy)
    assert graft.load(copy).manifest["content_hash"] == model.manifest["content_hash"]


def test_model_info(trained, capsys):
    _, results = trained
    assert main(["model", "info", str(results / "model.graft"), "-k", "k3y"]) == 0
    out = capsys.readouterr().out
    assert "classification" in out and "resnet10" in out and "circle" in out
    assert main(["model", "info", str(results / "model.graft"), "-k", "wrong"]) == 2
    assert "wrong key" in capsys.readouterr().err
