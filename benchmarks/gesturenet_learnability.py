"""Can GestureNet learn ``graft synth hands`` on a CPU? Top-1 on users it never saw.

The product path end to end: ``graft synth hands`` -> ``graft gesturenet dataset_convert``
(the last ``--test-users`` users held out as the test set; the rest split by user into train and
val) -> ``graft gesturenet train`` with the demo recipe
(:func:`graft.tasks.gesturenet.recipe.demo_spec`: ImageNet EfficientNet-Lite0 at 64x64, first
blocks frozen, mild augmentation; ``--arch resnet18 --no-pretrained`` is the earlier
from-scratch run)
-> ``graft gesturenet evaluate`` on the held-out users. Prints one JSON line (accuracies,
per-class recall, confusion matrix, wall and CPU seconds of each step, the load average);
results in BENCHMARKS.md.

Example (the run in BENCHMARKS.md)::

    nice -n 5 env OMP_NUM_THREADS=2 python benchmarks/gesturenet_learnability.py /tmp/glearn \\
        --frames 700 --users 10 --test-users 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from graft.tasks.gesturenet.convert import dataset_convert
from graft.tasks.gesturenet.evaluate import evaluate
from graft.tasks.gesturenet.recipe import DEMO_EPOCHS, DEMO_INPUT, write_demo_spec
from graft.tasks.gesturenet.synth import make_hands_dataset
from graft.tasks.gesturenet.train import train


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (DataLoader workers)."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                 resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """Wall and CPU seconds (with finished child processes) of each named step."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}

    def run(self, name: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - any step
        wall, cpu = time.time(), cpu_seconds()
        result = fn(*args, **kwargs)
        self.steps[name] = {"wall_s": round(time.time() - wall, 1),
                            "cpu_s": round(cpu_seconds() - cpu, 1)}
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path, help="new folder for data and results")
    ap.add_argument("--frames", type=int, default=700)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--test-users", type=int, default=2, help="held out, never trained on")
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--no-pretrained", action="store_true", help="from scratch")
    ap.add_argument("--input", type=int, default=DEMO_INPUT, help="network input side")
    ap.add_argument("--freeze", type=int, nargs="*", default=None,
                    help="block indices kept at their ImageNet weights (0 = stem); default: "
                    "the recipe's")
    ap.add_argument("--epochs", type=int, default=DEMO_EPOCHS)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1, help="of the generated data")
    args = ap.parse_args()
    clock = Clock()
    clock.run("synth", make_hands_dataset, args.work / "hands", frames=args.frames,
              users=args.users, val_users=args.test_users, seed=args.seed)
    test_users = [f"user{k:02d}" for k in range(args.users - args.test_users, args.users)]
    splits = args.work / "splits"
    parts = clock.run("convert", dataset_convert, args.work / "hands" / "gesturenet", splits,
                      val_fraction=args.val_fraction, kpi_users=test_users)
    spec = write_demo_spec(splits, input_size=args.input, epochs=args.epochs,
                           learning_rate=args.lr, arch=args.arch,
                           pretrained=not args.no_pretrained,
                           freeze_blocks=None if args.freeze is None else tuple(args.freeze))
    summary = clock.run("train", train, spec, args.work / "results", accelerator="cpu",
                        progress=False)
    m = clock.run("evaluate", evaluate, spec, args.work / "results" / "model.graft",
                  split_file=splits / "test.json")
    print(json.dumps({
        "arch": args.arch, "pretrained": not args.no_pretrained, "input": args.input,
        "freeze": args.freeze, "epochs": args.epochs, "lr": args.lr,
        "hands": {k: parts[k]["hands"] for k in ("train", "val", "test")},
        "users": {k: parts[k]["users"] for k in ("train", "val", "test")},
        "top1": round(m["top1_accuracy"], 4), "top2": round(m["top2_accuracy"], 4),
        "best_val_acc": summary.best_score,
        "recall": {r["class"]: round(r["recall"], 3) for r in m["per_class"]},
        "confusion": m["confusion_matrix"], "steps": clock.steps,
        "load_avg": [round(v, 1) for v in os.getloadavg()]}))


if __name__ == "__main__":
    main()
