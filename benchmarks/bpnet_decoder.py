"""BodyPoseNet decoder speed: median ms per image vs. number of people.

Scenes are made of articulated 18-joint people (random pose, scale and position; crowded scenes
use smaller people, as crowds do), encoded into ideal heatmap/PAF targets at stride 8 by the
project's label processor, then decoded. Ideal maps are the honest case for the grouping cost:
every person is found, so the candidate and connection counts grow with the crowd.

    # one CPU thread (the issue's target: <= 5 ms at 10 people, 288x384 input)
    OMP_NUM_THREADS=1 python benchmarks/bpnet_decoder.py
    # the batched GPU path (peaks + PAF integrals on the device), batch of 64 images
    python benchmarks/bpnet_decoder.py --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

# Bones of a standing person as (parent joint, child joint, length in person heights, angle of
# the rest pose in degrees, 0 = pointing down); joints follow the 18-joint BodyPoseNet layout.
_BONES = [
    (1, 0, 0.10, 180), (0, 14, 0.03, 150), (0, 15, 0.03, 210), (14, 16, 0.03, 100),
    (15, 17, 0.03, 260), (1, 2, 0.10, 90), (2, 3, 0.16, 10), (3, 4, 0.15, 5), (1, 5, 0.10, 270),
    (5, 6, 0.16, -10), (6, 7, 0.15, -5), (1, 8, 0.30, 10), (8, 9, 0.24, 0), (9, 10, 0.24, 0),
    (1, 11, 0.30, -10), (11, 12, 0.24, 0), (12, 13, 0.24, 0),
]


def random_person(rng: np.random.Generator, height: float, centre: tuple[float, float]
                  ) -> np.ndarray:
    """(18, 3) keypoints of one articulated person (visibility 2) around ``centre``."""
    kp = np.zeros((18, 3), np.float32)
    kp[1, :2] = (0.0, 0.0)
    lean = rng.normal(0, 12)
    for parent, child, length, angle in _BONES:
        jitter = rng.normal(0, 25 if child in (3, 4, 6, 7, 9, 10, 12, 13) else 6)
        a = np.deg2rad(angle + jitter + lean)
        kp[child, :2] = kp[parent, :2] + height * length * np.array([np.sin(a), np.cos(a)])
    kp[:, :2] += np.asarray(centre) - kp[:, :2].mean(axis=0)
    kp[:, 2] = 2
    return kp


def make_scene(rng: np.random.Generator, persons: int, size: tuple[int, int]) -> np.ndarray:
    """(P, 18, 3) people inside a ``size`` (H, W) image; crowded scenes get smaller people."""
    h, w = size
    typical = min(0.9 * h, 1.6 * np.sqrt(h * w / max(persons, 1)))
    people = []
    for _ in range(persons):
        height = typical * rng.uniform(0.7, 1.1)
        centre = (rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.25 * h, 0.75 * h))
        people.append(random_person(rng, height, centre))
    return np.stack(people)


def median_ms(fn, repeats: int, clock=time.perf_counter) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (NumPy path) or cuda (batched)")
    parser.add_argument("--persons", default="1,5,10,30,50")
    parser.add_argument("--size", default="288x384", help="network input HxW")
    parser.add_argument("--scenes", type=int, default=8, help="scenes per crowd size")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64, help="GPU batch (cuda only)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--refinement", default="subpixel", choices=["subpixel", "upsample"],
                        help="peak refinement (upsample: TLT's x8 bicubic upsampling)")
    parser.add_argument("--batched", action="store_true",
                        help="the batched (GPU) decoder also on --device cpu")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from graft.tasks.bpnet.decoder import DecoderParams, decode, decode_batch
    from graft.tasks.bpnet.encoder import TargetEncoder
    from graft.tasks.bpnet.pose_config import PoseConfig

    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.lower().split("x"))
    pose = PoseConfig()
    encoder = TargetEncoder(pose.limbs, pose.num_joints, (h, w), stride=8)
    params = DecoderParams(peak_refinement=args.refinement)
    rng = np.random.default_rng(0)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, device {args.device}, input {h}x{w}, "
          f"refinement {args.refinement}")
    rows = []
    print("| people | found (mean) | median ms / image (wall) | median CPU ms / image |")
    print("| ---: | ---: | ---: | ---: |")
    for n in (int(v) for v in args.persons.split(",")):
        scenes = [make_scene(rng, n, (h, w)) for _ in range(args.scenes)]
        maps = [encoder(kps) for kps in scenes]
        cpu_ms = float("nan")
        if args.device == "cpu" and not args.batched:
            per_scene = [median_ms(lambda m=m: decode(m[0], m[1], pose.limbs, params),
                                   args.repeats) for m in maps]
            # CPU time of this thread: what the decode costs when the core is shared
            per_scene_cpu = [median_ms(lambda m=m: decode(m[0], m[1], pose.limbs, params),
                                       args.repeats, time.thread_time) for m in maps]
            found = np.mean([len(decode(m[0], m[1], pose.limbs, params)) for m in maps])
            ms, cpu_ms = float(np.median(per_scene)), float(np.median(per_scene_cpu))
        else:
            reps = -(-args.batch // len(maps))
            heat = torch.from_numpy(np.stack([m[0] for m in maps] * reps)[:args.batch])
            paf = torch.from_numpy(np.stack([m[1] for m in maps] * reps)[:args.batch])
            heat, paf = heat.to(args.device), paf.to(args.device)

            def run(heat=heat, paf=paf):
                out = decode_batch(heat, paf, pose.limbs, params)
                if heat.is_cuda:
                    torch.cuda.synchronize()
                return out

            ms = median_ms(run, args.repeats) / args.batch
            found = np.mean([len(r) for r in run()])
        print(f"| {n} | {found:.1f} | {ms:.2f} | {cpu_ms:.2f} |")
        rows.append({"people": n, "found_mean": float(found), "ms_per_image": ms,
                     "cpu_ms_per_image": None if np.isnan(cpu_ms) else cpu_ms})
    if args.json:
        import json

        result = {"device": args.device, "size": args.size, "batch": args.batch,
                  "threads": args.threads, "refinement": args.refinement, "torch":
                  torch.__version__, "rows": rows}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
