"""Tiny videos and frame folders made by the tests (no files or downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def frame_of(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A frame whose brightness encodes ``i`` (so a test can tell frames apart)."""
    img = np.full((height, width, 3), (i * 20) % 250, dtype=np.uint8)
    img[:, : width // 4, 0] = 255
    return img


def write_video(path: Path, frames: int, height: int = 48, width: int = 64,
                fps: int = 10) -> Path:
    """An mpeg4 mp4 of ``frames`` frames made with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(frame_of(i, height, width), format="rgb24")
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", 12)


COLOURS = {"red": (230, 30, 30), "green": (30, 200, 40), "blue": (40, 50, 230)}


class BlobDetector:
    """A real (if simple) hand detector for generated frames: the bounding boxes of the
    saturated blobs on a grey background (OpenCV connected components)."""

    backend = "numpy"

    def detect(self, frames):
        import cv2

        out = []
        for img in frames:
            sat = (img.max(2).astype(int) - img.min(2)) > 100
            n, _, stats, _ = cv2.connectedComponentsWithStats(sat.astype(np.uint8))
            boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:n]], float)
            out.append((boxes.reshape(-1, 4), np.full(len(boxes), 0.9)))
        return out


class ColourClassifier:
    """A crop classifier for generated frames: which of red, green, blue the crop's saturated
    pixels are, as probabilities; counts the crops it saw."""

    classes = ["red", "green", "blue"]
    backend = "numpy"

    def __init__(self) -> None:
        self.seen = 0
        self.sizes: list[tuple[int, int]] = []

    def probs(self, crops):
        self.seen += len(crops)
        out = []
        for c in crops:
            self.sizes.append(c.shape[:2])
            sat = (c.max(2).astype(int) - c.min(2)) > 100
            mean = c[sat].mean(0) if sat.any() else np.ones(3)
            e = np.exp((mean - mean.max()) / 20)
            out.append(e / e.sum())
        return np.array(out).reshape(-1, 3)


def blob_frame(i: int, height: int = 96, width: int = 128, small: bool = False):
    """Frame ``i`` of a generated clip: a red blob moving right, a blue one moving left (and
    a tiny green one when ``small``); returns the RGB frame and the ground truth."""
    img = np.full((height, width, 3), 120, np.uint8)
    truth = []
    for name, x, y in (("red", 5 + i % 40, 10), ("blue", 90 - i % 40, 50)):
        img[y:y + 30, x:x + 24] = COLOURS[name]
        truth.append((name, (x, y, x + 24, y + 30)))
    if small:
        img[80:84, 60:64] = COLOURS["green"]
    return img, truth


GESTURES = ["fist", "ok", "stop"]


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny DetectNet_v2 (.graft) that finds one "car" filling any frame, and a tiny
    3-class classifier (.graft + ONNX) leaning to "ok" whose file records a crop rule."""
    import torch

    from graft import archive, tasks
    from graft.api import GraftModel
    from graft.data.preprocess import normalization_for
    from graft.nn.backbones import classifier_name
    from graft.optimize.export import ExportOptions, export_onnx
    from graft.spec import load_spec
    from graft.tasks.classification.model import build_network as build_classifier
    from graft.tasks.classification.spec import ClassificationSpec
    from graft.tasks.classification.train import manifest_for as classifier_manifest
    from graft.tasks.detectnet_v2.spec import DetectNetSpec
    from graft.tasks.detectnet_v2.train import build_network, manifest_for
    from tests.conftest import classification_spec_dict
    from tests.tasks.detectnet_v2.conftest import make_kitti, write_spec

    root = tmp_path_factory.mktemp("app_models")
    make_kitti(root, images=2)
    spec = load_spec(write_spec(root), DetectNetSpec)
    net, arch = build_network(spec)
    with torch.no_grad():  # a detector that sees one "car" (our hand) filling the frame
        net.output_cov.bias[0] = 8.0
        net.output_bbox.bias[:4] = 3.0
    GraftModel(net, manifest_for(spec, arch, {})).save(root / "hands.graft")

    cspec = ClassificationSpec.model_validate(classification_spec_dict(root))
    cnet, carch = build_classifier(cspec.model, GESTURES)
    with torch.no_grad():  # leaning to "ok", but the image still matters
        getattr(cnet, classifier_name(carch["arch"])).bias[:] = torch.tensor([0.0, 3.0, 0.0])
    manifest = classifier_manifest(cspec, carch, GESTURES, normalization_for("torch"), {})
    manifest = manifest.updated(input={**manifest.input.to_dict(),
                                       "crop": {"ratio": 1.3, "square": False}})
    archive.save(root / "gesture.graft", cnet.state_dict(), manifest)
    export_onnx(cnet.eval(), manifest, root / "gesture.onnx",
                ExportOptions(exporter="torchscript"), task=tasks.get("classification"))
    return {"detector": root / "hands.graft", "graft": root / "gesture.graft",
            "onnx": root / "gesture.onnx", "root": root}
