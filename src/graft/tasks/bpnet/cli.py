"""``graft bpnet ACTION`` and ``graft synth pose``: thin wrappers with TLT's flag names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from graft.cli_options import (
    ACCELERATOR,
    FORCE,
    GPUS,
    KEY,
    NUM_NODES,
    OVERRIDES,
    RESULTS,
    SPEC,
    model_or_url,
    overrides_option,
)
from graft.console import console, labeled
from graft.fsutil import check_output_dir

if TYPE_CHECKING:
    from graft.tasks.base import Task

INFER_SPEC: Path | None = typer.Option(
    None, "--inference_spec", "--inference-spec", "-i",
    help="Inference spec YAML (input_shape, keep_aspect_ratio_mode, scales, thresholds); "
    "default: TLT's single-scale settings.")
MODEL_FILE: Path | None = typer.Option(
    None, "-m", "--model_filename", "--model", parser=model_or_url, metavar="<path|url>",
    help="Model file: .graft, or an exported .onnx / TensorRT .engine (same metrics and "
    "outputs), or a Triton URL grpc://HOST:8001/NAME; overrides the inference spec's "
    "model_path.")
DATASET_SPEC: Path = typer.Option(..., "--dataset_spec", "--dataset-spec", "-d",
                                  help="Dataset spec (JSON/YAML, like TLT's coco_spec.json).")
DEVICE: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N")
INFER_OVERRIDES: list[str] = overrides_option("heatmap_threshold=0.05", "inference spec")


def _inference_setup(inference_spec: Path | None, model_file: Path | None, key: str | None,
                     overrides: list[str], device: str = "auto"):
    from graft.errors import UserError
    from graft.spec import load_spec
    from graft.tasks.bpnet.spec import InferenceSpec

    spec = load_spec(inference_spec, InferenceSpec, overrides)  # before torch loads: fast
    path = model_file or (model_or_url(spec.model_path) if spec.model_path else None)
    if path is None:
        raise UserError("no model given", "pass -m MODEL.graft or set model_path in the spec")
    from graft.tasks.bpnet.runner import load_pose_model

    model = load_pose_model(path, key=key, device=device)
    if model.fixed_input_size is not None:
        h, w = model.fixed_input_size
        console.print(f"{path}: {model.backend} model with a fixed {h}x{w} input; running "
                      "it with keep_aspect_ratio_mode pad_image_input at that size")
    return spec, model, path


def dataset_convert(
    mode: str = typer.Option(..., "-m", "--mode", help="train or test."),
    output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                    help="Folder for the converted index."),
    dataset_spec: Path = DATASET_SPEC,
    generate_masks: bool = typer.Option(False, "--generate_masks", "--generate-masks",
                                        help="Write loss masks of crowds/unlabeled people."),
) -> None:
    """Validate COCO keypoint annotations and write a training index (and loss masks).

    Example: graft bpnet dataset_convert -m train -o data/train --dataset_spec data/spec.json
    --generate_masks
    """
    from graft.tasks.bpnet.convert import dataset_convert as run

    s = run(dataset_spec, mode, output_dir, generate_masks=generate_masks)
    console.print(labeled("converted", "green", f"{s['mode']}: {s.get('images', '?')} images, "
                          f"{s.get('persons', '?')} persons -> {s['index']}"))


def train(spec: Path = SPEC, results_dir: Path = RESULTS, key: str | None = KEY,
          gpus: int = GPUS, num_nodes: int = NUM_NODES, overrides: list[str] = OVERRIDES,
          accelerator: str = ACCELERATOR, force: bool = FORCE) -> None:
    """Train a BodyPoseNet model from a spec; rerun the same command to resume.

    Writes RESULTS/model.graft, RESULTS/spec.yaml (resolved spec) and checkpoints.
    `graft bpnet spec` prints a complete spec to start from (every key, its default and
    meaning).

    Example: graft bpnet train -e specs/bpnet_train.yaml -r results/bpnet --set trainer.epochs=5
    """
    from graft.spec import load_spec
    from graft.tasks.bpnet.spec import BpnetTrainSpec

    parsed = load_spec(spec, BpnetTrainSpec, overrides)  # before torch loads: a typo is fast
    check_output_dir(results_dir)
    from graft.tasks.bpnet.module import train as run

    summary = run(spec, results_dir, key=key, gpus=gpus, num_nodes=num_nodes,
                  overrides=overrides, accelerator=accelerator, force=force, spec=parsed)
    for line in summary.lines():
        console.print(line)


def evaluate(
    inference_spec: Path | None = INFER_SPEC, model_filename: Path | None = MODEL_FILE,
    dataset_spec: Path = DATASET_SPEC,
    results_dir: Path | None = typer.Option(None, "-r", "--results_dir", "--results-dir",
                                            help="Writes results.json/.csv, predictions.json."),
    key: str | None = KEY, overrides: list[str] = INFER_OVERRIDES, device: str = DEVICE,
    max_images: int | None = typer.Option(None, "--max_images", "--max-images", min=1,
                                          help="Evaluate on the first N images only."),
) -> None:
    """COCO keypoint AP (10 numbers) of a model on the dataset spec's test split.

    Example: graft bpnet evaluate --inference_spec specs/infer.yaml -m results/model.graft
    --dataset_spec data/spec.json -r results/eval

    Example (exported INT8 on onnxruntime): graft bpnet evaluate --inference_spec
    specs/infer.yaml -m export/model.int8.onnx --dataset_spec data/spec.json -r results/eval_int8
    """
    from graft.tasks.bpnet.evaluate import evaluate as run
    from graft.tasks.bpnet.evaluate import metrics_table

    if results_dir is not None:
        check_output_dir(results_dir)
    spec, model, path = _inference_setup(inference_spec, model_filename, key, overrides,
                                         device)
    r = run(spec, model, dataset_spec, results_dir=results_dir, device=device,
            max_images=max_images)
    scales = ", ".join(str(s) for s in spec.effective_scales)
    console.print(metrics_table(r["metrics"], f"{path.name}: {r['images']} images, "
                                f"{spec.keep_aspect_ratio_mode}, scales {scales}"))
    console.print(f"{r['persons']} people found, {r['images_per_second']} images/s")
    if results_dir:
        console.print(f"results in {results_dir} (results.json, results.csv, predictions.json)")


def inference(
    inference_spec: Path | None = INFER_SPEC, model_filename: Path | None = MODEL_FILE,
    input_type: str = typer.Option("dir", "--input_type", "--input-type",
                                   help="image | dir | video | json (a list of image paths)"),
    input_path: Path = typer.Option(..., "--input", help="Image, folder, video or JSON file."),
    results_dir: Path = RESULTS, key: str | None = KEY,
    dump_visualizations: bool = typer.Option(
        False, "--dump_visualizations", "--dump-visualizations",
        help="Save images with skeletons (or an annotated .mp4 for video input)."),
    overrides: list[str] = INFER_OVERRIDES, device: str = DEVICE,
) -> None:
    """Find people and their keypoints; writes RESULTS/detections.json (per frame).

    Example: graft bpnet inference --inference_spec specs/infer.yaml -m results/model.graft
    --input_type dir --input samples/ -r results/infer --dump_visualizations
    """
    from graft.data.images import skipped_note
    from graft.tasks.bpnet.inference import run_inference

    check_output_dir(results_dir)
    spec, model, _ = _inference_setup(inference_spec, model_filename, key, overrides,
                                      device)
    r = run_inference(spec, model, input_type, input_path, results_dir,
                      dump_visualizations=dump_visualizations, device=device)
    console.print(f"{r['frames']} frames, {r['persons']} people"
                  f"{skipped_note(len(r['skipped']), 'detections.json')} -> {r['detections']}")
    if r["visualizations"]:
        where = Path(r["visualizations"][0])
        console.print(f"visualizations: {where if input_type == 'video' else where.parent}")


def sample_calibration(
    annotation_file: Path = typer.Option(..., "-a", "--annotation_file", "--annotation-file",
                                         help="COCO keypoint annotation file."),
    image_dir: Path = typer.Option(..., "-i", "--image_dir", "--image-dir", "--image_root_dir",
                                   help="Folder of the annotated images."),
    out_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                 "--output_image_root_dir",
                                 help="New or empty folder that receives the images."),
    n: int = typer.Option(..., "-n", "--num_images", help="Exactly this many images."),
    min_persons: int = typer.Option(
        1, "--min_persons", "--min-persons", "--min_persons_per_image", "-pth",
        help="Images need at least this many qualifying persons (-pth is TLT's name here: a "
        "person threshold, not prune's pruning threshold)."),
    min_keypoints: int = typer.Option(
        1, "--min_keypoints", "--min-keypoints", "--min_kpts_per_person", "-kth",
        help="A person qualifies with this many labeled joints (TLT's -kth)."),
    randomize: bool = typer.Option(False, "--randomize", help="Pick at random (else in order)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Copy exactly N calibration images (INT8) that show people, chosen from the annotations.

    Example: graft bpnet sample_calibration -a ann.json -i images/ -o calib/ -n 200 --randomize
    """
    from graft.tasks.bpnet.calibration import sample_calibration as run

    r = run(annotation_file, image_dir, out_dir, n, min_persons=min_persons,
            min_keypoints=min_keypoints, randomize=randomize, seed=seed)
    console.print(f"copied {len(r['images'])} of {r['qualifying']} qualifying images to {out_dir}")


