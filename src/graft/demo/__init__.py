"""``graft demo``: graft's workflows offline on generated data, with a summary table.

1. ``classification``: EfficientNet-Lite0 fine-tuned from ImageNet weights (the pip package of
   graft's ``pretrained`` extra) on generated shapes; evaluate; infer.
2. ``optimize``: that model pruned (depthwise convs with their producers), retrained,
   exported to ONNX FP32/INT8, run on onnxruntime.
3. ``pose``: BodyPoseNet trained on generated people; COCO keypoint AP; rendered skeletons.
4. ``pose_optimize`` (not in the default set: about 21 more minutes on a CPU): that model
   pruned, retrained, exported to ONNX FP32/INT8, run on onnxruntime with the same decoder
   and COCO AP.
5. ``detection``: DetectNet_v2 (ResNet-18) on generated aerial aircraft: label round trip,
   train, evaluate, prune, retrain, ONNX FP32/INT8 on onnxruntime, rendered detections.
6. ``segmentation`` (not in the default set: about 10 more minutes on a CPU): Mask R-CNN
   (EfficientNet-Lite0 FPN from ImageNet weights) on generated telecom towers; COCO bbox and
   mask AP; rendered masks.
7. ``gesture`` (not in the default set: about 3 more minutes on a CPU): the hand-gesture
   app on generated hands: hand detector (DetectNet_v2) mAP50, GestureNet top-1 on an unseen
   user, the app on a clip (annotated mp4, JSONL, FPS per stage) and its per-frame gesture
   accuracy with the confusion matrix.

Everything lands in the output folder (specs, models, metrics, plots, rendered images) and the
summary in ``OUTPUT/summary.json``. Rerunning the same command reuses finished training runs
and resumes interrupted ones.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from graft.console import labeled
from graft.demo.classification import EPOCHS, SIZE
from graft.demo.common import Row, console
from graft.errors import UserError

WORKFLOWS = ("classification", "optimize", "pose", "pose_optimize", "detection", "segmentation",
             "gesture")
# left out of the default set for the minutes they add to make demo on a 2-core CPU:
# pose_optimize about 21, segmentation about 10 (graft.demo.segmentation), gesture about 3
# (graft.demo.gesture)
DEFAULT_WORKFLOWS = ("classification", "optimize", "pose", "detection")
NEEDS = {"optimize": "classification", "pose_optimize": "pose"}  # starts from that one's model


def parse_workflows(text: str) -> list[str]:
    chosen = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKFLOWS]
    if unknown or not chosen:
        raise UserError(f"unknown workflow {', '.join(unknown) or '(none)'}",
                        f"use --workflows with any of {','.join(WORKFLOWS)}")
    chosen += [NEEDS[w] for w in chosen if w in NEEDS and NEEDS[w] not in chosen]
    return [w for w in WORKFLOWS if w in chosen]


def summary_table(rows: list[Row]) -> Table:
    table = Table(title="graft demo summary")
    for col, justify in (("workflow", "left"), ("step", "left"), ("model", "left"),
                         ("params", "right"), ("metric", "left"), ("time", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        params = f"{r.params / 1e6:.2f} M" if r.params else "-"
        table.add_row(r.workflow, r.step, r.model, params, f"{r.metric} {r.value:.3f}",
                      f"{r.seconds:.0f} s")
    return table


def demo(
    output: Path = typer.Option(Path("demo_runs"), "-o", "--output", help="Where everything goes."),
    workflows: str = typer.Option(",".join(DEFAULT_WORKFLOWS), "--workflows",
                                  help="Comma-separated: " + ", ".join(WORKFLOWS) + "."),
    epochs: int = typer.Option(EPOCHS, "--epochs", min=1, help="Classification training epochs."),
    per_class: int = typer.Option(300, "--per-class", min=8, help="Generated images per class."),
    size: int = typer.Option(SIZE, "--size", min=32, help="Classification image side in pixels."),
    retrain_epochs: int = typer.Option(8, "--retrain-epochs", min=1,
                                       help="Epochs of retraining after pruning."),
    pose_images: int = typer.Option(800, "--pose-images", min=10,
                                    help="Generated pose images (train + val)."),
    pose_epochs: int = typer.Option(20, "--pose-epochs", min=1, help="Pose training epochs."),
    pose_retrain_epochs: int = typer.Option(40, "--pose-retrain-epochs", min=1,
                                            help="Pose epochs of retraining after pruning."),
    det_images: int = typer.Option(750, "--det-images", min=10,
                                   help="Generated aircraft images (train + val)."),
    det_epochs: int = typer.Option(12, "--det-epochs", min=1,
                                   help="DetectNet_v2 training epochs."),
    det_retrain_epochs: int = typer.Option(10, "--det-retrain-epochs", min=1,
                                           help="DetectNet_v2 epochs of retraining after "
                                           "pruning."),
    seg_images: int = typer.Option(300, "--seg-images", min=10,
                                   help="Generated tower images (train + val)."),
    seg_epochs: int = typer.Option(6, "--seg-epochs", min=1, help="Mask R-CNN training epochs."),
    seg_size: int = typer.Option(192, "--seg-size", min=64, help="Tower image side in pixels "
                                 "(a multiple of 32)."),
    gesture_frames: int = typer.Option(600, "--gesture-frames", min=12,
                                       help="Generated hand frames (gesture workflow)."),
    gesture_det_epochs: int = typer.Option(12, "--gesture-det-epochs", min=1,
                                           help="Hand detector training epochs."),
    gesture_epochs: int = typer.Option(5, "--gesture-epochs", min=1,
                                       help="GestureNet training epochs."),
    gesture_clip_frames: int = typer.Option(150, "--gesture-clip-frames", min=2,
                                            help="Frames of the clip the app runs on."),
    gesture_input: int = typer.Option(64, "--gesture-input", min=32,
                                      help="GestureNet input side in pixels."),
    force: bool = typer.Option(False, "--force",
                               help="Retrain even where OUTPUT holds runs with other settings."),
) -> None:
    """Run the offline demo: generate data, train, evaluate, optimize, infer; print a summary.

    Example: graft demo -o demo_runs

    Example: graft demo -o demo_runs --workflows pose --pose-epochs 30

    Example (the gesture app: hand detector, GestureNet, the app on a clip):
    graft demo -o demo_runs --workflows gesture

    Example (Mask R-CNN on generated towers: train, bbox and mask AP, rendered masks):
    graft demo -o demo_runs --workflows segmentation

    Example (the pose model pruned, retrained and run as INT8 ONNX too):
    graft demo -o demo_runs --workflows classification,optimize,pose_optimize
    """
    from graft.demo import (
        classification,
        detection,
        gesture,
        optimize,
        pose,
        pose_optimize,
        segmentation,
    )
    from graft.fsutil import check_output_dir, write_json

    chosen = parse_workflows(workflows)
    if "segmentation" in chosen:
        segmentation.check_size(seg_size)
    check_output_dir(output, "output folder (-o)")
    start = time.perf_counter()
    rows: list[Row] = []
    base = None
    if "classification" in chosen:
        base = classification.run(output, epochs, per_class, size, force)
        rows.append(base.row)
    if "optimize" in chosen and base is not None:
        rows += optimize.run(base, output, retrain_epochs, force)
    if "pose" in chosen:
        pose_run = pose.run(output, pose_images, pose_epochs, force)
        rows.append(pose_run.row)
        if "pose_optimize" in chosen:
            rows += pose_optimize.run(pose_run, output, pose_retrain_epochs, force)
    if "detection" in chosen:
        rows += detection.run(output, det_images, det_epochs, det_retrain_epochs, force)
    if "segmentation" in chosen:
        rows += segmentation.run(output, seg_images, seg_epochs, force, seg_size)
    if "gesture" in chosen:
        rows += gesture.run(output, gesture_frames, gesture_det_epochs, gesture_epochs,
                            gesture_clip_frames, gesture_input, force)
    write_json(output / "summary.json", {"seconds": round(time.perf_counter() - start, 1),
                                         "rows": [r.to_dict() for r in rows]})
    console.print(summary_table(rows))
    for r in rows:
        if r.data:
            console.print(labeled(r.workflow, "bold", f"data: {r.data}"))
    console.print(f"outputs in {output}/ (summary.json, specs, models, metrics, images); "
                  f"total {time.perf_counter() - start:.0f} s")
