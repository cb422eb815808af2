"""``graft synth detection``: deterministic files, valid KITTI/COCO labels and specs, two
domains that differ, one-line refusals, and labels that survive DetectNet_v2's round trip."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from graft.data.coco import load_coco
from graft.data.kitti import pair_images_and_labels, read_labels
from graft.data.synthetic import parse_range, parse_wxh
from graft.errors import UserError
from graft.metrics.detection import GroundTruth
from graft.spec import load_spec
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.encoder import TargetEncoder
from graft.tasks.detectnet_v2.roundtrip import round_trip
from graft.tasks.detectnet_v2.spec import DetectNetSpec
from graft.tasks.detectnet_v2.synth import make_detection_dataset, parse_classes, synth_detection
from graft.tasks.detectnet_v2.synth_scene import render_image

SIZE = (128, 160)  # height, width: not square, so width and height cannot be swapped unseen
CLASSES = ["airliner", "propeller", "fighter"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "planes"
    make_detection_dataset(out, images=24, size=SIZE, domain="both", seed=3,
                           object_size=(20, 60), progress=False)
    return out


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _truths(split: Path, classes: list[str]) -> list[GroundTruth]:
    truths = []
    for _, label in pair_images_and_labels(split / "images", split / "labels"):
        objs = read_labels(label).objects
        keep = [o for o in objs if not o.is_dontcare]
        truths.append(GroundTruth.of([o.box for o in keep], [classes.index(o.type) for o in keep],
                                     regions=[o.box for o in objs if o.is_dontcare]))
    return truths


def test_the_same_seed_gives_the_same_files(data: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    make_detection_dataset(again, images=24, size=SIZE, domain="both", seed=3,
                           object_size=(20, 60), progress=False)
    assert _digest(again) == _digest(data)
    other = tmp_path / "other"
    make_detection_dataset(other, images=24, size=SIZE, domain="synthetic", seed=4,
                           object_size=(20, 60), progress=False)
    name = "synthetic/train/images/synthetic_00000.jpg"
    assert _digest(other)[name] != _digest(data)[name]


def test_kitti_labels_are_valid_and_agree_with_coco(data: Path) -> None:
    readme = json.loads((data / "README.json").read_text())
    assert readme["classes"] == CLASSES and set(readme["domains"]) == {"synthetic", "real"}
    total_dontcare = 0
    for domain in ("synthetic", "real"):
        for split in ("train", "val"):
            folder = data / domain / split
            pairs = pair_images_and_labels(folder / "images", folder / "labels")
            info = readme["domains"][domain][split]
            assert len(pairs) == info["images"] > 0
            coco = load_coco(data / domain / f"{split}.json")
            assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == CLASSES
            counts = dict.fromkeys(CLASSES, 0)
            for image, label in pairs:
                assert cv2.imread(str(image)).shape == (*SIZE, 3)
                labels = read_labels(label, scores=False)
                assert not labels.warnings
                img_id = next(i["id"] for i in coco.imgs.values()
                              if i["file_name"] == image.name)
                anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
                assert len(anns) == len(labels.objects)
                for obj, ann in zip(labels.objects, anns, strict=True):
                    x1, y1, x2, y2 = obj.box
                    assert 0 <= x1 < x2 <= SIZE[1] and 0 <= y1 < y2 <= SIZE[0]
                    assert np.allclose(ann["bbox"], [x1, y1, x2 - x1, y2 - y1], atol=0.02)
                    assert ann["iscrowd"] == int(obj.is_dontcare)
                    assert coco.annToMask(ann).sum() > 0
                    if obj.is_dontcare:
                        total_dontcare += 1
                        continue
                    assert obj.type in CLASSES and 0 <= obj.truncated <= 0.5
                    assert CLASSES[ann["category_id"] - 1] == obj.type
                    counts[obj.type] += 1
            assert counts == info["objects"]
    assert sum(sum(readme["domains"][d]["train"]["objects"].values())
               for d in ("synthetic", "real")) > 40
    del total_dontcare  # some seeds have none; truncation is tested below


def test_objects_at_the_border_are_truncated_or_dontcare() -> None:
    seen_truncated = seen_dontcare = False
    for i in range(60):
        _, objs = render_image(np.random.default_rng([0, 0, i]), (128, 128), CLASSES,
                               object_size=(30, 90))
        for o in objs:
            x1, y1, x2, y2 = o.box
            at_border = x1 <= 0.01 or y1 <= 0.01 or x2 >= 127.99 or y2 >= 127.99
            assert (o.truncation > 0) == at_border or o.truncation < 0.01
            seen_truncated |= 0 < o.truncation <= 0.5 and not o.dontcare
            seen_dontcare |= o.dontcare
    assert seen_truncated and seen_dontcare


def test_the_specs_load_and_name_the_generated_folders(data: Path) -> None:
    spec = load_spec(data / "real" / "spec.yaml", DetectNetSpec)
    assert spec.class_names == CLASSES and spec.input_size == SIZE
    ds = spec.dataset_config
    assert Path(ds.data_sources[0].label_directory_path) == data / "real" / "train" / "labels"
    val = ds.validation_data_source
    assert val is not None and Path(val.image_directory_path) == data / "real" / "val" / "images"
    only_data = load_spec(data / "synthetic" / "dataset_spec.yaml", DetectNetSpec)
    assert only_data.dataset_config.class_names == CLASSES


def _stats(folder: Path) -> tuple[float, float]:
    """Mean saturation and mean high-frequency energy (image minus its blur)."""
    sat, sharp = [], []
    for f in sorted(folder.glob("*.jpg")):
        img = cv2.imread(str(f))
        sat.append(cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[..., 1].mean())
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        sharp.append(np.abs(cv2.Laplacian(cv2.GaussianBlur(grey, (0, 0), 0.7), cv2.CV_32F))
                     .mean())
    return float(np.mean(sat)), float(np.mean(sharp))


def test_the_two_domains_differ(data: Path) -> None:
    syn_sat, syn_sharp = _stats(data / "synthetic" / "train" / "images")
    real_sat, real_sharp = _stats(data / "real" / "train" / "images")
    assert real_sat < 0.8 * syn_sat  # desaturated
    assert real_sharp < 0.8 * syn_sharp  # blurred


def test_labels_round_trip_through_detectnet(data: Path) -> None:
    spec = load_spec(data / "synthetic" / "spec.yaml", DetectNetSpec)
    truths = _truths(data / "synthetic" / "train", spec.class_names)
    truths += _truths(data / "synthetic" / "val", spec.class_names)
    result = round_trip(TargetEncoder.from_spec(spec), DetectionDecoder.from_spec(spec), truths,
                        spec.class_names, rules=spec.class_rules())
    assert result.mean_ap >= 0.97, result.class_rows()
    assert all(c.ground_truth >= 10 for c in result.classes)


def _cli(args: list[str]):
    app = typer.Typer()
    app.command()(synth_detection)
    return CliRunner().invoke(app, args)


def test_a_full_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty.*--force"):
        make_detection_dataset(out, images=4, size=(64, 64), object_size=(16, 40),
                               progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    result = _cli(["-o", str(out), "--images", "4", "--size", "64x64", "--object-size",
                   "16,40", "--domain", "real", "--force", "--classes", "airliner,helicopter"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.json", "real"]
    readme = json.loads((out / "README.json").read_text())
    assert readme["classes"] == ["airliner", "helicopter"]


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    for call in (lambda: parse_wxh("250x256", "--size", multiple=16),
                 lambda: parse_wxh("big", "--size"),
                 lambda: make_detection_dataset(tmp_path / "a", size=(256, 250)),
                 lambda: make_detection_dataset(tmp_path / "b", size=(64, 64)),  # 24..80 px
                 lambda: make_detection_dataset(tmp_path / "c", domain="satellite"),
                 lambda: parse_range("80,24", "--object-size", 1),
                 lambda: parse_classes("5"), lambda: parse_classes("airliner,blimp")):
        with pytest.raises(UserError) as info:
            call()
        assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="multiple of 16.*use 240 or 256"):
        parse_wxh("256x250", multiple=16)
    assert parse_wxh("320x256", multiple=16) == (256, 320)
    assert not any(tmp_path.iterdir())


def test_help_has_an_example() -> None:
    result = _cli(["--help"])
    assert result.exit_code == 0
    assert "graft synth detection -o" in " ".join(result.output.split())
