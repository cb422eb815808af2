"""Training: the masked multi-stage loss, the Lightning module and ``graft bpnet train``.

Loss (TLT's): for every stage and both branches, half the squared error between prediction and
target, times the loss mask (1 = use; crowds and unlabeled people are 0), summed over channels
and pixels and divided by the batch size; the stages' losses are added. Its scale is what the
TLT learning-rate defaults were tuned for. Validation reports the same loss on the last stage,
the maps inference uses; the best model is the one with the best keypoint AP on the validation
images (:mod:`~graft.tasks.bpnet.validation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graft.console import console
from graft.engine.driver import (
    Launch,
    Monitor,
    TrainOptions,
    TrainParts,
    TrainSummary,
    run_training,
)
from graft.engine.module import GraftModule
from graft.errors import UserError
from graft.manifest import InputSpec, Manifest, Normalization
from graft.tasks.bpnet.model import BpNetLite, architecture_dict, build_model
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.spec import BpnetTrainSpec, ModelSpec
from graft.tasks.bpnet.validation import DEFAULT_INTERVAL, KeypointEvaluation


def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum(mask * (pred - target)^2) / batch``; ``mask`` (B, 1, h, w) broadcasts."""
    diff = (pred.float() - target.float()) * mask.float()
    return 0.5 * diff.square().sum() / pred.shape[0]


