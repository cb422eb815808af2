"""Spec sections shared by every training spec: optimizer, LR schedule, regularizer, trainer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from graft.spec import StrictModel


class OptimizerSpec(StrictModel):
    """Optimizer. ``sgd`` uses momentum/nesterov; ``adam``/``adamw`` use betas and eps."""

    name: Literal["sgd", "adam", "adamw"] = Field("sgd", description="the optimizer")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd: momentum")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum")
    betas: tuple[float, float] = Field(
        (0.9, 0.999), description="adam/adamw: decay rates of the gradient's running mean and "
        "of its square")
    eps: float = Field(1e-8, gt=0, description="adam/adamw: added to the denominator for "
                       "numerical stability")
    weight_decay: float = Field(
        0.0,
        ge=0.0,
        description="decoupled (adamw) or coupled decay; "
        "prefer `regularizer` for TLT-style L1/L2 on kernels",
    )


class LRScheduleSpec(StrictModel):
    """Learning-rate schedule, evaluated per optimizer step on training progress in [0, 1].

    - ``soft_start_annealing`` (TLT bpnet/detectnet): exponential ramp from ``min_lr`` to
      ``learning_rate`` over the first ``soft_start`` of training, constant, then exponential
      decay back to ``min_lr`` from ``annealing`` on.
    - ``soft_anneal`` (TLT classification): the same soft start, then the rate is divided by
      ``annealing_divider`` at each of ``annealing_points``.
    - ``step``: multiply by ``gamma`` every ``step_size`` epochs.  ``cosine``: cosine decay to
      ``min_lr`` after the soft start.  ``constant``.
    """

    name: Literal["soft_start_annealing", "soft_anneal", "step", "cosine", "constant"] = Field(
        "soft_anneal", description="soft_start_annealing (TLT bpnet/detectnet): ramp up, hold, "
        "decay from `annealing` on; soft_anneal (TLT classification): ramp up, then divide at "
        "each of `annealing_points`; step; cosine; constant")
    learning_rate: float = Field(0.01, gt=0, description="peak (base) learning rate")
    min_lr: float = Field(1e-6, ge=0, description="the rate where the soft start begins and "
                          "where the decays end")
    soft_start: float = Field(0.05, ge=0.0, lt=1.0, description="fraction of training to warm up")
    annealing: float = Field(0.5, gt=0.0, le=1.0, description="soft_start_annealing: decay start")
    annealing_points: list[float] = Field(
        default_factory=lambda: [0.3, 0.6, 0.8],
        description="soft_anneal: fractions of training where the rate is divided")
    annealing_divider: float = Field(10.0, gt=0, description="soft_anneal: the divisor at each "
                                     "annealing point")
    step_size: int = Field(10, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0, description="step: the factor applied every step_size "
                         "epochs")

    @model_validator(mode="after")
    def _check(self) -> LRScheduleSpec:
        if self.name == "soft_start_annealing" and self.annealing <= self.soft_start:
            raise ValueError("annealing must come after soft_start")
        if any(not 0.0 < p < 1.0 for p in self.annealing_points):
            raise ValueError("annealing_points must lie in (0, 1)")
        return self


class RegularizerSpec(StrictModel):
    """TLT-style weight regularization on conv/linear kernels (not biases or norms)."""

    type: Literal["none", "l1", "l2"] = Field("l2", description="penalty on the kernels")
    weight: float = Field(5e-5, ge=0.0, description="its factor in the loss")


class TrainerSpec(StrictModel):
    """Training loop settings."""

    epochs: int = Field(10, ge=1, description="training epochs")
    checkpoint_interval: int = Field(
        1, ge=1, description="epochs between kept epoch=NNN.ckpt checkpoints (last.ckpt, the "
        "resume point, is written after every epoch)")
    keep_checkpoints: int = Field(
        2, ge=-1, description="how many of the most recent epoch=NNN.ckpt to keep besides "
        "best.ckpt and last.ckpt; 0 keeps none, -1 keeps all")
    validation_interval: int = Field(1, ge=1, description="epochs between validations")
    evaluation_interval: int | None = Field(
        None, ge=1, description="epochs between the task's evaluation of its real metric on the "
        "validation set (top-1, keypoint AP, mAP), which picks the best model; the last epoch "
        "is always evaluated; keep it a multiple of validation_interval. null: the task's "
        "default (classification every epoch, bpnet every 5th: keypoint AP takes a while); "
        "detectnet_v2 follows its evaluation_config instead")
    seed: int = Field(42, description="seeds every RNG before the network is built: the same "
                      "spec and seed give the same initial weights")
    precision: Literal["auto", "32", "16-mixed", "bf16-mixed"] = Field(
        "auto", description="auto: bf16 AMP on GPUs that support it, else fp16 AMP; fp32 on CPU"
    )
    accumulate_grad_batches: int = Field(1, ge=1, description="one optimizer step every N "
                                         "batches (an N times larger effective batch)")
    gradient_clip_val: float | None = Field(None, gt=0, description="clip the gradient norm "
                                            "to this (null: no clipping)")
    deterministic: bool = Field(False, description="deterministic algorithms only (slower; "
                                "bit-identical reruns on one device)")
    channels_last: bool | Literal["auto"] = Field(
        "auto", description="auto: channels_last on GPUs (faster convs there), NCHW on CPUs "
        "(oneDNN's NCHW convs measured 15-35 % faster on an AVX2 CPU)")
    compile: bool = Field(False, description="torch.compile the network before training "
                          "(compiling takes minutes on CPUs; pays off on GPUs)")
    compile_backend: Literal["inductor", "cudagraphs", "aot_eager", "eager"] = Field(
        "inductor", description="torch.compile backend; aot_eager and eager generate no code "
        "(for debugging a compile problem)")
    log_every_n_steps: int = Field(10, ge=1, description="optimizer steps between logged "
                                   "training metrics")
