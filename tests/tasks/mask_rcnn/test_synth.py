"""``graft synth instances``: valid COCO with visible-part polygons, a shuffled split."""

import json
from pathlib import Path

import numpy as np

from graft.data.coco import annotation_mask, load_coco
from graft.tasks.mask_rcnn.synth import CLASSES, make_instances_dataset, render_scene


def test_dataset_is_valid_coco_with_disjoint_splits(towers: Path):
    train, val = load_coco(towers / "train.json"), load_coco(towers / "val.json")
    assert [c["name"] for c in train.dataset["categories"]] == list(CLASSES)
    assert not set(train.imgs) & set(val.imgs)
    assert len(train.imgs) == 6 and len(val.imgs) == 2
    assert sorted(set(train.imgs) | set(val.imgs)) == list(range(1, 9))
    assert (towers / "labels.txt").read_text().splitlines() == list(CLASSES)
    for ann in train.dataset["annotations"]:
        mask = annotation_mask(train, ann, train.imgs[ann["image_id"]])
        assert mask.sum() > 0 and ann["area"] >= mask.sum() * 0.5


def test_visible_masks_do_not_overlap_and_same_seed_same_scene():
    rng = np.random.default_rng(5)
    image, objects = render_scene(rng, 96, 96)
    image2, objects2 = render_scene(np.random.default_rng(5), 96, 96)
    assert np.array_equal(image, image2) and len(objects) == len(objects2)
    if len(objects) > 1:
        stacked = np.stack([m for _, m in objects]).astype(int)
        assert stacked.sum(0).max() == 1  # occluded parts belong to the front object only


def test_split_is_shuffled_not_the_first_images(tmp_path: Path):
    make_instances_dataset(tmp_path / "d", images=30, hw=(64, 64), seed=0, val_fraction=0.2)
    val_ids = [im["id"] for im in json.loads((tmp_path / "d" / "val.json").read_text())["images"]]
    assert len(val_ids) == 6 and val_ids != list(range(1, 7)) and val_ids != list(range(25, 31))


def test_cli_refuses_sizes_off_the_grid(tmp_path: Path, capsys):
    from graft.cli import main

    assert main(["synth", "instances", "-o", str(tmp_path / "x"), "--size", "100x100"]) == 2
    assert "--size" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["synth", "instances", "-o", str(tmp_path / "y"), "--size", "64x64",
                 "--images", "3"]) == 0
    from graft.spec import load_spec
    from graft.tasks.mask_rcnn.spec import MaskRCNNSpec

    spec = load_spec(tmp_path / "y" / "spec.yaml", MaskRCNNSpec)  # the written recipe loads
    assert Path(spec.data_config.train_annotations) == tmp_path / "y" / "train.json"
