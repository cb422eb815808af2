"""What ImageNet weights buy the demo's classifier: EfficientNet-Lite0 fine-tuned from ImageNet
vs the same network from scratch, at equal epochs (top-1 after each epoch, and time).

Both runs are the classification demo's recipe (``graft.demo.classification``: the generated
shapes, AdamW, cosine schedule, the same seed, augmentation and epochs); the only difference
is ``model.pretrained_weights``: ``efficientnet_lite0`` (the pip package's ImageNet weights)
or nothing. ``--baseline`` adds the demo's previous recipe, ResNet-18 from scratch at 64x64.
Prints a markdown table and writes JSON.

Example (about 15 minutes on a 2-core CPU)::

    python benchmarks/classification_transfer.py -o /tmp/transfer --json /tmp/transfer/result.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from graft.data.synthetic import make_classification_dataset
from graft.demo import classification as demo
from graft.demo.common import write_spec
from graft.tasks.classification.train import train


def curve(run_dir: Path) -> list[float]:
    """val/acc after each epoch, from the run's metrics.jsonl."""
    accs = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "val/acc" in row:
            accs.append(round(float(row["val/acc"]), 4))
    return accs


def one(name: str, spec: dict[str, Any], out: Path) -> dict[str, Any]:
    spec_file = write_spec(out / name / "spec.yaml", spec)
    start = time.perf_counter()
    summary = train(spec_file, out / name / "train", progress=False)
    return {"run": name, "arch": spec["model"]["arch"], "size": spec["model"]["input_size"][0],
            "pretrained": spec["model"].get("pretrained_weights"), "epochs": summary.epochs,
            "best_top1": round(float(summary.best_score or 0), 4),
            "per_epoch": curve(out / name / "train"), "train_seconds": round(summary.train_seconds),
            "wall_seconds": round(time.perf_counter() - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=demo.EPOCHS)
    parser.add_argument("--size", type=int, default=demo.SIZE)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--baseline", type=int, default=0, metavar="EPOCHS",
                        help="also ResNet-18 from scratch at 64x64 for EPOCHS (the old demo: 20)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    data = args.output / f"shapes{args.size}"
    if not (data / "val").exists():
        make_classification_dataset(data, classes=4, per_class=args.per_class, size=args.size,
                                    seed=0)
    for name, pretrained in (("imagenet", "efficientnet_lite0"), ("scratch", None)):
        spec = demo.classification_spec(data, args.epochs, args.size)
        spec["model"]["pretrained_weights"] = pretrained
        results.append(one(name, spec, args.output))
        print(json.dumps(results[-1]), flush=True)
    if args.baseline:
        small = args.output / "shapes64"
        if not (small / "val").exists():
            make_classification_dataset(small, classes=4, per_class=args.per_class, size=64,
                                        seed=0)
        spec = demo.classification_spec(small, args.baseline, 64)
        spec["model"] = {"arch": "resnet18", "input_size": [64, 64]}
        spec["data"]["preprocess_mode"] = "torch"
        spec["lr_schedule"]["learning_rate"] = 2e-3
        results.append(one("resnet18_scratch_64", spec, args.output))
        print(json.dumps(results[-1]), flush=True)
    print("\n| run | input | epochs | top-1 per epoch | best top-1 | train time |")
    print("| --- | --- | ---: | --- | ---: | ---: |")
    for r in results:
        init = f"ImageNet ({r['pretrained']})" if r["pretrained"] else "from scratch"
        print(f"| {r['arch']}, {init} | {r['size']}x{r['size']} | {r['epochs']} | "
              f"{' '.join(f'{a:.3f}' for a in r['per_epoch'])} | {r['best_top1']:.3f} | "
              f"{r['train_seconds']} s |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "date": dt.date.today().isoformat(), "machine": platform.platform(),
            "processor": platform.processor(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "per_class": args.per_class,
            "results": results}, indent=2))


if __name__ == "__main__":
    main()
