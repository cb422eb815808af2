from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from graft.tasks.bpnet.check_labels import (
    check_labels,
    load_dataloader_spec,
    render_targets,
    round_trip_ap,
    round_trip_predictions,
    summary_line,
)
from graft.tasks.bpnet.convert import build_index
from graft.tasks.bpnet.dataset_spec import load_dataset_spec
from graft.tasks.bpnet.encoder import TargetEncoder

pytest.importorskip("graft.tasks.bpnet.decoder")
pytest.importorskip("graft.tasks.bpnet.metrics")

SPEC_YAML = """
trainer: {epochs: 1}
dataloader:
  image_config: {image_dims: {height: 96, width: 96}}
  dataset_config: {dataset_spec: ignored.json}
"""


def test_check_labels_round_trip_on_coco_fixture(coco_small, tmp_path):
    spec = tmp_path / "train.yaml"
    spec.write_text(SPEC_YAML)
    result = check_labels(coco_small, spec, tmp_path / "out", num_images=2, progress=False)
    ap = result["round_trip_ap"]
    assert ap["AP"] >= 0.9 and ap["AR"] >= 0.9  # perfect targets decode to the labels
    assert result["images"] == 4 and result["persons"] == 7
    saved = json.loads((tmp_path / "out" / "check_labels.json").read_text())
    assert saved["round_trip_ap"]["AP"] == ap["AP"]
    assert len(result["pictures"]) == 2
    picture = cv2.imread(result["pictures"][0])
    assert picture.shape == (96, 4 * 96, 3)  # four panels at the training input size
    assert "round-trip AP" in summary_line(result)


def test_round_trip_at_inference_height(coco_small):
    index = build_index(load_dataset_spec(coco_small), "test", progress=False)
    preds = round_trip_predictions(index, index.pose_config, 8, height=368, progress=False)
    assert set(preds) == {int(i) for i in index.image_ids}
    assert round_trip_ap(index, index.pose_config, preds)["AP"] >= 0.9


def test_custom_skeleton_end_to_end(custom5, tmp_path):
    spec = load_dataset_spec(custom5)
    index = build_index(spec, "train", progress=False)
    pose = index.pose_config
    assert pose.num_joints == 5 and pose.flip_permutation() == [0, 2, 1, 4, 3]
    enc = TargetEncoder.from_config(pose, (240, 320), 8)
    heat, paf = enc(index.keypoints[index.persons(0)])
    assert heat.shape == (6, 30, 40) and paf.shape == (8, 30, 40)
    result = check_labels(custom5, None, tmp_path / "c5", num_images=1, progress=False)
    assert result["round_trip_ap"]["AP"] >= 0.9
    assert result["persons"] == 3


def test_render_targets_panels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    kps = np.array([[[10, 10, 2], [50, 40, 1]]], dtype=np.float32)
    enc = TargetEncoder([(0, 1)], 2, (64, 64), 8)
    heat, paf = enc(kps)
    mask = np.ones((8, 8), np.float32)
    mask[:4] = 0
    out = render_targets(image, kps, heat, paf, mask, [(0, 1)])
    assert out.shape == (64, 256, 3) and out.dtype == np.uint8
    mask_panel = out[:, 192:]
    assert mask_panel[40:, :, 0].mean() < mask_panel[:20, :, 0].mean() + 1  # red tint on top


def test_dataloader_spec_from_train_spec(tmp_path):
    spec = tmp_path / "t.yaml"
    spec.write_text(SPEC_YAML)
    dl = load_dataloader_spec(spec, None)
    assert dl.image_config.input_size == (96, 96)
    assert load_dataloader_spec(None, "ds.json").image_config.input_size == (256, 256)
