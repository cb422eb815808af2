"""BodyPoseNet network throughput (images/s): eager, CUDA graphs, torch.compile; fp16/bf16.

The issue's target: >= 4000 images/s on an H100 at 288x384, batch 64, default stages=3
(anchor: BodyPoseNet 2686 FPS on an A100 with INT8 TensorRT), and >= 2x that pruned
(``--variants unpruned,pruned``: TLT's ``-pth 0.3 -nf 16 -pg 8`` on spread random filters).

    python benchmarks/bpnet_throughput.py --device cuda --json bpnet_tp.json  # all
    python benchmarks/bpnet_throughput.py --device cuda --end-to-end    # + preprocess & decoder
    python benchmarks/bpnet_throughput.py --device cpu --smoke          # tiny CPU check

``--end-to-end`` also times :class:`PoseEstimator` (resize, normalize, network, decoder) on
480x640 frames with people-free noise, i.e. the fixed per-image cost of the chain.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def end_to_end(device: str, size: tuple[int, int], frames: int, batch: int) -> float:
    import numpy as np

    from graft.tasks.bpnet.inference import PoseEstimator
    from graft.tasks.bpnet.model import architecture_dict, build_model
    from graft.tasks.bpnet.pose_config import PoseConfig
    from graft.tasks.bpnet.spec import InferenceSpec

    arch = architecture_dict(PoseConfig().model_dump(mode="json"))
    model = type("M", (), {})()
    model.module = build_model(arch)
    model.manifest = {"task": "bpnet", "architecture": arch, "input": {"stride": 8}}
    spec = InferenceSpec(input_shape=size, keep_aspect_ratio_mode="pad_image_input",
                         batch_size=batch)
    estimator = PoseEstimator(model, spec, device)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(frames)]
    list(estimator.predict_many(images[:batch]))  # warm-up
    start = time.perf_counter()
    list(estimator.predict_many(images))
    return frames / (time.perf_counter() - start)


def graphed(net: torch.nn.Module, x: torch.Tensor, warmup: int) -> Callable[[], Any]:
    """``net(x)`` captured once as a CUDA graph; the returned callable replays it."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(max(warmup, 3)):
            net(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        net(x)
    return graph.replay


def time_calls(fn: Callable[[], Any], batch: int, iters: int, warmup: int, cuda: bool) -> float:
    """Images per second of ``fn()`` (one batch per call)."""
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        sync()
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
    return iters * batch / (time.perf_counter() - start)


def build_variant(variant: str, stages: int, backbone: str, hw: tuple[int, int]
                  ) -> torch.nn.Module:
    """The network, unpruned or pruned as TLT prunes (``-pth 0.3 -nf 16 -pg 8``).

    Pruned weights are random filters rescaled to a spread of norms (as L1 training leaves
    them, see prune_speed.py), so the threshold removes a realistic share; speed does not
    depend on the values.
    """
    from graft.tasks.bpnet.model import build_model

    torch.manual_seed(0)
    net = build_model({"stages": stages, "backbone": backbone})
    if variant == "pruned":
        from graft.optimize.prune import PruneOptions, prune_module

        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.Conv2d):
                    shape = (m.weight.shape[0],) + (1,) * (m.weight.dim() - 1)
                    m.weight.mul_(torch.rand(shape, generator=g) ** 2)
        prune_module(net, torch.rand(1, 3, *hw),
                     PruneOptions(threshold=0.3, granularity=8, min_num_filters=16),
                     output_layers=net.heads())
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="288x384", help="network input HxW")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--stages", type=int, default=3)
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--dtypes", default="fp16,bf16")
    parser.add_argument("--modes", default="eager,graphs,compile",
                        help="eager, graphs (CUDA graph replay, CUDA only), compile")
    parser.add_argument("--variants", default="unpruned,pruned")
    parser.add_argument("--compile-dtypes", default=None,
                        help="dtypes that also run the compile mode (default: all)")
    parser.add_argument("--compile-mode", default="max-autotune-no-cudagraphs",
                        help="torch.compile mode (default: the fastest, slowest to compile)")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU check)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.batch, args.iters, args.warmup = "64x64", 2, 2, 1
        args.dtypes, args.modes = "fp32", "eager"

    h, w = (int(v) for v in args.size.lower().split("x"))
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else platform.processor() or \
        platform.machine()
    print(f"# {name}, torch {torch.__version__}, {args.backbone} stages={args.stages}, "
          f"input {h}x{w}, batch {args.batch}, channels_last")
    print("| variant | params | dtype | mode | images/s |")
    print("| --- | ---: | --- | --- | ---: |")
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    rows: list[dict[str, Any]] = []
    for variant in args.variants.split(","):
        base = build_variant(variant, args.stages, args.backbone, (h, w))
        params = sum(p.numel() for p in base.parameters())
        for dtype_name in args.dtypes.split(","):
            dtype = dtypes[dtype_name]
            net = base.to(device=device, dtype=dtype, memory_format=torch.channels_last)
            x = torch.rand(args.batch, 3, h, w, device=device, dtype=dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            for mode in args.modes.split(","):
                if mode == "compile" and args.compile_dtypes is not None and \
                        dtype_name not in args.compile_dtypes.split(","):
                    continue
                row = {"variant": variant, "params": params, "dtype": dtype_name, "mode": mode}
                if mode == "graphs" and not cuda:
                    row["skipped"] = "CUDA graphs need a CUDA device"
                else:
                    model = (torch.compile(net, mode=args.compile_mode)
                             if mode == "compile" else net)
                    fn = (graphed(model, x, args.warmup) if mode == "graphs"
                          else (lambda m=model, x=x: m(x)))
                    warm = args.warmup * (3 if mode == "compile" else 1)
                    row["images_per_s"] = round(time_calls(fn, args.batch, args.iters, warm,
                                                           cuda), 1)
                rows.append(row)
                print(f"| {variant} | {params:,} | {dtype_name} | {mode} | "
                      f"{row.get('images_per_s', row.get('skipped'))} |")
        base.to("cpu", torch.float32)
    result: dict[str, Any] = {"device": name, "torch": torch.__version__, "args": {
        k: str(v) for k, v in vars(args).items()}, "rows": rows}
    if args.end_to_end:
        batch = 2 if args.smoke else args.batch
        frames = 4 if args.smoke else 4 * args.batch
        ips = end_to_end(args.device, (h, w), frames, batch)
        result["end_to_end_images_per_s"] = round(ips, 1)
        print(f"\nend to end (480x640 frames -> {h}x{w}, fp32 network, decoder): "
              f"{ips:,.1f} images/s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
