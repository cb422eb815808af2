"""Demo workflow 4: the BodyPoseNet model through TLT's deployment path.

prune (channel counts multiples of 8; the PAF/heatmap heads and the stage concat are kept
whole by the dependency graph) -> retrain the pruned graph -> export ONNX FP32 and INT8
(calibrated on training images through the inference preprocessing) -> COCO keypoint AP of
all three on the same validation images, with the same decoder.

The threshold: with ``-n max`` each layer's filter norms are divided by the layer's largest.
The demo's 20 epochs from scratch leave the backbone's (batch-normalized) filters close
together and the stage convs (no normalization, as in BodyPoseNet) widely spread, so 0.8
removes about 54 % of the parameters, most of them in the stages; 0.9 removed 81 %, down to
16 channels per stage layer, and six epochs of retraining could not bring that back.
Retraining takes the training spec as it is (TLT's practice) for ``--pose-retrain-epochs``:
20 epochs gave AP 0.456 against the unpruned 0.519, 40 gave 0.525.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from graft.demo.common import (
    Row,
    console,
    export_fp32_and_int8,
    num_params,
    prune_options,
    write_spec,
)
from graft.demo.pose import PoseRun

PRUNE_THRESHOLD = 0.8


def run(base: PoseRun, out: Path, retrain_epochs: int, force: bool = False) -> list[Row]:
    from graft.optimize.cli import run_prune
    from graft.tasks import get
    from graft.tasks.bpnet.module import train

    task = get("bpnet")
    work = out / "pose_optimize"
    start = time.perf_counter()
    pruned = work / "pruned.graft"
    options = prune_options(task, base.model, PRUNE_THRESHOLD)
    console.rule(f"pose optimize: prune BodyPoseNet (-pth {options.threshold}, "
                 "granularity 8)")
    run_prune(task, base.model, pruned, None, options)

    console.rule("pose optimize: retrain the pruned graph")
    spec = copy.deepcopy(base.spec)
    spec["model"].update({"pretrained_weights": pruned, "load_graph": True})
    spec["trainer"]["epochs"] = retrain_epochs  # otherwise the training spec, as TLT retrains
    retrain_spec = write_spec(work / "retrain.yaml", spec)
    train(retrain_spec, work / "retrain", force=force)
    retrained = work / "retrain" / "model.graft"
    rows = [_row("prune + retrain (PyTorch)", retrained, base.evaluate(
        retrained, work / "eval_pytorch"), start, work)]

    console.rule("pose optimize: export ONNX FP32 and INT8, evaluate with onnxruntime")
    for export in export_fp32_and_int8(task, retrained, work, base.train_images):
        ap = base.evaluate(export.path, work / f"eval_{export.data_type}")
        rows.append(_row(export.step, export.path, ap, export.start, work, params=rows[0].params))
    return rows


def _row(step: str, model: Path, ap: float, start: float, work: Path,
         params: int | None = None) -> Row:
    return Row(workflow="pose_optimize", step=step, model="bpnet pruned",
               params=params if params is not None else num_params(model), metric="keypoint AP",
               value=ap, seconds=time.perf_counter() - start, outputs=str(work))
