"""graft's DetectNet_v2 vs Ultralytics YOLO: same generated data, same CPU budget, one scorer.

Each side trains from scratch on one domain folder of ``graft synth detection`` for the same
budget, then predicts the validation images; graft's COCO evaluator (:func:`graft.metrics.
coco.evaluate_coco`, bbox) scores both sets of detections against the folder's ``val.json``.

- **graft**: ``graft detectnet_v2 train``'s path (:func:`graft.tasks.detectnet_v2.train.train`)
  on the folder's ``spec.yaml`` (the generator's recommended settings; ResNet-18), without its
  validation set (both sides train blind and are scored afterwards), loader in-process. The
  number of epochs is fitted to the budget after the first steps and after each epoch (the LR
  schedule stretched to match), and training stops when the budget is spent; the model is the
  last weights. Predictions: graft's :class:`~graft.tasks.detectnet_v2.detector.Detector`
  (DBSCAN clustering of the spec).
- **yolo**: Ultralytics from a model YAML (``yolov8n.yaml``: random weights, nothing
  downloaded) with its defaults except: the input size of the data, the same batch, vertical
  flips as well (aerial images), no plots, no validation during training, in-process loader.
  The budget is its own ``time=`` option (it too refits the epochs and the LR schedule after
  each epoch). COCO labels become YOLO txt files here; DontCare/crowd boxes are left out (YOLO
  has no ignore regions). Predictions: ``model.predict`` with conf 0.001, IoU 0.7 (what its
  own mAP validation uses), the last weights (its EMA).

The budget is process CPU seconds by default (``--clock cpu``): on a machine shared with
other jobs a wall-clock budget gives whichever side runs at the quieter moment more compute;
``--clock wall`` for a quiet machine. Each side runs in its own process with ``--threads``
torch threads. Inference speed: images per second and per CPU second over the validation
images decoded in memory, in batches of ``--batch``, pre- and post-processing included.

Ultralytics is AGPL-3.0 and never a graft dependency: install it only where you run this,
e.g. a venv that sees graft's environment (``--yolo-python`` then points at its python)::

    python -m venv /tmp/yolo-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > \\
        /tmp/yolo-venv/lib/python3.11/site-packages/graft-venv.pth
    /tmp/yolo-venv/bin/pip install --no-deps ultralytics polars ultralytics-thop psutil
    graft synth detection -o /tmp/planes --images 750 --size 256x256 --domain synthetic
    python benchmarks/detection_vs_yolo.py /tmp/planes/synthetic --minutes 10 \\
        --yolo-python /tmp/yolo-venv/bin/python --work /tmp/vs_yolo --json vs_yolo.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIDES = ("graft", "yolo")


def clock_of(name: str) -> Callable[[], float]:
    return time.process_time if name == "cpu" else time.perf_counter


def val_images(data: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The validation images of ``val.json`` (with absolute paths) and category ids by name."""
    coco = json.loads((data / "val.json").read_text())
    images = [{**im, "path": str(data / "val" / "images" / im["file_name"])}
              for im in coco["images"]]
    return images, {c["name"]: c["id"] for c in coco["categories"]}


def timed_predictions(predict: Callable[[list[Any]], list[list[dict[str, Any]]]],
                      images: list[Any], batch: int) -> tuple[list[list[dict[str, Any]]],
                                                              dict[str, float]]:
    """Run ``predict`` over ``images`` in batches (after one warm-up batch): results, speed."""
    predict(images[:batch])
    t0, c0 = time.perf_counter(), time.process_time()
    out: list[list[dict[str, Any]]] = []
    for i in range(0, len(images), batch):
        out.extend(predict(images[i:i + batch]))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return out, {"images_per_s": round(len(images) / wall, 2),
                 "images_per_cpu_s": round(len(images) / cpu, 2)}


def coco_results(images: list[dict[str, Any]], dets: list[list[dict[str, Any]]]
                 ) -> list[dict[str, Any]]:
    return [{"image_id": im["id"], **d} for im, per in zip(images, dets, strict=True)
            for d in per]


