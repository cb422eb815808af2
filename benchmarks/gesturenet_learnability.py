"""Can GestureNet learn ``graft synth hands`` on a CPU? Top-1 on users it never saw.

The product path end to end: ``graft synth hands`` -> ``graft gesturenet dataset_convert``
(one user held out as the test set, one as val) -> ``graft gesturenet train`` (ResNet-18 from
scratch, the task's default augmentation and balanced class weights) -> ``graft gesturenet
evaluate`` on the held-out user. Prints one JSON line (accuracies, confusion matrix, times,
the process's CPU seconds); results in BENCHMARKS.md.

Example (the run in BENCHMARKS.md; one thread)::

    OMP_NUM_THREADS=1 python benchmarks/gesturenet_learnability.py /tmp/glearn \\
        --frames 500 --users 8 --input 64 --epochs 8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from graft.tasks.gesturenet.convert import dataset_convert
from graft.tasks.gesturenet.evaluate import evaluate
from graft.tasks.gesturenet.synth import make_hands_dataset
from graft.tasks.gesturenet.train import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path, help="new folder for data and results")
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--input", type=int, default=64, help="network input side")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    start, cpu0 = time.time(), time.process_time()
    make_hands_dataset(args.work / "hands", frames=args.frames, users=args.users, val_users=1,
                       seed=args.seed)
    test_user = f"user{args.users - 1:02d}"
    splits = args.work / "splits"
    dataset_convert(args.work / "hands" / "gesturenet", splits, val_fraction=0.2,
                    kpi_users=[test_user])
    spec = splits / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "model": {"arch": "resnet18", "input_size": [args.input, args.input]},
        "data": {"train_file": "train.json", "val_file": "val.json", "batch_size": 32,
                 "workers": 1},
        "optimizer": {"name": "adamw"},
        "lr_schedule": {"name": "soft_anneal", "learning_rate": args.lr},
        "trainer": {"epochs": args.epochs, "seed": 0}}))
    t0 = time.time()
    summary = train(spec, args.work / "results", accelerator="cpu", progress=False)
    train_s = time.time() - t0
    m = evaluate(spec, args.work / "results" / "model.graft", split_file=splits / "test.json")
    print(json.dumps({
        "test_user": test_user, "test_hands": m["images"], "top1": m["top1_accuracy"],
        "top2": m["top2_accuracy"], "best_val_acc": summary.best_score,
        "confusion": m["confusion_matrix"], "train_s": round(train_s, 1),
        "total_s": round(time.time() - start, 1),
        "process_cpu_s": round(time.process_time() - cpu0, 1)}))


if __name__ == "__main__":
    main()
