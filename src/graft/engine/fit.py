"""Run (or resume) a training job into a results directory.

Layout of RESULTS_DIR::

    spec.yaml            the fully resolved spec
    run.json             status (running / finished), spec hash, best score, epochs
    checkpoints/last.ckpt, checkpoints/best.ckpt, checkpoints/epoch=NNN.ckpt
    metrics.jsonl        one line per train/validation epoch
    tensorboard/         TensorBoard event files

Rerunning the same command resumes from ``last.ckpt`` (model, optimizer, scheduler, epoch,
RNG); a finished run is reported, not retrained, unless ``force`` is given.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from pydantic import BaseModel

from graft.engine.callbacks import AtomicModelCheckpoint, JsonlMetricsLogger, RngStateCallback
from graft.engine.config import TrainerSpec
from graft.errors import UserError
from graft.fsutil import write_json, write_text
from graft.spec import dump_spec


@dataclass
class FitResult:
    results_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    resumed: bool
    already_finished: bool
    best_score: float | None
    epochs: int
    is_main: bool = True


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: bf16 AMP where the GPU supports it, else fp16 AMP; fp32 on CPU."""
    if precision != "auto":
        return precision if precision != "32" else "32-true"
    if accelerator == "gpu" and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def resolve_accelerator(accelerator: str) -> str:
    if accelerator == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise UserError(
            "--accelerator gpu was asked for but no CUDA GPU is visible",
            "use --accelerator cpu or auto",
        )
    return accelerator


def use_channels_last(setting: bool | str, accelerator: str) -> bool:
    """``auto`` means channels_last on GPUs only: CPUs run these convs faster in NCHW."""
    return accelerator in ("gpu", "cuda") if setting == "auto" else bool(setting)


