"""The data sections of a DetectNet_v2 spec: ``dataset_config`` and ``augmentation_config``.

Defaults are TLT's KITTI spec (see each field's description). Paths are relative to the spec
file's folder (:mod:`graft.spec_paths`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from graft.data.kitti import DONTCARE, class_key
from graft.spec import SpecPath, StrictModel

STRIDE = 16  # DetectNet_v2's output stride: input sizes are multiples of it


class DataSource(StrictModel):
    """Images with KITTI label files (``label_directory_path``) or a COCO json."""

    image_directory_path: SpecPath = Field(description="folder of the images (searched "
                                           "recursively)")
    label_directory_path: SpecPath | None = Field(None, description="KITTI: one .txt per "
                                                  "image, same relative path")
    annotation_file: SpecPath | None = Field(None, description="COCO: instances json (crowd "
                                             "boxes become ignore regions)")
    source_weight: float = Field(1.0, gt=0.0, description="loss weight of this source's "
                                 "images (multiplies their loss mask)")

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
    num_workers: int = Field(4, ge=0, description="data loader processes (graft's; 0 reads "
                             "in the training process)")

    @field_validator("target_class_mapping")
    @classmethod
    def _unique_keys(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for source, target in value.items():
            known = seen.setdefault(class_key(source), target)
            if class_key(known) != class_key(target):
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
            if class_key(target) != DONTCARE:
                names.setdefault(class_key(target), target.strip())
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
