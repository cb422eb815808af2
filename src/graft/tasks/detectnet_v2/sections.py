"""The per-class sections of a DetectNet_v2 spec: rasterizer, clustering, cost and evaluation.

Each section is keyed by target class as in TLT (``target_class_config: {car: {...}}``,
``target_classes: [{name: car, ...}]``). A section left empty takes the defaults below for
every class; a section that names any class must name exactly the classes of
``dataset_config.target_class_mapping`` (checked by :class:`~graft.tasks.detectnet_v2.spec.
DetectNetSpec`). Defaults are TLT's KITTI values (its ``default_spec.txt``), given in each
field's description next to what NVIDIA's other specs use.

These models are also the parameter objects of the core modules: the encoder takes
:class:`RasterClass` and :class:`BboxObjective`, the decoder :class:`ClusteringConfig`, the
cost :class:`CostTargetClass` and the evaluator's rules come from :class:`EvaluationConfig`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from graft.spec import StrictModel

OBJECTIVES = ("cov", "bbox")


def _lower(value: Any) -> Any:
    """Enum values as TLT writes them (``DBSCAN``, ``INTEGRATE``) or lowercase."""
    return value.strip().lower() if isinstance(value, str) else value


Algorithm = Annotated[Literal["dbscan", "nms", "hybrid"], BeforeValidator(_lower)]
APMode = Annotated[Literal["sample", "integrate"], BeforeValidator(_lower)]


class RasterClass(StrictModel):
    """How one class's objects are drawn into the coverage target (output-cell units)."""

    cov_center_x: float = Field(0.5, ge=0.0, le=1.0, description="centre of the coverage "
                                "ellipse as a fraction of the box width from its left edge "
                                "(0.5 in every NVIDIA spec)")
    cov_center_y: float = Field(0.5, ge=0.0, le=1.0, description="the same from the top edge")
    cov_radius_x: float = Field(0.4, gt=0.0, le=1.0, description="ellipse semi-axis as a "
                                "fraction of the half-width of the box (0.4: KITTI, EgoHands)")
    cov_radius_y: float = Field(0.4, gt=0.0, le=1.0, description="the same for the height")
    bbox_min_radius: float = Field(1.0, ge=0.0, description="smallest semi-axis in output "
                                   "cells (16 px); smaller ellipses are scaled up keeping their "
                                   "aspect ratio (1.0: KITTI)")


class BboxRasterizerConfig(StrictModel):
    """``bbox_rasterizer_config``: the coverage/box target rasterizer."""

    target_class_config: dict[str, RasterClass] = Field(
        default_factory=dict, description="per class; empty: the defaults for every class")
    deadzone_radius: float = Field(0.67, ge=0.0, le=1.0, description="how far the dead zone "
                                   "around each ellipse reaches towards the box edge (0: the "
                                   "ellipse itself, 1: the whole box); a box drawn later (lower "
                                   "in the image) clears the earlier boxes' cells inside its "
                                   "dead zone, which separates neighbours (0.67 KITTI, 0.4 "
                                   "EgoHands)")


class BboxObjective(StrictModel):
    """``model_config.objective_set.bbox``: the box encoding (input pixels)."""

    scale: float = Field(35.0, gt=0.0, description="box distances are divided by this (35 in "
                         "every NVIDIA spec)")
    offset: float = Field(0.5, description="the anchor of output cell (i, j) is the input "
                          "pixel point (16 j + offset, 16 i + offset): half a pixel, not half "
                          "a cell")


class CovObjective(StrictModel):
    """``model_config.objective_set.cov``: no parameters (TLT writes ``cov {}``)."""


class ObjectiveSet(StrictModel):
    bbox: BboxObjective = Field(default_factory=BboxObjective, description="box encoding")
    cov: CovObjective = Field(default_factory=CovObjective, description="coverage (no "
                              "parameters)")


class ClusteringConfig(StrictModel):
    """One class's post-processing: coverage threshold, then DBSCAN, NMS or both.

    Confidence scales differ by algorithm: DBSCAN's is TLT's sum of the cluster's coverage
    (exceeds 1 for large objects); NMS's is one cell's coverage in [0, 1]. Every detection also
    gets a normalized score in [0, 1] (see :mod:`graft.tasks.detectnet_v2.decoder`).
    """

    clustering_algorithm: Algorithm = Field(
        "dbscan", description="dbscan (TLT's default), nms, or hybrid (DBSCAN, then NMS over "
        "the surviving clusters' cells); case-insensitive")
    coverage_threshold: float = Field(0.005, ge=0.0, le=1.0, description="cells with "
                                      "coverage at or below this are dropped first (0.005)")
    minimum_bounding_box_height: float = Field(20.0, ge=0.0, description="detections this tall "
                                               "or shorter (input pixels) are dropped (20)")
    dbscan_eps: float = Field(0.13, ge=0.0, le=1.0, description="DBSCAN radius on the distance "
                              "1 - IoU between cells' boxes (0.13 KITTI, 0.2 EgoHands)")
    dbscan_min_samples: float = Field(1.0, ge=0.0, description="coverage mass a cell's "
                                      "neighbourhood needs to seed a cluster; used as "
                                      "max(int(value), 1), so the 0.05 of old specs is 1")
    dbscan_confidence_threshold: float = Field(0.0, ge=0.0, description="clusters whose "
                                               "coverage sum is below this are dropped (0 "
                                               "KITTI, 0.9 EgoHands)")
    nms_iou_threshold: float = Field(0.2, ge=0.0, le=1.0, description="nms/hybrid: IoU above "
                                     "which the lower-coverage cell is suppressed")
    nms_confidence_threshold: float = Field(0.01, ge=0.0, le=1.0, description="nms/hybrid: "
                                            "cells kept by NMS need more coverage than this")

    @property
    def min_samples(self) -> int:
        """What DBSCAN receives (TLT's rule)."""
        return max(int(self.dbscan_min_samples), 1)


