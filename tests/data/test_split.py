"""``graft split``: seeded fractions, groups that never straddle parts, every layout."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.cli import main
from graft.data.split import (
    SplitPlan,
    assign,
    keys_for,
    parse_plan,
    split_coco,
    split_folder,
    split_kitti,
)
from graft.errors import UserError


def coco_file(tmp_path: Path, videos: int = 10, frames: int = 10) -> Path:
    images, anns = [], []
    for v in range(videos):
        for f in range(frames):
            image_id = v * frames + f + 1
            images.append({"id": image_id, "file_name": f"vid{v:02d}_{f:04d}.jpg",
                           "height": 10, "width": 10, "video_id": v})
            anns.append({"id": image_id, "image_id": image_id, "category_id": 1,
                         "bbox": [1, 1, 2, 2], "iscrowd": 0})
    path = tmp_path / "all.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "plane"}]}))
    return path


def ids(path: Path) -> set[int]:
    return {im["id"] for im in json.loads(path.read_text())["images"]}


def test_fraction_and_seed(tmp_path):
    source = coco_file(tmp_path)
    plan = SplitPlan(("train10", "rest"), (0.1,), seed=3)
    summary = split_coco(source, tmp_path / "a", plan)
    assert summary["train10"]["images"] == 10 and summary["rest"]["images"] == 90
    small, rest = ids(tmp_path / "a" / "train10.json"), ids(tmp_path / "a" / "rest.json")
    assert small.isdisjoint(rest) and len(small | rest) == 100
    data = json.loads((tmp_path / "a" / "train10.json").read_text())
    assert {a["image_id"] for a in data["annotations"]} == small
    assert data["categories"] == [{"id": 1, "name": "plane"}]
    split_coco(source, tmp_path / "b", plan)
    assert ids(tmp_path / "b" / "train10.json") == small  # same seed, same split
    split_coco(source, tmp_path / "c", SplitPlan(("train10", "rest"), (0.1,), seed=4))
    assert ids(tmp_path / "c" / "train10.json") != small


def test_split_does_not_depend_on_listing_order():
    plan = SplitPlan(("val", "train"), (0.3,), seed=1)
    keys = [f"clip{i % 7}" for i in range(70)]
    parts = assign(keys, plan)
    order = np.random.default_rng(0).permutation(70)
    shuffled = assign([keys[i] for i in order], plan)
    assert all(parts[i] == shuffled[k] for k, i in enumerate(order))


@pytest.mark.parametrize("group", ["field:video_id", r"regex:^(vid\d+)_"])
def test_groups_never_straddle(tmp_path, group):
    summary = split_coco(coco_file(tmp_path), tmp_path / "out",
                         SplitPlan(("val", "test", "train"), (0.2, 0.1), seed=0), group)
    videos = defaultdict(set)
    for part in ("val", "test", "train"):
        for im in json.loads((tmp_path / "out" / f"{part}.json").read_text())["images"]:
            videos[im["video_id"]].add(part)
    assert all(len(parts) == 1 for parts in videos.values())
    assert (summary["val"]["images"], summary["test"]["images"]) == (20, 10)
    assert summary["val"]["groups"] == 2 and summary["train"]["groups"] == 7


def test_a_big_group_drawn_first_does_not_empty_a_part():
    keys = ["a"] * 50 + ["b"] * 30 + [f"s{i}" for i in range(20)]
    sizes = set()
    for seed in range(40):
        parts = assign(keys, SplitPlan(("val", "train"), (0.2,), seed))
        counts = np.bincount(parts, minlength=2)
        assert all(len(set(parts[[k == g for k in keys]])) == 1 for g in ("a", "b"))
        assert counts[0] != 50  # the 50-image group never takes the 20 % part
        sizes.add(int(counts[0]))
    assert min(sizes) > 0 and 20 in sizes


def test_plan_and_group_errors(tmp_path):
    with pytest.raises(UserError, match="need 2 part names"):
        parse_plan("0.1", "a,b,c", 0)
    with pytest.raises(UserError, match="sum to less than 1"):
        parse_plan("0.6,0.5", "a,b,c", 0)
    with pytest.raises(UserError, match="not a number"):
        parse_plan("ten", "a,b", 0)
    with pytest.raises(UserError, match="would be empty"):
        assign(keys_for([Path(f"{i}.jpg") for i in range(5)], None),
               SplitPlan(("val", "train"), (0.05,)))
    with pytest.raises(UserError, match="does not match --group regex"):
        split_coco(coco_file(tmp_path), tmp_path / "x", SplitPlan(("a", "b"), (0.5,)),
                   "regex:^clip")
    with pytest.raises(UserError, match="not a group rule"):
        split_coco(coco_file(tmp_path), tmp_path / "y", SplitPlan(("a", "b"), (0.5,)),
                   "video")
    with pytest.raises(UserError, match="has no field 'user'"):
        split_coco(coco_file(tmp_path), tmp_path / "z", SplitPlan(("a", "b"), (0.5,)),
                   "field:user")
    assert not any((tmp_path / n).exists() for n in "xyz")  # nothing half-written


def kitti_dataset(tmp_path: Path, sequences: int = 4, frames: int = 5) -> tuple[Path, Path]:
    images, labels = tmp_path / "images", tmp_path / "labels"
    for s in range(sequences):
        (images / f"seq{s}").mkdir(parents=True)
        (labels / f"seq{s}").mkdir(parents=True)
        for f in range(frames):
            Image.new("RGB", (8, 8), (s * 40, f * 40, 0)).save(images / f"seq{s}" / f"{f}.png")
            (labels / f"seq{s}" / f"{f}.txt").write_text(
                f"car 0 0 0 1 1 {f + 3} 5 0 0 0 0 0 0 0\n")
    return images, labels


def test_kitti_folders_by_subfolder(tmp_path):
    images, labels = kitti_dataset(tmp_path)
    summary = split_kitti(images, labels, tmp_path / "out", SplitPlan(("val", "train"), (0.25,)),
                          "subfolder", progress=False)
    assert summary == {"val": {"images": 5}, "train": {"images": 15}}
    val_images = sorted((tmp_path / "out" / "val" / "images").rglob("*.png"))
    val_labels = sorted((tmp_path / "out" / "val" / "labels").rglob("*.txt"))
    assert len({p.parent.name for p in val_images}) == 1  # one whole sequence
    assert [p.relative_to(tmp_path / "out" / "val" / "images").with_suffix("")
            for p in val_images] == [
        p.relative_to(tmp_path / "out" / "val" / "labels").with_suffix("") for p in val_labels]
    seq = val_images[0].parent.name
    assert val_labels[0].read_text() == (labels / seq / "0.txt").read_text()
    split_kitti(images, labels, tmp_path / "lists", SplitPlan(("val", "train"), (0.25,)),
                "subfolder", mode="list", progress=False)
    listed = (tmp_path / "lists" / "val.txt").read_text().splitlines()
    assert [Path(p) for p in listed] == [images / seq / f"{f}.png" for f in range(5)]


def test_image_folder_per_class_and_by_user(tmp_path):
    root = tmp_path / "gestures"
    for cls in ("fist", "ok", "stop"):
        (root / cls).mkdir(parents=True)
        for user in range(5):
            for k in range(4):
                Image.new("RGB", (4, 4)).save(root / cls / f"user{user}_{k}.png")
    summary = split_folder(root, tmp_path / "strat", SplitPlan(("val", "train"), (0.25,)),
                           progress=False)
    assert summary["val"]["images"] == 15
    for cls in ("fist", "ok", "stop"):  # every class keeps its share
        assert len(list((tmp_path / "strat" / "val" / cls).iterdir())) == 5
    split_folder(root, tmp_path / "users", SplitPlan(("val", "train"), (0.2,), seed=1),
                 r"regex:^(user\d+)_", mode="link", progress=False)
    users = {part: {p.name.split("_")[0] for p in (tmp_path / "users" / part).rglob("*.png")}
             for part in ("val", "train")}
    assert len(users["val"]) == 1 and users["val"].isdisjoint(users["train"])


def test_cli(tmp_path, capsys):
    source = coco_file(tmp_path)
    out = tmp_path / "split"
    assert main(["split", "coco", "-a", str(source), "-o", str(out), "--fraction", "0.1",
                 "--names", "train10,rest", "--seed", "0", "--group", "field:video_id"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("train10: 10 images, 10 annotations, 1 groups -> ")
    assert printed[0].endswith("train10.json")
    assert main(["split", "coco", "-a", str(source), "-o", str(out), "--fraction", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and len(err.splitlines()) == 1
