"""Mask R-CNN training and inference images/s, unpruned and pruned, torch and onnxruntime.

The networks are ``graft mask_rcnn``'s (torchvision MaskRCNN on graft's FPN backbones) in the
generator's CPU recipe (``graft synth instances``: EfficientNet-Lite0 FPN, v1 heads, box head
256 wide, RPN 600/300 proposals in training, 300/150 in inference) unless ``--arch`` says
otherwise. Either ``--models A.graft B.graft`` (trained models: detection counts, and so the
mask head's work, are realistic) or random weights, pruned here with TLT's rule at the first
``-pth`` removing ``--prune-fraction`` of the parameters (a random head scores every class,
so inference then works on up to ``detections_per_img`` detections per image: slower than a
trained model's handful; the JSON records the mean count).

- training: ``net(images, targets)`` -> five losses -> backward -> SGD step, on ``--batch-size``
  in-memory images at ``--size`` with ``--objects`` random boxes and box-shaped masks each;
- inference: ``torch.inference_mode`` on one image at a time (the export's fixed batch of one),
  and the ONNX exports (:func:`graft.tasks.mask_rcnn.export.export_model`, parity-checked;
  masks pasted into the image, and ``--mask_output roi``'s 28x28 per detection) on
  onnxruntime (CUDA provider where it exists).

Wall-clock images/s and images per process CPU-second (all threads) are printed as JSON.

    python benchmarks/maskrcnn_throughput.py --device cpu --size 192x192 --steps 6 --warmup 2
    python benchmarks/maskrcnn_throughput.py --device cuda --size 800x1333 --batch-size 4 \\
        --steps 30 --warmup 5 --infer-iters 30 --arch resnet50   # owed: the GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.api import GraftModel, load
from graft.optimize.prune import PruneOptions
from graft.spec import load_spec
from graft.tasks.mask_rcnn.prune import prune_detector, threshold_for
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
from graft.tasks.mask_rcnn.train import build_network, manifest_for

CLASSES = ["panel_antenna", "dish", "radio_unit"]


def recipe(arch: str, size: tuple[int, int], batch: int) -> dict[str, Any]:
    """The generator's spec (data paths unused: the benchmark feeds tensors)."""
    model: dict[str, Any] = {"freeze_blocks": [0], "fast_rcnn_mlp_head_dim": 256,
                             "anchor_scale": 4, "rpn_pre_nms_topn_train": 600,
                             "rpn_post_nms_topn_train": 300, "rpn_pre_nms_topn_test": 300,
                             "rpn_post_nms_topn_test": 150, "batch_size_per_im": 128}
    if arch.startswith("resnet"):
        model.update(arch="resnet", nlayers=int(arch[6:]))
    else:
        model.update(arch=arch)
    return {"maskrcnn_config": model,
            "data_config": {"train_annotations": "train.json", "train_images": ".",
                            "image_size": list(size), "batch_size": batch}}


def random_models(args: argparse.Namespace, size: tuple[int, int], folder: Path
                  ) -> tuple[GraftModel, GraftModel, dict[str, Any]]:
    import yaml

    (folder / "spec.yaml").write_text(yaml.safe_dump(recipe(args.arch, size, args.batch_size)))
    spec = load_spec(folder / "spec.yaml", MaskRCNNSpec)
    torch.manual_seed(0)
    net, arch = build_network(spec, CLASSES, [1, 2, 3])
    manifest = manifest_for(spec, arch, {})
    base = GraftModel(net.eval(), manifest)
    base.save(folder / "unpruned.graft")
    pruned = load(folder / "unpruned.graft")
    options = PruneOptions(granularity=8, min_num_filters=16)
    found = threshold_for(pruned.module, options, args.prune_fraction, 64, 64)  # channels only
    prune_detector(pruned.module, found.options, 64, 64)
    return base, pruned, {"weights": "random", "pruning_threshold": found.options.threshold}


