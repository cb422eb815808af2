"""Issue 17: one unreadable image no longer aborts a whole inference folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from graft.errors import UserError
from graft.tasks.bpnet.inference import run_inference
from graft.tasks.bpnet.spec import InferenceSpec
from tests.tasks.bpnet.test_inference import IMAGE_SIZE, assert_found_people, oracle_model

SPEC = InferenceSpec(input_shape=(160, 160), keep_aspect_ratio_mode="pad_image_input")


def test_unreadable_images_are_skipped_and_listed(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.jpg"), np.zeros((*IMAGE_SIZE, 3), np.uint8))
    wide = np.zeros((*IMAGE_SIZE, 3), np.uint16) + 1000  # a 16-bit PNG is read, not skipped
    cv2.imwrite(str(images / "b16.png"), wide)
    (images / "c_empty.jpg").write_bytes(b"")
    (images / "d_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "out"
    r = run_inference(SPEC, oracle_model(SPEC), "dir", images, out, device="cpu",
                      progress=False)
    assert r["frames"] == 2
    det = json.loads((out / "detections.json").read_text())
    assert [Path(f["source"]).name for f in det["frames"]] == ["a.jpg", "b16.png"]
    for frame in det["frames"]:
        assert_found_people([{"keypoints": np.asarray(p["keypoints"])}
                             for p in frame["persons"]], tol=1.5)
    skipped = {Path(s["image"]).name: s["error"] for s in det["skipped"]}
    assert set(skipped) == {"c_empty.jpg", "d_broken.png"} and "empty" in skipped["c_empty.jpg"]
    assert r["skipped"] == det["skipped"]


def test_nothing_readable_is_an_error_after_the_results_are_written(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"")
    (images / "b.jpg").write_bytes(b"\xff\xd8\xffjunk")
    with pytest.raises(UserError, match="none of the 2 images could be read"):
        run_inference(SPEC, oracle_model(SPEC), "dir", images, tmp_path / "out", device="cpu",
                      progress=False)
    assert len(json.loads((tmp_path / "out" / "detections.json").read_text())["skipped"]) == 2
