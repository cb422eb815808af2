"""GestureNet training spec: classification's model, optimizer, trainer and eval sections, with
GestureNet's data (split lists of hand boxes), crop rule, augmentation and class weights."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from graft.data.preprocess import PreprocessMode
from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec, TrainerSpec
from graft.spec import SpecPath, StrictModel
from graft.tasks.classification.spec import EvalSpec, ModelSpec


def _model_default() -> ModelSpec:
    return ModelSpec(arch="resnet18", input_size=(160, 160))


class CropSpec(StrictModel):
    """How a hand box becomes the network's input (recorded in the model file for the app)."""

    ratio: float = Field(1.1, gt=0, le=4, description="enlarge the box by this about its "
                         "centre (TAO: bbox_enlarge_ratio; the tutorial uses 1.2)")
    square: bool = Field(True, description="make the box square (its longer side) first")


class GestureAugmentation(StrictModel):
    """Training-time augmentation of the hand crops (TAO GestureNet's set)."""

    rotation: float = Field(5.0, ge=0, le=45, description="random rotation, +- degrees")
    brightness: tuple[float, float] = Field((0.5, 1.5), description="brightness factor range")
    gamma: tuple[float, float] = Field((0.5, 2.0), description="gamma range")
    gamma_probability: float = Field(0.5, ge=0, le=1, description="chance of a gamma "
                                     "change")
    occlusion_probability: float = Field(0.5, ge=0, le=1, description="chance of a random "
                                         "rectangle hiding part of the crop")
    occlusion_area: tuple[float, float] = Field((0.05, 0.25), description="its share of the "
                                                "crop area")
    horizontal_flip: float = Field(0.5, ge=0, le=1, description="probability of a left-right "
                                   "flip (gestures are symmetric)")


class GestureDataSpec(StrictModel):
    """Split lists from ``graft gesturenet dataset_convert`` (hands split by user id)."""

    train_file: SpecPath = Field(description="train.json of dataset_convert")
    val_file: SpecPath | None = Field(None, description="val.json (users unseen in training); "
                                      "without it the last epoch's model is kept")
    batch_size: int = Field(64, ge=1, description="hands per batch (per GPU / process)")
    workers: int = Field(2, ge=0, description="DataLoader worker processes")
    preprocess_mode: PreprocessMode = Field("torch", description="input normalization "
                                            "(recorded in the model file)")
    crop: CropSpec = Field(default_factory=CropSpec)
    augmentation: GestureAugmentation = Field(default_factory=GestureAugmentation)
    class_weights: Literal["balanced", "none"] | dict[str, float] = Field(
        "balanced", description="cross-entropy class weights: balanced (inverse class "
        "frequency, which keeps the large 'random' class from dominating), none, or a weight "
        "per class name")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0,
                                   description="cross-entropy label smoothing (0: none)")


class GestureSpec(StrictModel):
    """The training spec of ``graft gesturenet train``."""

    model: ModelSpec = Field(default_factory=_model_default, description="the network "
                             "(GestureNet: ResNet-18 at 160x160)")
    data: GestureDataSpec = Field(description="hand lists, crop rule, augmentation, weights")
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    lr_schedule: LRScheduleSpec = Field(default_factory=LRScheduleSpec)
    regularizer: RegularizerSpec = Field(default_factory=RegularizerSpec)
    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
    eval: EvalSpec = Field(default_factory=lambda: EvalSpec(top_k=2),
                           description="validation and `graft gesturenet evaluate`")
