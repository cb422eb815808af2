"""FPS of the hand-gesture app per stage and end to end: decode, detect, track, crop+classify,
draw+encode, for the torch and onnxruntime backends at several frame sizes.

The clip is generated (moving drawn hands, ``graft.tasks.gesturenet.hands``, on a cluttered
background; H.264/mpeg4 mp4 via PyAV) and the models are UNTRAINED but full-size: DetectNet_v2
ResNet-18 at ``--det-input`` (class ``hand``) and GestureNet ResNet-18 at 160x160, seeded, saved
as ``.graft`` and exported to ONNX. Speed does not depend on the weights, except through how
many boxes the detector finds; so the detector network runs on every frame (its time is the
detect stage: resize, normalize, network, decoder) while the boxes handed on are the clip's
true hands (``--hands`` per frame), so tracking and classification see what a trained detector
would give. Stages come from the pipeline's own ``summary.json`` latencies (mean per frame);
FPS = 1000 / mean ms. The process's CPU seconds per run are printed too.

``--clock cpu`` (for a shared, loaded machine): the pipeline's stage clock becomes the main
thread's CPU time, and torch and onnxruntime run one thread in that thread, so every stage's
time is the CPU it cost, what one idle core would take (``--threads`` is then 1).

    python benchmarks/gesture_app.py --device cpu --frames 60 --threads 2
    python benchmarks/gesture_app.py --device cuda --frames 300 --backends torch,onnx  # owed
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

STAGES = {"decode": "decode", "detect": "detect", "track": "track",
          "crop+classify": "classify", "draw+encode": "output"}


def make_models(root: Path, det_size: tuple[int, int], seed: int) -> dict[str, Path]:
    """An untrained hand detector and GestureNet, as .graft files and ONNX exports."""
    from graft import archive, tasks
    from graft.data.preprocess import normalization_for
    from graft.optimize.export import ExportOptions, export_onnx
    from graft.tasks.classification.model import build_network as build_classifier
    from graft.tasks.detectnet_v2.spec import DetectNetSpec
    from graft.tasks.detectnet_v2.train import build_network, manifest_for
    from graft.tasks.gesturenet.crop import CLASSES
    from graft.tasks.gesturenet.spec import GestureSpec
    from graft.tasks.gesturenet.train import gesture_manifest

    torch.manual_seed(seed)
    spec = DetectNetSpec.model_validate({
        "dataset_config": {"data_sources": [{"image_directory_path": "-",
                                             "label_directory_path": "-"}],
                           "target_class_mapping": {"hand": "hand"}},
        "augmentation_config": {"preprocessing": {"output_image_height": det_size[0],
                                                  "output_image_width": det_size[1]}},
        "model_config": {"arch": "resnet18"}})
    net, arch = build_network(spec)
    det_manifest = manifest_for(spec, arch, {})
    archive.save(root / "hands.graft", net.state_dict(), det_manifest)
    opts = ExportOptions(exporter="torchscript")
    export_onnx(net.eval(), det_manifest, root / "hands.onnx", opts,
                task=tasks.get("detectnet_v2"))
    gspec = GestureSpec.model_validate({"model": {"arch": "resnet18", "input_size": [160, 160]},
                                        "data": {"train_file": "-"}})
    cnet, carch = build_classifier(gspec.model, list(CLASSES))
    cman = gesture_manifest(gspec, carch, list(CLASSES),
                            normalization_for(gspec.data.preprocess_mode), {})
    archive.save(root / "gesturenet.graft", cnet.state_dict(), cman)
    export_onnx(cnet.eval(), cman, root / "gesturenet.onnx", opts,
                task=tasks.get("gesturenet"))
    return {"torch": (root / "hands.graft", root / "gesturenet.graft"),
            "onnx": (root / "hands.onnx", root / "gesturenet.onnx")}


def make_clip(path: Path, size: tuple[int, int], frames: int, hands: int, seed: int
              ) -> list[np.ndarray]:
    """A clip of ``hands`` drawn hands drifting over a fixed background; their boxes."""
    import av
    from PIL import Image, ImageDraw

    from graft.tasks.gesturenet.crop import CLASSES
    from graft.tasks.gesturenet.hands import User, draw_hand
    from graft.tasks.gesturenet.synth import background

    h, w = size
    rng = np.random.default_rng(seed)
    bg = background((w, h), rng).resize((w, h))
    users = [User.make(i, seed) for i in range(hands)]
    start = rng.uniform([0.2 * w, 0.25 * h], [0.8 * w, 0.75 * h], (hands, 2))
    speed = rng.uniform(-2, 2, (hands, 2)) * w / 640
    boxes = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = bg.copy()
            draw = ImageDraw.Draw(img)
            found = []
            for k in range(hands):
                cx, cy = start[k] + speed[k] * i
                label = CLASSES[(i // 30 + k) % len(CLASSES)]
                hand = draw_hand(draw, label, users[k], (float(cx), float(cy)), 0.12 * h, 0.0,
                                 bool(k % 2), np.random.default_rng([seed, i, k]))
                found.append(hand.box)
            boxes.append(np.asarray(found, np.float64).reshape(-1, 4))
            frame = av.VideoFrame.from_ndarray(np.asarray(Image.Image.convert(img, "RGB")),
                                               format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return boxes


class TrueBoxes:
    """Runs the real detector (timed as the detect stage) but hands on the clip's true boxes."""

    def __init__(self, detector: Any, boxes: list[np.ndarray]) -> None:
        self.detector, self.boxes, self.next = detector, boxes, 0
        self.found = 0

    @property
    def backend(self) -> str:
        return self.detector.backend

    def detect(self, frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        self.found += sum(len(b) for b, _ in self.detector.detect(frames))
        out = []
        for _ in frames:
            b = self.boxes[self.next]
            self.next += 1
            out.append((b, np.full(len(b), 0.9)))
        return out


def clip_size(clip: Path) -> tuple[int, int]:
    h, w = clip.stem.split("_")[-1].split("x")[::-1]
    return int(h), int(w)


def run(models: tuple[Path, Path], clip: Path, boxes: list[np.ndarray], out: Path,
        device: str, batch: int, threads: int | None) -> dict[str, Any]:
    from graft.app.models import ModelClassifier, ModelDetector
    from graft.app.pipeline import GesturePipeline
    from graft.app.tracking import HandTracker
    from graft.runtime import load_runner
    from graft.tasks.classification.runner import Classifier
    from graft.tasks.detectnet_v2.detector import Detector

    detector = Detector.from_runner(load_runner(models[0], device=device, threads=threads,
                                                task="detectnet_v2"))
    det = TrueBoxes(ModelDetector(detector, threshold=0.3), boxes)
    clf = ModelClassifier(Classifier.from_runner(load_runner(models[1], device=device,
                                                             threads=threads)))
    pipe = GesturePipeline(det, clf, tracker=HandTracker(frame_rate=30), detect_batch=batch)
    frame = np.zeros((*clip_size(clip), 3), np.uint8)  # warm-up, untimed: first calls allocate
    det.detector.detect([frame] * batch)
    clf.probs([frame[:90, :80]] * 2)
    cpu0 = time.process_time()
    summary = pipe.run(clip, out, video=True, fps=30)
    cpu = time.process_time() - cpu0
    lat = summary["latency"]
    row = {name: round(1000 / lat[key]["mean_ms"], 1) if lat[key].get("mean_ms") else None
           for name, key in STAGES.items()}
    row.update(end_to_end_fps=summary["fps"], frames=summary["processed"],
               classified=summary["classified"], seconds=summary["seconds"],
               cpu_s=round(cpu, 1), untrained_detector_boxes=det.found)
    row["mean_ms"] = {name: lat[key].get("mean_ms") for name, key in STAGES.items()}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="640x480,1280x720", help="frame WxH list")
    ap.add_argument("--backends", default="torch,onnx")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--hands", type=int, default=2)
    ap.add_argument("--det-input", default="368x640", help="detector input HxW")
    ap.add_argument("--detect-batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None, help="torch/onnxruntime threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="stage clock: wall time, or the main thread's CPU time (1 thread)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.clock == "cpu":
        import types

        import graft.app.pipeline as pipeline

        args.threads = 1
        pipeline.time = types.SimpleNamespace(perf_counter=time.thread_time)  # type: ignore
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    det_size = tuple(int(v) for v in args.det_input.split("x"))
    results: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "torch": torch.__version__, "device": args.device, "frames": args.frames,
        "hands": args.hands, "det_input": args.det_input, "clock": args.clock,
        "threads": args.threads, "load_before": os.getloadavg()[0],
        "runs": []}
    with tempfile.TemporaryDirectory(prefix="gesture_app_bench_") as tmp:
        root = Path(tmp)
        models = make_models(root, det_size, args.seed)
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            clip = root / f"clip_{w}x{h}.mp4"
            boxes = make_clip(clip, (h, w), args.frames, args.hands, args.seed)
            for backend in args.backends.split(","):
                row = run(models[backend], clip, boxes, root / f"out_{backend}_{size}",
                          args.device, args.detect_batch, args.threads)
                row.update(backend=backend, size=size)
                print(json.dumps(row), flush=True)
                results["runs"].append(row)
    results["load_after"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
