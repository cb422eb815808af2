"""Clips of ``graft synth hands``: the video decodes, the truth has a line per frame, hands keep
their ids and lanes, move, change gesture, and are drawn where their boxes say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.tasks.gesturenet.clips import render_clip_frame, start_hands, write_clip
from graft.tasks.gesturenet.hands import User
from graft.tasks.gesturenet.synth import SUPERSAMPLE, background, make_hands_dataset

SIZE = (192, 144)


def _truth(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_clip_is_a_video_with_truth_per_frame(tmp_path):
    import av

    users = [User.make(5, 0)]
    info = write_clip(tmp_path / "c.mp4", tmp_path / "c.jsonl", users=users, frames=80,
                      size=SIZE, hands=3, seed=[1])
    with av.open(str(tmp_path / "c.mp4")) as box:
        frames = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
    truth = _truth(tmp_path / "c.jsonl")
    assert len(frames) == len(truth) == 80 and frames[0].shape == (144, 192, 3)
    assert [t["frame"] for t in truth] == list(range(80))
    assert info["users"] == ["user05"] and info["hands"] == 3
    boxes = np.array([[h["box"] for h in t["hands"]] for t in truth])  # (frames, hands, 4)
    assert all([h["hand_id"] for h in t["hands"]] == [0, 1, 2] for t in truth)
    assert {h["user_id"] for t in truth for h in t["hands"]} == {"user05"}
    assert (boxes[..., 0] >= 0).all() and (boxes[..., 2] <= SIZE[0]).all()
    assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()
    for a, b in ((0, 1), (1, 2)):  # lanes: hands never overlap
        assert (boxes[:, a, 2] <= boxes[:, b, 0]).all()
    centres = (boxes[..., :2] + boxes[..., 2:]) / 2
    assert (np.abs(centres[-1] - centres[0]).max(1) > 3).all()  # every hand moved
    changes = sum(t["hands"][k]["gesture"] != u["hands"][k]["gesture"]
                  for t, u in zip(truth, truth[1:], strict=False) for k in range(3))
    assert changes >= 3  # gestures held 15-40 frames: each hand changes in 80 frames
    assert sum(info["gestures"].values()) == 240


def test_hands_are_drawn_inside_their_boxes():
    rng = np.random.default_rng(4)
    scene = background(SIZE, rng)
    hands = start_hands(SIZE, [User.make(1, 0)], 2, rng)
    with_hands, truth = render_clip_frame(scene, SIZE, hands, [3])
    empty, _ = render_clip_frame(scene, SIZE, [], [3])
    changed = np.abs(with_hands.astype(int) - empty.astype(int)).max(2) > 40
    inside = np.zeros_like(changed)
    for t in truth:
        x1, y1, x2, y2 = (round(v) for v in t["box"])
        box = changed[y1:y2, x1:x2]
        assert box.mean() > 0.3, "a box with little hand in it"
        inside[y1:y2, x1:x2] = True
    assert changed[inside].sum() > 0.6 * changed.sum()  # the rest is sleeves
    assert scene.size == (SIZE[0] * SUPERSAMPLE, SIZE[1] * SUPERSAMPLE)
    assert Image.fromarray(with_hands).size == SIZE


def test_dataset_writes_clips_of_the_chosen_user_and_a_detector_spec(tmp_path):
    from graft.spec import load_spec
    from graft.tasks.detectnet_v2.spec import DetectNetSpec

    s = make_hands_dataset(tmp_path / "h", frames=4, users=3, val_users=1, size=(320, 240),
                           clips=2, clip_frames=6, max_hands=2)
    assert [c["video"] for c in s["clips"]] == ["clip_000.mp4", "clip_001.mp4"]
    assert all(c["users"] == ["user02"] and 1 <= c["hands"] <= 2 for c in s["clips"])
    assert len(_truth(tmp_path / "h" / "clips" / "clip_001.jsonl")) == 6
    spec = load_spec(tmp_path / "h" / "detector" / "spec.yaml", DetectNetSpec)
    pre = spec.augmentation_config.preprocessing
    assert (pre.output_image_width, pre.output_image_height) == (128, 96)
    source = spec.dataset_config.validation_data_source
    assert (Path(source.image_directory_path) / "000002.png").exists()  # the val user


def test_an_unknown_clip_user_is_refused(tmp_path):
    from graft.errors import UserError

    with pytest.raises(UserError, match="user09"):
        make_hands_dataset(tmp_path / "h", frames=3, users=3, clips=1, clip_users=["user09"])
    assert not (tmp_path / "h").exists()