class PostprocessingClass(StrictModel):
    clustering_config: ClusteringConfig = Field(default_factory=ClusteringConfig,
                                                description="the class's clustering")


class PostprocessingConfig(StrictModel):
    """``postprocessing_config``: per class clustering."""

    target_class_config: dict[str, PostprocessingClass] = Field(
        default_factory=dict, description="per class; empty: the defaults for every class")


class Objective(StrictModel):
    name: Literal["cov", "bbox"] = Field(description="cov (coverage BCE) or bbox (box L1)")
    initial_weight: float = Field(ge=0.0, description="normalized over the class's objectives "
                                  "(cov 1, bbox 10 in every NVIDIA spec)")
    weight_target: float = Field(ge=0.0, description="autoweighting aims each objective's share "
                                 "of the class's cost at this (normalized; cov 1, bbox 10)")


def _default_objectives() -> list[Objective]:
    return [Objective(name="cov", initial_weight=1.0, weight_target=1.0),
            Objective(name="bbox", initial_weight=10.0, weight_target=10.0)]


class CostTargetClass(StrictModel):
    """One class of ``cost_function_config.target_classes``."""

    name: str = Field(description="a target class")
    class_weight: float = Field(1.0, gt=0.0, description="normalized over the classes (1.0)")
    coverage_foreground_weight: float = Field(
        0.05, gt=0.0, lt=1.0, description="BCE weight of cells whose coverage target is above "
        "0.5; the others get 1 minus this (0.05 in every NVIDIA spec)")
    objectives: list[Objective] = Field(default_factory=_default_objectives,
                                        description="cov and bbox, each once")

    @field_validator("objectives")
    @classmethod
    def _both(cls, value: list[Objective]) -> list[Objective]:
        names = sorted(o.name for o in value)
        if names != sorted(OBJECTIVES):
            raise ValueError(f"needs the objectives cov and bbox once each, got {names}")
        return value

    def objective(self, name: str) -> Objective:
        return next(o for o in self.objectives if o.name == name)


class CostFunctionConfig(StrictModel):
    """``cost_function_config``: class and objective weights, autoweighting."""

    target_classes: list[CostTargetClass] = Field(
        default_factory=list, description="per class; empty: the defaults for every class")
    enable_autoweighting: bool = Field(True, description="after each epoch, reweight each "
                                       "class's objectives towards their weight_target shares "
                                       "(True in every NVIDIA spec)")
    max_objective_weight: float = Field(0.9999, gt=0.0, le=1.0, description="autoweighting "
                                        "clamps each weight to at most this (0.9999)")
    min_objective_weight: float = Field(1e-4, ge=0.0, lt=1.0, description="... and to at "
                                        "least this (1e-4)")

    @model_validator(mode="after")
    def _order(self) -> CostFunctionConfig:
        if self.min_objective_weight > self.max_objective_weight:
            raise ValueError("min_objective_weight must not exceed max_objective_weight")
        return self


class EvaluationBox(StrictModel):
    """Which ground truth of a class counts (input pixels); the rest is an ignore region."""

    minimum_height: float = Field(0.0, ge=0.0, description="KITTI spec: car 40, pedestrian 25")
    maximum_height: float = Field(9999.0, gt=0.0, description="9999 in NVIDIA's specs")
    minimum_width: float = Field(0.0, ge=0.0, description="KITTI spec: car 20, pedestrian 10")
    maximum_width: float = Field(9999.0, gt=0.0, description="9999 in NVIDIA's specs")

    @model_validator(mode="after")
    def _order(self) -> EvaluationBox:
        if self.minimum_height > self.maximum_height or self.minimum_width > self.maximum_width:
            raise ValueError("a minimum exceeds its maximum")
        return self


class EvaluationConfig(StrictModel):
    """``evaluation_config``: when to validate and how detections are scored."""

    validation_period_during_training: int = Field(10, ge=1, description="epochs between "
                                                   "validations (10 KITTI); the last epoch is "
                                                   "always validated")
    first_validation_epoch: int | None = Field(
        None, ge=1, description="first validated epoch; null: the first period (TLT's KITTI "
        "spec: 110 of 120)")
    minimum_detection_ground_truth_overlap: dict[str, float] = Field(
        default_factory=dict, description="per class IoU a detection needs to match; empty: "
        "0.5 for every class (KITTI spec: car 0.7, pedestrian 0.5)")
    evaluation_box_config: dict[str, EvaluationBox] = Field(
        default_factory=dict, description="per class size filter; ground truth outside it is "
        "ignored, not missed; empty: no filter")
    average_precision_mode: APMode = Field(
        "integrate", description="integrate: area under the PR curve (VOC2010+, TLT's KITTI "
        "spec); sample: 11-point (VOC2007); case-insensitive")

    @field_validator("minimum_detection_ground_truth_overlap")
    @classmethod
    def _iou(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0.0 < v <= 1.0}
        if bad:
            raise ValueError(f"IoU thresholds must lie in (0, 1], got {bad}")
        return value

    def validation_epochs(self, num_epochs: int) -> list[int]:
        """The 1-based epochs that validate: first, first + period, ..., and the last epoch."""
        period = self.validation_period_during_training
        first = self.first_validation_epoch or period
        epochs = list(range(first, num_epochs + 1, period))
        return epochs if epochs and epochs[-1] == num_epochs else [*epochs, num_epochs]