def check_labels(
    dataset_spec: Path = DATASET_SPEC,
    spec: Path | None = typer.Option(None, "-e", "--spec", "--experiment_spec_file",
                                     help="Training spec (its dataloader section is used)."),
    results_dir: Path = RESULTS,
    num_images: int = typer.Option(8, "--num_images", "--num-images", min=0,
                                   help="Sample images to render."),
    mode: str = typer.Option("train", "--mode", help="train or test split."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Render training targets over sample images and report the label round-trip AP.

    Ground truth -> targets at the network stride -> the production decoder -> COCO AP: a
    value near 1 means the labels, pose config and post-processing agree.

    Example: graft bpnet check_labels --dataset_spec data/spec.json -e train.yaml -r out/
    """
    from graft.tasks.bpnet.check_labels import check_labels as run
    from graft.tasks.bpnet.check_labels import summary_line

    r = run(dataset_spec, spec, results_dir, num_images=num_images, mode=mode, seed=seed)
    console.print(summary_line(r))


def synth_pose(
    out_dir: Path = typer.Option(..., "-o", "--output", help="Output directory."),
    images: int = typer.Option(300, "--images", min=2, help="Images in all (train + val)."),
    size: str = typer.Option("256x256", "--size", help="Image size HxW."),
    max_persons: int = typer.Option(4, "--max_persons", "--max-persons", min=1),
    person_height: str = typer.Option(
        "0.3,0.8", "--person_height", "--person-height",
        help="MIN,MAX height of a labeled person as a fraction of the image height."),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(False, "--force",
                               help="Replace OUT if it holds files (else that is refused)."),
) -> None:
    """Generate a COCO-format dataset of stick-figure people (18 joints) with a dataset spec.

    OUT must be new or empty (or pass --force to replace it); it appears whole when done.

    Example: graft synth pose -o data/pose --images 300 --size 256x256 --max_persons 4

    Example (large people, easy to learn): graft synth pose -o data/big --person_height 0.5,0.9
    """
    from graft.tasks.bpnet.synth import make_pose_dataset, parse_range, parse_size

    s = make_pose_dataset(out_dir, images=images, size=parse_size(size),
                          max_persons=max_persons, seed=seed,
                          person_height=parse_range(person_height, "--person_height"),
                          force=force)
    console.print(f"wrote {s['train']['images']} train + {s['val']['images']} val images to "
                  f"{out_dir}; dataset spec: {s['dataset_spec']}")


def build_app(task: Task) -> typer.Typer:
    """The ``graft bpnet`` commands; ``task`` (the registry's) gets prune and export."""
    app = typer.Typer(no_args_is_help=True,
                      help="BodyPoseNet: bottom-up multi-person 2D pose estimation.")
    for name, fn in (("dataset_convert", dataset_convert), ("train", train),
                     ("evaluate", evaluate), ("inference", inference),
                     ("sample_calibration", sample_calibration), ("check_labels", check_labels)):
        app.command(name)(fn)
    from graft.optimize.cli import add_optimize_commands

    add_optimize_commands(app, task)  # prune, export (TLT flags)
    return app
