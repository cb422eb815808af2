"""``graft mask_rcnn ACTION``: TAO's command and flag names over the task's functions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from graft.cli_options import (
    ACCELERATOR,
    FORCE,
    GPUS,
    KEY,
    MODEL,
    NUM_NODES,
    SPEC,
    overrides_option,
)
from graft.console import console
from graft.fsutil import check_output_dir

if TYPE_CHECKING:
    from graft.tasks.base import Task

DEVICE: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N")
TRAIN_SET: list[str] = overrides_option("trainer.epochs=5")
EVAL_SET: list[str] = overrides_option("data_config.eval_batch_size=4")


def _spec(spec: Path, overrides: list[str]):
    from graft.spec import load_spec
    from graft.tasks.mask_rcnn.spec import MaskRCNNSpec

    return load_spec(spec, MaskRCNNSpec, overrides)


def train(spec: Path = SPEC,
          results_dir: Path = typer.Option(..., "-r", "-d", "--results_dir", "--results-dir",
                                           help="Results directory (-d: TLT's spelling)."),
          key: str | None = KEY, gpus: int = GPUS, num_nodes: int = NUM_NODES,
          overrides: list[str] = TRAIN_SET, accelerator: str = ACCELERATOR,
          force: bool = FORCE) -> None:
    """Train Mask R-CNN on COCO instance data; rerun the same command to resume. The best
    model is the epoch with the highest validation segm (mask) AP.

    `graft mask_rcnn spec` prints a complete spec to start from.

    Example: graft mask_rcnn train -e data/towers/spec.yaml -r results/towers
    """
    parsed = _spec(spec, overrides)
    check_output_dir(results_dir)
    from graft.tasks.mask_rcnn.train import train as run

    summary = run(spec, results_dir, key=key, gpus=gpus, num_nodes=num_nodes,
                  overrides=overrides, accelerator=accelerator, force=force, spec=parsed)
    for line in summary.lines():
        console.print(line)


def evaluate(spec: Path = SPEC, model: Path = MODEL, key: str | None = KEY,
             results_dir: Path | None = typer.Option(
                 None, "-r", "--results_dir", "--results-dir",
                 help="Writes bbox/ and segm/ reports (summary, per-category AP, PR curves) and "
                      "detections.json."),
             overrides: list[str] = EVAL_SET, device: str = DEVICE) -> None:
    """COCO bbox and segm AP (and per-category AP) of a model on the spec's validation data.

    Example: graft mask_rcnn evaluate -e spec.yaml -m results/towers/model.graft -r eval/
    """
    parsed = _spec(spec, overrides)
    if results_dir is not None:
        check_output_dir(results_dir)
    from graft.metrics.coco_report import category_table, summary_table
    from graft.tasks.mask_rcnn.evaluate import evaluate as run

    r = run(parsed, model, key=key, results_dir=results_dir, device=device)
    for kind, ev in r["evaluations"].items():
        console.print(summary_table(ev, title=f"{kind} ({r['images']} images)"))
        console.print(category_table(ev, title=f"{kind} per category"))
    bbox, segm = r["evaluations"]["bbox"].metrics, r["evaluations"]["segm"].metrics
    console.print(f"bbox AP {bbox['AP']:.4f} AP50 {bbox['AP50']:.4f}   segm AP {segm['AP']:.4f} "
                  f"AP50 {segm['AP50']:.4f}   {r['images_per_second']} images/s")


def inference(model: Path = MODEL,
              images: Path = typer.Option(..., "-i", "--image_dir", "--input",
                                          help="An image, a folder or a .txt list of images."),
              output_dir: Path = typer.Option(..., "-o", "--output_dir", "--output-dir",
                                              help="Folder for images/, results.json, "
                                                   "images.json."),
              spec: Path | None = typer.Option(None, "-e", "--spec", "--experiment_spec_file",
                                               help="Accepted for TAO's command line; the "
                                                    "model carries its settings."),
              labels: Path | None = typer.Option(None, "-l", "--class_map", "--labels",
                                                 help="Class names, one per line (default: "
                                                      "the model's)."),
              threshold: float = typer.Option(0.5, "-t", "--threshold", min=0.0, max=1.0,
                                              help="Keep detections scoring at least this."),
              batch_size: int = typer.Option(1, "-b", "--batch_size", "--batch-size", min=1),
              include_mask: bool = typer.Option(False, "--include_mask", "--include-mask",
                                                help="Draw masks and write RLE segmentations."),
              key: str | None = KEY, device: str = DEVICE) -> None:
    """Segment objects: rendered images, COCO results (RLE masks with --include_mask).

    Example: graft mask_rcnn inference -m model.graft -i images/ -o out/ -t 0.5 --include_mask
    """
    if spec is not None:
        _spec(spec, [])
    check_output_dir(output_dir, "output folder (-o)")
    from graft.api import load
    from graft.data.images import skipped_note
    from graft.errors import UserError
    from graft.tasks.mask_rcnn.inference import read_labels, run_inference

    names = read_labels(labels) if labels is not None else None
    m = load(model, key=key, device=device)
    if m.manifest.task != "mask_rcnn":
        raise UserError(f"{model} is a {m.manifest.task!r} model", "pass a mask_rcnn model")
    if names is not None and len(names) != len(m.manifest.classes):
        raise UserError(f"{labels} names {len(names)} classes, the model has "
                        f"{len(m.manifest.classes)} ({', '.join(m.manifest.classes)})",
                        "give one name per class, in the model's order")
    r = run_inference(m, images, output_dir, threshold=threshold, batch_size=batch_size,
                      include_mask=include_mask, labels=names)
    console.print(f"{r['detections']} detections in {r['images']} images"
                  f"{skipped_note(len(r['skipped']), 'images.json')}; results in {output_dir} "
                  "(images/, results.json, images.json)")


def export(model: Path = MODEL,
           output: Path = typer.Option(..., "-o", "--output_file", "--output-file",
                                       help="The .onnx file to write."),
           image: Path | None = typer.Option(
               None, "-i", "--image", help="An image to trace and compare with, at the size "
               "the export will take (default: a gray noise image at the model's input size)."),
           allow_parity_mismatch: bool = typer.Option(
               False, "--allow_parity_mismatch", help="Write the export even if it does not "
               "match PyTorch on onnxruntime."),
           engine_file: Path | None = typer.Option(
               None, "--engine_file", help="Also build this TensorRT engine (and its "
               "ENGINE.json for `graft deploy triton`); needs TensorRT and a GPU."),
           data_type: str = typer.Option(
               "fp32", "--data_type", help="The engine's precision: fp32 | fp16 (the ONNX "
               "stays fp32; int8 has no calibration path for Mask R-CNN)."),
           mask_output: str | None = typer.Option(
               None, "--mask_output", "--mask-output", help="image: masks pasted into the "
               "image, (N, 1, H, W); roi: the mask head's (N, 1, 28, 28) per detection over "
               "its box, to paste downstream (graft.tasks.mask_rcnn.export.paste_masks), as "
               "TAO's export does. Default: roi with --engine_file, image otherwise."),
           key: str | None = KEY) -> None:
    """Export to ONNX for one fixed image size (boxes, labels, scores, masks; any number of
    detections, zero included) and check it against PyTorch on onnxruntime. --engine_file
    also builds a TensorRT engine from it, with roi masks by default: the image masks' pasting
    Loop grows a loop-carried tensor, which TensorRT is expected to reject (see
    graft.tasks.mask_rcnn.export). The metadata's mask_output says which masks were exported.

    Example: graft mask_rcnn export -m model.graft -o model.onnx -i data/towers/images/00000.png
    --engine_file model.engine --data_type fp16

    Example: graft mask_rcnn export -m model.graft -o model_roi.onnx --mask_output roi
    """
    from graft.api import load
    from graft.data.images import read_rgb
    from graft.errors import UserError
    from graft.fsutil import check_output_file
    from graft.optimize.cli import check_outputs
    from graft.optimize.export import parity_path
    from graft.runtime.metadata import sidecar_path
    from graft.tasks.mask_rcnn.export import check_engine_request, export_model, mask_output_for

    check_outputs(model, {"-o": output, "parity report": parity_path(output),
                          "--engine_file": engine_file,
                          "engine metadata": sidecar_path(engine_file) if engine_file else None})
    check_output_file(output, "output file (-o)")
    if engine_file is not None:
        check_output_file(engine_file, "engine file (--engine_file)")
    check_engine_request(engine_file, data_type)  # before loading or writing anything
    mask_output_for(mask_output, engine_file)
    m = load(model, key=key)
    if m.manifest.task != "mask_rcnn":
        raise UserError(f"{model} is a {m.manifest.task!r} model", "pass a mask_rcnn model")
    report = export_model(m, output, read_rgb(image) if image is not None else None,
                          allow_parity_mismatch, engine_file=engine_file, data_type=data_type,
                          mask_output=mask_output)
    worst = max((p.max_abs_diff for p in report.parity), default=0.0)
    kind = mask_output_for(mask_output, engine_file)
    console.print(f"wrote {output} ({kind} masks, input image {report.input_shape}, opset "
                  f"{report.opset}); "
                  f"onnxruntime vs PyTorch: max |diff| {worst:.2e}, "
                  f"{'passed' if report.passed else 'FAILED'}")
    if report.engine_file:
        console.print(f"wrote TensorRT {data_type} engine {report.engine_file} and "
                      f"{sidecar_path(report.engine_file)}")


def build_app(task: Task) -> typer.Typer:
    """The ``graft mask_rcnn`` commands."""
    app = typer.Typer(no_args_is_help=True,
                      help="Mask R-CNN instance segmentation with TAO's workflow.")
    for name, fn in (("train", train), ("evaluate", evaluate), ("inference", inference),
                     ("export", export)):
        app.command(name)(fn)
    from graft.optimize.cli import add_prune_command

    add_prune_command(app, task)  # TLT's flags; the task traces a dense view of the detector
    return app
