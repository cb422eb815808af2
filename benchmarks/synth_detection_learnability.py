"""Can a small DetectNet_v2 learn ``graft synth detection`` data on a CPU? mAP50 vs time.

A plain PyTorch loop over graft's own DetectNet_v2 pieces (network, target encoder, TLT's cost,
the DBSCAN decoder, the detection evaluator) on one domain folder of ``graft synth
detection``: Adam with TLT's soft-start-annealing schedule, random horizontal and vertical
flips, validation mAP at IoU 0.5 (VOC2010 all-point) every ``--eval-every`` epochs with the
spec's DBSCAN settings and with NMS. It is how the generator's object sizes and the
recommended training settings were chosen (BENCHMARKS.md); ``graft detectnet_v2 train`` is
the product path. ``--val-on-train --no-augment`` on a few images is the sanity check that the
pipeline can overfit; ``--throughput STEPS`` measures one-thread CPU seconds per image.

Example (the recommended settings, BENCHMARKS.md; one thread: on a shared machine two
threads spin against other jobs and run several times slower)::

    graft synth detection -o /tmp/planes --images 750 --size 128x128 --object-size 18,52 \\
        --max-objects 4 --domain synthetic
    python benchmarks/synth_detection_learnability.py /tmp/planes/synthetic --epochs 12 \\
        --threads 1 --json curve.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from graft.data.kitti import read_labels
from graft.metrics.detection import ClassRule, GroundTruth, evaluate_detections
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.encoder import TargetEncoder
from graft.tasks.detectnet_v2.loss import DetectNetCost
from graft.tasks.detectnet_v2.model import DetectNetV2
from graft.tasks.detectnet_v2.sections import (
    ClusteringConfig,
    CostFunctionConfig,
    CostTargetClass,
    RasterClass,
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", type=Path, help="a domain folder of graft synth detection")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=2e-3, help="Adam peak learning rate")
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--train-images", type=int, default=0, help="use the first N (0: all)")
    p.add_argument("--eval-every", type=int, default=2)
    p.add_argument("--budget", type=float, default=0, help="stop after this many training "
                   "seconds (0: no limit)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cov-radius", type=float, default=0.4)
    p.add_argument("--min-radius", type=float, default=1.0)
    p.add_argument("--deadzone", type=float, default=0.67)
    p.add_argument("--eps", type=float, default=0.3, help="DBSCAN eps")
    p.add_argument("--min-height", type=float, default=8.0, help="minimum box height, px")
    p.add_argument("--conf", type=float, default=0.1, help="DBSCAN confidence threshold")
    p.add_argument("--fg-weight", type=float, default=0.5, help="coverage foreground weight "
                   "(TLT's specs: 0.05)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--transpose", action="store_true", help="also swap x and y at random "
                   "(square images; the spec's flips cannot express it)")
    p.add_argument("--autoweighting", action="store_true", help="TLT's objective "
                   "autoweighting (default: off, the initial weights cov 1, bbox 10 stay)")
    p.add_argument("--val-on-train", action="store_true", help="sanity check: validate on "
                   "the training images (a working pipeline overfits them)")
    p.add_argument("--throughput", type=int, default=0, metavar="STEPS", help="only measure: "
                   "CPU seconds per training image over STEPS steps on one thread (robust to "
                   "other jobs on the machine), then exit")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--save", type=Path, default=None, help="write the final state dict "
                   "(safetensors) here")
    return p.parse_args()


def load_split(folder: Path, classes: list[str], limit: int = 0):
    """uint8 images (N, 3, H, W) and GroundTruth per image (DontCare as regions)."""
    files = sorted((folder / "images").glob("*.jpg"))[:limit or None]
    images, truths = [], []
    for f in files:
        images.append(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB).transpose(2, 0, 1))
        objs = read_labels(folder / "labels" / f"{f.stem}.txt").objects
        keep = [o for o in objs if not o.is_dontcare]
        truths.append(GroundTruth.of([o.box for o in keep], [classes.index(o.type) for o in keep],
                                     regions=[o.box for o in objs if o.is_dontcare]))
    return torch.from_numpy(np.stack(images)), truths


def augment(img: torch.Tensor, gt: GroundTruth, rng: np.random.Generator,
            transpose: bool = False):
    """Random horizontal and vertical flips (the spec's hflip/vflip_probability 0.5), and
    with ``transpose`` a random x/y swap: then any symmetry of the square."""
    _, h, w = img.shape
    boxes, regions = gt.boxes.copy(), gt.regions.copy()
    if rng.random() < 0.5:
        img = img.flip(2)
        for b in (boxes, regions):
            b[:, [0, 2]] = w - b[:, [2, 0]]
    if rng.random() < 0.5:
        img = img.flip(1)
        for b in (boxes, regions):
            b[:, [1, 3]] = h - b[:, [3, 1]]
    if transpose and h == w and rng.random() < 0.5:
        img = img.transpose(1, 2)
        boxes, regions = boxes[:, [1, 0, 3, 2]], regions[:, [1, 0, 3, 2]]
    return img, GroundTruth.of(boxes, gt.labels, regions=regions)


def schedule(progress: float, lr: float, min_lr: float, soft_start: float = 0.1,
             annealing: float = 0.7) -> float:
    """TLT's soft-start annealing: log-linear ramp up, flat, log-linear ramp down."""
    floor = min_lr / lr
    if progress < soft_start:
        return lr * floor ** (1 - progress / soft_start)
    if progress > annealing:
        return lr * floor ** ((progress - annealing) / (1 - annealing))
    return lr


def measure(a, net, opt, cost, encoder, train_x, train_gt, mean, std) -> None:
    """One-thread CPU seconds per training image (data, targets, forward, backward, step)."""
    torch.set_num_threads(1)
    net.train()
    times = []
    for s in range(a.throughput + 2):
        c = time.process_time()
        idx = range((s * a.batch) % len(train_x), (s * a.batch) % len(train_x) + a.batch)
        x = (train_x[list(idx)].float() - mean) / std
        out = cost(*net(x), encoder.encode_truths([train_gt[i] for i in idx]))
        opt.zero_grad(set_to_none=True)
        out.total.backward()
        opt.step()
        times.append(time.process_time() - c)
    per_image = float(np.median(times[2:])) / a.batch
    print(json.dumps({"cpu_s_per_image_1_thread": round(per_image, 4),
                      "images_per_cpu_s": round(1 / per_image, 2), "batch": a.batch,
                      "size": list(train_x.shape[2:]), "arch": a.arch}))


def save(net: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


def main() -> None:
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    readme = json.loads((a.data.parent / "README.json").read_text())
    classes = readme["classes"]
    t0 = time.perf_counter()
    train_x, train_gt = load_split(a.data / "train", classes, a.train_images)
    val_x, val_gt = ((train_x, train_gt) if a.val_on_train
                     else load_split(a.data / "val", classes))
    size = tuple(train_x.shape[2:])
    print(f"loaded {len(train_x)} train + {len(val_x)} val images {size} in "
          f"{time.perf_counter() - t0:.1f} s")
    raster = [RasterClass(cov_radius_x=a.cov_radius, cov_radius_y=a.cov_radius,
                          bbox_min_radius=a.min_radius)] * len(classes)
    encoder = TargetEncoder(raster, size, deadzone_radius=a.deadzone)
    clustering = [ClusteringConfig(dbscan_eps=a.eps, minimum_bounding_box_height=a.min_height,
                                   dbscan_confidence_threshold=a.conf)] * len(classes)
    decoder = DetectionDecoder(clustering, size, rasterizer=raster, deadzone_radius=a.deadzone)
    nms = DetectionDecoder([ClusteringConfig(clustering_algorithm="nms", nms_iou_threshold=0.3,
                                             minimum_bounding_box_height=a.min_height)]
                           * len(classes), size, rasterizer=raster, deadzone_radius=a.deadzone)
    cost_config = CostFunctionConfig(enable_autoweighting=a.autoweighting)
    cost = DetectNetCost.from_config(cost_config, [
        CostTargetClass(name=c, coverage_foreground_weight=a.fg_weight) for c in classes])
    net = DetectNetV2(a.arch, len(classes))
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    steps_per_epoch = (len(train_x) + a.batch - 1) // a.batch
    total = steps_per_epoch * a.epochs
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    if a.throughput:
        measure(a, net, opt, cost, encoder, train_x, train_gt, mean, std)
        return
    curve, train_seconds, train_cpu, step = [], 0.0, 0.0, 0
    for epoch in range(1, a.epochs + 1):
        net.train()
        t, c = time.perf_counter(), time.process_time()
        order = rng.permutation(len(train_x))
        losses = []
        for s in range(steps_per_epoch):
            idx = order[s * a.batch:(s + 1) * a.batch]
            pairs = [(train_x[i], train_gt[i]) if a.no_augment
                     else augment(train_x[i], train_gt[i], rng, a.transpose) for i in idx]
            x = (torch.stack([p[0] for p in pairs]).float() - mean) / std
            targets = encoder.encode_truths([p[1] for p in pairs])
            for g in opt.param_groups:
                g["lr"] = schedule(step / total, a.lr, a.min_lr)
            cov, bbox = net(x)
            out = cost(cov, bbox, targets)
            opt.zero_grad(set_to_none=True)
            out.total.backward()
            opt.step()
            cost.record(out.components)
            losses.append(float(out.total.detach()))
            step += 1
        weights = cost.update_weights()
        train_seconds += time.perf_counter() - t
        train_cpu += time.process_time() - c
        row = {"epoch": epoch, "train_s": round(train_seconds, 1),
               "train_cpu_s": round(train_cpu, 1),
               "loss": round(float(np.mean(losses)), 5),
               "cov_weight": round(float(weights[:, 0].mean()), 5)}
        if epoch % a.eval_every == 0 or epoch == a.epochs or (
                a.budget and train_seconds >= a.budget):
            t = time.perf_counter()
            net.eval()
            dets, nms_dets = [], []
            with torch.no_grad():
                for s in range(0, len(val_x), 32):
                    cov, bbox = net((val_x[s:s + 32].float() - mean) / std)
                    dets += decoder(cov, bbox)
                    nms_dets += nms(cov, bbox)
            ev = evaluate_detections(val_gt, dets, classes, rules=ClassRule(iou=0.5))
            ev_nms = evaluate_detections(val_gt, nms_dets, classes, rules=ClassRule(iou=0.5))
            if a.save:
                save(net, a.save)
            row.update(map50=round(ev.mean_ap, 4), map50_nms=round(ev_nms.mean_ap, 4),
                       eval_s=round(time.perf_counter() - t, 1),
                       ap={c.name: round(c.ap, 3) for c in ev.classes})
        print(json.dumps(row), flush=True)
        curve.append(row)
        if a.budget and train_seconds >= a.budget:
            break
    result = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads, "
                         f"torch {torch.__version__}", "params": params, "args": {
                             k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
              "train_images": len(train_x), "val_images": len(val_x), "curve": curve}
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    if a.save:
        save(net, a.save)


if __name__ == "__main__":
    main()
