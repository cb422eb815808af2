"""Demo workflow 2: the classification model through TLT's deployment path.

prune (TLT thresholds, channel counts multiples of 8) -> retrain the pruned graph -> export
ONNX FP32 and INT8 (calibrated on training images) -> evaluate both with onnxruntime on the
same validation images as the PyTorch model.

The threshold is high for TLT (0.1 is common) because of how the base model was trained: 15
epochs from scratch leave every layer's filter norms between about 0.86 and 0.99 of the
layer's largest, so only a threshold inside that band removes filters. (A TLT model trained
for long with the L1 regularizer has many near-zero filters and prunes at 0.1; an L1 run of
the demo's length cost 6 points of accuracy.) The filters removed are then close to arbitrary,
which makes retraining do the real work: the demo shows it does.
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

PRUNE_THRESHOLD = 0.94


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
    console.rule(f"optimize: prune ResNet18 (-pth {options.threshold}, granularity 8)")
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
    return Row(workflow="optimize", step=step, model="resnet18 pruned",
               params=params if params is not None else num_params(model), metric="top-1",
               value=metrics["top1_accuracy"], seconds=time.perf_counter() - start,
               outputs=str(work))
