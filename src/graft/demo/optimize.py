"""Demo workflow 2: the classification model through TLT's deployment path.

prune (TLT thresholds, channel counts multiples of 8) -> retrain the pruned graph -> export
ONNX FP32 and INT8 (calibrated on training images) -> evaluate both with onnxruntime on the
same validation images as the PyTorch model.

The base model is EfficientNet-Lite0 fine-tuned from ImageNet: depthwise convs are pruned
together with the 1x1 expansion that feeds them (one channel group), the residual stream's
channels together across each stage. The threshold is high for TLT (0.1 is common) because
ImageNet training without an L1 regularizer leaves few near-zero filters: with TLT's usual
``-nf 16``, ``-pth 0.5`` removes 5 % of the parameters, 0.65 39 %, 0.7 56 %. Those norms have
no gap to cut at, so 0.7 cut some expansion groups to 5-10 % of their channels (block 7: 24 of
480, block 15: 80 of 1152): the pruned net scored chance (0.30 even with its BN statistics
recomputed) and, that far from its ImageNet optimum, retrained like a net from scratch (0.61
after 3 epochs at 5e-4). So the demo uses TLT's ``-nf`` as a floor of 128 channels per group
(0.67 right after pruning, BN recomputed, at the same 50 % removed), starts at 0.7 and raises
it until at least half of the parameters go, and retrains at the fine-tune's rate with warmup.
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
MIN_NUM_FILTERS = 128  # -nf: no expansion group cut below 128 channels (see the docstring)
RETRAIN_LR = 2e-3  # the fine-tune's rate: the pruned net is far from its ImageNet optimum


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
    options = prune_options(task, base.model, PRUNE_THRESHOLD, min_num_filters=MIN_NUM_FILTERS)
    console.rule(f"optimize: prune EfficientNet-Lite0 (-pth {options.threshold}, -pg 8, "
                 f"-nf {options.min_num_filters})")
    run_prune(task, base.model, pruned, None, options)

    console.rule("optimize: retrain the pruned graph")
    spec = copy.deepcopy(base.spec)
    spec["model"].update({"pretrained_weights": pruned, "load_graph": True})
    spec["regularizer"] = {"type": "l2", "weight": 5e-5}
    spec["lr_schedule"].update({"learning_rate": RETRAIN_LR, "soft_start": 0.1})
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
