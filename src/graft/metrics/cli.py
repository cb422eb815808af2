"""``graft evaluate ...``: score result files of any model, ours or not.

A sub-app so that other evaluators (KITTI-style detection AP, ...) can join ``coco`` later.
"""

from __future__ import annotations

from pathlib import Path

import typer

from graft.cli_options import RESULTS_OPT
from graft.console import console
from graft.errors import UserError
from graft.fsutil import check_output_dir

app = typer.Typer(
    no_args_is_help=True,
    help="Score result files against ground truth (COCO AP).\n\n"
    "Example: graft evaluate coco -a instances_val.json -p detections.json --iou_type bbox "
    "-r results/eval",
)


def _sigmas(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise UserError(f"--kpt_oks_sigmas {text!r} is not a comma-separated list of numbers",
                        "write e.g. --kpt_oks_sigmas 0.079,0.079,0.072") from None


@app.command("coco")
def coco(
    annotations: Path = typer.Option(..., "-a", "--annotations", "--ground_truth",
                                     help="COCO ground-truth file (images, annotations, "
                                     "categories)."),
    predictions: Path = typer.Option(..., "-p", "--predictions", "--results",
                                     help="COCO results file: a JSON list of detections "
                                     "(image_id, category_id, score and bbox, segmentation or "
                                     "keypoints), as pycocotools' loadRes takes it."),
    iou_type: str = typer.Option("bbox", "--iou_type", "--iou-type",
                                 help="bbox | segm | keypoints"),
    results_dir: Path | None = RESULTS_OPT,
    kpt_oks_sigmas: str | None = typer.Option(
        None, "--kpt_oks_sigmas", "--kpt-oks-sigmas",
        help="Keypoints: one OKS sigma per joint, comma-separated (default: COCO's 17)."),
) -> None:
    """COCO AP of a results file: the 12 standard numbers (10 for keypoints), AP per category
    and PR curves; with -r also results.json/.csv, per_category.csv, pr_curves.png/.csv.

    Example: graft evaluate coco -a instances_val.json -p detections.json --iou_type bbox
    -r results/eval

    Example (masks): graft evaluate coco -a instances_val.json -p segm_results.json
    --iou_type segm
    """
    from graft.metrics.coco import evaluate_coco
    from graft.metrics.coco_files import check_iou_type
    from graft.metrics.coco_report import category_table, summary_table, write_coco_report

    check_iou_type(iou_type)
    if results_dir is not None:
        check_output_dir(results_dir)
    evaluation = evaluate_coco(annotations, predictions, iou_type,  # type: ignore[arg-type]
                               kpt_oks_sigmas=_sigmas(kpt_oks_sigmas))
    objects = sum(c.ground_truth for c in evaluation.categories)
    console.print(summary_table(evaluation, f"{predictions.name}: COCO {iou_type} AP"))
    console.print(category_table(evaluation, "per category (area all)"))
    console.print(f"{evaluation.images} images, {objects} objects, {evaluation.detections} "
                  f"detections ({evaluation.engine})")
    if results_dir is not None:
        written = write_coco_report(evaluation, results_dir)
        console.print(f"results in {results_dir} ({', '.join(p.name for p in written)})")
