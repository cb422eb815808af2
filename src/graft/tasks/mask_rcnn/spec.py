"""Mask R-CNN training spec: TAO's ``data_config`` and ``maskrcnn_config`` field names mapped
onto torchvision's :class:`~torchvision.models.detection.MaskRCNN` arguments.

TAO's top-level training fields (learning rate, momentum, L2, steps) are graft's shared
``optimizer``, ``lr_schedule``, ``regularizer`` and ``trainer`` sections (epochs, not steps).
TAO-only fields with no torchvision counterpart (TFRecord patterns, ``max_num_instances``,
``gt_mask_size``) are not accepted: an unknown key is an error, never ignored silently.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec, TrainerSpec
from graft.spec import SpecPath, StrictModel, WeightsRef

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "efficientnet_lite0")
SIZE_MULTIPLE = 32  # the FPN's coarsest feature map (P5) has stride 32


class MaskRCNNConfig(StrictModel):
    """The network (TAO ``maskrcnn_config``), with torchvision's argument named per field."""

    arch: Literal["resnet", "efficientnet_lite0"] = Field(
        "resnet", description="backbone family: resnet (depth from nlayers) or "
        "efficientnet_lite0 (ImageNet weights from pip: pretrained_weights: efficientnet_lite0)")
    nlayers: Literal[18, 34, 50, 101] = Field(50, description="ResNet depth (arch: resnet)")
    head_version: Literal["v1", "v2"] = Field(
        "v1", description="v1: maskrcnn_resnet50_fpn's heads (2-layer MLP box head, 4-conv "
        "mask head); v2: maskrcnn_resnet50_fpn_v2's (4 conv + 1 FC box head, batch norm in the "
        "FPN and heads, 2-conv RPN head)")
    pretrained_weights: WeightsRef | None = Field(
        None, description="backbone weights: torchvision:resnet50, a .pth/.safetensors state "
        "dict of that ResNet, a .graft of the same backbone, or efficientnet_lite0")
    load_graph: bool = Field(False, description="take the architecture (pruned channel "
                             "counts) from the pretrained_weights .graft: retraining after "
                             "prune")
    freeze_blocks: list[int] = Field(
        default_factory=lambda: [0, 1], description="backbone blocks to freeze (0 = stem, "
        "1..4 the ResNet stages; Lite: 0 stem, 1..7 stages)")
    freeze_bn: bool = Field(True, description="frozen batch norm in the backbone (torchvision's "
                            "and TAO's default: batches of 2 cannot estimate statistics)")
    min_level: Literal[2] = Field(2, description="finest FPN level (P2, stride 4)")
    max_level: Literal[6] = Field(6, description="coarsest FPN level (P6 by max-pool)")
    anchor_scale: float = Field(8.0, gt=0, description="anchor side per level = anchor_scale * "
                                "level stride (torchvision: AnchorGenerator sizes 32..512)")
    aspect_ratios: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0],
        description="anchor height/width ratios (torchvision's aspect_ratios)")
    rpn_positive_overlap: float = Field(0.7, gt=0, le=1, description="rpn_fg_iou_thresh")
    rpn_negative_overlap: float = Field(0.3, ge=0, lt=1, description="rpn_bg_iou_thresh")
    rpn_batch_size_per_im: int = Field(256, ge=1, description="rpn_batch_size_per_image")
    rpn_fg_fraction: float = Field(0.5, gt=0, le=1, description="rpn_positive_fraction")
    rpn_pre_nms_topn_train: int = Field(2000, ge=1, description="rpn_pre_nms_top_n_train")
    rpn_post_nms_topn_train: int = Field(2000, ge=1, description="rpn_post_nms_top_n_train")
    rpn_pre_nms_topn_test: int = Field(1000, ge=1, description="rpn_pre_nms_top_n_test")
    rpn_post_nms_topn_test: int = Field(1000, ge=1, description="rpn_post_nms_top_n_test")
    rpn_nms_threshold: float = Field(0.7, gt=0, le=1, description="rpn_nms_thresh")
    batch_size_per_im: int = Field(512, ge=1, description="RoIs sampled per image "
                                   "(box_batch_size_per_image)")
    fg_fraction: float = Field(0.25, gt=0, le=1, description="box_positive_fraction")
    fg_thresh: float = Field(0.5, gt=0, le=1, description="box_fg_iou_thresh")
    bg_thresh_hi: float = Field(0.5, gt=0, le=1, description="box_bg_iou_thresh")
    fast_rcnn_mlp_head_dim: int = Field(1024, ge=8, description="box head width "
                                        "(representation size of TwoMLPHead)")
    mrcnn_resolution: Literal[28] = Field(28, description="mask head output side (torchvision's "
                                          "is 28: 14x14 RoIAlign, one 2x deconvolution)")
    test_detections_per_image: int = Field(100, ge=1, description="box_detections_per_img")
    test_nms: float = Field(0.5, gt=0, le=1, description="box_nms_thresh")
    test_score_threshold: float = Field(0.05, ge=0, lt=1, description="box_score_thresh: "
                                        "detections below are dropped inside the model")

    @model_validator(mode="after")
    def _check(self) -> MaskRCNNConfig:
        if self.rpn_negative_overlap >= self.rpn_positive_overlap:
            raise ValueError("rpn_negative_overlap must be below rpn_positive_overlap")
        top = 4 if self.arch == "resnet" else 7  # the Lite's head conv is not in the FPN body
        if any(not 0 <= b <= top for b in self.freeze_blocks):
            raise ValueError(f"freeze_blocks for {self.arch} are 0 (stem) to {top}")
        return self

    @property
    def backbone(self) -> str:
        """The name in graft's backbone table (resnet50, efficientnet_lite0)."""
        return f"resnet{self.nlayers}" if self.arch == "resnet" else self.arch


