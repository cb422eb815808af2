"""Demo workflow: Mask R-CNN on generated telecom towers, TAO's mask_rcnn path at a CPU size.

``graft synth instances`` (lattice masts carrying panel antennas, dishes and radio units; COCO
polygons; shuffled before the split) -> train torchvision's Mask R-CNN (v1 heads) on an
EfficientNet-Lite0 FPN filled from the packaged ImageNet weights -> COCO bbox and segm AP on
the generated validation images -> rendered masks, boxes and labels of some validation images
(``graft mask_rcnn inference --include_mask``).

The spec is the one the generator writes beside the data (Lite0 FPN, 256-wide box head,
anchors 16-256 px, lr 0.01 with soft start and step annealing, batch 4, gradient clipping 5),
with :data:`RECIPE` on top. Profiling one training step on the 2-core CPU (torch profiler,
192x192, batch 4, early in training): convolution backward was about 60 % of the step, led by
the mask head's four 3x3 256-channel convs on the 14x14 RoIs of the positive samples, then the
256-channel FPN and RPN convs at P2 (48x48); RoIAlign's backward came next (about 7 %). Only
16 RoIs of that batch were positive (an untrained RPN); the mask head's cost grows with that
count, which the generator's 128 RoIs per image allow up to 32 per image. Hence:

- ``batch_size_per_im: 64`` (generator 128, TAO 512): at 25 % foreground at most 16 positive
  RoIs per image reach the mask head; the towers carry about 3.7 objects per image, so every
  object still gets several samples per step.
- ``rpn_post_nms_topn_train: 200`` (generator 300): fewer proposals to sample from and align.
- ``freeze_blocks: [0, 1, 2]`` (generator [0], TAO [0, 1]): no gradient through the stem and
  the stride-2 and stride-4 stages, where the Lite's depthwise convs run on their largest maps.
- 300 images of 192x192 (240 train, 60 validation) for 6 epochs, validation every second
  epoch: more distinct images than the first learning run (BENCHMARKS.md: 160 train images,
  6 epochs, mask AP50 0.686 and still rising) and a larger validation set for a steadier AP.
  192 keeps the radio units (3-9 px wide) resolvable; smaller sides were not tried.

The image side stays a multiple of 32 (the FPN's P5 stride). The profile is in BENCHMARKS.md
"Mask R-CNN: one CPU training step profiled" (``benchmarks/maskrcnn_step_profile.py``).
Measured on the idle 2-core VM (BENCHMARKS.md, "The segmentation demo at full size"): this
recipe reaches mask AP50 0.750 (box 0.832) in 10:06 for the whole workflow; the cheaper
variants tried all fell under the issue's 0.7: 5 epochs 0.699 (9:00), 160x160 0.676 (9:18),
32 RoIs per image 0.655. It is not in the default set because it adds those 10 minutes to
``make demo``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from graft.demo.common import Row, console, num_params, write_spec

SIZE = 192
VAL_FRACTION = 0.2
RENDERED = 8  # validation images drawn with their predicted masks
THRESHOLD = 0.5  # inference score threshold (TAO's example command's -t 0.5)
RECIPE: dict[str, Any] = {  # on top of the generator's spec; why: module docstring
    "batch_size_per_im": 64,
    "rpn_post_nms_topn_train": 200,
    "freeze_blocks": [0, 1, 2],
}
MODEL = "mask_rcnn lite0-FPN v1"


def check_size(size: int) -> None:
    """Before any work starts: the FPN needs image sides in multiples of 32."""
    from graft.errors import UserError

    if size % 32:
        raise UserError(f"--seg-size {size} is not a multiple of 32 (the FPN's coarsest stride)",
                        f"use {max(64, size // 32 * 32)} or {size // 32 * 32 + 32}")


def make_data(data_dir: Path, images: int, size: int = SIZE) -> Path:
    """Generate the towers once (whole or not at all: the generator writes to a temporary
    folder and renames it)."""
    if not (data_dir / "spec.yaml").exists():
        from graft.tasks.mask_rcnn.synth import make_instances_dataset

        make_instances_dataset(data_dir, images, (size, size), seed=0, val_fraction=VAL_FRACTION,
                               force=True)
    return data_dir


def train_spec(data_dir: Path, epochs: int) -> dict[str, Any]:
    """The generator's spec for ``data_dir`` with :data:`RECIPE`, ``epochs`` long, paths as
    ``Path`` objects (write_spec makes them relative to the spec's folder)."""
    spec = yaml.safe_load((data_dir / "spec.yaml").read_text())
    data = spec["data_config"]
    for key in ("train_annotations", "train_images", "val_annotations", "val_images"):
        data[key] = data_dir / data[key]
    spec["maskrcnn_config"].update(RECIPE)
    spec["trainer"]["epochs"] = epochs
    spec["evaluation_config"] = {"every_n_epochs": 2 if epochs > 3 else 1}
    return spec


def val_list(data_dir: Path, work: Path, count: int) -> Path:
    """A list file naming the first ``count`` validation images (inference's ``-i``)."""
    import json

    from graft.fsutil import write_text

    images = json.loads((data_dir / "val.json").read_text())["images"][:count]
    lines = [str((data_dir / im["file_name"]).resolve()) for im in images]
    path = work / "infer_images.txt"
    write_text(path, "\n".join(lines) + "\n")
    return path


def run(out: Path, images: int, epochs: int, force: bool = False, size: int = SIZE
        ) -> list[Row]:
    """Generate, train (or reuse/resume the run in ``out``), evaluate, render; summary rows."""
    import graft
    from graft.spec import load_spec
    from graft.tasks.mask_rcnn.evaluate import evaluate
    from graft.tasks.mask_rcnn.inference import run_inference
    from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
    from graft.tasks.mask_rcnn.train import train

    work = out / "segmentation"
    start = time.perf_counter()
    data_dir = make_data(out / "data" / "segmentation", images, size)
    spec_file = write_spec(work / "train.yaml", train_spec(data_dir, epochs))
    described = (f"synthetic telecom towers: {images} images ({size}x{size}), panel antennas, "
                 "dishes and radio units, COCO polygons")

    console.rule("segmentation: train Mask R-CNN (EfficientNet-Lite0 FPN from ImageNet)")
    train(spec_file, work / "train", force=force)
    model = work / "train" / "model.graft"
    console.rule("segmentation: evaluate (COCO bbox and segm AP), render masks")
    began = time.perf_counter()
    result = evaluate(load_spec(spec_file, MaskRCNNSpec), model, results_dir=work / "eval")
    box = result["evaluations"]["bbox"].metrics
    mask = result["evaluations"]["segm"].metrics
    console.print(f"segmentation: bbox AP {box['AP']:.3f} AP50 {box['AP50']:.3f}, segm AP "
                  f"{mask['AP']:.3f} AP50 {mask['AP50']:.3f} on {result['images']} images",
                  highlight=False)
    evaluated = time.perf_counter()
    run_inference(graft.load(model), val_list(data_dir, work, RENDERED), work / "infer",
                  threshold=THRESHOLD, include_mask=True)
    params = num_params(model)
    rows = [Row(workflow="segmentation", step="train (PyTorch)", model=MODEL, params=params,
                metric="mask AP50", value=float(mask["AP50"]),
                seconds=time.perf_counter() - start, outputs=str(work), data=described)]
    for metric, value in (("mask AP", mask["AP"]), ("box AP50", box["AP50"]),
                          ("box AP", box["AP"])):
        rows.append(Row(workflow="segmentation", step="evaluate (COCO)", model=MODEL,
                        params=params, metric=metric, value=float(value),
                        seconds=evaluated - began, outputs=str(work / "eval")))
    return rows
