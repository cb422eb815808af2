"""The RarePlanes recipe on generated data: synthetic first, then 10 % of the real images.

The AI.Reverie post trained a DetectNet_v2 aircraft detector on synthetic satellite tiles,
fine-tuned it on 10 % of the real RarePlanes images, pruned it (``-pth 0.5``), retrained the
pruned network, retrained it once more with quantization-aware training and deployed it in
INT8. This script runs that chain offline on ``graft synth detection`` data, whose two domains
play the parts: ``synthetic`` (clean rendering) and ``real`` (the same kind of scene hazier,
colour-cast, blurred, noisy, JPEG-compressed). Every stage is scored on the real domain's
validation images (mAP at IoU 0.5, DBSCAN as in the generated spec):

* ``synthetic only``            from scratch on the synthetic training images
* ``+ fine-tune real 10 %``     that model trained on the 10 % split of the real ones
* ``pruned -pth 0.5``           TLT's prune of the fine-tuned model, before retraining; as in
                                the demo, ``-pth`` is raised from 0.5 until at least half of
                                the parameters go (``--min-removed``): the post's 0.5 assumes
                                TLT's L1-regularised training, and a few CPU epochs from scratch
                                leave no filter under half of its layer's largest norm
* ``+ retrain``                 the pruned graph (``load_graph``) retrained on the 10 % split
* ``+ QAT``                     retrained again with ``training_config.enable_qat``
* ``INT8 ONNX (onnxruntime)``   the QAT model exported with its learned INT8 ranges

``--baselines`` adds the post's comparison: from scratch on the 10 % split alone (as many
optimizer steps as the 100 % run: it loses data, not training time) and on all real images.

The same steps on the command line::

    graft synth detection -o planes --images 750 --size 128x128 --object-size 18,52 \\
        --max-objects 4 --domain both
    graft split kitti -i planes/real/train/images -l planes/real/train/labels \\
        -o planes/real_split --fraction 0.1 --names train10,rest --seed 0
    graft detectnet_v2 train -e synthetic.yaml -r runs/synthetic
    graft detectnet_v2 train -e finetune.yaml -r runs/finetune  # pretrained_weights: the above
    graft detectnet_v2 prune -m runs/finetune/model.graft -o pruned.graft -pth 0.5  # or higher
    graft detectnet_v2 train -e retrain.yaml -r runs/retrain    # load_graph: true
    graft detectnet_v2 train -e qat.yaml -r runs/qat            # enable_qat: true
    graft detectnet_v2 export -m runs/qat/model.graft -o model.int8.onnx --data_type int8
    graft detectnet_v2 evaluate -e qat.yaml -m model.int8.onnx

Run (the command and table of BENCHMARKS.md: 500 images per domain, 128x128)::

    OMP_NUM_THREADS=1 python examples/rareplanes_recipe.py -o /tmp/rareplanes --json recipe.json

Training settings are those ``graft synth detection`` writes in each domain's ``spec.yaml``
(autoweighting off, foreground weight 0.5, flips only), with ``--workers`` loader processes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import yaml


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--images", type=int, default=500, help="generated images per domain "
                   "(train and val: 80 %% / 20 %%)")
    p.add_argument("--size", default="128x128", help="image WxH, multiples of 16")
    p.add_argument("--epochs", type=int, default=12, help="epochs on the synthetic domain")
    p.add_argument("--finetune-epochs", type=int, default=20, help="epochs on the 10 %% split")
    p.add_argument("--retrain-epochs", type=int, default=20, help="pruned model, 10 %% split")
    p.add_argument("--qat-epochs", type=int, default=8, help="QAT epochs, 10 %% split")
    p.add_argument("--qat-lr-scale", type=float, default=0.1, help="QAT learning rates "
                   "(start and minimum) relative to the spec's: it fine-tunes a trained model")
    p.add_argument("--pth", type=float, default=0.5, help="prune threshold (TLT -pth), raised "
                   "in steps of 0.02 until --min-removed of the parameters go")
    p.add_argument("--min-removed", type=float, default=0.5, help="share of parameters the "
                   "prune must remove (0: -pth as given)")
    p.add_argument("--fraction", type=float, default=0.1, help="share of real training data")
    p.add_argument("--workers", type=int, default=0, help="data loader processes (0: the "
                   "CPU column then counts all the work)")
    p.add_argument("--baselines", action="store_true",
                   help="also train from scratch on the 10 %% split and on all real images")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args()


def spec_for(domain_dir: Path, train_images: Path, train_labels: Path, epochs: int,
             workers: int, pretrained: Path | None = None, **model: Any) -> dict[str, Any]:
    """The domain's generated spec, trained on the given folders, validated on real/val."""
    spec = yaml.safe_load((domain_dir / "spec.yaml").read_text())
    data = spec["dataset_config"]
    data["data_sources"] = [{"image_directory_path": str(train_images.resolve()),
                             "label_directory_path": str(train_labels.resolve())}]
    val = domain_dir.parent / "real" / "val"
    data["validation_data_source"] = {"image_directory_path": str((val / "images").resolve()),
                                      "label_directory_path": str((val / "labels").resolve())}
    data["num_workers"] = workers
    spec["training_config"].update({"num_epochs": epochs, "checkpoint_interval": epochs})
    spec["evaluation_config"]["validation_period_during_training"] = epochs
    spec.setdefault("cost_function_config", {})["enable_autoweighting"] = False
    if pretrained is not None:
        spec["model_config"]["pretrained_weights"] = str(pretrained.resolve())
    spec["model_config"].update(model)
    return spec


