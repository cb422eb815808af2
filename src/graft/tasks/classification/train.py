"""``graft classification train``: spec -> trained ``model.graft`` in the results dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.engine.driver import (
    Launch,
    TrainOptions,
    TrainParts,
    TrainSummary,
    run_training,
)
from graft.manifest import InputSpec, Manifest, Normalization
from graft.spec import load_spec
from graft.tasks.classification.spec import ClassificationSpec


def manifest_for(
    spec: ClassificationSpec,
    arch: dict[str, Any],
    classes: list[str],
    normalization: Normalization,
    metrics: dict[str, Any],
) -> Manifest:
    h, w = spec.model.input_size
    return Manifest(
        task="classification", architecture=arch, classes=classes,
        input=InputSpec(channels=3, height=h, width=w, dtype="uint8 RGB 0..255",
                        normalization=normalization),
        spec=spec.model_dump(mode="json"), metrics=metrics)


@dataclass
class ClassificationTraining:
    """The classification task's side of the engine's train driver."""

    spec: ClassificationSpec
    task: str = "classification"

    def build(self, key: str | None) -> TrainParts:
        from graft.data.preprocess import normalization_for
        from graft.tasks.classification.model import build_network
        from graft.tasks.classification.module import TopKEvaluation

        spec = self.spec
        data = self.load_data()
        net, arch = build_network(spec.model, data.classes, key)
        if spec.model.enable_qat:
            from graft.optimize.quantize import prepare_qat

            net = prepare_qat(net)
            arch["qat"] = True
        normalization = normalization_for(spec.data.preprocess_mode)
        validates = data.val_set is not None
        evaluation = (TopKEvaluation(len(data.val_set), spec.eval.top_k,
                                     spec.trainer.evaluation_interval or 1)
                      if validates else None)
        return TrainParts(
            module=self.module(net, data, normalization),
            data=data,
            validates=validates,
            monitor=TopKEvaluation.monitor,
            evaluation=evaluation,
            manifest=lambda metrics: self.manifest(arch, data.classes, normalization, metrics),
        )

    # The three pieces a task on classification's engine (GestureNet) replaces.
    def load_data(self) -> Any:
        from graft.tasks.classification.data import ClassificationData

        return ClassificationData(self.spec.data, self.spec.model.input_size)

    def module(self, net: Any, data: Any, normalization: Normalization) -> Any:
        from graft.tasks.classification.module import ClassificationModule

        return ClassificationModule(net, self.spec, normalization)

    def manifest(self, arch: dict[str, Any], classes: list[str], normalization: Normalization,
                 metrics: dict[str, Any]) -> Manifest:
        return manifest_for(self.spec, arch, classes, normalization, metrics)


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
) -> TrainSummary:
    """Train (or resume) and write ``RESULTS_DIR/model.graft``."""
    spec = spec or load_spec(spec_file, ClassificationSpec, overrides)
    launch = Launch(accelerator=accelerator, gpus=gpus, num_nodes=num_nodes, progress=progress)
    return run_training(ClassificationTraining(spec), results_dir,
                        TrainOptions(key=key, force=force, launch=launch))
