"""``graft detectnet_v2 ACTION``: thin wrappers with TLT's command and flag names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from graft.cli_options import (
    ACCELERATOR,
    FORCE,
    GPUS,
    KEY,
    MODEL_OR_URL,
    NUM_NODES,
    SPEC,
    overrides_option,
)
from graft.console import console, err_console, labeled
from graft.fsutil import check_output_dir

if TYPE_CHECKING:
    from graft.tasks.base import Task

DATASET_SPEC: Path = typer.Option(
    ..., "-d", "--dataset_export_spec", "--dataset_spec", "--dataset-spec",
    help="YAML with a dataset_config section (a training spec works too).")
THRESHOLD: float = typer.Option(
    0.3, "-t", "--threshold", min=0.0, max=1.0,
    help="Keep detections whose score (0..1, coverage sum over an ideal object's) reaches this.")
DEVICE: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N")
TRAIN_SET: list[str] = overrides_option("training_config.num_epochs=5")
EVAL_SET: list[str] = overrides_option("evaluation_config.average_precision_mode=sample")
INFER_SET: list[str] = overrides_option(
    "postprocessing_config.target_class_config.car.clustering_config.dbscan_eps=0.2")
LABELS_SET: list[str] = overrides_option("bbox_rasterizer_config.deadzone_radius=0.5")


def _spec(spec: Path, overrides: list[str]):
    from graft.spec import load_spec
    from graft.tasks.detectnet_v2.spec import DetectNetSpec

    return load_spec(spec, DetectNetSpec, overrides)


def dataset_convert(
    dataset_spec: Path = DATASET_SPEC,
    output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                    help="New folder for the checked KITTI copy."),
    images: str = typer.Option("link", "--images", help="link (hard links, else copies) | copy"),
) -> None:
    """Check every label and image of a dataset spec and write it as clean KITTI with its
    validation fold; prints per-class counts, lists skipped boxes in OUT/warnings.txt.

    Example: graft detectnet_v2 dataset_convert -d specs/dataset.yaml -o data/converted
    """
    from graft.metrics.tables import table
    from graft.tasks.detectnet_v2.convert import dataset_convert as run

    check_output_dir(output_dir, "output folder (-o)")
    s = run(dataset_spec, output_dir, images=images)
    for split, info in s["splits"].items():
        rows = [[name, c["objects"], c["ignored"], c["images"]]
                for name, c in info["classes"].items()]
        console.print(table(["class", "objects", "ignored", "images"], rows,
                            title=f"{split}: {info['images']} images"))
        for name in s["classes"]:
            if info["classes"][name]["objects"] == 0:
                err_console.print(labeled("warning:", "bold red", f"class {name!r} has no "
                                          f"object in {split}"), highlight=False)
    console.print(f"{s['skipped_boxes']} boxes skipped (listed in {output_dir}/warnings.txt); "
                  f"dataset spec for training: {output_dir}/dataset_spec.yaml")


def train(spec: Path = SPEC,
          results_dir: Path = typer.Option(..., "-r", "--results_dir", "--results-dir",
                                           help="Results directory."),
          key: str | None = KEY, gpus: int = GPUS, num_nodes: int = NUM_NODES,
          use_amp: bool = typer.Option(False, "--use_amp", "--use-amp",
                                       help="Mixed precision on GPUs (bf16 where supported)."),
          overrides: list[str] = TRAIN_SET, accelerator: str = ACCELERATOR,
          force: bool = FORCE) -> None:
    """Train DetectNet_v2 from a spec; rerun the same command to resume. The best model is
    the one with the highest validation mAP.

    `graft detectnet_v2 spec` prints a complete spec to start from (every key, its default and
    meaning).

    Example: graft detectnet_v2 train -e specs/train.yaml -r results/detectnet --use_amp
    """
    parsed = _spec(spec, overrides)  # before torch loads: a typo is reported at once
    check_output_dir(results_dir)
    from graft.tasks.detectnet_v2.train import train as run

    summary = run(spec, results_dir, key=key, gpus=gpus, num_nodes=num_nodes,
                  overrides=overrides, accelerator=accelerator, force=force, use_amp=use_amp,
                  spec=parsed)
    for line in summary.lines():
        console.print(line)


def evaluate(spec: Path = SPEC, model: Path = MODEL_OR_URL, key: str | None = KEY,
             results_dir: Path | None = typer.Option(
                 None, "-r", "--results_dir", "--results-dir",
                 help="Writes results.json/.csv, PR curves, confusion matrix, coco/."),
             threshold: float = THRESHOLD, overrides: list[str] = EVAL_SET,
             device: str = DEVICE) -> None:
    """Per-class AP and mAP (evaluation_config) and COCO AP of a .graft, .onnx or TensorRT
    model on the spec's validation data; the threshold applies to the confusion matrix.

    Example: graft detectnet_v2 evaluate -e specs/train.yaml -m results/model.graft -r eval/

    Example: graft detectnet_v2 evaluate -e specs/train.yaml -m grpc://triton-host:8001/detectnet
    """
    parsed = _spec(spec, overrides)
    if results_dir is not None:
        check_output_dir(results_dir)
    from graft.metrics.tables import table
    from graft.tasks.detectnet_v2.evaluate import CLASS_COLUMNS
    from graft.tasks.detectnet_v2.evaluate import evaluate as run

    r = run(parsed, model, key=key, results_dir=results_dir,
            threshold=threshold, device=device, spec_name=str(spec))
    console.print(table(CLASS_COLUMNS, r["per_class"],
                        title=f"{model} ({r['backend']}, {r['images']} images, "
                              f"{r['mode']})"))
    coco = r["coco"]
    console.print(f"mAP {r['mAP']:.4f}   COCO AP50 {coco['AP50']:.4f}   AP50:95 "
                  f"{coco['AP']:.4f}   {r['images_per_second']} images/s")
    if results_dir:
        console.print(f"results in {results_dir} (results.json, per_class.csv, pr_curve_*.png, "
                      "confusion_matrix.png, coco/)")


def inference(spec: Path = SPEC, model: Path = MODEL_OR_URL,
              images: Path = typer.Option(..., "-i", "--image_dir", "--input",
                                          help="An image, a folder, a .txt list of images or "
                                               "a video (.mp4, .mov, .avi, .mkv, .webm)."),
              output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                              help="Folder for images/ (a video: NAME.mp4), "
                                                   "labels/ and detections.json."),
              threshold: float = THRESHOLD, key: str | None = KEY,
              batch_size: int = typer.Option(8, "--batch_size", "--batch-size", min=1),
              overrides: list[str] = INFER_SET, device: str = DEVICE) -> None:
    """Detect objects: rendered images, KITTI label files with scores and detections.json.
    For a video: the rendered video, one label file per frame, each frame's detections.

    Example: graft detectnet_v2 inference -e specs/train.yaml -m model.onnx -i images/ -o out/
    -t 0.4

    Example: graft detectnet_v2 inference -e specs/train.yaml -m model.graft -i clip.mp4 -o out/
    """
    parsed = _spec(spec, overrides)
    check_output_dir(output_dir, "output folder (-o)")
    from graft.data.images import skipped_note
    from graft.data.video import is_video, open_video
    from graft.tasks.detectnet_v2.detector import load_detector
    from graft.tasks.detectnet_v2.inference import run_inference, run_video_inference

    video = open_video(images) if is_video(images) else None  # a bad file fails before loading
    detector = load_detector(model, parsed, key=key, device=device)
    if video is not None:
        v = run_video_inference(detector, video, output_dir, threshold=threshold,
                                batch_size=batch_size)
        console.print(f"{v['detections']} detections in {v['frames']} frames; results in "
                      f"{output_dir} ({Path(v['video']).name}, labels/, detections.json)")
        return
    r = run_inference(detector, images, output_dir, threshold=threshold, batch_size=batch_size)
    console.print(f"{r['detections']} detections in {r['images']} images"
                  f"{skipped_note(len(r['skipped']), 'detections.json')}; results in "
                  f"{output_dir} (images/, labels/, detections.json)")


def check_labels(
    dataset_spec: Path = DATASET_SPEC, spec: Path = SPEC,
    results_dir: Path = typer.Option(..., "-r", "--results_dir", "--results-dir",
                                     help="Folder for the report and sample images."),
    num_images: int = typer.Option(8, "--num_images", "--num-images", min=0,
                                   help="Sample images to render."),
    max_images: int | None = typer.Option(None, "--max_images", "--max-images", min=1,
                                          help="Score the first N images only."),
    seed: int = typer.Option(0, "--seed"), overrides: list[str] = LABELS_SET,
) -> None:
    """Report per-class counts and the round-trip mAP (labels -> targets -> the production
    clustering -> the production evaluator), and render targets over sample images. Near 1.0
    means mapping, rasterizer, clustering and evaluator agree.

    Example: graft detectnet_v2 check_labels -d specs/dataset.yaml -e specs/train.yaml -r out/
    """
    parsed = _spec(spec, overrides)
    check_output_dir(results_dir)
    from graft.tasks.detectnet_v2.check_labels import check_labels as run
    from graft.tasks.detectnet_v2.check_labels import report_lines

    report = run(dataset_spec, parsed, results_dir, num_images=num_images,
                 max_images=max_images, seed=seed)
    for style, line in report_lines(report):
        target = err_console if style == "bold red" else console
        target.print(labeled("check:", style, line), highlight=False)
    console.print(f"report in {results_dir} (check_labels.json, per_class.csv, images/)")


def build_app(task: Task) -> typer.Typer:
    """The ``graft detectnet_v2`` commands; ``task`` (the registry's) gets prune and export."""
    app = typer.Typer(no_args_is_help=True,
                      help="DetectNet_v2: gridbox object detection with TLT's workflow.")
    for name, fn in (("dataset_convert", dataset_convert), ("train", train),
                     ("evaluate", evaluate), ("inference", inference),
                     ("check_labels", check_labels)):
        app.command(name)(fn)
    from graft.optimize.cli import add_optimize_commands

    add_optimize_commands(app, task)  # prune, export (TLT flags; DeepStream files beside)
    return app