class DataConfig(StrictModel):
    """COCO instance data (TAO ``data_config``, COCO JSON instead of TFRecords)."""

    train_annotations: SpecPath = Field(description="COCO JSON of the training images")
    train_images: SpecPath = Field(description="folder the training file_names are relative to")
    val_annotations: SpecPath | None = Field(
        None, description="COCO JSON of the validation images (without: no best model)")
    val_images: SpecPath | None = Field(None, description="folder of the validation images")
    image_size: tuple[int, int] = Field(
        (832, 1344), description="(height, width): shorter image side resized to "
        f"min(image_size), longer at most max(image_size); multiples of {SIZE_MULTIPLE}")
    augment_input_data: bool = Field(True, description="random horizontal flips in training")
    scale_jitter: tuple[float, float] = Field(
        (1.0, 1.0), description="training scale augmentation: the shorter side is drawn from "
        "min(image_size) times this range (in steps of 32 pixels)")
    batch_size: int = Field(2, ge=1, description="images per batch and GPU (TAO: 2)")
    eval_batch_size: int = Field(2, ge=1, description="images per validation batch")
    num_workers: int = Field(2, ge=0, description="DataLoader worker processes")

    @field_validator("image_size")
    @classmethod
    def _multiple(cls, v: tuple[int, int]) -> tuple[int, int]:
        if any(s < 64 or s % SIZE_MULTIPLE for s in v):
            raise ValueError(f"image_size sides must be multiples of {SIZE_MULTIPLE} and at "
                             f"least 64 (got {v[0]}x{v[1]}): the FPN's stride is "
                             f"{SIZE_MULTIPLE}")
        return v

    @model_validator(mode="after")
    def _pairs(self) -> DataConfig:
        if (self.val_annotations is None) != (self.val_images is None):
            raise ValueError("give val_annotations and val_images together")
        if not 0 < self.scale_jitter[0] <= self.scale_jitter[1]:
            raise ValueError("scale_jitter is (low, high) with 0 < low <= high")
        return self


class EvaluationConfig(StrictModel):
    """Validation during training: COCO bbox and segm AP; segm AP picks the best model."""

    every_n_epochs: int = Field(1, ge=1, description="epochs between COCO evaluations (the "
                                "last epoch is always evaluated)")


def _default_schedule() -> LRScheduleSpec:
    return LRScheduleSpec(name="soft_anneal", learning_rate=0.02, soft_start=0.05,
                          annealing_points=[0.67, 0.89], annealing_divider=10.0)


class MaskRCNNSpec(StrictModel):
    """The training spec of ``graft mask_rcnn train``."""

    maskrcnn_config: MaskRCNNConfig = Field(default_factory=MaskRCNNConfig)
    data_config: DataConfig
    evaluation_config: EvaluationConfig = Field(default_factory=EvaluationConfig)
    optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(momentum=0.9))
    lr_schedule: LRScheduleSpec = Field(default_factory=_default_schedule)
    regularizer: RegularizerSpec = Field(
        default_factory=lambda: RegularizerSpec(type="l2", weight=5e-5))
    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
