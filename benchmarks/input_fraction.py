"""Is training input-bound? Images/s of a step fed from JPEG files vs from tensors in memory.

For ResNet-18 classification and BodyPoseNet, one training step (forward, loss, backward,
SGD) is timed two ways on the same device:

- ``memory``: one normalized float batch (and its targets) already on the device, reused;
- ``jpeg``: JPEG files read as bytes by ``--workers`` loader processes, then graft's GPU input
  path (:mod:`graft.data.device_input`) on the device: decode (nvJPEG on CUDA), pad, one random
  affine per sample warped as a batch, normalize. ResNet-18 runs the classification task's own
  device augmentation (:class:`~graft.tasks.classification.data.DeviceAugment` with the spec's
  defaults: resized crop, flip, colour jitter); bpnet a scale/shift/flip warp and the
  heatmap/PAF targets made on the device from the warped keypoints
  (:class:`~graft.tasks.bpnet.device_targets.BatchTargetEncoder`; the bpnet task itself still
  warps in its loader processes and makes only the targets on the device).

The figure is ``jpeg / memory`` (the issue's target on a GPU: >= 0.9). On the CPU the same
code runs (a dry run; it shows only that the path works and what it costs there).

    python benchmarks/input_fraction.py --device cuda --batch-size 128 --steps 20 --workers 12
    python benchmarks/input_fraction.py --device cpu --batch-size 2 --steps 1 --size 64 \\
        --bpnet-size 64x64 --workers 0
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from graft.data.device_input import decode_batch, normalize_batch, pad_stack, warp_batch

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SCALE = [1 / (255 * s) for s in STD]
SHIFT = [-m / s for m, s in zip(MEAN, STD, strict=True)]


def write_jpegs(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """``n`` photo-like JPEGs (smooth colour fields plus noise, quality 90) of ``size`` HxW."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (size[0] // 16 + 1, size[1] // 16 + 1, 3)).astype(np.uint8)
        img = cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
        img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        paths.append(folder / f"{i:05d}.jpg")
        Image.fromarray(img).save(paths[-1], quality=90)
    return paths


class FileBytes(Dataset):
    """The files' bytes: what loader processes do on the GPU path (decode is on the device)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> bytes:
        return self.paths[i].read_bytes()


def batches(paths: list[Path], batch: int, workers: int) -> Iterator[list[bytes]]:
    loader = DataLoader(FileBytes(paths), batch_size=batch, shuffle=True, drop_last=True,
                        num_workers=workers, collate_fn=list, persistent_workers=workers > 0,
                        prefetch_factor=4 if workers else None)
    while True:
        yield from loader


def random_affines(b: int, src: tuple[int, int], out: tuple[int, int], g: torch.Generator
                   ) -> torch.Tensor:
    """(B, 2, 3) source -> output pixel maps: fit the source, scale 0.8-1.2, shift, h-flip."""
    scale = min(out[0] / src[0], out[1] / src[1]) * (0.8 + 0.4 * torch.rand(b, generator=g))
    flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    shift = (torch.rand(b, 2, generator=g) - 0.5) * 0.2 * torch.tensor([out[1], out[0]])
    m = torch.zeros(b, 2, 3)
    m[:, 0, 0], m[:, 1, 1] = scale * flip, scale
    m[:, 0, 2] = out[1] / 2 - flip * scale * src[1] / 2 + shift[:, 0]
    m[:, 1, 2] = out[0] / 2 - scale * src[0] / 2 + shift[:, 1]
    return m


def time_steps(step: Callable[[], None], steps: int, warmup: int, cuda: bool) -> float:
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def build(model: str, args: argparse.Namespace, device: torch.device
          ) -> tuple[torch.nn.Module, tuple[int, int], Callable[..., torch.Tensor], Any]:
    """The network, its input size, its loss(net, images, targets) and a target maker."""
    if model == "resnet18":
        import torchvision

        net = torchvision.models.resnet18(num_classes=1000)
        size = (args.size, args.size)

        def loss(net, x, y):
            return F.cross_entropy(net(x), y)

        def targets(b, _m, g):
            return torch.randint(0, 1000, (b,), generator=g).to(device)

        return net, size, loss, targets
    from graft.tasks.bpnet.device_targets import BatchTargetEncoder
    from graft.tasks.bpnet.encoder import TargetEncoder
    from graft.tasks.bpnet.model import build_model
    from graft.tasks.bpnet.module import pose_loss
    from graft.tasks.bpnet.pose_config import PoseConfig

    size = tuple(int(v) for v in args.bpnet_size.lower().split("x"))
    pose = PoseConfig()
    net = build_model({"stages": args.bpnet_stages, "backbone": "vgg19"})
    encoder = BatchTargetEncoder.from_encoder(TargetEncoder.from_config(pose, size, 8))

    def bp_loss(net, x, t):
        heat, paf = t
        return pose_loss(net(x), heat, paf, torch.ones_like(heat[:, :1]))[0]

    def bp_targets(b, m, g):
        """Targets of 3 random people per image, moved by each sample's warp, on the device."""
        kps = torch.rand(b, 3, pose.num_joints, 3, generator=g) * torch.tensor(
            [args.src_width, args.src_height, 2.0])
        kps = kps.to(device)
        xy1 = torch.cat([kps[..., :2], torch.ones_like(kps[..., :1])], dim=-1)
        moved = torch.einsum("bpjk,bik->bpji", xy1, m.to(device))
        return encoder(torch.cat([moved, kps[..., 2:].round()], dim=-1))

    return net, size, bp_loss, bp_targets


