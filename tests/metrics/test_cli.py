"""``graft evaluate coco`` end to end on files the test makes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from graft.cli import main
from graft.metrics.coco import evaluate_coco
from tests.metrics.coco_problem import make_problem


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("coco")
    gt, results = make_problem(2)
    out = {"gt": root / "instances.json"}
    out["gt"].write_text(json.dumps(gt))
    for iou_type, dets in results.items():
        out[iou_type] = root / f"{iou_type}.json"
        out[iou_type].write_text(json.dumps(dets))
    return out


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_writes_numbers_tables_and_curves(files: dict[str, Path], tmp_path: Path, iou_type: str,
                                          capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "eval"
    code = main(["evaluate", "coco", "-a", str(files["gt"]), "-p", str(files[iou_type]),
                 "--iou_type", iou_type, "-r", str(out_dir)])
    assert code == 0
    printed = capsys.readouterr().out
    expected = evaluate_coco(files["gt"], files[iou_type], iou_type)
    assert f"{expected.metrics['AP']:.4f}" in printed and "never seen" in printed
    assert f"results in {out_dir}" in printed
    data = json.loads((out_dir / "results.json").read_text())
    assert data["metrics"] == pytest.approx(expected.metrics)
    rows = list(csv.reader((out_dir / "results.csv").open()))
    assert len(rows) == 1 + len(expected.metrics) and rows[1][0] == "AP"
    per_category = list(csv.DictReader((out_dir / "per_category.csv").open()))
    assert [r["name"] for r in per_category] == ["plane", "car", "ship", "never seen"]
    assert float(per_category[1]["AP"]) == pytest.approx(expected.categories[1].ap, abs=1e-6)
    assert per_category[3]["AP"] == "-1.000000"
    png = (out_dir / "pr_curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    points = list(csv.DictReader((out_dir / "pr_curves.csv").open()))
    assert {p["iou"] for p in points} == {"0.50", "0.50:0.95"}
    assert {p["category"] for p in points} == {"plane", "car", "ship", "all categories"}
    assert not list(out_dir.glob(".*.tmp"))


def test_without_results_dir_prints_only(files: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "coco", "-a", str(files["gt"]), "-p", str(files["bbox"])]) == 0
    assert "AP50" in capsys.readouterr().out and not list(tmp_path.iterdir())


def test_a_malformed_results_file_is_one_line_and_exit_2(files: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    dets = json.loads(files["bbox"].read_text())
    dets[3]["image_id"] = 12345
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dets))
    out_dir = tmp_path / "eval"
    assert main(["evaluate", "coco", "-a", str(files["gt"]), "-p", str(bad), "-r",
                 str(out_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"error: {bad}: results[3] has image_id 12345, which is not an "
                            f"image of {files['gt']} (score results against the ground truth "
                            "of the same images)\n")
    assert not out_dir.exists()


def test_bad_options_exit_2(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    base = ["evaluate", "coco", "-a", str(files["gt"]), "-p", str(files["keypoints"])]
    assert main([*base, "--iou_type", "mask"]) == 2
    assert "unknown IoU type 'mask' (choose one of: bbox, segm, keypoints)" in \
        capsys.readouterr().err
    assert main([*base, "--iou_type", "keypoints", "--kpt_oks_sigmas", "0.1,x"]) == 2
    assert "is not a comma-separated list of numbers" in capsys.readouterr().err
    assert main([*base, "--iou_type", "keypoints", "--kpt_oks_sigmas", "0.1,0.2"]) == 2
    assert "2 OKS sigmas for 17 keypoints per object" in capsys.readouterr().err
    sigmas = ",".join(["0.08"] * 17)
    assert main([*base, "--iou_type", "keypoints", "--kpt_oks_sigmas", sigmas]) == 0


def test_help_has_an_example(capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "coco", "--help"]) == 0
    out = capsys.readouterr().out
    assert ("Example: graft evaluate coco -a instances_val.json -p detections.json --iou_type "
            "bbox -r results/eval\n") in out
    assert "--iou_type, --iou-type" in out
    assert main(["evaluate", "--help"]) == 0
    assert "coco" in capsys.readouterr().out
