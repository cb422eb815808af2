"""Issue 17: every command that writes checks its output location before any work.

An output path under a file, a results folder that is an existing file (or an output file
that is a folder), and a read-only folder each give one line naming the path and the fix,
exit code 2, and leave nothing behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from graft import archive
from graft.cli import main
from graft.data.preprocess import normalization_for
from graft.tasks.classification.model import build_network
from graft.tasks.classification.spec import ClassificationSpec
from graft.tasks.classification.train import manifest_for
from tests.conftest import classification_spec_dict


@pytest.fixture(scope="module")
def ws(tmp_path_factory, shapes_dir) -> Path:
    """Inputs every command accepts: a spec, an untrained model, a table, COCO files."""
    root = tmp_path_factory.mktemp("outputs")
    spec = classification_spec_dict(shapes_dir)
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    parsed = ClassificationSpec.model_validate(spec)
    classes = ["circle", "square", "triangle"]
    net, arch = build_network(parsed.model, classes)
    archive.save(root / "model.graft", net.state_dict(),
                 manifest_for(parsed, arch, classes, normalization_for("torch"), {}))
    (root / "table.csv").write_text("a,b\n1,2\n3,4\n5,7\n")
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 32}],
            "annotations": [], "categories": [{"id": 1, "name": "thing"}]}
    (root / "gt.json").write_text(json.dumps(coco))
    (root / "preds.json").write_text("[]")
    (root / "dataset_spec.json").write_text(json.dumps({"root_directory_path": "."}))
    (root / "dnet.yaml").write_text(yaml.safe_dump({"dataset_config": {
        "data_sources": [{"image_directory_path": "images", "label_directory_path": "labels"}],
        "target_class_mapping": {"car": "car"}}}))
    return root


# (id, argv with {out} and {ws}, kind of output: a folder or a file)
COMMANDS = [
    ("classification train", "classification train -e {ws}/spec.yaml -r {out}", "dir"),
    ("classification evaluate",
     "classification evaluate -e {ws}/spec.yaml -m {ws}/model.graft -r {out}", "dir"),
    ("classification inference",
     "classification inference -m {ws}/model.graft -i {shapes}/val -r {out}", "dir"),
    ("classification export", "classification export -m {ws}/model.graft -o {out}", "file"),
    ("classification prune", "classification prune -m {ws}/model.graft -o {out}", "file"),
    ("bpnet evaluate", "bpnet evaluate -m {ws}/model.graft --dataset_spec "
     "{ws}/dataset_spec.json -r {out}", "dir"),
    ("bpnet inference", "bpnet inference -m {ws}/model.graft --input {shapes}/val -r {out}",
     "dir"),
    ("bpnet export", "bpnet export -m {ws}/model.graft -o {out}", "file"),
    ("bpnet dataset_convert",
     "bpnet dataset_convert -m train -o {out} --dataset_spec {ws}/dataset_spec.json", "dir"),
    ("bpnet check_labels", "bpnet check_labels --dataset_spec {ws}/dataset_spec.json -r {out}",
     "dir"),
    ("bpnet sample_calibration",
     "bpnet sample_calibration -a {ws}/gt.json -i {shapes}/val -o {out} -n 1", "dir"),
    ("detectnet_v2 train", "detectnet_v2 train -e {ws}/dnet.yaml -r {out}", "dir"),
    ("detectnet_v2 evaluate",
     "detectnet_v2 evaluate -e {ws}/dnet.yaml -m {ws}/model.graft -r {out}", "dir"),
    ("detectnet_v2 inference",
     "detectnet_v2 inference -e {ws}/dnet.yaml -m {ws}/model.graft -i {shapes}/val -o {out}",
     "dir"),
    ("detectnet_v2 dataset_convert", "detectnet_v2 dataset_convert -d {ws}/dnet.yaml -o {out}",
     "dir"),
    ("detectnet_v2 check_labels",
     "detectnet_v2 check_labels -d {ws}/dnet.yaml -e {ws}/dnet.yaml -r {out}", "dir"),
    ("detectnet_v2 export", "detectnet_v2 export -m {ws}/model.graft -o {out}", "file"),
    ("gaussrank fit", "gaussrank fit -i {ws}/table.csv -o {out}", "file"),
    ("catalog push", "catalog push {ws}/model.graft --name m --version 1.0.0 -c {out}", "dir"),
    ("catalog pull", "catalog pull m -o {out} -c {ws}", "dir"),
    ("catalog build-pretrained", "catalog build-pretrained -o {out} --bench-seconds 0", "dir"),
    ("synth classification", "synth classification -o {out}", "dir"),
    ("synth pose", "synth pose -o {out}", "dir"),
    ("convert coco2kitti", "convert coco2kitti -a {ws}/gt.json -o {out}", "dir"),
    ("convert kitti2coco", "convert kitti2coco -i {shapes}/val -l {shapes}/val -o {out}",
     "file"),
    ("split folder", "split folder -i {shapes}/train -o {out} -f 0.5", "dir"),
    ("evaluate coco", "evaluate coco -a {ws}/gt.json -p {ws}/preds.json -r {out}", "dir"),
    ("demo", "demo -o {out}", "dir"),
    ("deploy triton", "deploy triton -m {ws}/model.onnx -o {out} --name m", "dir"),
]
IDS = [c[0] for c in COMMANDS]


def run(argv: str, ws: Path, shapes: Path, out: Path, capsys) -> str:
    args = argv.format(ws=ws, shapes=shapes, out=out).split()
    code = main(args)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, (code, captured.out, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(("argv", "kind"), [c[1:] for c in COMMANDS], ids=IDS)
def test_an_output_under_a_file_is_refused_before_any_work(argv, kind, ws, shapes_dir,
                                                           tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("mine\n")
    out = blocker / "sub" / ("out.bin" if kind == "file" else "out")
    err = run(argv, ws, shapes_dir, out, capsys)
    assert str(out) in err and f"{blocker} is a file" in err
    assert blocker.read_text() == "mine\n" and snapshot(tmp_path) == ["afile"]


@pytest.mark.parametrize(("argv", "kind"), [c[1:] for c in COMMANDS], ids=IDS)
def test_an_output_of_the_wrong_kind_is_refused(argv, kind, ws, shapes_dir, tmp_path,
                                                capsys):
    if kind == "dir":
        out = tmp_path / "results"
        out.write_text("mine\n")
        err = run(argv, ws, shapes_dir, out, capsys)
        assert f"{out} is an existing file, not a folder" in err
        assert out.read_text() == "mine\n"
    else:
        out = tmp_path / "out.onnx"
        out.mkdir()
        err = run(argv, ws, shapes_dir, out, capsys)
        assert f"{out} is a folder, not a file" in err
        assert snapshot(tmp_path) == ["out.onnx"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permissions do not bind root (the under-a-file case covers it)")
@pytest.mark.parametrize(("argv", "kind"), [c[1:] for c in COMMANDS], ids=IDS)
def test_a_read_only_folder_is_refused(argv, kind, ws, shapes_dir, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        out = locked / ("out.bin" if kind == "file" else "out")
        err = run(argv, ws, shapes_dir, out, capsys)
        assert str(out) in err and "not writable" in err
        assert snapshot(locked) == []
    finally:
        locked.chmod(0o755)