def as_coco(box: Any, category_id: int, score: float) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"category_id": category_id, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}


# -- graft --------------------------------------------------------------------------------------
def run_graft(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import lightning as L
    import torch

    import graft.engine.fit as engine_fit
    from graft.data.images import read_rgb
    from graft.engine.schedules import lr_factor
    from graft.spec import load_spec
    from graft.tasks.detectnet_v2.detector import load_detector
    from graft.tasks.detectnet_v2.spec import DetectNetSpec
    from graft.tasks.detectnet_v2.train import train

    clock = clock_of(args.clock)
    budget = args.minutes * 60.0

    class Budget(L.Callback):
        """Fit the epochs (and the LR schedule) to the budget; stop when it is spent."""

        def __init__(self) -> None:
            self.t0 = self.used = 0.0
            self.steps = self.images = 0

        def on_train_start(self, trainer: L.Trainer, module: Any) -> None:
            self.t0 = clock()

        def fit_epochs(self, trainer: L.Trainer, module: Any) -> None:
            per_epoch = trainer.num_training_batches
            epochs = max(1, round(budget / (self.used / self.steps) / per_epoch))
            trainer.fit_loop.max_epochs = max(epochs, trainer.current_epoch + 1)
            total = trainer.fit_loop.max_epochs * per_epoch
            schedule = module.schedule_spec
            sched = trainer.lr_scheduler_configs[0].scheduler
            sched.lr_lambdas = [lambda s: lr_factor(schedule, s / total, s / per_epoch)
                                ] * len(sched.lr_lambdas)

        def on_train_batch_end(self, trainer: L.Trainer, module: Any, outputs: Any, batch: Any,
                               batch_idx: int) -> None:
            self.used = clock() - self.t0
            self.steps += 1
            self.images += len(batch["image"])
            if self.used >= budget:
                trainer.should_stop = True
            elif self.steps == args.calibration_steps:
                self.fit_epochs(trainer, module)

        def on_train_epoch_end(self, trainer: L.Trainer, module: Any) -> None:
            if not trainer.should_stop:
                self.fit_epochs(trainer, module)

    overrides = ["dataset_config.validation_data_source=null", "dataset_config.num_workers=0",
                 f"training_config.batch_size_per_gpu={args.batch}",
                 f"cost_function_config.enable_autoweighting={str(args.autoweighting).lower()}",
                 *args.graft_set]
    spec = load_spec(args.data / "spec.yaml", DetectNetSpec, overrides)
    budget_cb = Budget()
    original = engine_fit.L.Trainer

    def trainer(*a: Any, **kw: Any) -> L.Trainer:
        kw["callbacks"] = [*kw["callbacks"], budget_cb]
        return original(*a, **kw)

    engine_fit.L.Trainer = trainer
    wall0 = time.perf_counter()
    try:
        summary = train(None, work / "run", spec=spec, accelerator="cpu", progress=False,
                        force=True)
    finally:
        engine_fit.L.Trainer = original
    wall = time.perf_counter() - wall0
    images, cats = val_images(args.data)
    detector = load_detector(summary.model, device="cpu")
    pixels = [read_rgb(im["path"]) for im in images]
    ids = [cats[c] for c in detector.classes]

    def predict(batch: list[torch.Tensor]) -> list[list[dict[str, Any]]]:
        return [[as_coco(b, ids[int(c)], s) for b, c, s in zip(d.boxes, d.labels, d.scores,
                                                              strict=True)]
                for d in detector(batch)]

    dets, speed = timed_predictions(predict, pixels, args.batch)
    return {"train": {"budget_s": budget, "clock": args.clock, "used_s": round(budget_cb.used, 1),
                      "wall_s": round(wall, 1), "steps": budget_cb.steps,
                      "images_seen": budget_cb.images,
                      "epochs": round(budget_cb.images / train_count(args.data), 2),
                      "autoweighting": args.autoweighting, "arch": spec.model.arch,
                      "params": summary.params},
            "infer": speed, "results": coco_results(images, dets)}


def train_count(data: Path) -> int:
    return len(json.loads((data / "train.json").read_text())["images"])


# -- yolo ---------------------------------------------------------------------------------------
def block_network() -> None:
    """No socket may connect: nothing is downloaded, no telemetry leaves (fails loudly)."""
    import socket

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network use is disabled in this benchmark")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def yolo_dataset(data: Path, out: Path) -> tuple[Path, list[str]]:
    """COCO ``train.json`` -> Ultralytics' layout (images linked) and data.yaml. Its ``val``
    split is two validation images: Ultralytics validates its last epoch whatever ``val`` says,
    and the scoring here is done on all of them by graft's evaluator."""
    names: list[str] = []
    for split in ("train", "val"):
        coco = json.loads((data / f"{split}.json").read_text())
        if split == "val":
            coco["images"] = coco["images"][:2]
            kept = {im["id"] for im in coco["images"]}
            coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in kept]
        cats = sorted(coco["categories"], key=lambda c: c["id"])
        names = [c["name"] for c in cats]
        index = {c["id"]: i for i, c in enumerate(cats)}
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        lines: dict[int, list[str]] = {im["id"]: [] for im in coco["images"]}
        sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
        for a in coco["annotations"]:
            if a.get("iscrowd"):
                continue
            w, h = sizes[a["image_id"]]
            x, y, bw, bh = a["bbox"]
            lines[a["image_id"]].append(f"{index[a['category_id']]} {(x + bw / 2) / w:.6f} "
                                        f"{(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
        for im in coco["images"]:
            link = out / "images" / split / im["file_name"]
            if not link.exists():
                link.symlink_to(data / split / "images" / im["file_name"])
            stem = Path(im["file_name"]).stem
            (out / "labels" / split / f"{stem}.txt").write_text(
                "".join(f"{line}\n" for line in lines[im["id"]]))
    yaml_path = out / "data.yaml"
    yaml_path.write_text(json.dumps({"path": str(out), "train": "images/train",
                                     "val": "images/val", "names": dict(enumerate(names))}))
    return yaml_path, names


def run_yolo(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["YOLO_CONFIG_DIR"] = str(work / "config")
    block_network()
    import cv2
    import ultralytics
    import ultralytics.engine.trainer as ul_trainer
    import ultralytics.utils.torch_utils as ul_torch
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False})
    ul_torch.NUM_THREADS = args.threads  # Ultralytics uses cpu_count - 1 threads on CPUs
    clock = clock_of(args.clock)
    if args.clock == "cpu":  # its time= budget, on the process's CPU clock
        ul_trainer.time = type("CpuClock", (), {"time": staticmethod(time.process_time)})
    yaml_path, names = yolo_dataset(args.data, work / "data")
    size = json.loads((args.data / "val.json").read_text())["images"][0]
    imgsz = max(size["width"], size["height"])
    seen = {"t0": 0.0, "used": 0.0, "steps": 0, "epochs": 0}

    def on_train_start(trainer: Any) -> None:
        seen["t0"] = clock()

    def on_batch_start(trainer: Any) -> None:  # its time check may end an epoch after a
        seen["steps"] += 1                      # batch without on_train_batch_end
        seen["epochs"] = trainer.epoch + 1

    def on_batch_end(trainer: Any) -> None:
        seen["used"] = clock() - seen["t0"]

    model = YOLO(args.yolo_model)
    model.add_callback("on_train_start", on_train_start)
    model.add_callback("on_train_batch_start", on_batch_start)
    for event in ("on_train_batch_end", "on_train_epoch_end"):
        model.add_callback(event, on_batch_end)
    wall0 = time.perf_counter()
    model.train(data=str(yaml_path), epochs=1000, time=args.minutes / 60.0, imgsz=imgsz,
                batch=args.batch, device="cpu", workers=0, pretrained=False, plots=False,
                val=False, amp=False, flipud=0.5, seed=0, deterministic=False,
                project=str(work), name="train", exist_ok=True, verbose=False)
    wall = time.perf_counter() - wall0
    trained = YOLO(str(work / "train" / "weights" / "last.pt"))
    images, cats = val_images(args.data)
    pixels = [cv2.imread(im["path"]) for im in images]
    ids = [cats[n] for n in names]

    def predict(batch: list[Any]) -> list[list[dict[str, Any]]]:
        res = trained.predict(batch, imgsz=imgsz, conf=0.001, iou=0.7, max_det=100,
                              device="cpu", verbose=False)
        return [[as_coco(b, ids[int(c)], s) for b, c, s in zip(
            r.boxes.xyxy.tolist(), r.boxes.cls.tolist(), r.boxes.conf.tolist(), strict=True)]
            for r in res]

    dets, speed = timed_predictions(predict, pixels, args.batch)
    params = sum(p.numel() for p in trained.model.parameters())
    return {"train": {"budget_s": args.minutes * 60.0, "clock": args.clock,
                      "used_s": round(seen["used"], 1), "wall_s": round(wall, 1),
                      "steps": seen["steps"], "epochs_started": seen["epochs"],
                      "epochs": round(seen["steps"] * args.batch / train_count(args.data), 2),
                      "model": args.yolo_model, "params": params,
                      "ultralytics": ultralytics.__version__},
            "infer": speed, "results": coco_results(images, dets)}


