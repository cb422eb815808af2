"""Network construction for classification: architecture dicts, pretrained weights, freezing."""

from __future__ import annotations

from typing import Any

from torch import nn

from graft.console import err_console
from graft.engine.weights import load_matching, pruned_graph, resolve_pretrained
from graft.errors import UserError
from graft.nn.backbones import build_classifier, classifier_name, freeze_blocks
from graft.tasks.classification.spec import ModelSpec


def architecture(spec: ModelSpec, classes: list[str]) -> dict[str, Any]:
    return {"arch": spec.arch, "num_classes": len(classes), "dropout": spec.dropout}


def build_from_architecture(arch: dict[str, Any]) -> nn.Module:
    return build_classifier(arch["arch"], int(arch["num_classes"]), float(arch.get("dropout", 0.0)))


def build_network(
    spec: ModelSpec, classes: list[str], key: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The network to train: fresh, pretrained, or the pruned graph of a .graft (load_graph)."""
    arch = architecture(spec, classes)
    pretrained = (
        resolve_pretrained(spec.pretrained_weights, key, arch=spec.arch, arch_field="model.arch")
        if spec.pretrained_weights else None
    )
    if spec.load_graph:
        def same_classes(recorded: dict[str, Any]) -> None:
            if recorded.get("num_classes") != len(classes):
                raise UserError(f"the pruned model has {recorded.get('num_classes')} classes, "
                                f"the data {len(classes)}",
                                "retrain on the same classes as the pruned model")

        net, arch = pruned_graph(pretrained, build_from_architecture,
                                 field="model.pretrained_weights", check=same_classes)
    else:
        net = build_from_architecture(arch)
    if pretrained is not None:
        report = load_matching(net, pretrained.state_dict, head=classifier_name(arch["arch"]),
                               source=pretrained.source)
        err_console.print(f"pretrained weights from {pretrained.source}: {report.summary()}")
    if spec.freeze_blocks:
        freeze_blocks(net, spec.arch, spec.freeze_blocks)
    return net, arch
