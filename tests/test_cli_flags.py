"""Issue 17: flags mean the same across tasks (TLT's names where TLT has them), and every
``--set`` example in a command's help names a key of that command's own spec."""

from __future__ import annotations

import json
import re

import pytest

from graft import tasks
from graft.cli import main
from graft.spec_doc import walk

# command -> the spec its --set overrides
SET_SPECS = [("classification", "train", "train"), ("classification", "evaluate", "train"),
             ("bpnet", "train", "train"), ("bpnet", "evaluate", "inference"),
             ("bpnet", "inference", "inference"), ("detectnet_v2", "train", "train"),
             ("detectnet_v2", "evaluate", "train"), ("detectnet_v2", "inference", "train"),
             ("detectnet_v2", "check_labels", "train")]


def help_text(capsys, *command: str) -> str:
    assert main([*command, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("task", "command", "kind"), SET_SPECS)
def test_set_examples_name_keys_of_the_commands_spec(task, command, kind, capsys):
    text = help_text(capsys, task, command)
    examples = re.findall(r"--set ([\w.]+)=", text)
    assert examples, text
    keys = [re.compile(re.escape(f.path).replace("NAME", r"\w+") + "$")
            for _, _, docs in walk(tasks.get(task).spec_models()[kind]) for f in docs]
    for example in examples:  # a class-keyed section (NAME) takes any class name
        assert any(k.match(example) for k in keys), (example, kind)


def test_dash_i_is_tlts_per_task(capsys):
    assert "-i, --inference_spec" in help_text(capsys, "bpnet", "evaluate")
    assert "-i, --inference_spec" in help_text(capsys, "bpnet", "inference")
    text = help_text(capsys, "classification", "inference")
    assert "-i, --image, --input" in text and "-d, --image_dir" in text


def test_sample_calibration_takes_tlts_flags(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    for i in range(3):
        (images / f"{i}.jpg").write_bytes(b"jpeg")
        coco["images"].append({"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 8})
        for k in range(i):  # image i shows i persons with 2 keypoints each
            coco["annotations"].append({"id": 10 * i + k, "image_id": i, "category_id": 1,
                                        "num_keypoints": 2, "keypoints": [1, 1, 2] * 2 + [0] * 45,
                                        "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0})
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(coco))
    out = tmp_path / "calib"
    assert main(["bpnet", "sample_calibration", "-a", str(ann), "--image_root_dir", str(images),
                 "--output_image_root_dir", str(out), "-n", "1", "-pth", "2", "-kth", "2"]) == 0
    assert [p.name for p in out.glob("*.jpg")] == ["2.jpg"]
    capsys.readouterr()
    assert main(["bpnet", "sample_calibration", "-a", str(ann), "-i", str(images), "-o",
                 str(tmp_path / "c2"), "-n", "1", "--min_persons_per_image", "1",
                 "--min_kpts_per_person", "3"]) == 2  # nobody has 3 labeled joints
    assert "fewer than the 1 asked for" in capsys.readouterr().err


def test_classification_inference_takes_one_of_i_and_d(tmp_path, capsys):
    argv = ["classification", "inference", "-m", str(tmp_path / "m.graft"), "-r",
            str(tmp_path / "r")]
    assert main(argv) == 2
    assert main([*argv, "-i", str(tmp_path), "-d", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("pass exactly one of them") == 2
