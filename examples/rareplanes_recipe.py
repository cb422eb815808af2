"""The RarePlanes recipe on generated data: pretrain on synthetic, fine-tune on 10 % of real.

The AI.Reverie post trained a DetectNet_v2 aircraft detector on synthetic satellite tiles and
fine-tuned it on 10 % of the real RarePlanes images, and compared that with training on all of
the real data and on the 10 % alone. This script rebuilds the comparison offline with
``graft synth detection``, whose two domains play the parts: ``synthetic`` (clean rendering)
and ``real`` (the same kind of scene hazier, colour-cast, blurred, noisy, JPEG-compressed).
Every model is scored on the real domain's validation images (mAP at IoU 0.5):

* ``real 10 %``                 from scratch on the 10 % split of the real training images
* ``real 100 %``                from scratch on all real training images
* ``synthetic only``            from scratch on synthetic images, never seeing a real one
* ``synthetic -> real 10 %``    that model fine-tuned on the 10 % split

The same steps on the command line::

    graft synth detection -o planes --images 750 --domain both
    graft split kitti -i planes/real/train/images -l planes/real/train/labels \\
        -o planes/real_split --fraction 0.1 --names train10,rest --seed 0
    graft detectnet_v2 train -e synthetic.yaml -r runs/synthetic
    graft detectnet_v2 train -e finetune.yaml -r runs/finetune  # pretrained_weights: the above
    graft detectnet_v2 evaluate -e finetune.yaml -m runs/finetune/model.graft

Run (the sizes of BENCHMARKS.md, about 10 minutes on an idle 2-core CPU)::

    python examples/rareplanes_recipe.py -o /tmp/rareplanes --images 300 --epochs 8 \\
        --finetune-epochs 4 --json recipe.json

Training settings are those ``graft synth detection`` writes in each domain's ``spec.yaml``,
with autoweighting off as in the demo (``graft.demo.detection``). The 10 % run gets as many
optimizer steps as the 100 % run (its epochs are multiplied by 1 / fraction) so that it loses
data, not training time; the fine-tune runs ``--finetune-epochs`` epochs of the 10 % split.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import yaml


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--images", type=int, default=300, help="generated images per domain")
    p.add_argument("--epochs", type=int, default=8, help="epochs from scratch (100 %% runs)")
    p.add_argument("--finetune-epochs", type=int, default=4, help="epochs on the 10 %% split")
    p.add_argument("--fraction", type=float, default=0.1, help="share of real training data")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args()


def spec_for(domain_dir: Path, train_images: Path, train_labels: Path, epochs: int,
             pretrained: Path | None = None) -> dict[str, Any]:
    """The domain's generated spec, trained on the given folders, validated on real/val."""
    spec = yaml.safe_load((domain_dir / "spec.yaml").read_text())
    data = spec["dataset_config"]
    data["data_sources"] = [{"image_directory_path": str(train_images.resolve()),
                             "label_directory_path": str(train_labels.resolve())}]
    val = domain_dir.parent / "real" / "val"
    data["validation_data_source"] = {"image_directory_path": str((val / "images").resolve()),
                                      "label_directory_path": str((val / "labels").resolve())}
    spec["training_config"].update({"num_epochs": epochs, "checkpoint_interval": epochs})
    spec["evaluation_config"]["validation_period_during_training"] = epochs
    spec.setdefault("cost_function_config", {})["enable_autoweighting"] = False
    if pretrained is not None:
        spec["model_config"]["pretrained_weights"] = str(pretrained.resolve())
    return spec


def train_and_score(name: str, spec: dict[str, Any], runs: Path) -> tuple[Path, float, float]:
    """Train (resuming a finished run is free) and score on real/val: (model, mAP50, s)."""
    from graft.fsutil import write_text
    from graft.spec import load_spec
    from graft.tasks.detectnet_v2.evaluate import evaluate
    from graft.tasks.detectnet_v2.spec import DetectNetSpec
    from graft.tasks.detectnet_v2.train import train

    began = time.perf_counter()
    spec_file = runs / f"{name}.yaml"
    write_text(spec_file, yaml.safe_dump(spec, sort_keys=False))
    train(spec_file, runs / name, progress=False)
    model = runs / name / "model.graft"
    result = evaluate(load_spec(spec_file, DetectNetSpec), model, results_dir=runs / name /
                      "eval_real", progress=False)
    return model, float(result["mAP"]), time.perf_counter() - began


def main() -> None:
    from graft.data.split import parse_plan, split_kitti
    from graft.tasks.detectnet_v2.synth import make_detection_dataset

    args = parse_args()
    out, runs = args.output, args.output / "runs"
    data = out / "planes"
    if not (data / "README.json").exists():
        make_detection_dataset(data, images=args.images, domain="both", seed=0)
    real, synthetic = data / "real", data / "synthetic"
    split = data / "real_split"
    if not split.is_dir():
        split_kitti(real / "train" / "images", real / "train" / "labels", split,
                    parse_plan(str(args.fraction), "train10,rest", 0))
    ten = split / "train10"
    scaled = max(1, round(args.epochs / args.fraction))
    table: list[dict[str, Any]] = []

    def add(name: str, spec: dict[str, Any], images: Path) -> Path:
        model, score, seconds = train_and_score(name, spec, runs)
        table.append({"run": name, "train images": len(list(images.glob("*.jpg"))),
                      "mAP50 (real val)": round(score, 3), "seconds": round(seconds)})
        return model

    add("real 10 %", spec_for(real, ten / "images", ten / "labels", scaled), ten / "images")
    add("real 100 %", spec_for(real, real / "train" / "images", real / "train" / "labels",
                               args.epochs), real / "train" / "images")
    base = add("synthetic only", spec_for(synthetic, synthetic / "train" / "images",
                                          synthetic / "train" / "labels", args.epochs),
               synthetic / "train" / "images")
    finetune = spec_for(real, ten / "images", ten / "labels", args.finetune_epochs, base)
    add("synthetic -> real 10 %", copy.deepcopy(finetune), ten / "images")

    print("| run | train images | mAP50 (real val) | seconds |")
    print("| --- | ---: | ---: | ---: |")
    for row in table:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": table}, indent=2))


if __name__ == "__main__":
    main()