def sample(rng: np.random.Generator, size: tuple[int, int], objects: int, device: torch.device
           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    h, w = size
    image = torch.from_numpy(rng.random((3, h, w), dtype=np.float32))
    bw, bh = rng.uniform(0.1, 0.4, objects) * w, rng.uniform(0.1, 0.4, objects) * h
    x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    boxes = torch.tensor(np.stack([x1, y1, x1 + bw, y1 + bh], 1), dtype=torch.float32)
    masks = torch.zeros(objects, h, w, dtype=torch.uint8)
    for i, (a, b, c, d) in enumerate(boxes.round().long().tolist()):
        masks[i, b:d, a:c] = 1
    labels = torch.from_numpy(rng.integers(1, len(CLASSES) + 1, objects))
    target = {"boxes": boxes, "labels": labels, "masks": masks}
    return image.to(device), {k: v.to(device) for k, v in target.items()}


def timed(device: torch.device, fn: Any, steps: int, warmup: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``steps`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def rates(images: int, wall: float, cpu: float) -> dict[str, float]:
    return {"images_per_s": round(images / wall, 3),
            "images_per_cpu_s": round(images / cpu, 3) if cpu > 0 else None,
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def bench_model(model: GraftModel, args: argparse.Namespace, size: tuple[int, int],
                device: torch.device, folder: Path, tag: str) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    net = model.module.to(device)
    out: dict[str, Any] = {"params": sum(p.numel() for p in net.parameters())}
    batch = [sample(rng, size, args.objects, device) for _ in range(args.batch_size)]
    images, targets = [b[0] for b in batch], [b[1] for b in batch]
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)

    def train_step() -> None:
        net.train()
        loss = sum(net(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    wall, cpu = timed(device, train_step, args.steps, args.warmup)
    out["train"] = rates(args.steps * args.batch_size, wall, cpu)

    net.eval()
    image = images[0]
    counts: list[int] = []

    def infer() -> None:
        with torch.inference_mode():
            counts.append(len(net([image])[0]["scores"]))

    wall, cpu = timed(device, infer, args.infer_iters, args.warmup)
    out["torch_inference"] = {**rates(args.infer_iters, wall, cpu),
                              "mean_detections": round(float(np.mean(counts)), 1)}
    if not args.no_onnx:
        out["onnxruntime_inference"] = bench_onnx(model, image, args, folder / f"{tag}.onnx")
        out["onnxruntime_inference_roi"] = bench_onnx(model, image, args,
                                                      folder / f"{tag}_roi.onnx", "roi")
    return out


def bench_onnx(model: GraftModel, image: torch.Tensor, args: argparse.Namespace,
               path: Path, mask_output: str = "image") -> dict[str, Any]:
    """ORT on the export with masks pasted into the image (``image``) or the mask head's 28x28
    per detection (``roi``, TensorRT's default: no pasting Loop in the graph)."""
    import onnxruntime as ort

    from graft.tasks.mask_rcnn.export import export_model

    model.module.cpu()
    uint8 = (image.cpu() * 255).to(torch.uint8)
    report = export_model(model, path, uint8, allow_mismatch=True, mask_output=mask_output)
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]
    session = ort.InferenceSession(str(path), providers=providers)
    feed = {"image": uint8.float().div(255).numpy()}
    wall, cpu = timed(torch.device("cpu"), lambda: session.run(None, feed), args.infer_iters,
                      args.warmup)
    return {**rates(args.infer_iters, wall, cpu), "provider": session.get_providers()[0],
            "parity_passed": bool(report.passed)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="192x192", help="HEIGHTxWIDTH of the input images")
    ap.add_argument("--arch", default="efficientnet_lite0",
                    help="efficientnet_lite0 or resnet18/34/50/101 (random-weight models)")
    ap.add_argument("--models", nargs=2, type=Path, metavar=("UNPRUNED", "PRUNED"),
                    help="trained .graft models instead of random ones")
    ap.add_argument("--prune-fraction", type=float, default=0.4)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--objects", type=int, default=4, help="objects per training image")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--infer-iters", type=int, default=10)
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    device = torch.device(args.device)
    result: dict[str, Any] = {
        "benchmark": "maskrcnn_throughput", "device": str(device), "size": [h, w],
        "batch_size": args.batch_size, "torch": torch.__version__, "threads":
        torch.get_num_threads(), "machine": platform.node(), "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg()[0],
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.models:
            base, pruned = (load(p) for p in args.models)
            result.update(weights=[str(p) for p in args.models])
        else:
            base, pruned, info = random_models(args, (h, w), folder)
            result.update(info)
        for tag, model in (("unpruned", base), ("pruned", pruned)):
            result[tag] = bench_model(model, args, (h, w), device, folder, tag)
    result["load_avg_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
