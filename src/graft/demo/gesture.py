"""Demo workflow: the hand-gesture application end to end on generated hands.

``graft synth hands`` (8 users, 320x240 frames of 1-4 hands, and a clip of the held-out user)
-> train the hand detector (DetectNet_v2 ResNet-18, one class ``hand``) and score mAP50 on the
val users' frames -> ``gesturenet dataset_convert`` (the last user held out as the test user)
-> train GestureNet and score top-1 on that user -> run the app (detector -> ByteTrack ->
margin crop -> GestureNet -> per-track smoothing) on the clip -> annotated mp4, frames.jsonl,
per-stage FPS -> ``graft app evaluate`` against the clip's truth: per-frame gesture accuracy
over the hands found, with its confusion matrix.

Recipe and reasons:

- the detector trains on the spec ``graft synth hands`` writes beside the frames
  (``detector/spec.yaml``): synth detection's measured settings (Adam with soft-start
  annealing to 2e-3, batch 8, flips, DBSCAN eps 0.3, coverage foreground weight 0.5, no
  autoweighting: see :mod:`graft.demo.detection` for why) at an input of 128x96, so hands
  span 1-3 cells of DetectNet_v2's 16-pixel grid (:mod:`graft.tasks.gesturenet.synth`);
- GestureNet by transfer learning, graft's point (ResNet-18 from scratch at 64 px reached
  top-1 0.72 on an unseen user in 20 CPU minutes, BENCHMARKS.md): the recipe of
  :func:`graft.tasks.gesturenet.recipe.demo_spec` (EfficientNet-Lite0 with its packaged
  ImageNet weights, TF normalization, 64 px, stem and first two stages frozen, mild
  augmentation, balanced class weights, AdamW with cosine decay; measured 0.954 top-1 on two
  unseen users in BENCHMARKS.md "GestureNet on graft synth hands");
- the app classifies every frame and smooths each track over 5 classifications (majority),
  crops by the rule GestureNet's model file records (square, x1.1); the detector's score
  threshold is 0.3, the app's default.

Everything the clip shows is a user neither model trained on: the clip's user is the
GestureNet test user and one of the detector's val users.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from graft.demo.common import Row, console, num_params, write_spec
from graft.tasks.gesturenet.recipe import DEMO_INPUT

FRAME_SIZE = (320, 240)
USERS, VAL_USERS = 8, 2
CLIP_FPS = 15.0
DET_THRESHOLD = 0.3


def make_data(data_dir: Path, frames: int, clip_frames: int) -> Path:
    """The hands data set (reused when a finished one is there)."""
    if not (data_dir / "summary.json").exists():
        from graft.tasks.gesturenet.synth import make_hands_dataset

        make_hands_dataset(data_dir, frames=frames, users=USERS, val_users=VAL_USERS,
                           size=FRAME_SIZE, clips=1, clip_frames=clip_frames, seed=0)
    return data_dir


def detector_spec(data_dir: Path, epochs: int) -> dict[str, Any]:
    """The generator's detector spec, paths made absolute (write_spec relativizes them)."""
    folder = data_dir / "detector"
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    data = spec["dataset_config"]
    for source in [*data["data_sources"], data["validation_data_source"]]:
        for key in ("image_directory_path", "label_directory_path"):
            source[key] = folder / source[key]
    spec["training_config"]["num_epochs"] = epochs
    spec["training_config"]["checkpoint_interval"] = epochs
    spec["evaluation_config"]["validation_period_during_training"] = max(1, epochs // 3)
    return spec


def gesturenet_spec(splits: Path, epochs: int, input_size: int) -> dict[str, Any]:
    """GestureNet's demo recipe on ``dataset_convert``'s splits, checkpointed every epoch
    (an interrupted demo resumes)."""
    from graft.tasks.gesturenet.recipe import demo_spec

    spec = demo_spec(input_size=input_size, epochs=epochs)
    # Path values: write_spec makes them relative to the spec's folder (a str would be
    # taken as already relative to it and resolved twice)
    spec["data"].update(train_file=splits / "train.json", val_file=splits / "val.json")
    spec["trainer"]["checkpoint_interval"] = 1
    return spec


def stage_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-stage latency and the FPS it alone would allow (1000 / mean ms)."""
    rows = []
    for stage, lat in summary["latency"].items():
        if lat.get("count"):
            rows.append({"stage": stage, "count": lat["count"], "mean_ms": lat["mean_ms"],
                         "p50_ms": lat["p50_ms"], "p90_ms": lat["p90_ms"],
                         "fps": round(1000 / lat["mean_ms"], 1) if lat["mean_ms"] else 0.0})
    return rows


def run_app(detector: Path, classifier: Path, clip: Path, out: Path) -> dict[str, Any]:
    from graft.app.pipeline import GesturePipeline
    from graft.app.tracking import HandTracker, TrackLabels

    pipeline = GesturePipeline.from_files(
        detector, classifier, hand_classes=["hand"], threshold=DET_THRESHOLD,
        tracker=HandTracker(frame_rate=CLIP_FPS), labels=TrackLabels(window=5),
        detect_batch=4)
    return pipeline.run(clip, out, fps=CLIP_FPS)


def run(out: Path, frames: int, det_epochs: int, gn_epochs: int, clip_frames: int,
        gn_input: int = DEMO_INPUT, force: bool = False) -> list[Row]:
    from graft.app.evaluate import evaluate_files
    from graft.metrics.tables import table, write_csv
    from graft.spec import load_spec
    from graft.tasks.detectnet_v2.evaluate import evaluate as evaluate_detector
    from graft.tasks.detectnet_v2.spec import DetectNetSpec
    from graft.tasks.detectnet_v2.train import train as train_detector
    from graft.tasks.gesturenet.convert import dataset_convert
    from graft.tasks.gesturenet.evaluate import evaluate as evaluate_gesturenet
    from graft.tasks.gesturenet.train import train as train_gesturenet

    work = out / "gesture"
    data_dir = make_data(out / "data" / "hands", frames, clip_frames)
    test_user = f"user{USERS - 1:02d}"
    described = (f"generated hands: {frames} frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]} of {USERS} "
                 f"users, 1-4 hands each; clip of {clip_frames} frames of {test_user}")

    console.rule("gesture: train the hand detector (DetectNet_v2 resnet18, from scratch)")
    began = time.perf_counter()
    det_file = write_spec(work / "detector.yaml", detector_spec(data_dir, det_epochs))
    train_detector(det_file, work / "detector", force=force, progress=False)
    detector = work / "detector" / "model.graft"
    m = evaluate_detector(load_spec(det_file, DetectNetSpec), detector,
                          results_dir=work / "detector_eval", progress=False)
    rows = [Row(workflow="gesture", step="hand detector (val users)",
                model="detectnet_v2 resnet18", params=num_params(detector), metric="mAP50",
                value=float(m["mAP"]), seconds=time.perf_counter() - began,
                outputs=str(work / "detector"), data=described)]

    console.rule(f"gesture: train GestureNet (efficientnet_lite0 {gn_input}x{gn_input}), test on "
                 f"{test_user}")
    began = time.perf_counter()
    splits = work / "splits"
    if not (splits / "summary.json").exists():
        dataset_convert(data_dir / "gesturenet", splits, val_fraction=0.2,
                        kpi_users=[test_user])
    gn_file = write_spec(work / "gesturenet.yaml", gesturenet_spec(splits, gn_epochs, gn_input))
    train_gesturenet(gn_file, work / "gesturenet", force=force, progress=False)
    classifier = work / "gesturenet" / "model.graft"
    g = evaluate_gesturenet(gn_file, classifier, split_file=splits / "test.json",
                            results_dir=work / "gesturenet_eval")
    rows.append(Row(workflow="gesture", step=f"GestureNet (unseen {test_user})",
                    model="gesturenet efficientnet_lite0", params=num_params(classifier),
                    metric="top-1", value=float(g["top1_accuracy"]),
                    seconds=time.perf_counter() - began, outputs=str(work / "gesturenet")))

    console.rule("gesture: the app on the clip (detect -> track -> crop -> classify)")
    began = time.perf_counter()
    clip = data_dir / "clips" / "clip_000.mp4"
    summary = run_app(detector, classifier, clip, work / "app")
    stages = stage_rows(summary)
    write_csv(work / "app" / "stages.csv", list(stages[0]), stages)
    console.print(table(list(stages[0]), stages, title=f"app stages ({summary['processed']} "
                        f"frames, {summary['fps']} FPS end to end)"))
    rows.append(Row(workflow="gesture", step="app on the clip (end to end)",
                    model="detector + gesturenet", params=None, metric="FPS",
                    value=float(summary["fps"] or 0.0), seconds=time.perf_counter() - began,
                    outputs=str(work / "app")))
    began = time.perf_counter()
    result = evaluate_files(work / "app" / "frames.jsonl", clip.with_suffix(".jsonl"),
                            work / "app_eval")
    em = result["metrics"]
    labels = result["labels"]
    console.print(table(["true \\ app", *labels],
                        [[n, *r] for n, r in zip(labels, result["confusion_matrix"],
                                                 strict=True)],
                        title=f"app gestures vs truth: recall {em['recall']:.3f}, precision "
                        f"{em['precision']:.3f}"))
    rows.append(Row(workflow="gesture", step="app per-frame gestures (hands found)",
                    model="detector + gesturenet", params=None, metric="accuracy",
                    value=float(em["gesture_accuracy"]),
                    seconds=time.perf_counter() - began, outputs=str(work / "app_eval")))
    return rows
