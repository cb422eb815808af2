"""Demo workflow 2: the classification model through TLT's deployment path.

prune (TLT thresholds, channel counts multiples of 8) -> retrain the pruned graph -> export
ONNX FP32 and INT8 (calibrated on training images) -> evaluate both with onnxruntime on the
same validation images as the PyTorch model.

The base model is EfficientNet-Lite0 fine-tuned from ImageNet: depthwise convs are pruned
together with the 1x1 expansion that feeds them (one channel group), the residual stream's
channels together across each stage. The threshold is high for TLT (0.1 is common) because
ImageNet training without an L1 regularizer leaves few near-zero filters: on the demo's model
``-pth 0.5`` removes 5 % of the parameters, 0.65 39 %, 0.7 56 % and 0.8 86 %. The demo starts
at 0.7 and raises it until at least half of the parameters go; retraining then recovers the
accuracy: the demo shows it does.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from graft.demo.classification import ClassificationRun
from graft.demo.common import (
    Row,
    console,
    export_fp32_and_int8,
    num_params,
    prune_options,
    write_spec,
)

PRUNE_THRESHOLD = 0.7


def run(base: ClassificationRun, out: Path, retrain_epochs: int, force: bool = False
        ) -> list[Row]:
    from graft.optimize.cli import run_prune
    from graft.tasks import get
    from graft.tasks.classification.evaluate import evaluate
    from graft.tasks.classification.train import train

    task = get("classification")
    work = out / "optimize"
    start = time.perf_counter()
    pruned = work / "pruned.graft"
    options = prune_options(task, base.model, PRUNE_THRESHOLD)
    console.rule(f"optimize: prune EfficientNet-Lite0 (-pth {options.threshold}, granularity 8)")
    run_prune(task, base.model, pruned, None, options)

    console.rule("optimize: retrain the pruned graph")
    spec = copy.deepcopy(base.spec)
    spec["model"].update({"pretrained_weights": pruned, "load_graph": True})
    spec["regularizer"] = {"type": "l2", "weight": 5e-5}
    spec["lr_schedule"].update({"learning_rate": 5e-4, "soft_start": 0.0})
    spec["trainer"]["epochs"] = retrain_epochs
    retrain_spec = write_spec(work / "retrain.yaml", spec)
    train(retrain_spec, work / "retrain", force=force)
    retrained = work / "retrain" / "model.graft"
    rows = [_row("prune + retrain (PyTorch)", retrained, evaluate(
        retrain_spec, retrained, results_dir=work / "eval_pytorch"), start, work)]

    console.rule("optimize: export ONNX FP32 and INT8, evaluate with onnxruntime")
    for export in export_fp32_and_int8(task, retrained, work, base.data_dir / "train"):
        metrics = evaluate(retrain_spec, export.path, results_dir=work / f"eval_{export.data_type}")
        rows.append(_row(export.step, export.path, metrics, export.start, work,
                         params=rows[0].params))
    return rows


def _row(step: str, model: Path, metrics: dict, start: float, work: Path,
         params: int | None = None) -> Row:
    return Row(workflow="optimize", step=step, model="lite0 pruned",
               params=params if params is not None else num_params(model), metric="top-1",
               value=metrics["top1_accuracy"], seconds=time.perf_counter() - start,
               outputs=str(work))
