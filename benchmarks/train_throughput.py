"""Training throughput: graft's Lightning loop vs a plain PyTorch loop, same model and data.

Both loops train ResNet18 on the same uint8 batches with the same optimizer, precision and
memory format; the graft side runs the real ``ClassificationModule`` under ``graft.engine.fit``
(checkpointing, metrics logging and all). ``--data jpeg`` feeds both from JPEG files through the
real ImageFolder pipeline (decode + augment in DataLoader workers) to show whether the input
pipeline keeps up; ``--data memory`` isolates the loop overhead.

    python benchmarks/train_throughput.py --device cuda --batch-size 256 --steps 200
    python benchmarks/train_throughput.py --device cpu --batch-size 16 --steps 12 --size 224
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from graft.data.preprocess import normalization_for, normalize
from graft.engine.fit import Launch, fit
from graft.nn.backbones import build_classifier
from graft.tasks.classification.module import ClassificationModule
from graft.tasks.classification.spec import ClassificationSpec


class MemoryImages(Dataset):
    """Fixed random uint8 images: no decode cost, so only the loop is measured."""

    def __init__(self, n: int, size: int, classes: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def make_loader(args, train_dir: Path | None) -> DataLoader:
    if args.data == "memory":
        ds = MemoryImages(args.batch_size * 8, args.size, 10)
    else:
        from graft.tasks.classification.data import image_folder, train_transform
        from graft.tasks.classification.spec import AugmentationSpec

        transform = train_transform((args.size, args.size), AugmentationSpec())
        ds = image_folder(train_dir, transform, "train")
    return DataLoader(ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                      num_workers=args.workers, pin_memory=args.device == "cuda",
                      persistent_workers=args.workers > 0)


def cycle(loader: DataLoader, steps: int):
    n = 0
    while True:
        for batch in loader:
            yield batch
            n += 1
            if n >= steps:
                return


def plain_loop(args, loader: DataLoader) -> float:
    device = torch.device(args.device)
    fmt = torch.channels_last if args.device == "cuda" else torch.contiguous_format  # as graft
    net = build_classifier("resnet18", 10).to(device).to(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    norm = normalization_for("torch")
    amp = args.device == "cuda"
    t0, seen = 0.0, 0
    for i, (x, y) in enumerate(cycle(loader, args.steps + args.warmup)):
        if i == args.warmup:
            if amp:
                torch.cuda.synchronize()
            t0, seen = time.perf_counter(), 0
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=amp):
            logits = net(normalize(x, norm).contiguous(memory_format=fmt))
            loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    if amp:
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


class Timer(L.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.seen, self.rate = warmup, 0.0, 0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.t0, self.seen = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step > self.warmup:
            self.seen += len(batch[1])

    def on_train_end(self, trainer, module):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.rate = self.seen / (time.perf_counter() - self.t0)


class FixedData(L.LightningDataModule):
    def __init__(self, loader: DataLoader) -> None:
        super().__init__()
        self.loader = loader

    def train_dataloader(self) -> DataLoader:
        return self.loader


def graft_loop(args, loader: DataLoader, results: Path) -> float:
    steps = args.steps + args.warmup
    spec = ClassificationSpec.model_validate({
        "data": {"train_dir": "-", "val_dir": "-", "batch_size": args.batch_size},
        "optimizer": {"name": "sgd", "momentum": 0.9},
        "lr_schedule": {"name": "constant", "learning_rate": 0.01},
        "regularizer": {"type": "none"},
        # The timed steps span many passes over the small dataset; a real epoch is thousands of
        # steps, so checkpoints (one per epoch) are left out of the timed window.
        "trainer": {"epochs": 10**4, "validation_interval": 10**6, "checkpoint_interval": 10**4,
                    "precision": "auto", "log_every_n_steps": 50},
    })
    net = build_classifier("resnet18", 10)
    module = ClassificationModule(net, spec, normalization_for("torch"))
    timer = Timer(args.warmup)
    import graft.engine.fit as engine_fit

    original = engine_fit.L.Trainer

    def trainer_with_timer(*a, **kw):  # add the timer and cap the steps; everything else is graft's
        kw["callbacks"] = [*kw["callbacks"], timer]
        kw["max_steps"] = steps  # as many epochs over the small dataset as the steps need
        return original(*a, **kw)

    engine_fit.L.Trainer = trainer_with_timer
    try:
        fit(module, FixedData(loader), trainer=spec.trainer, results_dir=results,
            monitor="val/acc", mode="max", validates=False,
            launch=Launch(accelerator="gpu" if args.device == "cuda" else "cpu", progress=False))
    finally:
        engine_fit.L.Trainer = original
    return timer.rate


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--data", choices=["memory", "jpeg"], default="memory")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        train_dir = None
        if args.data == "jpeg":
            from graft.data.synthetic import make_classification_dataset

            per_class = max(args.batch_size, 64)
            make_classification_dataset(
                Path(tmp) / "data", classes=8, per_class=per_class, size=256, progress=False
            )
            train_dir = Path(tmp) / "data" / "train"
        plain = plain_loop(args, make_loader(args, train_dir))
        ours = graft_loop(args, make_loader(args, train_dir), Path(tmp) / "results")
    row = {"device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
           or platform.machine(), "torch": torch.__version__, "data": args.data,
           "batch_size": args.batch_size, "size": args.size, "steps": args.steps,
           "plain_images_per_s": round(plain, 1), "graft_images_per_s": round(ours, 1),
           "graft_vs_plain": round(ours / plain, 3)}
    print(json.dumps(row, indent=2))
    if args.json:
        args.json.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
