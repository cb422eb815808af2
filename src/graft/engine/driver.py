"""The one ``train`` driver: spec -> seeded network and data -> fit -> best weights -> model.graft.

Every task's ``graft TASK train`` calls :func:`run_training` with a :class:`TrainingRecipe`:
its spec and a ``build`` that returns the task's pieces (:class:`TrainParts`). The driver owns
everything around them, the same for every task:

1. seeds every RNG *before* the task builds anything (initial weights, data splits);
2. holds the results dir (one training at a time), checks it against this spec, replaces an
   old run on ``--force`` (restored if the new one fails before its first checkpoint);
3. fits, or resumes from ``last.ckpt`` (saying from which epoch and why);
4. loads the best checkpoint (the last one without validation), writes ``model.graft``, loads
   it back, and only then records ``finished``; failures and interrupts are recorded too.

Where the best model comes from: the checkpoint with the best ``TrainParts.monitor`` value. A
task's real metric (top-1, keypoint AP, mAP) comes from its end-of-epoch evaluation
(``TrainParts.evaluation``, :mod:`graft.engine.evaluation`), computed over the whole validation
set and gathered across DDP ranks; without one, the monitor is a metric the module logs in
``validation_step``. ``model.graft`` records the monitor (``provenance.selected_by``) and the
validation metrics of the chosen epoch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import lightning as L
import torch
from pydantic import BaseModel

from graft.engine.checkpoints import read_checkpoint
from graft.engine.config import TrainerSpec
from graft.engine.evaluation import EpochEvaluation, Monitor
from graft.engine.fit import (
    FitResult,
    Interrupted,
    Launch,
    fit,
    is_launcher_rank,
    resolve_accelerator,
)
from graft.engine.module import GraftModule
from graft.engine.rundir import RunDir, Start
from graft.errors import UserError
from graft.fsutil import check_output_dir
from graft.manifest import Manifest, Selection

__all__ = ["EpochEvaluation", "Launch", "Monitor", "TrainOptions", "TrainParts", "TrainSummary",
           "TrainingRecipe", "run_training"]


@dataclass
class TrainParts:
    """What a task builds for one training run."""

    module: GraftModule  # the task's LightningModule; ``module.net`` is what model.graft holds
    data: L.LightningDataModule
    validates: bool  # the data has a validation set (else: no best model, the last one is kept)
    monitor: Monitor  # what picks the best checkpoint (logged by the module or the evaluation)
    manifest: Callable[[dict[str, Any]], Manifest]  # training metrics -> .graft manifest
    evaluation: EpochEvaluation | None = None  # the task's real metric at the end of epochs


class TrainingRecipe(Protocol):
    """A task's side of ``graft TASK train``."""

    task: str  # the task's registry name, recorded in run.json
    spec: BaseModel  # validated, paths resolved, with a ``trainer: TrainerSpec`` section

    def build(self, key: str | None) -> TrainParts:
        """Data, network and module; called after seeding, so initial weights are seeded."""
        ...


def print_line(text: str) -> None:
    """Default for :attr:`TrainOptions.notify`: one whole line on stdout (never wrapped)."""
    print(text, flush=True)


@dataclass(frozen=True)
class TrainOptions:
    """Command-line options of a training run."""

    key: str | None = None
    force: bool = False
    launch: Launch = field(default_factory=Launch)
    notify: Callable[[str], None] = print_line  # what the driver found and does, as it happens


@dataclass
class TrainSummary:
    results_dir: Path
    model: Path
    monitor: str | None
    best_score: float | None
    epochs: int
    resumed_from: int | None = None  # epochs done before this run resumed
    already_finished: bool = False
    written: bool = False  # this call wrote model.graft (False on DDP workers and when done)
    params: int | None = None
    train_seconds: float = 0.0

    def lines(self) -> list[str]:
        """The outcome in words, for ``graft TASK train``."""
        score = f"{self.best_score:.4f}" if self.best_score is not None else "n/a"
        best = (f"best {self.monitor} {score}" if self.monitor
                else "no validation set, so the last epoch's model")
        if self.already_finished:
            return [f"{self.results_dir} already holds a finished run ({best}); model: "
                    f"{self.model}. Use --force to retrain."]
        if not self.written:
            return []
        return [f"done: {self.epochs} epochs, {best} ({self.train_seconds} s, "
                f"{self.params:,} parameters); model: {self.model}"]


