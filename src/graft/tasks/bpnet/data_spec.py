"""The ``dataloader`` section of a bpnet training spec (TLT names and defaults).

::

    dataloader:
      batch_size: 10
      workers: 4
      pose_config: {pose_config_path: null}          # null: 18-joint BodyPoseNet
      image_config: {image_dims: {height: 256, width: 256, channels: 3}, stride: 8}
      dataset_config:
        dataset_spec: data/dataset_spec.json
        train_records_folder_path: data/train        # dataset_convert -m train -o data/train
        val_records_folder_path: data/val            # dataset_convert -m test -o data/val
      normalization_params: {image_scale: [256, 256, 256], image_offset: [0.5, 0.5, 0.5]}
      augmentation_config:
        spatial_augmentation_mode: person_centric
        spatial_aug_params: {flip_lr_prob: 0.5, rotate_deg_max: 40, translate_max_x: 40, ...}
      label_processor_config:
        heatmap_gaussian_sigma: 7.0
        paf_ortho_dist_thresh: 1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from graft.errors import UserError
from graft.spec import SpecPath, StrictModel
from graft.tasks.bpnet.pose_config import PoseConfig, load_pose_config

if TYPE_CHECKING:
    import torch

SpatialMode = Literal["person_centric", "standard", "standard_with_fixed_aspect_ratio"]


class PoseConfigRef(StrictModel):
    """Which pose config the model uses; ``target_shape`` is checked against image dims/stride."""

    pose_config_path: SpecPath | None = Field(
        default=None, description="JSON/YAML pose config; null: 18-joint BodyPoseNet")
    target_shape: tuple[int, int] | None = Field(
        default=None, description="(h, w) of the output maps; derived from image dims / stride")

    def load(self) -> PoseConfig:
        return load_pose_config(self.pose_config_path)


class ImageDims(StrictModel):
    """The network input size (multiples of the stride)."""

    height: int = Field(256, ge=8, description="input height in pixels")
    width: int = Field(256, ge=8, description="input width in pixels")
    channels: Literal[3] = Field(3, description="RGB input")


class ImageConfig(StrictModel):
    """Network input size and output stride (8 for the BodyPoseNet backbone)."""

    image_dims: ImageDims = Field(default_factory=ImageDims)
    stride: int = Field(8, ge=1, description="network stride: input size / output map size")

    @model_validator(mode="after")
    def _check(self) -> ImageConfig:
        d = self.image_dims
        if d.height % self.stride or d.width % self.stride:
            raise ValueError(f"image_dims {d.height}x{d.width} must be multiples of the stride "
                             f"{self.stride}")
        return self

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the network input."""
        return self.image_dims.height, self.image_dims.width

    @property
    def target_size(self) -> tuple[int, int]:
        """(h, w) of the heatmap/PAF outputs."""
        return self.image_dims.height // self.stride, self.image_dims.width // self.stride


