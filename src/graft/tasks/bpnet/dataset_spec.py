"""Dataset spec: where a COCO-format keypoint dataset lives and how to read its labels.

The file (JSON or YAML) follows TLT's ``coco_spec.json`` so existing specs load unchanged::

    {
      "dataset": "coco",
      "root_directory_path": "/data/coco",
      "train_data": {"images_root_dir_path": "train2017",
                     "mask_root_dir_path": "train_mask2017",
                     "annotation_root_dir_path": "annotations/person_keypoints_train2017.json"},
      "test_data": {...},
      "pose_config_path": "bpnet_18joints.json",
      "visibility_flags": {"value": {"visible": 2, "occluded": 1, "not_labeled": 0}}
    }

Relative paths: ``root_directory_path`` and ``pose_config_path`` are relative to the dataset
spec file's folder (graft's rule for every spec file); the per-mode paths are relative to the
root, as in TLT. The pose config (model joints, limbs, flip
pairs) is given by path or inline under ``pose_config``; a ``categories`` entry (as in TLT) may
name the keypoint order of the annotation files, which then replaces ``source_joints``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from graft.errors import UserError, require_file
from graft.spec import SpecPath, StrictModel, read_yaml, validate
from graft.spec_paths import resolve_spec_paths, spec_folder
from graft.tasks.bpnet.pose_config import PoseConfig, load_pose_config

Mode = Literal["train", "test"]
InternalFlag = Literal["visible", "occluded", "not_labeled"]
# Internal visibility codes used everywhere after conversion (COCO's convention).
VISIBILITY_CODE: dict[str, int] = {"visible": 2, "occluded": 1, "not_labeled": 0}


class ModeData(StrictModel):
    """Images, masks and annotation file of one split (paths relative to the root)."""

    images_root_dir_path: str = Field(description="the split's image folder")
    mask_root_dir_path: str = Field(description="where dataset_convert --generate_masks writes")
    annotation_root_dir_path: str = Field(description="the COCO person_keypoints JSON file")


class VisibilityFlags(StrictModel):
    """How the annotation files encode visibility (the TLT ``visibility_flags`` block).

    ``value`` names each flag value used in the files; ``mapping`` says what each name means.
    A dataset with ``1 = visible, 0 = missing`` writes ``{"value": {"vis": 1, "missing": 0},
    "mapping": {"vis": "visible", "missing": "not_labeled"}}``.
    """

    value: dict[str, int] = Field(
        default_factory=lambda: {"visible": 2, "occluded": 1, "not_labeled": 0},
        description="flag name -> the number the annotation files use for it")
    mapping: dict[str, InternalFlag] | None = Field(
        default=None, description="flag name -> visible|occluded|not_labeled; default: identity")

    @model_validator(mode="after")
    def _check(self) -> VisibilityFlags:
        mapping = self.mapping or {}
        for name in self.value:
            if name not in mapping and name not in VISIBILITY_CODE:
                raise ValueError(f"flag {name!r} needs an entry in mapping "
                                 "(visible, occluded or not_labeled)")
        unknown = [n for n in mapping if n not in self.value]
        if unknown:
            raise ValueError(f"mapping names flags {unknown} that are not in value")
        if len(set(self.value.values())) != len(self.value):
            raise ValueError("two flag names share one value")
        return self

    def code_of(self) -> dict[int, int]:
        """Flag value in the files -> internal code (2 visible, 1 occluded, 0 not labeled)."""
        mapping = self.mapping or {}
        return {v: VISIBILITY_CODE[mapping.get(name, name)] for name, v in self.value.items()}


class DataFilteringParams(StrictModel):
    """Which labeled persons may be the centre of a person-centric crop (TLT's "main persons")."""

    min_acceptable_height: float = Field(32, ge=0, description="bbox height in pixels")
    min_acceptable_width: float = Field(32, ge=0, description="bbox width in pixels")
    min_acceptable_kpts: int = Field(5, ge=0, description="labeled keypoints")
    min_acceptable_interperson_dist_ratio: float = Field(
        0.3, ge=0, description="skip a person whose centre is closer than this x the larger "
        "bbox side of an already chosen person")


class CategorySpec(StrictModel):
    """A TLT-style category entry; only ``name`` and ``keypoints`` are used."""

    name: str = Field(description="category name (matched against `category`)")
    keypoints: list[str] | None = Field(None, description="keypoint names in annotation order")
    id: int | None = Field(None, description="read for TLT compatibility; unused")
    supercategory: str | None = Field(None, description="read for TLT compatibility; unused")
    num_joints: int | None = Field(None, description="read for TLT compatibility; unused")
    skeleton: list[list[int]] | None = Field(None, description="read for TLT compatibility; "
                                             "unused (limbs come from the pose config)")
    skeleton_edge_names: list[list[str]] | None = Field(
        None, description="read for TLT compatibility; unused")


class DatasetSpec(StrictModel):
    """The dataset spec (``--dataset_spec``, TLT's coco_spec.json): where a COCO-format
    keypoint dataset lives and how to read its labels. Paths are relative to
    ``root_directory_path``, itself relative to this file's folder."""

    dataset: str = Field("coco", description="annotation format; only coco is read")
    root_directory_path: SpecPath = Field(".", description="the dataset's root folder")
    train_data: ModeData | None = Field(None, description="the training split")
    test_data: ModeData | None = Field(None, description="the evaluation / validation split")
    category: str = Field("person", description="annotation category holding the keypoints")
    categories: list[CategorySpec] | None = Field(
        default=None, description="optional: keypoint names of the annotation files (TLT)")
    pose_config_path: SpecPath | None = Field(
        default=None, description="model pose config (JSON/YAML); default: 18-joint BodyPoseNet")
    pose_config: PoseConfig | None = Field(default=None, description="inline pose config")
    visibility_flags: VisibilityFlags = Field(default_factory=VisibilityFlags)
    data_filtering_params: DataFilteringParams = Field(default_factory=DataFilteringParams)
    duplicate_data_with_each_person_as_center: bool = Field(
        True, description="person_centric: one training sample per main person (TLT)")

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        if self.pose_config is not None and self.pose_config_path is not None:
            raise ValueError("give pose_config_path or an inline pose_config, not both")
        if self.train_data is None and self.test_data is None:
            raise ValueError("give train_data and/or test_data")
        return self

    # -- paths -------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.root_directory_path).expanduser()

    def mode_data(self, mode: str) -> ModeData:
        mode = normalize_mode(mode)
        data = self.train_data if mode == "train" else self.test_data
        if data is None:
            raise UserError(f"the dataset spec has no {mode}_data section",
                            f"add {mode}_data (images, masks and annotation paths)")
        return data

    def image_dir(self, mode: str) -> Path:
        return self.root / self.mode_data(mode).images_root_dir_path

    def mask_dir(self, mode: str) -> Path:
        return self.root / self.mode_data(mode).mask_root_dir_path

    def annotation_file(self, mode: str) -> Path:
        return self.root / self.mode_data(mode).annotation_root_dir_path

    # -- pose --------------------------------------------------------------------------------
    def load_pose_config(self) -> PoseConfig:
        """The model pose config, with ``source_joints`` from ``categories`` when given."""
        if self.pose_config is not None:
            pose = self.pose_config
        elif self.pose_config_path is not None:
            pose = load_pose_config(Path(self.pose_config_path).expanduser())
        else:
            pose = PoseConfig()
        names = self._category_keypoints()
        if names is None:
            return pose
        data = pose.model_dump()
        data["source_joints"] = [normalize_joint_name(n) for n in names]
        return validate(PoseConfig, data, source="dataset spec categories + pose config")

    def _category_keypoints(self) -> list[str] | None:
        for cat in self.categories or []:
            if cat.name == self.category and cat.keypoints:
                return cat.keypoints
        return None


def normalize_mode(mode: str) -> Mode:
    """``train`` or ``test`` (``val`` is accepted for ``test``)."""
    m = str(mode).strip().lower()
    if m in ("val", "validation"):
        m = "test"
    if m not in ("train", "test"):
        raise UserError(f"unknown mode {mode!r}", "use -m train or -m test")
    return m  # type: ignore[return-value]


def normalize_joint_name(name: str) -> str:
    """COCO's ``left_shoulder`` -> ``l_shoulder`` so dataset names match pose configs."""
    for long, short in (("left_", "l_"), ("right_", "r_")):
        if name.startswith(long):
            return short + name[len(long):]
    return name


def load_dataset_spec(path: str | Path) -> DatasetSpec:
    """Read and validate a dataset spec file (JSON or YAML)."""
    p = require_file(path, "dataset spec")
    spec = validate(DatasetSpec, read_yaml(p), source=str(p))
    return resolve_spec_paths(spec, spec_folder(p), source=str(p))
