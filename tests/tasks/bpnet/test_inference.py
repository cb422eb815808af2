"""Inference chain with an oracle network (it renders the true maps for whatever input size it
gets): preprocessing modes, multi-scale fusion and the way back to image pixels must return the
people where they are in the image."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from graft.errors import UserError
from graft.tasks.bpnet.encoder import TargetEncoder
from graft.tasks.bpnet.inference import PoseEstimator, list_inputs, run_inference
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.preprocess import plan_input, to_image_coords
from graft.tasks.bpnet.spec import InferenceSpec

POSE = PoseConfig()
_STANDING = np.array([
    (0.0, -0.12), (0.0, 0.0), (-0.12, 0.01), (-0.16, 0.2), (-0.18, 0.38), (0.12, 0.01),
    (0.16, 0.2), (0.18, 0.38), (-0.07, 0.38), (-0.08, 0.62), (-0.08, 0.86), (0.07, 0.38),
    (0.08, 0.62), (0.08, 0.86), (-0.04, -0.16), (0.04, -0.16), (-0.08, -0.14), (0.08, -0.14),
])
IMAGE_SIZE = (120, 180)  # H, W
PEOPLE = np.stack([np.c_[_STANDING * 90 + (45, 25), np.full(18, 2.0)],
                   np.c_[_STANDING * 80 + (125, 20), np.full(18, 2.0)]]).astype(np.float32)


class OracleNet(nn.Module):
    """Returns the label processor's maps of PEOPLE as seen through ``spec``'s preprocessing."""

    num_stages = 1

    def __init__(self, spec: InferenceSpec) -> None:
        super().__init__()
        self.spec = spec
        self.output_stage = None
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor):
        size = tuple(x.shape[-2:])
        geometry = next(g for s in self.spec.effective_scales
                        for g in [plan_input(IMAGE_SIZE, self.spec.input_shape,
                                             self.spec.keep_aspect_ratio_mode, 8, s)]
                        if g.net_size == size)
        ry, rx = geometry.ratio
        kps = PEOPLE.copy()
        kps[..., 0] = (kps[..., 0] + 0.5) * rx - 0.5
        kps[..., 1] = (kps[..., 1] + 0.5) * ry - 0.5
        heat, paf = TargetEncoder(POSE.limbs, POSE.num_joints, size, 8)(kps)
        b = x.shape[0]
        return (torch.from_numpy(paf)[None].expand(b, -1, -1, -1),
                torch.from_numpy(heat)[None].expand(b, -1, -1, -1))


def oracle_model(spec: InferenceSpec) -> SimpleNamespace:
    manifest = {"task": "bpnet", "architecture": {"pose_config": POSE.model_dump(mode="json"),
                                                  "stride": 8},
                "input": {"normalization": {"scale": 1 / 256, "mean": [0.5] * 3,
                                            "std": [1.0] * 3, "channel_order": "RGB"},
                          "stride": 8}}
    return SimpleNamespace(module=OracleNet(spec), manifest=manifest)


def blank() -> np.ndarray:
    return np.zeros((*IMAGE_SIZE, 3), np.uint8)


def assert_found_people(found: list[dict], tol: float) -> None:
    assert len(found) == 2
    for truth in PEOPLE:
        err = min(np.abs(p["keypoints"][:, :2] - truth[:, :2]).max() for p in found)
        assert err < tol, f"max joint error {err:.2f} px"


@pytest.mark.parametrize(("mode", "shape", "scales"), [
    ("adjust_network_input", (240, 240), None),
    ("pad_image_input", (160, 160), None),
    ("none", (144, 200), None),
    ("pad_image_input", (128, 128), [1.0, 1.5]),
])
def test_people_come_back_in_image_pixels(mode: str, shape: tuple[int, int],
                                          scales: list[float] | None) -> None:
    spec = InferenceSpec(input_shape=shape, keep_aspect_ratio_mode=mode,
                         multi_scale_inference=scales is not None, scales=scales or [1.0])
    found = PoseEstimator(oracle_model(spec), spec, device="cpu")(blank())
    assert_found_people(found, tol=1.5)


def test_batches_give_the_same_people_as_single_images() -> None:
    spec = InferenceSpec(input_shape=(160, 160), keep_aspect_ratio_mode="pad_image_input",
                         batch_size=2)
    est = PoseEstimator(oracle_model(spec), spec, device="cpu")
    many = list(est.predict_many([blank()] * 3))
    assert len(many) == 3
    for people in many:
        assert_found_people(people, tol=1.5)


def test_geometry_plans() -> None:
    g = plan_input((100, 150), (256, 256), "adjust_network_input", 8)
    assert g.net_size == (256, 384) and g.content_size == g.net_size
    g = plan_input((100, 150), (256, 256), "pad_image_input", 8)
    assert g.net_size == (256, 256) and g.content_size == (171, 256)
    g = plan_input((100, 150), (256, 256), "none", 8, scale=0.5)
    assert g.net_size == (128, 128)
    kps = np.array([[[10.0, 20.0, 0.9], [5.0, 5.0, 0.0]]])
    back = to_image_coords(kps, plan_input((100, 152), (200, 304), "none"))
    np.testing.assert_allclose(back[0, 0], [4.75, 9.75, 0.9])
    np.testing.assert_array_equal(back[0, 1], 0)


def test_output_stage_beyond_the_model_is_an_error() -> None:
    spec = InferenceSpec(output_stage_to_use=2)
    with pytest.raises(UserError, match="output_stage_to_use"):
        PoseEstimator(oracle_model(spec), spec, device="cpu")


def test_video_input_writes_detections_and_an_annotated_video(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0,
                             (IMAGE_SIZE[1], IMAGE_SIZE[0]))
    for _ in range(3):
        writer.write(blank())
    writer.release()
    spec = InferenceSpec(input_shape=(160, 160), keep_aspect_ratio_mode="pad_image_input")
    out = tmp_path / "out"
    r = run_inference(spec, oracle_model(spec), "video", video, out, dump_visualizations=True,
                      device="cpu", progress=False)
    assert r["frames"] == 3 and r["persons"] == 6
    det = json.loads((out / "detections.json").read_text())
    assert len(det["frames"]) == 3 and len(det["frames"][0]["persons"]) == 2
    assert len(det["frames"][0]["persons"][0]["keypoints"]) == 18
    annotated = cv2.VideoCapture(r["visualizations"][0])
    frames = 0
    while annotated.read()[0]:
        frames += 1
    assert frames == 3


def test_image_dir_and_json_inputs(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg"):
        cv2.imwrite(str(tmp_path / name), blank())
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_inputs("dir", tmp_path)] == ["a.jpg", "b.png"]
    (tmp_path / "list.json").write_text(json.dumps(["a.jpg", str(tmp_path / "b.png")]))
    assert [p.name for p in list_inputs("json", tmp_path / "list.json")] == ["a.jpg", "b.png"]
    with pytest.raises(UserError, match="no images"):
        list_inputs("dir", _empty(tmp_path))
    with pytest.raises(UserError, match="input_type"):
        list_inputs("webcam", tmp_path)
    spec = InferenceSpec(input_shape=(160, 160), keep_aspect_ratio_mode="pad_image_input")
    r = run_inference(spec, oracle_model(spec), "dir", tmp_path, tmp_path / "out",
                      dump_visualizations=True, device="cpu", progress=False)
    assert r["frames"] == 2 and len(r["visualizations"]) == 2
    drawn = cv2.imread(r["visualizations"][0])
    assert drawn.shape == (*IMAGE_SIZE, 3) and drawn.max() > 0


def _empty(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d
