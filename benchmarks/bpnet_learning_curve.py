"""BodyPoseNet time-to-accuracy: COCO keypoint AP against training seconds, for one config.

A plain training loop over graft's own pieces (data module, BpNetLite, masked multi-stage loss,
evaluator) with a cosine schedule that ends at ``--budget`` seconds of training time and an
evaluation at ``--evals`` evenly spaced points. It is how the demo's pose settings were chosen
(backbone, refinement kernel, learning rate, heatmap sigma, person size); ``graft bpnet train``
is the product path and gives the same model for the same settings.

Example (the demo's settings, on data from ``graft synth pose``)::

    graft synth pose -o /tmp/pose128 --images 800 --size 128x128 --max_persons 2 \\
        --person_height 0.5,0.9
    python benchmarks/bpnet_learning_curve.py /tmp/pose128 --budget 600 --evals 5 \\
        --refinement-kernel 3 --lr 2e-3 --sigma 7 --json curve.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from graft.api import GraftModel
from graft.spec import validate
from graft.tasks.bpnet.data import BpnetDataModule
from graft.tasks.bpnet.evaluate import evaluate
from graft.tasks.bpnet.module import build_network, manifest_for, pose_loss
from graft.tasks.bpnet.spec import BpnetTrainSpec, InferenceSpec


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", type=Path, help="folder with dataset_spec.json (graft synth pose)")
    p.add_argument("--size", type=int, default=128, help="square network input")
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--stages", type=int, default=2)
    p.add_argument("--refinement-kernel", type=int, default=7, choices=(3, 5, 7))
    p.add_argument("--lr", type=float, default=1e-3, help="Adam peak learning rate")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--sigma", type=float, default=7.0, help="heatmap sigma, input pixels")
    p.add_argument("--budget", type=float, default=300, help="training seconds")
    p.add_argument("--evals", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--pretrained", default=None,
                   help="model.pretrained_weights, e.g. efficientnet_lite0 (ImageNet)")
    p.add_argument("--normalization", choices=("scale_offset", "minus_one_one"),
                   default="scale_offset", help="scale_offset: TLT's x/256 - 0.5; minus_one_one: "
                   "x/128 - 1, as EfficientNet-Lite's ImageNet weights were trained")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args()


def main() -> None:
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    spec = validate(BpnetTrainSpec, {
        "dataloader": {
            "batch_size": a.batch, "workers": a.workers,
            "image_config": {"image_dims": {"height": a.size, "width": a.size, "channels": 3}},
            "dataset_config": {"dataset_spec": str(a.data / "dataset_spec.json")},
            "augmentation_config": {"spatial_augmentation_mode": "standard",
                                    "spatial_aug_params": {"rotate_deg_max": 15,
                                                           "translate_max_x": 12,
                                                           "translate_max_y": 12}},
            "label_processor_config": {"heatmap_gaussian_sigma": a.sigma},
            "normalization_params": {"image_scale": [128.0] * 3, "image_offset": [1.0] * 3}
            if a.normalization == "minus_one_one" else {},
        },
        "model": {"backbone": a.backbone, "stages": a.stages,
                  "refinement_kernel": a.refinement_kernel, "pretrained_weights": a.pretrained},
    }, source="benchmark")
    data = BpnetDataModule(spec.dataloader)
    data.setup("fit")
    pose = data.pose_config
    net, arch = build_network(spec.model, pose)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    infer = validate(InferenceSpec, {"input_shape": [a.size, a.size]}, source="benchmark")
    marks = [a.budget * (k + 1) / a.evals for k in range(a.evals)]
    steps, seen, train_s, curve = 0, 0, 0.0, []
    start = time.perf_counter()
    print(f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M params; budget {a.budget} s")
    while marks:
        for batch in data.train_dataloader():
            t0 = time.perf_counter()
            warmup = min(1.0, (steps + 1) / 50)
            lr = a.lr * 0.5 * (1 + math.cos(math.pi * min(train_s / a.budget, 1.0))) * warmup
            for group in opt.param_groups:
                group["lr"] = max(lr, 1e-5)
            net.train()
            loss, _ = pose_loss(net(batch["image"]), batch["heatmap"], batch["paf"],
                                batch["mask"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            seen += batch["image"].shape[0]
            train_s += time.perf_counter() - t0
            if train_s < marks[0]:
                continue
            marks.pop(0)
            model = GraftModel(net.eval(), manifest_for(spec, arch, pose, {}))
            m = evaluate(infer, model, a.data / "dataset_spec.json", progress=False,
                         device="cpu")["metrics"]
            curve.append({"train_s": round(train_s), "wall_s": round(time.perf_counter() - start),
                          "images_seen": seen, "AP": round(m["AP"], 4),
                          "AP50": round(m["AP50"], 4), "AR": round(m["AR"], 4)})
            print(json.dumps(curve[-1]), flush=True)
            if not marks:
                break
    if a.json:
        a.json.write_text(json.dumps({
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"), "curve": curve,
            "params": sum(p.numel() for p in net.parameters())}, indent=1))


if __name__ == "__main__":
    main()
