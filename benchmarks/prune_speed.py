"""Why pruning, and why multiples of 8: images/s of unpruned vs pruned networks.

Three variants of one network are timed:

- ``unpruned``;
- ``pruned pg=8``: TLT pruning (``-pth``, ``-nf 16``, ``-pg 8``): every channel count a multiple
  of 8, which tensor cores need;
- ``pruned pg=1``: the same threshold without the granularity: fewer channels, but counts that
  are not multiples of 8.

Each variant runs in PyTorch (fp16 + channels_last on CUDA, fp32 on CPU) and, exported with
``graft.optimize.export``, on onnxruntime's CPU provider as FP32 and as INT8 QDQ.

The weights are random, rescaled per filter as L1-regularized training leaves them (a spread
of filter norms), so that a threshold removes a realistic share of the filters; speed does not
depend on the values. INT8 calibration still reads real image files (``--cal-image-dir``,
default: the OCHuman samples in ../shared, else generated images); accuracy is not measured here.

Usage:
    python benchmarks/prune_speed.py --model bpnet --height 288 --width 384 --batch 64 \\
        --device cuda --json prune_speed_h100.json
    python benchmarks/prune_speed.py --model resnet18 --height 64 --width 64 --batch 8 \\
        --device cpu --iters 5 --ort-batch 4 --ort-iters 3
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from graft.optimize.calibration import default_calibration_batches
from graft.optimize.export import Calibration, ExportOptions, export_onnx
from graft.optimize.prune import PruneOptions, prune_module
from graft.runtime import load_runner

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared/data/real/ochuman/images"
console = Console()


def build(model: str) -> tuple[nn.Module, list[nn.Module], list[str]]:
    """The network, its output layers (never pruned) and its output names."""
    if model == "bpnet":
        from graft.tasks.bpnet.model import build_model

        net = build_model({"stages": 3, "backbone": "vgg19"})
        return net, net.heads(), ["paf", "heatmap"]
    import torchvision

    net = torchvision.models.resnet18(num_classes=1000)
    return net, [net.fc], ["logits"]


def spread_filter_norms(model: nn.Module, seed: int = 0) -> None:
    """Scale each filter by u^2, u ~ U(0, 1): a long tail of small filters, as after L1 training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                shape = (m.weight.shape[0],) + (1,) * (m.weight.dim() - 1)
                m.weight.mul_(torch.rand(shape, generator=g) ** 2)


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_images_per_s(model: nn.Module, shape: tuple[int, ...], device: str, iters: int,
                       compile_model: bool) -> float:
    dtype = torch.float16 if device == "cuda" else torch.float32
    net = model.to(device=device, dtype=dtype).eval()
    x = torch.randn(*shape, device=device, dtype=dtype)
    if device == "cuda":
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if compile_model:
        net = torch.compile(net)
    with torch.inference_mode():
        for _ in range(3 if device == "cpu" else 10):
            net(x)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            net(x)
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    model.to("cpu", torch.float32)
    return shape[0] * iters / elapsed


def ort_images_per_s(path: Path, shape: tuple[int, ...], iters: int,
                     threads: int | None) -> float:
    rt = load_runner(path, device="cpu", threads=threads)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    rt(x)
    start = time.perf_counter()
    for _ in range(iters):
        rt(x)
    return shape[0] * iters / (time.perf_counter() - start)


def calibration_dir(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    if SHARED_IMAGES.is_dir():
        return SHARED_IMAGES
    from PIL import Image

    out = tmp / "cal_images"
    out.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        yy, xx = np.mgrid[0:240, 0:320]
        img = np.stack([(xx + 30 * i) % 256, (yy * 2) % 256, rng.integers(0, 256, (240, 320))], -1)
        Image.fromarray(img.astype(np.uint8)).save(out / f"{i}.png")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["bpnet", "resnet18"], default="bpnet")
    ap.add_argument("--height", type=int, default=288)
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--batch", type=int, default=64, help="PyTorch batch")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile the PyTorch runs")
    ap.add_argument("--pth", type=float, default=0.3, help="pruning threshold (-pth)")
    ap.add_argument("--ort-batch", type=int, default=8)
    ap.add_argument("--ort-iters", type=int, default=5)
    ap.add_argument("--skip-ort", action="store_true")
    ap.add_argument("--cal-image-dir", default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch and onnxruntime (default: all cores)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available()
                                                        else "cpu")
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    hw = (args.height, args.width)
    example = torch.rand(1, 3, *hw)

    variants: dict[str, nn.Module] = {}
    for name, pg in (("unpruned", None), ("pruned pg=8", 8), ("pruned pg=1", 1)):
        net, heads, out_names = build(args.model)
        spread_filter_norms(net)
        if pg is not None:
            prune_module(net, example, PruneOptions(threshold=args.pth, granularity=pg,
                                                    min_num_filters=16), output_layers=heads)
        variants[name] = net.eval()

    rows: list[dict[str, Any]] = []
    manifest = {"task": "benchmark", "architecture": {"name": args.model},
                "input": {"channels": 3, "height": hw[0], "width": hw[1],
                          "normalization": {"mode": "torch", "scale": 1 / 255,
                                            "mean": [0.485, 0.456, 0.406],
                                            "std": [0.229, 0.224, 0.225],
                                            "channel_order": "RGB"}}}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cal_dir = calibration_dir(args.cal_image_dir, tmp)
        quiet = Console(quiet=True)
        for name, net in variants.items():
            convs = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
            row: dict[str, Any] = {
                "variant": name, "params": params(net),
                "convs_not_multiple_of_8": sum(c % 8 != 0 for c in convs), "convs": len(convs),
                f"torch_{'fp16' if device == 'cuda' else 'fp32'}_{device}_img_s": round(
                    torch_images_per_s(net, (args.batch, 3, *hw), device, args.iters,
                                       args.compile), 1),
            }
            if not args.skip_ort:
                fp32 = tmp / f"{name.replace(' ', '_')}.onnx"
                int8 = tmp / f"{name.replace(' ', '_')}.int8.onnx"
                options = ExportOptions(input_shape=(3, *hw), output_names=out_names)
                export_onnx(net, manifest, fp32, options, console=quiet)
                cal = Calibration(default_calibration_batches(manifest, cal_dir, 2, 2), 2)
                export_onnx(net, manifest, int8, ExportOptions(
                    data_type="int8", input_shape=(3, *hw), output_names=out_names,
                    calibration=cal), console=quiet)
                shape = (args.ort_batch, 3, *hw)
                for kind, path in (("fp32", fp32), ("int8", int8)):
                    row[f"ort_cpu_{kind}_img_s"] = round(
                        ort_images_per_s(path, shape, args.ort_iters, args.threads), 2)
            rows.append(row)
            console.print(row)

    table = Table(title=f"{args.model} {hw[0]}x{hw[1]}, torch batch {args.batch} on {device}, "
                        f"ORT CPU batch {args.ort_batch}")
    for col in rows[0]:
        table.add_column(col, justify="left" if col == "variant" else "right")
    for row in rows:
        table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()])
    console.print(table)
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
                    "torch": torch.__version__},
        "args": vars(args), "device": device, "rows": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
