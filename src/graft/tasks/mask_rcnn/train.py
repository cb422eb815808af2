"""``graft mask_rcnn train``: spec -> network and COCO data -> the engine's driver -> model.graft.

The backbone takes ``pretrained_weights`` by tensor name (torchvision's ResNet weights, a file
of them, a ``.graft`` with that backbone, or the pip-packaged ``efficientnet_lite0``); a
``.graft`` of this task fills the whole network where the shapes fit (fine-tuning on new
classes keeps all but the class-specific predictors). The best model is the epoch with the
highest validation segm AP. ``load_graph: true`` rebuilds the pruned network of a
``.graft`` written by ``graft mask_rcnn prune`` and retrains it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from graft.console import err_console
from graft.engine.driver import Launch, TrainOptions, TrainParts, TrainSummary, run_training
from graft.manifest import InputSpec, Manifest, Normalization
from graft.tasks.mask_rcnn.model import architecture_dict, build_model, freeze_backbone_blocks
from graft.tasks.mask_rcnn.module import MONITOR, CocoInstanceEvaluation, MaskRCNNModule
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec

TASK_NAME = "mask_rcnn"


def build_network(spec: MaskRCNNSpec, class_names: list[str], category_ids: list[int],
                  key: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The network to train and its manifest ``architecture``."""
    from graft.engine.weights import load_matching, resolve_pretrained

    m = spec.maskrcnn_config
    arch = architecture_dict(spec)
    arch.update(class_names=list(class_names), category_ids=list(category_ids),
                num_classes=len(class_names) + 1)
    net = pruned_network(spec, arch, key) if m.load_graph else build_model(arch)
    if m.pretrained_weights and not m.load_graph:
        pretrained = resolve_pretrained(m.pretrained_weights, key, arch=m.backbone,
                                        arch_field="maskrcnn_config.arch")
        whole = pretrained.manifest is not None and pretrained.manifest.task == TASK_NAME
        report = load_matching(net, pretrained.state_dict,
                               backbone="" if whole else "backbone.body",
                               head="roi_heads" if whole else None, source=pretrained.source)
        err_console.print(f"pretrained weights from {pretrained.source}: {report.summary()}",
                          highlight=False)
    if m.freeze_blocks:
        freeze_backbone_blocks(net, m.backbone, m.freeze_blocks)
    return net, arch


STRUCTURE = ("backbone", "head_version", "representation_size", "num_classes")


def pruned_network(spec: MaskRCNNSpec, arch: dict[str, Any], key: str | None) -> nn.Module:
    """``load_graph: true``: the (pruned) network of a mask_rcnn ``.graft`` with its weights,
    the spec's settings (sizes, anchors, sampling) around it; backbone, heads and classes must
    be the model's."""
    from graft.engine.weights import load_matching, pruned_graph, resolve_pretrained
    from graft.errors import UserError

    ref = spec.maskrcnn_config.pretrained_weights
    pretrained = resolve_pretrained(ref, key) if ref else None

    def same_structure(recorded: dict[str, Any]) -> None:
        differ = [k for k in STRUCTURE if recorded.get(k) != arch[k]]
        if differ:
            raise UserError(
                f"the pruned model's {', '.join(differ)} ("
                f"{', '.join(str(recorded.get(k)) for k in differ)}) differ from the spec's "
                f"({', '.join(str(arch[k]) for k in differ)})",
                "retrain with the backbone, head_version, fast_rcnn_mlp_head_dim and classes "
                "of the pruned model")

    net, _ = pruned_graph(pretrained, lambda _recorded: build_model(arch),
                          field="maskrcnn_config.pretrained_weights", task=TASK_NAME,
                          check=same_structure)
    assert pretrained is not None  # pruned_graph raised otherwise
    report = load_matching(net, pretrained.state_dict, source=pretrained.source)
    err_console.print(f"pruned graph from {pretrained.source}: {report.summary()}",
                      highlight=False)
    return net


def manifest_for(spec: MaskRCNNSpec, arch: dict[str, Any], metrics: dict[str, Any]) -> Manifest:
    h, w = spec.data_config.image_size
    norm = Normalization(mode="mask_rcnn", scale=1 / 255, mean=list(arch["image_mean"]),
                         std=list(arch["image_std"]), channel_order="RGB")
    return Manifest(task=TASK_NAME, architecture=arch, classes=list(arch["class_names"]),
                    input=InputSpec(channels=3, height=h, width=w, dtype="uint8 RGB 0..255",
                                    normalization=norm),
                    spec=spec.model_dump(mode="json"), metrics=metrics)


@dataclass
class MaskRCNNTraining:
    """The Mask R-CNN task's side of the engine's train driver."""

    spec: MaskRCNNSpec
    task: str = TASK_NAME

    def build(self, key: str | None) -> TrainParts:
        from graft.tasks.mask_rcnn.data import InstanceData

        spec = self.spec
        data = InstanceData(spec.data_config)
        train_set = data.train_set
        net, arch = build_network(spec, train_set.class_names, train_set.category_ids, key)
        evaluation = None
        if data.val_set is not None:
            evaluation = CocoInstanceEvaluation(data.val_set.coco.dataset,
                                                spec.evaluation_config.every_n_epochs)
        return TrainParts(module=MaskRCNNModule(net, spec, train_set.category_ids), data=data,
                          validates=data.val_set is not None, monitor=MONITOR,
                          manifest=lambda metrics: manifest_for(spec, arch, metrics),
                          evaluation=evaluation)


def train(spec_file: str | Path | None, results_dir: str | Path, *, key: str | None = None,
          gpus: int = 1, num_nodes: int = 1, overrides: list[str] | None = None,
          accelerator: str = "auto", force: bool = False, progress: bool = True,
          spec: MaskRCNNSpec | None = None) -> TrainSummary:
    """Train (or resume) and write ``RESULTS_DIR/model.graft``."""
    from graft.spec import load_spec

    spec = spec or load_spec(spec_file, MaskRCNNSpec, overrides)
    launch = Launch(accelerator=accelerator, gpus=gpus, num_nodes=num_nodes, progress=progress)
    return run_training(MaskRCNNTraining(spec), results_dir,
                        TrainOptions(key=key, force=force, launch=launch))