def pose_loss(outputs: list[tuple[torch.Tensor, torch.Tensor]], heatmap: torch.Tensor,
              paf: torch.Tensor, mask: torch.Tensor
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Sum over stages of the masked L2 of PAFs and heatmaps; also the per-branch totals."""
    if outputs and outputs[0][0].shape[-2:] != heatmap.shape[-2:]:
        raise UserError(f"the network outputs {tuple(outputs[0][0].shape[-2:])} maps but the "
                        f"targets are {tuple(heatmap.shape[-2:])}",
                        "image_dims / stride must match the network's stride of 8")
    paf_loss = sum(masked_l2(p, paf, mask) for p, _ in outputs)
    heat_loss = sum(masked_l2(h, heatmap, mask) for _, h in outputs)
    return paf_loss + heat_loss, {"paf": paf_loss, "heatmap": heat_loss}


class BpnetModule(GraftModule):
    """Lightning module over :class:`BpNetLite`; batches are the data module's dicts."""

    def __init__(self, net: BpNetLite, spec: BpnetTrainSpec) -> None:
        super().__init__(net, spec.optimizer, spec.lr_schedule, spec.regularizer)
        self.stagewise = spec.use_stagewise_lr_multipliers

    def param_groups(self) -> list[dict[str, Any]]:
        if not self.stagewise:
            return super().param_groups()
        groups = self.net.lr_multiplier_groups()
        for g in groups:
            g["params"] = [p for p in g["params"] if p.requires_grad]
        return groups

    def forward(self, images: torch.Tensor) -> Any:
        return self.net(self.to_input_format(images))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        outputs = self(batch["image"])
        loss, parts = pose_loss(outputs, batch["heatmap"], batch["paf"], batch["mask"])
        size = batch["image"].shape[0]
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=size, sync_dist=True)
        self.log("train/paf_loss", parts["paf"], on_step=False, on_epoch=True, batch_size=size,
                 sync_dist=True)
        self.log("train/heatmap_loss", parts["heatmap"], on_step=False, on_epoch=True,
                 batch_size=size, sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        paf, heat = self(batch["image"])  # eval mode: the last stage only
        loss, parts = pose_loss([(paf, heat)], batch["heatmap"], batch["paf"], batch["mask"])
        size = batch["image"].shape[0]
        self.log("val/loss", loss, prog_bar=True, batch_size=size, sync_dist=True)
        self.log("val/paf_loss", parts["paf"], batch_size=size, sync_dist=True)
        self.log("val/heatmap_loss", parts["heatmap"], batch_size=size, sync_dist=True)


# -- building the network for training ---------------------------------------------------------
def build_network(spec: ModelSpec, pose: PoseConfig, key: str | None = None
                  ) -> tuple[BpNetLite, dict[str, Any]]:
    """The network to train: fresh, with pretrained tensors, or the (pruned) graph of a .graft."""
    from graft.engine.weights import load_matching, pruned_graph, resolve_pretrained

    for name, given, derived in (("heat_channels", spec.heat_channels, pose.heatmap_channels),
                                 ("paf_channels", spec.paf_channels, pose.paf_channels)):
        if given is not None and given != derived:
            raise UserError(f"model.{name} is {given} but the pose config gives {derived} "
                            f"({pose.num_joints} joints, {pose.num_limbs} limbs)",
                            f"remove model.{name} or fix the pose config")
    arch = architecture_dict(pose.model_dump(mode="json"), backbone=spec.backbone,
                             stages=spec.stages, use_self_attention=spec.use_self_attention,
                             refinement_kernel=spec.refinement_kernel)
    pretrained = resolve_pretrained(spec.pretrained_weights, key, arch=spec.backbone,
                                    arch_field="model.backbone") if spec.pretrained_weights \
        else None
    if spec.load_graph:
        def same_pose(recorded: dict[str, Any]) -> None:
            if ((recorded.get("heat_channels"), recorded.get("paf_channels"))
                    != (arch["heat_channels"], arch["paf_channels"])):
                raise UserError("the pretrained graph was built for another pose config",
                                "retrain with the pose config of the pruned model")

        net, arch = pruned_graph(pretrained, build_model, field="model.pretrained_weights",
                                 task="bpnet", check=same_pose)
    else:
        net = build_model(arch)
    if pretrained is not None:
        report = load_matching(net, pretrained.state_dict, backbone="backbone",
                               source=pretrained.source)
        console.print(f"pretrained weights from {pretrained.source}: {report.summary()}")
    return net, arch


def manifest_normalization(dataloader_normalization: Any) -> Normalization:
    """The data side's ``x * a + b`` normalization in the manifest's ``(x * scale - mean) / std``
    form (scale 1), so export, calibration and inference preprocess identically."""
    a, b = dataloader_normalization.scale_shift()
    return Normalization(mode=f"bpnet_{dataloader_normalization.type}", scale=1.0,
                         mean=[-bb / aa for aa, bb in zip(a, b, strict=True)],
                         std=[1.0 / aa for aa in a], channel_order="RGB")


def manifest_for(spec: BpnetTrainSpec, arch: dict[str, Any], pose: PoseConfig,
                 metrics: dict[str, Any]) -> Manifest:
    h, w = spec.dataloader.image_config.input_size
    return Manifest(
        task="bpnet", architecture=arch, classes=["person"], joints=list(pose.joints),
        input=InputSpec(channels=3, height=h, width=w, dtype="uint8 RGB 0..255",
                        normalization=manifest_normalization(
                            spec.dataloader.normalization_params),
                        stride=int(arch.get("stride", 8))),
        spec=spec.model_dump(mode="json"), metrics=metrics)


@dataclass
class BpnetTraining:
    """The bpnet task's side of the engine's train driver."""

    spec: BpnetTrainSpec
    task: str = "bpnet"

    def build(self, key: str | None) -> TrainParts:
        from graft.tasks.bpnet.data import BpnetDataModule

        spec = self.spec
        data = BpnetDataModule(spec.dataloader)
        pose = data.pose_config
        net, arch = build_network(spec.model, pose, key)
        evaluation = keypoint_evaluation(spec, data, manifest_for(spec, arch, pose, {}))
        return TrainParts(
            module=BpnetModule(net, spec), data=data, validates=data.has_val,
            monitor=evaluation.monitor if evaluation else Monitor("val/loss", "min"),
            manifest=lambda metrics: manifest_for(spec, arch, pose, metrics),
            evaluation=evaluation)


def keypoint_evaluation(spec: BpnetTrainSpec, data: Any, manifest: Manifest
                        ) -> KeypointEvaluation | None:
    """Keypoint AP on the validation split (None without one), at the training input size."""
    from graft.tasks.bpnet.evaluate import evaluation_pose
    from graft.tasks.bpnet.spec import InferenceSpec

    val = data.val_index
    if val is None:
        return None
    return KeypointEvaluation(
        annotation_file=val.annotation_file, image_dir=val.image_dir,
        pose=evaluation_pose(data.pose_config, val.pose_config), manifest=manifest,
        inference=InferenceSpec(input_shape=spec.dataloader.image_config.input_size),
        every_n_epochs=spec.trainer.evaluation_interval or DEFAULT_INTERVAL)


def train(spec_file: str | Path | None, results_dir: str | Path, *, key: str | None = None,
          gpus: int = 1, num_nodes: int = 1, overrides: list[str] | None = None,
          accelerator: str = "auto", force: bool = False, progress: bool = True,
          spec: BpnetTrainSpec | None = None) -> TrainSummary:
    """Train (or resume) and write ``RESULTS_DIR/model.graft``.

    Relative paths in the spec file are relative to its folder (those of a ``spec`` object to
    the working directory). The resolved spec is saved as ``RESULTS_DIR/spec.yaml`` by the
    engine.
    """
    from graft.spec import load_spec

    spec = spec or load_spec(spec_file, BpnetTrainSpec, overrides)
    launch = Launch(accelerator=accelerator, gpus=gpus, num_nodes=num_nodes, progress=progress)
    return run_training(BpnetTraining(spec), results_dir,
                        TrainOptions(key=key, force=force, launch=launch))
