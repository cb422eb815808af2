"""One Lightning fit into a results directory's ``checkpoints/``, ``metrics.jsonl`` and
``tensorboard/``; :mod:`graft.engine.driver` decides whether to train, resume or stop.

Resuming loads ``last.ckpt``: model, optimizer, scheduler, epoch and RNG states.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch

from graft.engine.callbacks import ExceptionRecorder, JsonlMetricsLogger, RngStateCallback
from graft.engine.checkpoints import GraftCheckpointIO, OnSaved, checkpoint_callbacks
from graft.engine.config import TrainerSpec
from graft.engine.evaluation import EpochEvaluation, EvaluationCallback
from graft.engine.progress import progress_bar
from graft.errors import UserError

ACCELERATORS = ("auto", "cpu", "gpu")

# a process-group stop (kill -TERM -PGID, Slurm's scancel, pkill -f) reaches the loader
# workers too; PyTorch then reports their death instead of Lightning's SIGTERM
STOP_SIGNALS = ("Terminated", "Interrupt", "Hangup")
_DEAD_WORKER = re.compile(r"DataLoader worker \(pid[^:]*?\) (?:is killed by signal: (\w+)|"
                          r"exited unexpectedly)")


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM; the CLI prints "interrupted" and exits 130."""


@dataclass(frozen=True)
class Launch:
    """Where and how a fit runs (command-line flags, not part of the spec)."""

    accelerator: str = "auto"
    gpus: int = 1
    num_nodes: int = 1
    progress: bool = True


@dataclass
class FitResult:
    best_checkpoint: Path | None  # None: the run never validated
    last_checkpoint: Path
    best_score: float | None
    epochs: int
    world_size: int
    precision: str
    is_main: bool = True


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: bf16 AMP where the GPU supports it, else fp16 AMP; fp32 on CPU."""
    if precision != "auto":
        return precision if precision != "32" else "32-true"
    if accelerator == "gpu" and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def resolve_accelerator(accelerator: str, gpus: int = 1) -> str:
    """``auto`` | ``cpu`` | ``gpu`` -> ``cpu`` or ``gpu``; refuses what this machine lacks.

    ``--gpus N`` without GPUs is refused unless ``--accelerator cpu`` asks for CPU processes
    explicitly: Lightning would otherwise quietly start N CPU processes.
    """
    if accelerator not in ACCELERATORS:
        raise UserError(f"--accelerator {accelerator!r} is not supported",
                        f"use one of: {' | '.join(ACCELERATORS)}")
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator == "cpu":
        return "cpu"
    if accelerator == "gpu" and not visible:
        raise UserError("--accelerator gpu was asked for but no CUDA GPU is visible",
                        "use --accelerator cpu or auto")
    if gpus > 1 and gpus > visible:
        raise UserError(f"--gpus {gpus} asks for {gpus} GPUs but {visible} "
                        f"{'is' if visible == 1 else 'are'} visible",
                        f"use fewer --gpus, or --accelerator cpu --gpus {gpus} for CPU processes")
    return "gpu" if visible else "cpu"


def use_channels_last(setting: bool | str, accelerator: str) -> bool:
    """``auto`` means channels_last on GPUs only: CPUs run these convs faster in NCHW."""
    return accelerator in ("gpu", "cuda") if setting == "auto" else bool(setting)


def quiet_lightning() -> None:
    """Lightning's INFO lines (GPU available, tips) drown graft's own output; keep warnings
    except one about Lightning's own internals (its pytree helper on new torch releases),
    which users cannot act on."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)




@contextmanager
def _sigint_restored() -> Iterator[None]:
    """Lightning ignores SIGINT after catching Ctrl-C; put the handler back when the fit ends."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    finally:
        if main and before is not None:
            signal.signal(signal.SIGINT, before)


def _run_fit(pl_trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
             ckpt_path: str | None, recorder: ExceptionRecorder) -> None:
    """``trainer.fit``; Ctrl-C (which Lightning turns into ``sys.exit(1)``) and SIGTERM raise
    :class:`Interrupted` instead."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    with warnings.catch_warnings(), _sigint_restored():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        warnings.filterwarnings("ignore", message=".*across ranks is zero.*")  # no val set
        try:
            pl_trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        except SIGTERMException:
            _ignore_loader_deaths()
            raise Interrupted("SIGTERM") from None
        except SystemExit:
            if isinstance(recorder.exception, KeyboardInterrupt):
                raise Interrupted("Ctrl-C") from None
            raise
        except Exception as exc:
            killed = _dead_loader_worker(exc)
            if killed is None:
                raise
            _ignore_loader_deaths()
            if killed in STOP_SIGNALS or pl_trainer.received_sigterm:
                raise Interrupted("SIGTERM") from None
            how = "exited unexpectedly" if killed == "unknown" else f"got signal {killed}"
            raise UserError(f"a data loader process {how}; out of memory?", "lower the loader "
                            "workers or the batch size and rerun the same command to resume"
                            ) from None


