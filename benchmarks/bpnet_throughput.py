"""BodyPoseNet network throughput (images/s), eager and torch.compile, fp16/bf16 on a GPU.

The issue's target: >= 4000 images/s on an H100 at 288x384, batch 64, default stages=3
(anchor: BodyPoseNet 2686 FPS on an A100 with INT8 TensorRT).

    python benchmarks/bpnet_throughput.py --device cuda                 # fp16 + bf16, both modes
    python benchmarks/bpnet_throughput.py --device cuda --end-to-end    # + preprocess & decoder
    python benchmarks/bpnet_throughput.py --device cpu --smoke          # tiny CPU check

``--end-to-end`` also times :class:`PoseEstimator` (resize, normalize, network, decoder) on
480x640 frames with people-free noise, i.e. the fixed per-image cost of the chain.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def time_network(net: torch.nn.Module, x: torch.Tensor, iters: int, warmup: int) -> float:
    """Images per second of ``net(x)`` (forward only, inference mode)."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    with torch.inference_mode():
        for _ in range(warmup):
            net(x)
        sync()
        start = time.perf_counter()
        for _ in range(iters):
            net(x)
        sync()
    return iters * x.shape[0] / (time.perf_counter() - start)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="288x384", help="network input HxW")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--stages", type=int, default=3)
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--dtypes", default="fp16,bf16")
    parser.add_argument("--modes", default="eager,compile")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU check)")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.batch, args.iters, args.warmup = "64x64", 2, 2, 1
        args.dtypes, args.modes = "fp32", "eager"
    from graft.tasks.bpnet.model import BpNetLite

    h, w = (int(v) for v in args.size.lower().split("x"))
    device = torch.device(args.device)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else platform.processor() or platform.machine())
    print(f"# {name}, torch {torch.__version__}, {args.backbone} stages={args.stages}, "
          f"input {h}x{w}, batch {args.batch}, channels_last")
    print("| dtype | mode | images/s |")
    print("| --- | --- | ---: |")
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    for dtype_name in args.dtypes.split(","):
        dtype = dtypes[dtype_name]
        base = BpNetLite(stages=args.stages, backbone=args.backbone).eval()
        base = base.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        x = torch.rand(args.batch, 3, h, w, device=device, dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        for mode in args.modes.split(","):
            net = torch.compile(base, mode="max-autotune-no-cudagraphs") if mode == "compile" \
                else base
            warm = args.warmup * (3 if mode == "compile" else 1)
            ips = time_network(net, x, args.iters, warm)
            print(f"| {dtype_name} | {mode} | {ips:,.0f} |")
    if args.end_to_end:
        batch = 2 if args.smoke else args.batch
        frames = 4 if args.smoke else 4 * args.batch
        ips = end_to_end(args.device, (h, w), frames, batch)
        print(f"\nend to end (480x640 frames -> {h}x{w}, fp32 network, decoder): "
              f"{ips:,.1f} images/s")


if __name__ == "__main__":
    main()
