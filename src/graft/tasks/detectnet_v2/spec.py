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

from pydantic import Field, field_validator, model_validator

from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec, TrainerSpec
from graft.spec import SpecPath, StrictModel, WeightsRef
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

STRIDE = 16
DONTCARE = "dontcare"


def _key(name: str) -> str:
    return name.strip().lower()


class DataSource(StrictModel):
    """Images with KITTI label files (``label_directory_path``) or a COCO json."""

    image_directory_path: SpecPath = Field(description="folder of the images (searched "
                                           "recursively)")
    label_directory_path: SpecPath | None = Field(None, description="KITTI: one .txt per "
                                                  "image, same relative path")
    annotation_file: SpecPath | None = Field(None, description="COCO: instances json (crowd "
                                             "boxes become ignore regions)")
    source_weight: float = Field(1.0, gt=0.0, description="loss weight of this source's images")

    @model_validator(mode="after")
    def _one_format(self) -> DataSource:
        if (self.label_directory_path is None) == (self.annotation_file is None):
            raise ValueError("a data source needs either label_directory_path (KITTI) or "
                             "annotation_file (COCO), not both or neither")
        return self

    @property
    def format(self) -> str:
        return "kitti" if self.label_directory_path is not None else "coco"


class ValidationSplit(StrictModel):
    """A seeded random validation fold of the data sources (not TLT's first-N-files)."""

    fraction: float = Field(0.1, gt=0.0, lt=1.0, description="share of the images")
    seed: int = Field(42, description="the same seed and data give the same split")
    group_by: str | None = Field(None, description="keep groups whole (video sequences, "
                                 "users): regex:PATTERN on the image path, subfolder, or "
                                 "field:NAME of a COCO image entry")