def clock() -> tuple[float, float]:
    """(wall, this process's CPU) seconds, for a stage's two time columns."""
    return time.perf_counter(), time.process_time()


class Recipe:
    """Runs the stages, scoring each model on real/val; collects the table's rows."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        self.rows: list[dict[str, Any]] = []
        self.score_spec: Path | None = None

    def score(self, model: Path, name: str) -> float:
        from graft.spec import load_spec
        from graft.tasks.detectnet_v2.evaluate import evaluate
        from graft.tasks.detectnet_v2.spec import DetectNetSpec

        assert self.score_spec is not None
        result = evaluate(load_spec(self.score_spec, DetectNetSpec), model,
                          results_dir=self.runs / "eval" / name, progress=False)
        return float(result["mAP"])

    def add(self, stage: str, model: Path, began: tuple[float, float], images: Path | None,
            resumed: float | None = None) -> Path:
        import graft

        score = self.score(model, model.parent.name if model.name == "model.graft"
                           else model.stem)
        params = graft.load(model).num_params if model.suffix == ".graft" else None
        self.rows.append({"stage": stage, "train images": len(list(images.glob("*.jpg")))
                          if images else "-", "params": params if params is not None else "-",
                          "mAP50 (real val)": round(score, 3),
                          "seconds": round(resumed if resumed is not None
                                           else time.perf_counter() - began[0]),
                          "CPU s": "-" if resumed is not None
                          else round(time.process_time() - began[1])})
        print(f"{stage}: mAP50 {score:.3f}", flush=True)
        return model

    def train(self, stage: str, name: str, spec: dict[str, Any], images: Path) -> Path:
        """Train (a finished run resumes for free) and score on real/val."""
        from graft.fsutil import write_text
        from graft.tasks.detectnet_v2.train import train

        began = clock()
        spec_file = self.runs / f"{name}.yaml"
        write_text(spec_file, yaml.safe_dump(spec, sort_keys=False))
        self.score_spec = self.score_spec or spec_file
        state = self.runs / name / "run.json"
        finished = state.is_file() and json.loads(state.read_text())["status"] == "finished"
        train(spec_file, self.runs / name, progress=False)
        return self.add(stage, self.runs / name / "model.graft", began, images,
                        _training_seconds(state) if finished else None)


def _training_seconds(state: Path) -> float:
    """Wall seconds of a run finished by an earlier invocation (its run.json's start and end):
    a resumed recipe reports what the training took, not the instant resume."""
    from datetime import datetime

    run = json.loads(state.read_text())
    return (datetime.fromisoformat(run["ended"]) - datetime.fromisoformat(run["started"])
            ).total_seconds()


def main() -> None:
    from graft.data.split import parse_plan, split_kitti
    from graft.data.synthetic import parse_wxh
    from graft.demo.common import prune_options
    from graft.optimize.cli import run_export, run_prune
    from graft.optimize.prune import PruneOptions
    from graft.tasks import get
    from graft.tasks.detectnet_v2.synth import make_detection_dataset

    args = parse_args()
    out, runs = args.output, args.output / "runs"
    data = out / "planes"
    if not (data / "README.json").exists():
        make_detection_dataset(data, images=args.images, seed=0, domain="both",
                               size=parse_wxh(args.size, multiple=16),
                               object_size=(18, 52), max_objects=4)
    real, synthetic = data / "real", data / "synthetic"
    split = data / "real_split"
    if not split.is_dir():
        split_kitti(real / "train" / "images", real / "train" / "labels", split,
                    parse_plan(str(args.fraction), "train10,rest", 0))
    ten = split / "train10"
    recipe = Recipe(runs)

    def on_ten(epochs: int, pretrained: Path | None = None, **model: Any) -> dict[str, Any]:
        return spec_for(real, ten / "images", ten / "labels", epochs, args.workers,
                        pretrained, **model)

    base = recipe.train("synthetic only", "synthetic",
                        spec_for(synthetic, synthetic / "train" / "images",
                                 synthetic / "train" / "labels", args.epochs, args.workers),
                        synthetic / "train" / "images")
    tuned = recipe.train("+ fine-tune real 10 %", "finetune",
                         on_ten(args.finetune_epochs, base), ten / "images")
    task, began = get("detectnet_v2"), clock()
    pruned = runs / "pruned.graft"
    if not pruned.exists():
        options = (prune_options(task, tuned, args.pth, args.min_removed, step=0.02)
                   if args.min_removed > 0 else PruneOptions(threshold=args.pth))
        run_prune(task, tuned, pruned, None, options)
    pth = json.loads(pruned.with_suffix(".prune.json").read_text())["options"]["threshold"]
    recipe.add(f"pruned -pth {pth:g} (no retraining)", pruned, began, None)
    retrained = recipe.train("+ retrain (load_graph)", "retrain",
                             on_ten(args.retrain_epochs, pruned, load_graph=True),
                             ten / "images")
    qat_spec = on_ten(args.qat_epochs, retrained, load_graph=True)
    qat_spec["training_config"]["enable_qat"] = True
    rate = qat_spec["training_config"]["learning_rate"]
    for key in ("learning_rate", "min_lr"):
        rate[key] = rate[key] * args.qat_lr_scale
    qat = recipe.train("+ QAT", "qat", qat_spec, ten / "images")
    began, onnx = clock(), runs / "model.int8.onnx"
    if not onnx.exists():
        run_export(task, qat, onnx, None, data_type="int8", cal_image_dir=ten / "images")
    recipe.add("INT8 ONNX (onnxruntime, QAT ranges)", onnx, began, None)
    if args.baselines:
        scaled = max(1, round(args.epochs / args.fraction))
        recipe.train("baseline: real 10 % from scratch", "real10",
                     on_ten(scaled), ten / "images")
        recipe.train("baseline: real 100 % from scratch", "real100",
                     spec_for(real, real / "train" / "images", real / "train" / "labels",
                              args.epochs, args.workers), real / "train" / "images")

    print("| " + " | ".join(recipe.rows[0]) + " |")
    print("| --- |" + " ---: |" * (len(recipe.rows[0]) - 1))
    for row in recipe.rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": recipe.rows}, indent=2))


if __name__ == "__main__":
    main()