class NormalizationSpec(StrictModel):
    """Input normalization of RGB images in [0, 255].

    ``scale_offset`` (TLT default): ``x / image_scale - image_offset`` (x/256 - 0.5).
    ``mean_std``: ``(x / 255 - mean) / std`` (ImageNet statistics by default), for backbones
    pretrained that way.
    """

    type: Literal["scale_offset", "mean_std"] = Field("scale_offset",
                                                      description="which formula applies")
    image_scale: tuple[float, float, float] = Field(
        (256.0, 256.0, 256.0), description="scale_offset: per-channel divisor")
    image_offset: tuple[float, float, float] = Field(
        (0.5, 0.5, 0.5), description="scale_offset: subtracted after dividing")
    mean: tuple[float, float, float] = Field((0.485, 0.456, 0.406),
                                             description="mean_std: per-channel mean (0..1)")
    std: tuple[float, float, float] = Field((0.229, 0.224, 0.225),
                                            description="mean_std: per-channel std (0..1)")

    @model_validator(mode="after")
    def _check(self) -> NormalizationSpec:
        if any(s <= 0 for s in self.image_scale) or any(s <= 0 for s in self.std):
            raise ValueError("image_scale and std must be positive")
        return self

    def scale_shift(self) -> tuple[list[float], list[float]]:
        """Per-channel (a, b) with ``normalized = x * a + b`` for x in [0, 255]."""
        if self.type == "scale_offset":
            return ([1.0 / s for s in self.image_scale], [-o for o in self.image_offset])
        return ([1.0 / (255.0 * s) for s in self.std],
                [-m / s for m, s in zip(self.mean, self.std, strict=True)])

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """Normalize uint8/float RGB images (..., 3, H, W) with values in [0, 255]."""
        import torch

        a, b = self.scale_shift()
        dtype = images.dtype if images.is_floating_point() else torch.float32
        shape = (3, 1, 1)
        a_t = torch.tensor(a, dtype=dtype, device=images.device).view(shape)
        b_t = torch.tensor(b, dtype=dtype, device=images.device).view(shape)
        return images.to(dtype) * a_t + b_t


class SpatialAugParams(StrictModel):
    """Random spatial augmentation ranges (TLT ``spatial_aug_params``; defaults: TLT's COCO spec).

    ``None`` minima mean symmetric ranges. ``zoom_ratio`` > 1 makes the content smaller.
    """

    flip_lr_prob: float = Field(0.5, ge=0, le=1, description="probability of a left-right "
                                "flip (left and right joints swap)")
    flip_tb_prob: float = Field(0.0, ge=0, le=1, description="probability of an upside-down "
                                "flip")
    rotate_deg_max: float = Field(40.0, ge=-180, le=180,
                                  description="largest rotation, in degrees")
    rotate_deg_min: float | None = Field(None, ge=-180, le=180, description="smallest rotation "
                                         "(null: -rotate_deg_max)")
    zoom_prob: float = Field(0.0, ge=0, le=1, description="probability of a random zoom")
    zoom_ratio_min: float = Field(0.5, gt=0, description="smallest zoom ratio")
    zoom_ratio_max: float = Field(1.1, gt=0, description="largest zoom ratio")
    translate_max_x: float = Field(40.0, description="largest shift along x, in input pixels")
    translate_min_x: float | None = Field(None, description="smallest shift along x (null: "
                                          "-translate_max_x)")
    translate_max_y: float = Field(40.0, description="largest shift along y, in input pixels")
    translate_min_y: float | None = Field(None, description="smallest shift along y (null: "
                                          "-translate_max_y)")
    use_translate_ratio: bool = Field(False, description="shift by fractions of the input size "
                                      "(translate_ratio_*) instead of pixels")
    translate_ratio_max: float = Field(0.2, description="largest shift as a fraction of the "
                                       "input size")
    translate_ratio_min: float | None = Field(None, description="smallest shift as a fraction "
                                              "(null: -translate_ratio_max)")
    target_person_scale: float = Field(
        0.6, gt=0, description="person_centric: person height as a fraction of the input height")

    @model_validator(mode="after")
    def _check(self) -> SpatialAugParams:
        if self.zoom_ratio_min > self.zoom_ratio_max:
            raise ValueError("zoom_ratio_min must not exceed zoom_ratio_max")
        if self.rotate_range[0] > self.rotate_range[1]:
            raise ValueError("rotate_deg_min must not exceed rotate_deg_max")
        return self

    @property
    def rotate_range(self) -> tuple[float, float]:
        lo = -self.rotate_deg_max if self.rotate_deg_min is None else self.rotate_deg_min
        return lo, self.rotate_deg_max

    def translate_range(self, axis: Literal["x", "y"]) -> tuple[float, float]:
        """Range in pixels (absolute mode) or as a fraction of the input size (ratio mode)."""
        if self.use_translate_ratio:
            hi = self.translate_ratio_max
            lo = -hi if self.translate_ratio_min is None else self.translate_ratio_min
        else:
            hi = self.translate_max_x if axis == "x" else self.translate_max_y
            lo_opt = self.translate_min_x if axis == "x" else self.translate_min_y
            lo = -hi if lo_opt is None else lo_opt
        return min(lo, hi), max(lo, hi)