def _trainer_spec(spec: BaseModel) -> TrainerSpec:
    trainer = getattr(spec, "trainer", None)
    if not isinstance(trainer, TrainerSpec):
        raise TypeError(f"{type(spec).__name__} has no `trainer: TrainerSpec` section")
    return trainer


def _error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def _resume_note(start: Start, results: Path, epochs: int) -> str | None:
    found, done = start.found, start.found.get("epochs_done", 0)
    why = {"failed": f"the last run failed: {found.get('error')}",
           "interrupted": "the last run was interrupted",
           "running": "the last run stopped without recording why (killed?)",
           }.get(found.get("status"))
    if start.action == "resume":
        return f"resuming {results} after epoch {done} of {epochs}" + (f" ({why})" if why else "")
    if why:
        return f"starting {results} from epoch 1: {why} before its first checkpoint"
    return None


def run_training(recipe: TrainingRecipe, results_dir: str | Path,
                 options: TrainOptions = TrainOptions()) -> TrainSummary:
    """Train (or resume, or finish) ``recipe`` into ``results_dir``; see the module docstring."""
    results = check_output_dir(results_dir)
    trainer = _trainer_spec(recipe.spec)
    resolve_accelerator(options.launch.accelerator, options.launch.gpus)  # before any writes
    L.seed_everything(trainer.seed, workers=True, verbose=False)
    if not is_launcher_rank():  # a DDP process Lightning or torchrun started: train, nothing else
        parts = recipe.build(options.key)
        r = _fit(parts, trainer, results, options, None)
        return TrainSummary(results, results / "model.graft", parts.monitor.name, r.best_score,
                            r.epochs)
    run = RunDir(results)
    with run.locked():
        start = run.begin(recipe.task, recipe.spec, options.force)
        found = start.found
        summary = TrainSummary(results, run.model_path, found.get("monitor"),
                               found.get("best_score"), found.get("epochs", 0))
        if start.action == "done":
            summary.already_finished = True
            return summary
        if start.replaced:
            options.notify(f"--force: the earlier run waits in {run.previous} until this one "
                           "writes its first checkpoint")
        try:
            return _train_and_save(recipe, run, start, trainer, options, summary)
        except (KeyboardInterrupt, Interrupted) as exc:
            restored = _record_stop(run, "interrupted", None)
            options.notify(_stop_note(run, restored, str(exc) or "Ctrl-C"))
            raise Interrupted(str(exc)) from None
        except BaseException as exc:
            restored = _record_stop(run, "failed", _error_line(exc))
            if restored:
                options.notify(f"the earlier run in {results} was restored")
            raise


def _record_stop(run: RunDir, status: Literal["failed", "interrupted"], error: str | None) -> bool:
    """Record how the run ended; a full disk here must not hide the error that stopped it."""
    try:
        return run.stopped(status, error)
    except OSError:
        return False


def _stop_note(run: RunDir, restored: bool, how: str) -> str:
    if restored:
        return f"{how}: the earlier run in {run.path} was restored"
    if (run.ckpt_dir / "last.ckpt").exists():
        return f"{how}: rerun the same command to resume {run.path}"
    return f"{how}: no checkpoint yet in {run.path}"


def _fit(parts: TrainParts, trainer: TrainerSpec, results: Path, options: TrainOptions,
         run: RunDir | None) -> FitResult:
    return fit(parts.module, parts.data, trainer=trainer, results_dir=results,
               monitor=parts.monitor.name, mode=parts.monitor.mode, validates=parts.validates,
               launch=options.launch, key=options.key,
               on_saved=run.checkpoint_saved if run else None, evaluation=parts.evaluation)