def _ignore_loader_deaths() -> None:
    """After a stop, loader workers that the same SIGTERM reached die while the process winds
    down; PyTorch's SIGCHLD handler would raise about each one at exit, after "interrupted"."""
    if hasattr(signal, "SIGCHLD") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _dead_loader_worker(exc: BaseException) -> str | None:
    """None unless ``exc`` is PyTorch's report of a dead loader worker, or was raised while
    handling one (its SIGCHLD handler raises wherever the main process is, e.g. inside a
    logger that wraps errors); then the name of the signal that killed the worker
    ("DataLoader worker (pid N) is killed by signal: NAME"), or "unknown" ("... exited
    unexpectedly", found while waiting for its batch)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        m = _DEAD_WORKER.search(str(current))
        if m is not None:
            return m.group(1) or "unknown"
        current = current.__cause__ or current.__context__
    return None


def fit(
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    *,
    trainer: TrainerSpec,
    results_dir: str | Path,
    monitor: str,
    mode: Literal["min", "max"],
    validates: bool = True,
    launch: Launch = Launch(),
    key: str | None = None,
    on_saved: OnSaved | None = None,
    evaluation: EpochEvaluation | None = None,
) -> FitResult:
    """Train ``module`` into ``results_dir``, resuming from ``checkpoints/last.ckpt`` if there.

    ``validates``: whether the data has a validation set; without one there is no best model
    and the last checkpoint is the result. ``key`` encrypts the checkpoints; ``on_saved`` is
    called after each checkpoint write (on the main process). ``evaluation``: the task's
    end-of-epoch metric (:mod:`graft.engine.evaluation`); when it logs ``monitor``, only the
    epochs it ran in compete for the best checkpoint.
    """
    from lightning.pytorch.loggers import TensorBoardLogger

    results_dir = Path(results_dir)
    ckpt_dir = results_dir / "checkpoints"
    quiet_lightning()
    accel = resolve_accelerator(launch.accelerator, launch.gpus)
    if use_channels_last(trainer.channels_last, accel):
        module = module.to(memory_format=torch.channels_last)
        module.channels_last = True
    net = getattr(module, "net", None)
    if trainer.compile and isinstance(net, torch.nn.Module):
        # in place: parameter names (checkpoints, model.graft) stay free of ``_orig_mod.``
        net.compile(backend=trainer.compile_backend)
    evaluating = EvaluationCallback(evaluation) if evaluation is not None and validates else None
    scored = (evaluating.ran_this_epoch if evaluating is not None
              and evaluation.monitor.name == monitor else None)
    best_ckpt, ckpt_callbacks = checkpoint_callbacks(ckpt_dir, trainer, monitor, mode, validates,
                                                     scored)
    recorder = ExceptionRecorder()
    callbacks: list[L.Callback] = [*ckpt_callbacks, RngStateCallback(), recorder,
                                   *([evaluating] if evaluating else []),  # logs before the
                                   JsonlMetricsLogger(results_dir / "metrics.jsonl")]  # writer
    if launch.progress:
        callbacks.append(progress_bar())
    strategy: Any = "auto"
    if launch.gpus > 1 or launch.num_nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(
            process_group_backend="nccl" if accel == "gpu" else "gloo", find_unused_parameters=False
        )
    pl_trainer = L.Trainer(
        accelerator=accel,
        devices=launch.gpus,
        num_nodes=launch.num_nodes,
        strategy=strategy,
        precision=resolve_precision(trainer.precision, accel),
        max_epochs=trainer.epochs,
        check_val_every_n_epoch=trainer.validation_interval,
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        gradient_clip_val=trainer.gradient_clip_val,
        deterministic=trainer.deterministic,
        callbacks=callbacks,
        plugins=[GraftCheckpointIO(key, on_saved)],
        default_root_dir=results_dir,
        logger=TensorBoardLogger(save_dir=results_dir, name="tensorboard", version=""),
        log_every_n_steps=trainer.log_every_n_steps,
        enable_progress_bar=launch.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    last = ckpt_dir / "last.ckpt"
    _run_fit(pl_trainer, module, datamodule, str(last) if last.exists() else None, recorder)
    best_path = Path(best_ckpt.best_model_path) if best_ckpt and best_ckpt.best_model_path \
        else None
    best_score = best_ckpt.best_model_score if best_ckpt else None
    return FitResult(
        best_checkpoint=best_path,
        last_checkpoint=last,
        best_score=float(best_score) if best_score is not None else None,
        epochs=pl_trainer.current_epoch,
        world_size=pl_trainer.world_size,
        precision=str(pl_trainer.precision),
        is_main=pl_trainer.is_global_zero,
    )


def is_launcher_rank() -> bool:
    """True in the process that starts the job (rank 0 of node 0, or a non-distributed run)."""
    return (
        os.environ.get("LOCAL_RANK", "0") == "0"
        and os.environ.get("NODE_RANK", "0") == "0"
        and os.environ.get("RANK", "0") == "0"
    )
