"""What a pretrained backbone buys BodyPoseNet: the demo pose model from scratch vs from a
classification ResNet-18, keypoint AP at equal epochs.

Both runs are the demo's pose recipe (``graft.demo.pose``: resnet18 backbone, 2 stages, 3x3
refinement, 128x128, the demo's generated people, same seed and epochs); the only difference
is ``model.pretrained_weights``: nothing, or a classification ``.graft`` of ResNet-18 (trained
here with the classification demo's recipe on its generated shapes, or given with
``--classifier``), whose ``conv1 .. layer2`` fill the pose backbone. Both runs use the
classifier's input normalization (``mean_std``: /255, ImageNet mean and std), so the
transferred filters see inputs scaled as in their training. Prints and writes JSON.

Example (the full size, about 40 minutes on a 2-core CPU)::

    python benchmarks/bpnet_pretrained_backbone.py -o /tmp/pretrained_bench \\
        --json /tmp/pretrained_bench/result.json

Toy size (a minute or two; checks that it runs, the numbers mean nothing)::

    python benchmarks/bpnet_pretrained_backbone.py -o /tmp/pretrained_quick --quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from graft.demo import classification as cls_demo
from graft.demo import pose as pose_demo
from graft.demo.common import write_spec


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", type=Path, required=True, help="work folder (data, runs)")
    p.add_argument("--classifier", type=Path, default=None,
                   help="a classification resnet18 .graft (default: train one, demo recipe)")
    p.add_argument("--epochs", type=int, default=20, help="pose epochs, both runs (demo: 20)")
    p.add_argument("--images", type=int, default=800, help="generated pose images (demo: 800)")
    p.add_argument("--cls-epochs", type=int, default=20, help="classifier epochs (demo: 20)")
    p.add_argument("--per-class", type=int, default=300, help="shapes per class (demo: 300)")
    p.add_argument("--cls-size", type=int, default=64, help="shape image side (demo: 64)")
    p.add_argument("--quick", action="store_true",
                   help="toy size: 40 pose images, 1 epoch, a 1-epoch classifier on 16/class")
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    a = p.parse_args()
    if a.quick:
        a.epochs, a.images, a.cls_epochs, a.per_class = 1, 40, 1, 16
    a.out = a.out.resolve()
    return a


def train_classifier(a: argparse.Namespace) -> Path:
    from graft.data.synthetic import make_classification_dataset
    from graft.tasks.classification.train import train

    data_dir = a.out / "data" / "shapes"
    if not (data_dir / "val").exists():
        make_classification_dataset(data_dir, classes=4, per_class=a.per_class, size=a.cls_size,
                                    seed=0)
    spec = cls_demo.classification_spec(data_dir, a.cls_epochs, a.cls_size)
    work = a.out / "classifier"
    train(write_spec(work / "spec.yaml", spec), work / "train", force=True)
    return work / "train" / "model.graft"


def train_pose(a: argparse.Namespace, data_dir: Path, name: str,
               pretrained: Path | None) -> dict[str, Any]:
    from graft.spec import validate
    from graft.tasks.bpnet.evaluate import evaluate
    from graft.tasks.bpnet.module import train
    from graft.tasks.bpnet.runner import load_pose_model
    from graft.tasks.bpnet.spec import InferenceSpec

    spec = pose_demo.pose_train_spec(data_dir, a.epochs)
    spec["dataloader"]["normalization_params"] = {"type": "mean_std"}
    if pretrained is not None:
        spec["model"]["pretrained_weights"] = str(pretrained)
    work = a.out / name
    summary = train(write_spec(work / "train.yaml", spec), work / "train", force=True)
    model = load_pose_model(work / "train" / "model.graft")
    result = evaluate(validate(InferenceSpec, pose_demo.inference_spec()), model,
                      data_dir / "dataset_spec.json", results_dir=work / "eval")
    metrics = result["metrics"]
    return {"AP": round(float(metrics["AP"]), 4), "AP50": round(float(metrics["AP50"]), 4),
            "train_seconds": summary.train_seconds, "epochs": a.epochs,
            "pretrained_weights": str(pretrained) if pretrained else None,
            "model": str(work / "train" / "model.graft")}


def main() -> None:
    from graft.tasks.bpnet.synth import make_pose_dataset

    a = parse_args()
    data_dir = a.out / "data" / "pose"
    if not (data_dir / "dataset_spec.json").exists():
        make_pose_dataset(data_dir, images=a.images, size=(pose_demo.SIZE, pose_demo.SIZE),
                          max_persons=pose_demo.MAX_PERSONS, crowd=False,
                          person_height=pose_demo.PERSON_HEIGHT, seed=0)
    start = time.perf_counter()
    classifier = a.classifier.resolve() if a.classifier else train_classifier(a)
    classifier_seconds = round(time.perf_counter() - start, 1)
    runs = {"scratch": train_pose(a, data_dir, "scratch", None),
            "pretrained": train_pose(a, data_dir, "pretrained", classifier)}
    result = {
        "benchmark": "bpnet_pretrained_backbone",
        "date": dt.date.today().isoformat(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "settings": {"pose_images": a.images, "pose_epochs": a.epochs,
                     "normalization": "mean_std", "quick": a.quick},
        "classifier": {"model": str(classifier), "trained_here": a.classifier is None,
                       "seconds": classifier_seconds if a.classifier is None else None},
        **runs,
        "AP_gain": round(runs["pretrained"]["AP"] - runs["scratch"]["AP"], 4),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
