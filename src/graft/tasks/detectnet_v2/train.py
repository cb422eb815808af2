"""``graft detectnet_v2 train``: spec -> network and data -> the engine's driver -> model.graft.

The network is fresh, takes ``pretrained_weights`` by tensor name (torchvision ImageNet
weights, a classification ``.graft`` of the same backbone, another DetectNet_v2 model), or with
``load_graph: true`` takes the (pruned) architecture of a DetectNet_v2 ``.graft`` as well: the
retraining step after ``prune``. ``training_config.enable_qat`` wraps it for quantization-aware
training (:mod:`graft.optimize.quantize`), as classification does.

Input normalization: ``(x / 255 - ImageNet mean) / 0.226``, one standard deviation for the
three channels (ImageNet's 0.229, 0.224, 0.225 averaged). Torchvision's pretrained backbones
expect about this, and unlike per-channel deviations it is exactly what DeepStream's nvinfer
can do (one ``net-scale-factor`` and per-channel ``offsets``, :mod:`graft.deploy.deepstream`).
TLT divides by 255 only; its weights are not used here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from graft.console import err_console
from graft.data.preprocess import IMAGENET_MEAN
from graft.engine.driver import (
    Launch,
    Monitor,
    TrainOptions,
    TrainParts,
    TrainSummary,
    run_training,
)
from graft.errors import UserError
from graft.manifest import InputSpec, Manifest, Normalization
from graft.tasks.detectnet_v2.data_spec import STRIDE
from graft.tasks.detectnet_v2.model import architecture_dict, build_model
from graft.tasks.detectnet_v2.spec import DetectNetSpec

TASK_NAME = "detectnet_v2"
NORMALIZATION = Normalization(mode="detectnet_v2", scale=1 / 255, mean=list(IMAGENET_MEAN),
                              std=[0.226] * 3, channel_order="RGB")
MONITOR = Monitor("val/mAP", "max")


def build_network(spec: DetectNetSpec, key: str | None = None
                  ) -> tuple[nn.Module, dict[str, Any]]:
    """The network to train and its manifest ``architecture`` (see the module docstring)."""
    from graft.engine.weights import load_matching, pruned_graph, resolve_pretrained

    model = spec.model
    classes = spec.class_names
    arch = architecture_dict(model.arch, classes, use_batch_norm=model.use_batch_norm,
                             all_projections=model.all_projections)
    pretrained = resolve_pretrained(model.pretrained_weights, key, arch=model.arch,
                                    arch_field="model_config.arch") \
        if model.pretrained_weights else None
    if model.load_graph:
        def same_classes(recorded: dict[str, Any]) -> None:
            if int(recorded.get("num_classes", -1)) != len(classes):
                raise UserError(f"the pruned model has {recorded.get('num_classes')} classes "
                                f"({', '.join(recorded.get('class_names', []))}), the spec "
                                f"{len(classes)} ({', '.join(classes)})",
                                "retrain on the classes of the pruned model")

        net, arch = pruned_graph(pretrained, build_model,
                                 field="model_config.pretrained_weights", task=TASK_NAME,
                                 check=same_classes, drop=("qat",))
        arch["class_names"] = list(classes)
    else:
        net = build_model(arch)
    if pretrained is not None:
        report = load_matching(net, pretrained.state_dict, backbone="backbone",
                               source=pretrained.source)
        err_console.print(f"pretrained weights from {pretrained.source}: {report.summary()}")
    if model.freeze_blocks:
        net.freeze_blocks(model.freeze_blocks)
    if spec.training_config.enable_qat:
        from graft.optimize.quantize import prepare_qat

        net = prepare_qat(net)
        arch["qat"] = True
    return net, arch


def manifest_for(spec: DetectNetSpec, arch: dict[str, Any], metrics: dict[str, Any]
                 ) -> Manifest:
    h, w = spec.input_size
    return Manifest(task=TASK_NAME, architecture=arch, classes=list(spec.class_names),
                    input=InputSpec(channels=3, height=h, width=w, dtype="uint8 RGB 0..255",
                                    normalization=NORMALIZATION, stride=STRIDE),
                    spec=spec.model_dump(mode="json"), metrics=metrics)


def class_count_notes(dataset: Any) -> list[str]:
    """Loud lines for target classes without a single training object."""
    counts = dataset.counts(dataset.train)
    return [f"warning: class {name!r} has no object in the {len(dataset.train)} training "
            "images; check target_class_mapping and the labels"
            for name in dataset.classes if counts[name]["objects"] == 0]


@dataclass
class DetectNetTraining:
    """The DetectNet_v2 task's side of the engine's train driver."""

    spec: DetectNetSpec
    task: str = TASK_NAME

    def build(self, key: str | None) -> TrainParts:
        from graft.tasks.detectnet_v2.data import DetectionData
        from graft.tasks.detectnet_v2.module import DetectNetModule
        from graft.tasks.detectnet_v2.records import load_dataset

        spec = self.spec
        dataset = load_dataset(spec.dataset_config)
        for line in class_count_notes(dataset) + dataset.warnings[:5]:
            err_console.print(line, highlight=False)
        if len(dataset.warnings) > 5:
            err_console.print(f"... {len(dataset.warnings) - 5} more skipped boxes "
                              "(graft detectnet_v2 dataset_convert lists them all)")
        data = DetectionData(dataset, spec.augmentation_config,
                             spec.training_config.batch_size_per_gpu,
                             spec.dataset_config.num_workers)
        net, arch = build_network(spec, key)
        return TrainParts(module=DetectNetModule(net, spec, NORMALIZATION), data=data,
                          validates=data.val_set is not None, monitor=MONITOR,
                          manifest=lambda metrics: manifest_for(spec, arch, metrics))


def train(spec_file: str | Path | None, results_dir: str | Path, *, key: str | None = None,
          gpus: int = 1, num_nodes: int = 1, overrides: list[str] | None = None,
          accelerator: str = "auto", force: bool = False, use_amp: bool = False,
          progress: bool = True, spec: DetectNetSpec | None = None) -> TrainSummary:
    """Train (or resume) and write ``RESULTS_DIR/model.graft``. ``use_amp``: mixed precision
    on GPUs (bf16 where supported, else fp16) even where the spec says ``precision: "32"``."""
    from graft.spec import load_spec

    spec = spec or load_spec(spec_file, DetectNetSpec, overrides)
    trainer = spec.training_config.trainer
    if use_amp and trainer.precision == "32":
        spec.training_config.trainer = trainer.model_copy(update={"precision": "auto"})
    launch = Launch(accelerator=accelerator, gpus=gpus, num_nodes=num_nodes, progress=progress)
    return run_training(DetectNetTraining(spec), results_dir,
                        TrainOptions(key=key, force=force, launch=launch))