class AugmentationConfig(StrictModel):
    """Training augmentation: the spatial mode and its random ranges.

    - ``person_centric``: crop around one labeled person, scaled to ``target_person_scale``.
    - ``standard``: the whole image, aspect ratio kept (padded), centred.
    - ``standard_with_fixed_aspect_ratio``: the whole image stretched to the input size.
    """

    spatial_augmentation_mode: SpatialMode = Field(
        "person_centric", description="how a training image is framed (see the section)")
    spatial_aug_params: SpatialAugParams = Field(default_factory=SpatialAugParams)
    enabled: bool = Field(True, description="false: train without random augmentation")


class LabelProcessorConfig(StrictModel):
    """Ground-truth map generation (see :mod:`graft.tasks.bpnet.encoder`)."""

    heatmap_gaussian_sigma: float = Field(7.0, gt=0, description="in input pixels")
    paf_ortho_dist_thresh: float = Field(
        1.0, gt=0, description="PAF half-width, in multiples of the stride")
    paf_gaussian_sigma: float = Field(
        0.03, gt=0, description="read for TLT spec compatibility; unused (TLT does not use it "
        "either): the PAF is a hard band of half-width paf_ortho_dist_thresh x stride")


class DatasetConfig(StrictModel):
    """Where the converted data lives (outputs of ``graft bpnet dataset_convert``).

    Give the record folders; with only ``dataset_spec`` the index is built in memory from the
    annotation files at start-up (masks already generated are used).
    """

    dataset_spec: SpecPath | None = Field(default=None, description="dataset spec (JSON/YAML)")
    train_records_folder_path: SpecPath | None = Field(
        default=None, description="dataset_convert -m train output folder")
    val_records_folder_path: SpecPath | None = Field(
        default=None, description="dataset_convert -m test output folder (validation)")

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        if self.dataset_spec is None and self.train_records_folder_path is None:
            raise ValueError("give dataset_spec or train_records_folder_path")
        return self


class DataloaderSpec(StrictModel):
    """The ``dataloader`` section of ``graft bpnet train`` specs."""

    batch_size: int = Field(10, ge=1, description="images per batch, per GPU / process")
    workers: int = Field(2, ge=0, description="loader processes (0: load in the main process)")
    pose_config: PoseConfigRef = Field(default_factory=PoseConfigRef)
    image_config: ImageConfig = Field(default_factory=ImageConfig)
    dataset_config: DatasetConfig
    normalization_params: NormalizationSpec = Field(default_factory=NormalizationSpec)
    augmentation_config: AugmentationConfig = Field(default_factory=AugmentationConfig)
    label_processor_config: LabelProcessorConfig = Field(default_factory=LabelProcessorConfig)
    seed: int = Field(42, description="augmentation seed")

    @model_validator(mode="after")
    def _check(self) -> DataloaderSpec:
        want = self.pose_config.target_shape
        if want is not None and tuple(want) != self.image_config.target_size:
            raise ValueError(f"pose_config.target_shape {list(want)} does not match image_dims / "
                             f"stride = {list(self.image_config.target_size)}")
        return self


def require_same_joints(index_pose: PoseConfig, model_pose: PoseConfig, where: str) -> None:
    """The converted data and the model must agree on the joint layout."""
    if index_pose.joints != model_pose.joints:
        raise UserError(
            f"{where} was converted for joints {index_pose.joints} but the training spec's pose "
            f"config has {model_pose.joints}",
            "re-run dataset_convert with the same pose config, or fix pose_config_path")