def run_model(model: str, args: argparse.Namespace, paths: list[Path]) -> dict[str, Any]:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    net, size, loss_fn, make_targets = build(model, args, device)
    net = net.to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast(
        "cpu", enabled=False)
    g = torch.Generator().manual_seed(0)
    b, src = args.batch_size, (args.src_height, args.src_width)

    def train(x: torch.Tensor, t: Any) -> None:
        with amp:
            loss = loss_fn(net, x.contiguous(memory_format=torch.channels_last), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    m0 = random_affines(b, src, size, g)
    x_mem = torch.randn(b, 3, *size, device=device)
    t_mem = make_targets(b, m0, g)
    mem_s = time_steps(lambda: train(x_mem, t_mem), args.steps, args.warmup, cuda)

    stream = batches(paths, b, args.workers)
    cpu0 = time.process_time()

    augment = None
    if model == "resnet18":
        from graft.tasks.classification.data import DeviceAugment
        from graft.tasks.classification.spec import AugmentationSpec

        augment = DeviceAugment(size, AugmentationSpec())

    def jpeg_step() -> None:
        encoded = next(stream)
        m = random_affines(b, src, size, g)
        if augment is not None:
            warped = augment(encoded, device)
        else:
            warped = warp_batch(pad_stack(decode_batch(encoded, device)), m, size)
        train(normalize_batch(warped, SCALE, SHIFT), make_targets(b, m, g))

    jpeg_s = time_steps(jpeg_step, args.steps, args.warmup, cuda)
    cpu_s = time.process_time() - cpu0
    n = args.steps * b
    row = {"model": model, "input": f"{size[0]}x{size[1]}", "batch": b,
           "memory_images_per_s": round(n / mem_s, 2), "jpeg_images_per_s": round(n / jpeg_s, 2),
           "fraction": round(mem_s / jpeg_s, 3),
           "jpeg_main_process_cpu_s_per_image": round(cpu_s / ((args.steps + args.warmup) * b),
                                                      5)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="resnet18,bpnet")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=8, help="loader processes reading files")
    ap.add_argument("--size", type=int, default=224, help="ResNet-18 input (square)")
    ap.add_argument("--bpnet-size", default="288x384", help="bpnet input HxW")
    ap.add_argument("--bpnet-stages", type=int, default=3)
    ap.add_argument("--src-height", type=int, default=375, help="JPEG height")
    ap.add_argument("--src-width", type=int, default=500, help="JPEG width")
    ap.add_argument("--images", type=int, default=0, help="JPEG files (0: 2 batches)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_jpegs(Path(tmp), args.images or 2 * args.batch_size,
                            (args.src_height, args.src_width))
        rows = [run_model(m, args, paths) for m in args.models.split(",")]
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda"
              else platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "args": {k: str(v) for k, v in
                                                          vars(args).items()}, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
