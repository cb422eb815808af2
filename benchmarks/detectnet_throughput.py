"""DetectNet_v2 training and inference images/s: graft's loop vs a plain PyTorch loop.

Both sides run the same network (:class:`graft.tasks.detectnet_v2.model.DetectNetV2`), the
same cost (TLT's, :class:`~graft.tasks.detectnet_v2.loss.DetectNetCost`), Adam with the spec's
L1 regularization on kernels, the same precision and memory format, at TLT's KITTI input size
(384x1248) by default.

Training:

- ``plain``: tensors in memory (uint8 images, and their targets rasterized once before the
  timed loop), normalize -> forward -> cost -> backward -> regularizer -> Adam -> LR step.
- ``graft``: the task's Lightning module (:class:`~graft.tasks.detectnet_v2.module.
  DetectNetModule`: targets rasterized on the device each step, autoweighting sums, logging)
  under :func:`graft.engine.fit` (checkpoint callbacks, metrics logger, RNG state), fed
  ``--data memory``: the same in-memory samples through a DataLoader with the task's collate,
  or ``--data files``: ``graft detectnet_v2 train``'s whole path (:func:`graft.tasks.
  detectnet_v2.train.train`: KITTI files at 375x1242 read, resized and augmented by the task's
  data module in ``--workers`` loader processes); ``files`` also reports the CPU time of one
  sample of that pipeline in one thread (how many workers a GPU needs).

Inference (``torch.inference_mode``): ``plain`` is the network (fp32, NCHW) on a normalized
batch at the input size, then the same DBSCAN decoder (on a GPU also the network alone in
bf16 autocast and channels_last, the ceiling); ``graft`` is ``graft detectnet_v2 inference``'s
predictor, a :class:`~graft.tasks.detectnet_v2.detector.Detector` over a ``.graft`` file
through :mod:`graft.runtime` (resize, normalize, network, decoder, boxes in image pixels),
given the same uint8 images.

    python benchmarks/detectnet_throughput.py --device cpu --batch-size 4 --steps 6 --warmup 2
    python benchmarks/detectnet_throughput.py --device cuda --batch-size 32 --steps 100 \\
        --data files --workers 12
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from graft.data.preprocess import normalize
from graft.engine.fit import Launch, fit, resolve_precision, use_channels_last
from graft.engine.schedules import lr_factor
from graft.tasks.detectnet_v2.data import collate
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.encoder import TargetEncoder
from graft.tasks.detectnet_v2.loss import DetectNetCost
from graft.tasks.detectnet_v2.module import DetectNetModule
from graft.tasks.detectnet_v2.spec import DetectNetSpec
from graft.tasks.detectnet_v2.train import NORMALIZATION, build_network, manifest_for

CLASSES = ("car", "cyclist", "pedestrian")
KITTI_SIZE = (375, 1242)  # KITTI's images (height, width), resized to the input by graft


def make_spec(args: argparse.Namespace, data_dir: Path | None = None) -> DetectNetSpec:
    """A KITTI-like spec (TLT's defaults otherwise); ``data_dir`` for ``--data files``."""
    source = {"image_directory_path": str(data_dir / "images") if data_dir else "-",
              "label_directory_path": str(data_dir / "labels") if data_dir else "-"}
    return DetectNetSpec.model_validate({
        "dataset_config": {"data_sources": [source],
                           "target_class_mapping": {c: c for c in CLASSES},
                           "num_workers": args.workers},
        "augmentation_config": {"preprocessing": {"output_image_height": args.height,
                                                  "output_image_width": args.width}},
        "model_config": {"arch": args.arch},
        "training_config": {"batch_size_per_gpu": args.batch_size, "num_epochs": 10_000,
                            "checkpoint_interval": 10_000,
                            "trainer": {"log_every_n_steps": 10}},
        # No validation in the timed runs: its epochs (one per real epoch) lie outside.
        "evaluation_config": {"first_validation_epoch": 10_000},
    })


def random_boxes(rng: np.random.Generator, n: int, h: int, w: int) -> tuple[np.ndarray, ...]:
    """KITTI-like boxes: 20-200 px wide, wider than tall, anywhere in an (h, w) image
    (narrower in images too small for them: the suite's quick runs at 64x64)."""
    widest = min(200.0, 0.8 * w, 0.8 * h / 1.2)
    bw = rng.uniform(min(20.0, widest / 2), widest, n)
    bh = bw * rng.uniform(0.4, 1.2, n)
    x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    boxes = np.stack([x1, y1, x1 + bw, y1 + bh], 1).astype(np.float32)
    return boxes, rng.integers(0, len(CLASSES), n)


class MemorySamples(Dataset):
    """``length`` samples in the task's format, cycling through ``pool`` fixed uint8 images at
    the input size with their boxes (long enough that no epoch ends inside the timed steps:
    a real epoch, and its checkpoint, spans thousands of steps)."""

    def __init__(self, length: int, pool: int, size: tuple[int, int], objects: int,
                 seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        h, w = size
        self.length = length
        self.samples = []
        for _ in range(min(pool, length)):
            image = torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8))
            boxes, labels = random_boxes(rng, objects, h, w)
            self.samples.append({
                "image": image, "boxes": torch.from_numpy(boxes),
                "labels": torch.from_numpy(labels).long(), "ignore": torch.zeros(0, 4),
                "ignore_labels": torch.zeros(0, dtype=torch.int64), "weight": 1.0,
                "truth": None, "scale": (1.0, 1.0)})

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.samples[i % len(self.samples)]


