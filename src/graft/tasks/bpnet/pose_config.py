"""Pose configurations: joint names, limbs (skeleton) and left/right flip pairs.

The default is the 18-joint BodyPoseNet layout (COCO's 17 joints plus a neck synthesized from
the shoulders). Custom skeletons are plain JSON/YAML files with the same fields, so any joint
count works end to end: targets, network heads, decoder and evaluation all read this object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, model_validator

from graft.errors import UserError
from graft.spec import StrictModel, validate
from graft.spec_paths import path_origin

BPNET_18_JOINTS = [
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
]
# 1-indexed limb list of the BodyPoseNet 18-joint model (REFERENCE.md), converted to 0-indexed.
BPNET_18_LIMBS = [
    (a - 1, b - 1)
    for a, b in [
        (2, 9), (9, 10), (10, 11), (2, 12), (12, 13), (13, 14), (2, 3), (3, 4), (4, 5), (3, 17),
        (2, 6), (6, 7), (7, 8), (6, 18), (2, 1), (1, 15), (1, 16), (15, 17), (16, 18),
    ]
]
COCO_17_JOINTS = [
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
    "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
]


class SynthesizedJoint(StrictModel):
    """A joint not labeled in the source data, made as the mean of others (e.g. the neck)."""

    name: str = Field(description="the new joint's name (one of `joints`)")
    mean_of: list[str] = Field(min_length=2, description="source joints averaged into it")


class PoseConfig(StrictModel):
    """Joint layout of the model (a pose config file, named by ``pose_config_path``):
    ``limbs`` index into ``joints`` (0-based)."""

    joints: list[str] = Field(default_factory=lambda: list(BPNET_18_JOINTS), min_length=2,
                              description="the model's joints, in output-channel order")
    limbs: list[tuple[int, int]] = Field(default_factory=lambda: list(BPNET_18_LIMBS),
                                         min_length=1, description="joint index pairs (0-based) "
                                         "joined by a PAF each")
    flip_pairs: list[tuple[int, int]] | None = Field(
        default=None, description="left/right joint index pairs swapped on horizontal flip; "
        "default: pairs named l_X / r_X (also left_X / right_X)")
    source_joints: list[str] = Field(
        default_factory=lambda: list(COCO_17_JOINTS),
        description="joint order of the keypoints in the annotation files")
    synthesized: list[SynthesizedJoint] = Field(
        default_factory=lambda: [
            SynthesizedJoint(name="neck", mean_of=["l_shoulder", "r_shoulder"])],
        description="joints computed from labeled ones; only when all of mean_of are labeled")

    @model_validator(mode="after")
    def _check(self) -> PoseConfig:
        n = len(self.joints)
        if len(set(self.joints)) != n:
            raise ValueError("joint names must be unique")
        for a, b in self.limbs:
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"limb ({a}, {b}) must join two different joints in 0..{n - 1}")
        known = set(self.source_joints) | {s.name for s in self.synthesized}
        missing = [j for j in self.joints if j not in known]
        if missing:
            raise ValueError(f"joints {missing} are neither in source_joints nor synthesized")
        for s in self.synthesized:
            bad = [j for j in s.mean_of if j not in self.source_joints]
            if bad:
                raise ValueError(f"synthesized joint {s.name!r} uses unknown source joints {bad}")
        if self.flip_pairs is None:
            self.flip_pairs = _default_flip_pairs(self.joints)
        return self

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def num_limbs(self) -> int:
        return len(self.limbs)

    @property
    def heatmap_channels(self) -> int:
        """Joints plus one background channel."""
        return self.num_joints + 1

    @property
    def paf_channels(self) -> int:
        """Two channels (x, y) per limb; limb k uses channels 2k and 2k+1."""
        return 2 * self.num_limbs

    def flip_permutation(self) -> list[int]:
        """Joint index permutation applied after a horizontal flip."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs or []:
            perm[a], perm[b] = b, a
        return perm


def _default_flip_pairs(joints: list[str]) -> list[tuple[int, int]]:
    index = {name: i for i, name in enumerate(joints)}
    pairs = []
    for name, i in index.items():
        for left, right in (("l_", "r_"), ("left_", "right_")):
            if name.startswith(left):
                j = index.get(right + name[len(left):])
                if j is not None:
                    pairs.append((i, j))
    return pairs


def load_pose_config(path: str | Path | None) -> PoseConfig:
    """Load a pose config file (JSON or YAML); ``None`` gives the 18-joint default."""
    if path is None:
        return PoseConfig()
    p = Path(path)
    if not p.is_file():
        raise UserError(f"pose config not found: {p}{path_origin(p)}", "check pose_config_path")
    try:
        text = p.read_text()
        data: Any = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError):
        raise UserError(f"pose config {p} is not valid JSON/YAML", "fix its syntax") from None
    return validate(PoseConfig, data or {}, source=str(p))