def _train_and_save(recipe: TrainingRecipe, run: RunDir, start: Start, trainer: TrainerSpec,
                    options: TrainOptions, summary: TrainSummary) -> TrainSummary:
    began = time.perf_counter()
    parts = recipe.build(options.key)
    summary.monitor = parts.monitor.name
    if start.action == "save_model":
        record = _fit_record(start.found, run, parts.monitor)
        options.notify(f"training had completed; writing {run.model_path} from "
                       f"{record['model_checkpoint']}")
    else:
        note = _resume_note(start, run.path, trainer.epochs)
        if note:
            options.notify(note)
        if start.action == "resume":
            summary.resumed_from = start.found.get("epochs_done", 0)
        result = _fit(parts, trainer, run.path, options, run)
        if not result.is_main:
            return summary
        record = {
            "monitor": parts.monitor.name if result.best_checkpoint else None,
            "mode": parts.monitor.mode,
            "best_score": result.best_score,
            "model_checkpoint": (result.best_checkpoint or result.last_checkpoint).name,
            "validated": result.best_checkpoint is not None,
            "epochs": result.epochs, "world_size": result.world_size,
            "precision": result.precision,
        }
        run.trained(record)
    summary.monitor, summary.best_score = record["monitor"], record["best_score"]
    summary.epochs = record["epochs"]
    summary.params = _save_model(parts, run, record, options.key)
    run.finished()
    summary.written = True
    summary.train_seconds = round(time.perf_counter() - began, 1)
    return summary


def _fit_record(found: dict[str, Any], run: RunDir, monitor: Monitor) -> dict[str, Any]:
    """What a completed fit recorded; run.json files from before ``model_checkpoint`` existed
    (status "finished") name no checkpoint: best.ckpt if there, else last.ckpt."""
    best = run.ckpt_dir / "best.ckpt"
    default = best.name if best.exists() else "last.ckpt"
    return {"monitor": found.get("monitor", monitor.name), "mode": found.get("mode", monitor.mode),
            "best_score": found.get("best_score"),
            "model_checkpoint": found.get("model_checkpoint", default),
            "epochs": found.get("epochs", 0)}


def _validation_metrics(path: Path, epoch: int | None) -> dict[str, float]:
    """The ``val/*`` numbers ``metrics.jsonl`` holds for ``epoch`` (its last row: a resumed run
    may have logged an epoch twice)."""
    found: dict[str, float] = {}
    if epoch is None or not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line cut short by a killed run
            continue
        if row.get("phase") == "val" and row.get("epoch") == epoch:
            found = {k: v for k, v in row.items() if k.startswith("val/")}
    return found


def _save_model(parts: TrainParts, run: RunDir, record: dict[str, Any], key: str | None) -> int:
    """Best (or last) weights -> model.graft, then load it back: "finished" means it loads."""
    from graft.api import GraftModel, load

    ckpt = run.ckpt_dir / record["model_checkpoint"]
    if not ckpt.exists():
        raise UserError(f"{ckpt} is missing, so the trained model cannot be written",
                        "rerun with --force to train again")
    state = read_checkpoint(ckpt, key)
    parts.module.load_state_dict(state["state_dict"])
    net = parts.module.net.float().to(memory_format=torch.contiguous_format)
    metrics: dict[str, Any] = {"epochs": record["epochs"]}
    selection = None
    if record["monitor"]:
        metrics.update(_validation_metrics(run.path / "metrics.jsonl", state.get("epoch")))
        metrics[record["monitor"]] = record["best_score"]
        selection = Selection(monitor=record["monitor"], score=record["best_score"],
                              mode=record.get("mode", parts.monitor.mode))
    manifest = Manifest.of(parts.manifest(metrics))
    if selection is not None:
        manifest = manifest.updated(
            provenance=manifest.provenance.model_copy(update={"selected_by": selection}))
    model = GraftModel(net, manifest)
    model.save(run.model_path, key=key)
    load(run.model_path, key=key)
    return model.num_params