class DatasetConfig(StrictModel):
    """``dataset_config``: where the data is, its classes and the validation data."""

    data_sources: list[DataSource] = Field(min_length=1, description="one or more image "
                                           "folders with KITTI labels or a COCO json")
    target_class_mapping: dict[str, str] = Field(
        min_length=1, description="source class (any case) -> target class; a target "
        "'dontcare' keeps the source as an ignore region; a source class not listed is an "
        "error (list it in ignore_classes to drop it)")
    ignore_classes: list[str] = Field(default_factory=list, description="source classes left "
                                      "out without a trace")
    validation_split: ValidationSplit | None = Field(None, description="validation fold of "
                                                     "the data sources")
    validation_data_source: DataSource | None = Field(None, description="separate validation "
                                                      "data (instead of validation_split)")

    @field_validator("target_class_mapping")
    @classmethod
    def _unique_keys(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for source, target in value.items():
            known = seen.setdefault(_key(source), target)
            if _key(known) != _key(target):
                raise ValueError(f"{source!r} is mapped twice (keys are matched ignoring case)")
        return value

    @model_validator(mode="after")
    def _one_validation(self) -> DatasetConfig:
        if self.validation_split is not None and self.validation_data_source is not None:
            raise ValueError("dataset_config has both validation_split and "
                             "validation_data_source; keep one")
        return self

    def class_map(self) -> Any:
        """The :class:`graft.data.kitti.ClassMap` that reads labels with this mapping."""
        from graft.data.kitti import ClassMap

        return ClassMap(self.target_class_mapping, ignore=self.ignore_classes)

    @property
    def class_names(self) -> list[str]:
        """Target classes in order of first appearance, first spelling, without dontcare."""
        names: dict[str, str] = {}
        for target in self.target_class_mapping.values():
            if _key(target) != DONTCARE:
                names.setdefault(_key(target), target.strip())
        return list(names.values())


class Preprocessing(StrictModel):
    output_image_width: int = Field(1248, ge=STRIDE, description="network input width, a "
                                    "multiple of 16 (KITTI 1248, EgoHands 1280)")
    output_image_height: int = Field(384, ge=STRIDE, description="network input height, a "
                                     "multiple of 16 (KITTI 384, EgoHands 720)")
    output_image_channel: int = Field(3, ge=3, le=3, description="RGB only")
    min_bbox_width: float = Field(1.0, ge=0.0, description="narrower training boxes become "
                                  "ignore regions")
    min_bbox_height: float = Field(1.0, ge=0.0, description="the same for the height")

    @field_validator("output_image_width", "output_image_height")
    @classmethod
    def _multiple(cls, value: int) -> int:
        if value % STRIDE:
            low = value // STRIDE * STRIDE
            raise ValueError(f"{value} is not a multiple of 16 (DetectNet_v2's output stride); "
                             f"use {low or STRIDE} or {low + STRIDE}")
        return value


class SpatialAugmentation(StrictModel):
    hflip_probability: float = Field(0.5, ge=0.0, le=1.0, description="0.5 KITTI")
    vflip_probability: float = Field(0.0, ge=0.0, le=1.0, description="0.3 EgoHands")
    zoom_min: float = Field(1.0, gt=0.0, description="scale range; 1, 1 keeps the size")
    zoom_max: float = Field(1.0, gt=0.0, description="upper end of the scale range")
    translate_max_x: float = Field(8.0, ge=0.0, description="pixels (8 KITTI)")
    translate_max_y: float = Field(8.0, ge=0.0, description="pixels (8 KITTI)")
    rotate_rad_max: float = Field(0.0, ge=0.0, description="radians either way")
    rotate_probability: float = Field(1.0, ge=0.0, le=1.0, description="chance of rotating "
                                      "when rotate_rad_max > 0 (TLT's unset value: 1)")

    @model_validator(mode="after")
    def _zoom(self) -> SpatialAugmentation:
        if self.zoom_min > self.zoom_max:
            raise ValueError("zoom_min exceeds zoom_max")
        return self


class ColorAugmentation(StrictModel):
    hue_rotation_max: float = Field(25.0, ge=0.0, le=180.0, description="degrees either way")
    saturation_shift_max: float = Field(0.2, ge=0.0, le=1.0, description="factor 1 +- this")
    contrast_scale_max: float = Field(0.1, ge=0.0, le=1.0, description="factor 1 +- this")
    contrast_center: float = Field(0.5, ge=0.0, le=1.0, description="intensity contrast "
                                   "scales around")
    color_shift_stddev: float = Field(0.0, ge=0.0, description="per-channel shift (0 KITTI)")


class AugmentationConfig(StrictModel):
    """``augmentation_config``: input size and training augmentation."""

    preprocessing: Preprocessing = Field(default_factory=Preprocessing,
                                         description="input size and box size limits")
    spatial_augmentation: SpatialAugmentation = Field(default_factory=SpatialAugmentation,
                                                      description="flips, zoom, shift, rotation")
    color_augmentation: ColorAugmentation = Field(default_factory=ColorAugmentation,
                                                  description="hue, saturation, contrast")

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the network input."""
        return self.preprocessing.output_image_height, self.preprocessing.output_image_width


class ModelConfig(StrictModel):
    """``model_config``: the network (see :mod:`graft.tasks.detectnet_v2.model`)."""

    arch: str = Field("resnet18", description="resnet10/18/34/50, vgg16, mobilenet_v2, "
                      "efficientnet_b0 (and efficientnet_lite0..2 where graft has them); TLT's "
                      "arch: resnet with num_layers: 18 is read as resnet18")
    num_layers: int | None = Field(None, description="TLT's depth for arch resnet or vgg")
    pretrained_weights: WeightsRef | None = Field(
        None, description="torchvision:NAME (ImageNet), a .graft file, catalog:NAME, or a "
        "state dict; tensors are matched by name and shape")
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
        from graft.tasks.detectnet_v2.model import ARCHS

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
                                 "seed follow TLT's fields")


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
        classes = {_key(c): c for c in self.dataset_config.class_names}
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
        key = _key(name)
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
    by_key = {_key(k): v for k, v in section.items()}
    return [by_key.get(_key(n), default() if callable(default) else default)
            for n in class_names]