def _spec_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _first_difference(old: Any, new: Any, path: str = "") -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            diff = _first_difference(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
            if diff:
                return diff
        return None
    return None if old == new else f"{path}: {old!r} -> {new!r}"


def _is_launcher_rank() -> bool:
    """True in the process that starts the job (rank 0 of node 0, or a non-distributed run)."""
    return (
        os.environ.get("LOCAL_RANK", "0") == "0"
        and os.environ.get("NODE_RANK", "0") == "0"
        and os.environ.get("RANK", "0") == "0"
    )


def prepare_results_dir(results_dir: Path, spec: BaseModel, force: bool) -> dict[str, Any] | None:
    """Check the results dir against this spec; returns the finished run's record, if any."""
    spec_text = dump_spec(spec)
    state_file = results_dir / "run.json"
    if state_file.exists() and _is_launcher_rank():
        import json

        state = json.loads(state_file.read_text())
        if force:
            shutil.rmtree(results_dir / "checkpoints", ignore_errors=True)
            state_file.unlink()
        elif state.get("spec_hash") != _spec_hash(spec_text):
            old = (
                yaml.safe_load((results_dir / "spec.yaml").read_text())
                if (results_dir / "spec.yaml").exists()
                else {}
            )
            diff = _first_difference(old, yaml.safe_load(spec_text)) or "spec changed"
            raise UserError(
                f"{results_dir} holds a run with a different spec ({diff})",
                "use a new -r results dir, or --force to start over",
            )
        elif state.get("status") == "finished":
            return state
    if _is_launcher_rank():
        results_dir.mkdir(parents=True, exist_ok=True)
        write_text(results_dir / "spec.yaml", spec_text)
        write_json(state_file, {"status": "running", "spec_hash": _spec_hash(spec_text)})
    return None


def quiet_lightning() -> None:
    """Lightning's INFO lines (GPU available, tips) drown graft's own output; keep warnings
    except one about Lightning's own internals (its pytree helper on new torch releases),
    which users cannot act on."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def fit(
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    *,
    trainer: TrainerSpec,
    results_dir: str | Path,
    spec: BaseModel,
    gpus: int = 1,
    num_nodes: int = 1,
    accelerator: str = "auto",
    monitor: str = "val/loss",
    mode: str = "min",
    force: bool = False,
    progress: bool = True,
) -> FitResult:
    """Train ``module`` on ``datamodule`` into ``results_dir``; resume if a checkpoint exists."""
    results_dir = Path(results_dir)
    ckpt_dir = results_dir / "checkpoints"
    finished = prepare_results_dir(results_dir, spec, force)
    if finished is not None:
        best = ckpt_dir / "best.ckpt"
        return FitResult(
            results_dir,
            best if best.exists() else None,
            ckpt_dir / "last.ckpt",
            resumed=False,
            already_finished=True,
            best_score=finished.get("best_score"),
            epochs=finished.get("epochs", 0),
        )

    quiet_lightning()
    L.seed_everything(trainer.seed, workers=True, verbose=False)
    accel = resolve_accelerator(accelerator)
    if use_channels_last(trainer.channels_last, accel):
        module = module.to(memory_format=torch.channels_last)
        module.channels_last = True
    last_ckpt = AtomicModelCheckpoint(
        dirpath=ckpt_dir,
        filename="epoch={epoch:03d}",
        auto_insert_metric_name=False,
        every_n_epochs=trainer.checkpoint_interval,
        save_top_k=-1,
        save_last=True,
        save_on_train_epoch_end=True,
    )
    best_ckpt = AtomicModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_last=False,
        auto_insert_metric_name=False,
        enable_version_counter=False,
        save_on_train_epoch_end=False,
    )
    callbacks: list[L.Callback] = [
        last_ckpt,
        best_ckpt,
        RngStateCallback(),
        JsonlMetricsLogger(results_dir / "metrics.jsonl"),
    ]
    if progress:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar(leave=True))
    from lightning.pytorch.loggers import TensorBoardLogger

    strategy: Any = "auto"
    if gpus > 1 or num_nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(
            process_group_backend="nccl" if accel == "gpu" else "gloo", find_unused_parameters=False
        )
    pl_trainer = L.Trainer(
        accelerator=accel,
        devices=gpus,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=resolve_precision(trainer.precision, accel),
        max_epochs=trainer.epochs,
        check_val_every_n_epoch=trainer.validation_interval,
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        gradient_clip_val=trainer.gradient_clip_val,
        deterministic=trainer.deterministic,
        callbacks=callbacks,
        default_root_dir=results_dir,
        logger=TensorBoardLogger(save_dir=results_dir, name="tensorboard", version=""),
        log_every_n_steps=trainer.log_every_n_steps,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    resume_from = ckpt_dir / "last.ckpt"
    resumed = resume_from.exists()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        pl_trainer.fit(
            module,
            datamodule=datamodule,
            ckpt_path=str(resume_from) if resumed else None,
            weights_only=True,
        )
    best_score = best_ckpt.best_model_score
    best_path = Path(best_ckpt.best_model_path) if best_ckpt.best_model_path else None
    if pl_trainer.is_global_zero:
        write_json(
            results_dir / "run.json",
            {
                "status": "finished",
                "spec_hash": _spec_hash(dump_spec(spec)),
                "best_score": float(best_score) if best_score is not None else None,
                "monitor": monitor,
                "epochs": pl_trainer.current_epoch,
                "world_size": pl_trainer.world_size,
                "precision": str(pl_trainer.precision),
            },
        )
    return FitResult(
        results_dir,
        best_path,
        resume_from,
        resumed=resumed,
        already_finished=False,
        best_score=float(best_score) if best_score is not None else None,
        epochs=pl_trainer.current_epoch,
        is_main=pl_trainer.is_global_zero,
    )


def load_checkpoint_weights(module: L.LightningModule, checkpoint: str | Path) -> None:
    """Load a Lightning checkpoint's model weights (``weights_only=True``: no pickle)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    module.load_state_dict(state["state_dict"])