def write_kitti(root: Path, n: int, objects: int, pool: int = 16, seed: int = 0) -> Path:
    """``n`` KITTI-sized JPEGs (smooth noise with filled boxes) and their label files; past
    ``pool`` distinct images the files are hard links (each one is still read and decoded)."""
    import cv2

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    h, w = KITTI_SIZE
    for i in range(n):
        image, label = root / "images" / f"{i:06d}.jpg", root / "labels" / f"{i:06d}.txt"
        if i >= pool:
            os.link(root / "images" / f"{i % pool:06d}.jpg", image)
            os.link(root / "labels" / f"{i % pool:06d}.txt", label)
            continue
        small = rng.integers(40, 220, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        pixels = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        boxes, labels = random_boxes(rng, objects, h, w)
        lines = []
        for (x1, y1, x2, y2), c in zip(boxes, labels, strict=True):
            pixels[int(y1):int(y2), int(x1):int(x2)] = rng.integers(0, 255, 3)
            lines.append(f"{CLASSES[c]} 0.00 0 0.00 {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} "
                         "0 0 0 0 0 0 0")
        cv2.imwrite(str(image), pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
        label.write_text("\n".join(lines) + "\n")
    return root


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_training(args: argparse.Namespace, spec: DetectNetSpec, samples: MemorySamples
                   ) -> tuple[float, float]:
    """Images per second and per CPU second of the plain loop (see the module docstring)."""
    device = torch.device(args.device)
    accel = "gpu" if device.type == "cuda" else "cpu"
    trainer = spec.training_config.trainer
    fmt = torch.channels_last if use_channels_last(trainer.channels_last, accel) \
        else torch.contiguous_format
    precision = resolve_precision(trainer.precision, accel)
    amp_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    torch.manual_seed(spec.random_seed)
    net, _ = build_network(spec)
    net = net.to(device).to(memory_format=fmt)
    tc = spec.training_config
    cost = DetectNetCost.from_config(spec.cost_function_config, spec.cost_classes()).to(device)
    encoder = TargetEncoder.from_spec(spec)
    opt = torch.optim.Adam(net.parameters(), lr=tc.learning_rate.learning_rate,
                           betas=tc.optimizer.betas, eps=tc.optimizer.eps)
    total = args.steps + args.warmup
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(tc.learning_rate, s / total, s / total))
    kernels = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    l1 = tc.regularizer.weight
    scaler = torch.amp.GradScaler(enabled=amp_dtype == torch.float16)
    batches = []  # (images, targets) on the device, targets rasterized once
    for i in range(0, len(samples.samples) - args.batch_size + 1, args.batch_size):
        b = collate(samples.samples[i:i + args.batch_size])
        targets = encoder([x.to(device) for x in b["boxes"]],
                          [x.to(device) for x in b["labels"]])
        batches.append((b["image"].to(device), targets))
    net.train()
    t0 = c0 = 0.0
    for step in range(total):
        if step == args.warmup:
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
        images, targets = batches[step % len(batches)]
        x = normalize(images, NORMALIZATION).contiguous(memory_format=fmt)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            cov, bbox = net(x)
            out = cost(cov, bbox, targets)
        opt.zero_grad(set_to_none=True)
        scaler.scale(out.total).backward()
        scaler.unscale_(opt)
        with torch.no_grad():
            grads = [p.grad for p in kernels if p.grad is not None]
            torch._foreach_add_(grads, torch._foreach_sign(
                [p for p in kernels if p.grad is not None]), alpha=l1)
        scaler.step(opt)
        scaler.update()
        sched.step()
    sync(device)
    seen = args.steps * args.batch_size
    return seen / (time.perf_counter() - t0), seen / (time.process_time() - c0)


class Timer(L.Callback):
    """Images per second and per CPU second over the steps after ``warmup``."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.c0, self.seen = warmup, 0.0, 0.0, 0
        self.rate = self.cpu_rate = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            sync(module.device)
            self.t0, self.c0, self.seen = time.perf_counter(), time.process_time(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step > self.warmup:
            self.seen += len(batch["image"])

    def on_train_end(self, trainer, module) -> None:
        sync(module.device)
        self.rate = self.seen / (time.perf_counter() - self.t0)
        self.cpu_rate = self.seen / (time.process_time() - self.c0)


class MemoryData(L.LightningDataModule):
    def __init__(self, samples: MemorySamples, batch_size: int, workers: int) -> None:
        super().__init__()
        self.loader = DataLoader(samples, batch_size=batch_size, shuffle=True, drop_last=True,
                                 collate_fn=collate, num_workers=workers,
                                 pin_memory=torch.cuda.is_available(),
                                 persistent_workers=workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self.loader


def with_timer(timer: Timer, steps: int):
    """Patch the engine's Trainer: one more callback and a step cap, all else graft's."""
    import graft.engine.fit as engine_fit

    original = engine_fit.L.Trainer

    class Patched:
        def __enter__(self) -> None:
            def trainer(*a, **kw):
                kw["callbacks"] = [*kw["callbacks"], timer]
                kw["max_steps"] = steps
                return original(*a, **kw)

            engine_fit.L.Trainer = trainer

        def __exit__(self, *exc: object) -> None:
            engine_fit.L.Trainer = original

    return Patched()


def graft_training(args: argparse.Namespace, spec: DetectNetSpec, samples: MemorySamples | None,
                   tmp: Path) -> tuple[float, float]:
    """Images per second and per CPU second of graft's loop (see the module docstring)."""
    timer = Timer(args.warmup)
    accel = "gpu" if args.device == "cuda" else "cpu"
    with with_timer(timer, args.steps + args.warmup):
        if samples is not None:
            torch.manual_seed(spec.random_seed)
            net, _ = build_network(spec)
            module = DetectNetModule(net, spec, dict(NORMALIZATION))
            fit(module, MemoryData(samples, args.batch_size, args.workers),
                trainer=spec.training_config.trainer, results_dir=tempfile.mkdtemp(dir=tmp),
                monitor="val/mAP", mode="max", validates=False,
                launch=Launch(accelerator=accel, progress=False))
        else:
            from graft.tasks.detectnet_v2.train import train

            train(None, tempfile.mkdtemp(dir=tmp), spec=spec, accelerator=accel,
                  progress=False)
    return timer.rate, timer.cpu_rate


def pipeline_ms(spec: DetectNetSpec, samples: int) -> float:
    """Median CPU milliseconds of one training sample (read, decode, resize, augment) in one
    thread, as a DataLoader worker makes it: how many workers keep an accelerator fed."""
    from graft.tasks.detectnet_v2.data import DetectionData
    from graft.tasks.detectnet_v2.records import load_dataset

    data = DetectionData(load_dataset(spec.dataset_config), spec.augmentation_config, 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = []
        for i in range(samples + 1):
            c0 = time.process_time()
            data.train_set[i % len(data.train_set)]
            times.append(time.process_time() - c0)
    finally:
        torch.set_num_threads(threads)
    return 1000 * median(times[1:])


def inference(args: argparse.Namespace, spec: DetectNetSpec, tmp: Path
              ) -> dict[str, list[tuple[float, float]]]:
    """Per round, images per second and per CPU second of: the plain network, the plain
    network + decoder, graft's Detector over a .graft file; the three take turns."""
    from graft.archive import save
    from graft.tasks.detectnet_v2.detector import load_detector

    device = torch.device(args.device)
    torch.manual_seed(spec.random_seed)
    net, arch = build_network(spec)
    path = tmp / "model.graft"
    save(path, net.state_dict(), manifest_for(spec, arch, {}))
    net = net.eval().to(device)  # fp32 NCHW, as graft's runner holds a .graft network
    decoder = DetectionDecoder.from_spec(spec)
    rng = np.random.default_rng(1)
    b = args.infer_batch_size
    images = torch.from_numpy(rng.integers(0, 256, (b, 3, args.height, args.width), np.uint8))
    iters, warm = args.infer_iters, max(1, args.warmup)

    def timed(fn) -> tuple[float, float]:
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(iters):
            fn()
        sync(device)
        return iters * b / (time.perf_counter() - t0), iters * b / (time.process_time() - c0)

    def plain_net() -> Any:
        with torch.inference_mode():
            return net(normalize(images.to(device), NORMALIZATION))

    def plain_decoded() -> Any:
        cov, bbox = plain_net()
        return decoder(cov.float().cpu(), bbox.float().cpu())

    detector = load_detector(path, spec, device=args.device)
    listed = list(images)
    runs = {"plain_network": plain_net, "plain_decoded": plain_decoded,
            "graft_detector": lambda: detector(listed)}
    if device.type == "cuda":  # the ceiling: bf16 autocast + channels_last, network only
        fast = copy.deepcopy(net).to(memory_format=torch.channels_last)

        def plain_amp() -> Any:
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
                x = normalize(images.to(device), NORMALIZATION)
                return fast(x.contiguous(memory_format=torch.channels_last))

        runs["plain_network_bf16_channels_last"] = plain_amp
    for fn in runs.values():
        for _ in range(warm):
            fn()
    rates: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            rates[name].append(timed(fn))
    return rates


def median(values: list[float]) -> float:
    return float(np.median(values))


def summarize(row: dict[str, Any], what: str, runs: dict[str, list[tuple[float, float]]],
              plain: str, ours: str) -> None:
    """Median images/s and images per CPU second of each side over the rounds, the ratios."""
    for name, values in runs.items():
        row[f"{what}_{name}_images_per_s"] = round(median([v[0] for v in values]), 3)
        row[f"{what}_{name}_images_per_cpu_s"] = round(median([v[1] for v in values]), 3)
        row[f"{what}_{name}_rounds"] = [round(v[0], 3) for v in values]
    for unit in ("images_per_s", "images_per_cpu_s"):
        row[f"{what}_{ours}_vs_{plain}_{unit}"] = round(
            row[f"{what}_{ours}_{unit}"] / row[f"{what}_{plain}_{unit}"], 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--height", type=int, default=384)
    ap.add_argument("--width", type=int, default=1248)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--objects", type=int, default=8, help="boxes per image")
    ap.add_argument("--data", choices=["memory", "files"], default="memory")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader processes (graft)")
    ap.add_argument("--infer-batch-size", type=int, default=4)
    ap.add_argument("--infer-iters", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="turns each side takes")
    ap.add_argument("--skip", choices=["train", "inference"], action="append", default=[])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    row: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "arch": args.arch,
        "input": f"{args.height}x{args.width}", "batch_size": args.batch_size,
        "steps": args.steps, "data": args.data, "workers": args.workers,
        "load_average": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if "train" not in args.skip:
            data_dir = None
            steps = args.steps + args.warmup
            if args.data == "files":
                data_dir = write_kitti(tmp / "kitti", args.batch_size * (steps + 1), args.objects)
            spec = make_spec(args, data_dir)
            samples = MemorySamples(args.batch_size * (steps + 1), args.batch_size * min(steps, 8),
                                    (args.height, args.width), args.objects)
            runs: dict[str, list[tuple[float, float]]] = {"plain": [], "graft": []}
            for _ in range(args.rounds):
                runs["plain"].append(plain_training(args, spec, samples))
                runs["graft"].append(graft_training(
                    args, spec, samples if data_dir is None else None, tmp))
            summarize(row, "train", runs, "plain", "graft")
            if data_dir is not None:
                row["pipeline_cpu_ms_per_image"] = round(pipeline_ms(spec, 20), 1)
        if "inference" not in args.skip:
            rates = inference(args, make_spec(args), tmp)
            summarize(row, "infer", rates, "plain_decoded", "graft_detector")
    row["load_average_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(row, indent=2))
    if args.json:
        args.json.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
