"""BodyPoseNet with the ImageNet EfficientNet-Lite0 backbone vs the demo's ResNet-18, keypoint
AP at equal training time.

Both runs are ``benchmarks/bpnet_learning_curve.py`` (graft's data module, network, loss and
evaluator; Adam under a cosine schedule that ends at ``--budget`` training seconds) on the
pose demo's data and settings (generated people, 128x128, 2 stages, 3x3 refinement, sigma 7):

- ``resnet18``: the demo's backbone, from scratch, TLT's x/256 - 0.5 normalization;
- ``efficientnet_lite0``: its stride-8 trunk (40 channels) from the pip package's ImageNet
  weights (``pretrained_weights: efficientnet_lite0``), inputs x/128 - 1 as those weights saw.

Runs one after the other on the same machine (so a busy machine skews both); the images-seen
column says how much each saw in its budget. Prints a markdown table and writes JSON.

Example (about 8 minutes with the default 180 s budget per run)::

    python benchmarks/bpnet_lite_backbone.py -o /tmp/bpnet_lite --json /tmp/bpnet_lite/result.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from graft.demo import pose as pose_demo
from graft.tasks.bpnet.synth import make_pose_dataset

CURVE = Path(__file__).with_name("bpnet_learning_curve.py")
RUNS = {"resnet18 (scratch)": ["--backbone", "resnet18"],
        "efficientnet_lite0 (ImageNet)": ["--backbone", "efficientnet_lite0", "--pretrained",
                                          "efficientnet_lite0", "--normalization",
                                          "minus_one_one"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--images", type=int, default=800)
    p.add_argument("--budget", type=float, default=180, help="training seconds per run")
    p.add_argument("--evals", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2, help="torch threads per run")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    data = a.output / "pose"
    if not (data / "dataset_spec.json").exists():
        make_pose_dataset(data, images=a.images, size=(pose_demo.SIZE, pose_demo.SIZE),
                          max_persons=pose_demo.MAX_PERSONS, crowd=False,
                          person_height=pose_demo.PERSON_HEIGHT, seed=0)
    results = {}
    for name, extra in RUNS.items():
        out = a.output / (extra[1] + ".json")
        start = time.perf_counter()
        subprocess.run([sys.executable, str(CURVE), str(data), "--size", str(pose_demo.SIZE),
                        "--stages", "2", "--refinement-kernel", "3", "--sigma", "7",
                        "--lr", str(a.lr), "--budget", str(a.budget), "--evals", str(a.evals),
                        "--threads", str(a.threads),
                        "--json", str(out), *extra], check=True)
        results[name] = {**json.loads(out.read_text()),
                         "wall_s": round(time.perf_counter() - start)}
    print(f"\n| backbone | params | AP at ~{a.budget / a.evals:.0f} s | AP at {a.budget:.0f} s "
          "(AP50) | images seen | images per training s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        curve = r["curve"]
        print(f"| {name} | {r.get('params', '-')} | {curve[0]['AP']:.3f} | {curve[-1]['AP']:.3f} "
              f"({curve[-1]['AP50']:.3f}) | {curve[-1]['images_seen']} | "
              f"{curve[-1]['images_seen'] / max(curve[-1]['train_s'], 1):.1f} |")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
