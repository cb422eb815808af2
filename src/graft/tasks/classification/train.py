"""``graft classification train``: spec -> trained ``model.graft`` in the results dir."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from graft.api import GraftModel
from graft.data.preprocess import normalization_for
from graft.engine.fit import fit, load_checkpoint_weights
from graft.spec import load_spec
from graft.tasks.classification.data import ClassificationData
from graft.tasks.classification.model import build_network
from graft.tasks.classification.module import ClassificationModule
from graft.tasks.classification.spec import ClassificationSpec


def manifest_for(
    spec: ClassificationSpec,
    arch: dict[str, Any],
    classes: list[str],
    normalization: dict[str, Any],
    metrics: dict[str, Any],
) -> dict[str, Any]:
    h, w = spec.model.input_size
    return {
        "task": "classification",
        "architecture": arch,
        "classes": classes,
        "input": {
            "channels": 3,
            "height": h,
            "width": w,
            "dtype": "uint8 RGB 0..255",
            "normalization": normalization,
        },
        "spec": spec.model_dump(mode="json"),
        "metrics": metrics,
    }


def train(
    spec_file: str | Path | None,
    results_dir: str | Path,
    *,
    key: str | None = None,
    gpus: int = 1,
    num_nodes: int = 1,
    overrides: list[str] | None = None,
    accelerator: str = "auto",
    force: bool = False,
    progress: bool = True,
    spec: ClassificationSpec | None = None,
) -> dict[str, Any]:
    """Train (or resume) and write ``RESULTS_DIR/model.graft``; returns a summary dict."""
    spec = spec or load_spec(spec_file, ClassificationSpec, overrides)
    results_dir = Path(results_dir)
    data = ClassificationData(spec.data, spec.model.input_size)
    net, arch = build_network(spec.model, data.classes, key)
    if spec.model.enable_qat:
        from graft.optimize.quantize import prepare_qat

        net = prepare_qat(net)
        arch["qat"] = True
    normalization = normalization_for(spec.data.preprocess_mode)
    module = ClassificationModule(net, spec, normalization)
    start = time.perf_counter()
    result = fit(
        module,
        data,
        trainer=spec.trainer,
        results_dir=results_dir,
        spec=spec,
        gpus=gpus,
        num_nodes=num_nodes,
        accelerator=accelerator,
        monitor="val/acc",
        mode="max",
        force=force,
        progress=progress,
    )
    model_path = results_dir / "model.graft"
    summary = {
        "results_dir": str(results_dir),
        "model": str(model_path),
        "classes": data.classes,
        "resumed": result.resumed,
        "already_finished": result.already_finished,
        "epochs": result.epochs,
        "val_acc": result.best_score,
        "train_seconds": round(time.perf_counter() - start, 1),
    }
    if result.already_finished or not result.is_main:
        return summary
    ckpt = result.best_checkpoint or result.last_checkpoint
    load_checkpoint_weights(module, ckpt)
    metrics = {"val_acc": result.best_score, "epochs": result.epochs}
    model = GraftModel(
        module.net.float(), manifest_for(spec, arch, data.classes, normalization, metrics)
    )
    model.save(model_path, key=key)
    summary["params"] = model.num_params
    return summary