# -- driver -------------------------------------------------------------------------------------
def side_main(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    work = args.work / args.side
    work.mkdir(parents=True, exist_ok=True)
    out = run_graft(args, work) if args.side == "graft" else run_yolo(args, work)
    out["threads"] = torch.get_num_threads()
    (work / "result.json").write_text(json.dumps(out))


def score(args: argparse.Namespace, side: str) -> dict[str, Any]:
    from graft.metrics.coco import evaluate_coco

    out = json.loads((args.work / side / "result.json").read_text())
    coco = evaluate_coco(args.data / "val.json", out.pop("results"), "bbox")
    out["mAP50"] = round(float(coco.metrics["AP50"]), 4)
    out["mAP50_95"] = round(float(coco.metrics["AP"]), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="a domain folder of graft synth detection")
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget of each side")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--sides", default="graft,yolo")
    ap.add_argument("--yolo-model", default="yolov8n.yaml")
    ap.add_argument("--yolo-python", default=sys.executable, help="a python with ultralytics")
    ap.add_argument("--autoweighting", action=argparse.BooleanOptionalAction, default=False,
                    help="graft: TLT's objective autoweighting (off: it kept coverage from "
                    "learning in short runs)")
    ap.add_argument("--graft-set", action="append", default=[],
                    help="more overrides of the graft spec (KEY=VALUE)")
    ap.add_argument("--calibration-steps", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path("/tmp/detection_vs_yolo"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--reuse", action="store_true",
                    help="score a side's earlier result in --work instead of training again")
    ap.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.data = args.data.resolve()
    args.work = args.work.resolve()
    if args.side:
        side_main(args)
        return
    row: dict[str, Any] = {"data": str(args.data), "minutes": args.minutes, "clock": args.clock,
                           "threads": args.threads, "machine": platform.processor()
                           or platform.machine(), "load_average_start": os.getloadavg()[0]}
    for side in args.sides.split(","):
        python = args.yolo_python if side == "yolo" else sys.executable
        cmd = [python, __file__, *sys.argv[1:], "--side", side]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        if not (args.reuse and (args.work / side / "result.json").exists()):
            (args.work / side / "result.json").unlink(missing_ok=True)
            subprocess.run(cmd, check=True, env=env)
        row[side] = score(args, side)
        print(json.dumps({side: row[side]}), flush=True)
    row["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(row, indent=2))
    if args.json:
        args.json.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
