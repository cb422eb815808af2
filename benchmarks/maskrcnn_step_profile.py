"""Where one Mask R-CNN training step spends its time on the CPU (the segmentation demo's recipe).

Generates a few towers (``graft synth instances``), builds the network from the generator's spec
(plus ``--set`` overrides, e.g. ``maskrcnn_config.batch_size_per_im=64``), optionally fills it
from a trained ``model.graft`` of this task (an untrained RPN proposes few boxes on the objects,
so the mask head sees fewer positive RoIs than later in training), then times SGD steps
(forward, backward, process CPU seconds, positive RoIs reaching the mask head) and profiles one
step: the share of convolution backward and RoIAlign backward, and the costliest convolution
shapes.

    python benchmarks/maskrcnn_step_profile.py --size 192 --steps 3
    python benchmarks/maskrcnn_step_profile.py --model demo_runs/segmentation/train/model.graft \
        --set maskrcnn_config.batch_size_per_im=64 --json step.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


def profile_step(size: int, steps: int, overrides: list[str], model: str | None,
                 batch: int = 4) -> dict[str, Any]:
    from torch.profiler import profile

    from graft.spec import load_spec
    from graft.tasks.mask_rcnn.data import CocoInstances
    from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
    from graft.tasks.mask_rcnn.synth import make_instances_dataset
    from graft.tasks.mask_rcnn.train import build_network

    with tempfile.TemporaryDirectory(prefix="mrprof-") as tmp:
        data = Path(tmp) / "towers"
        make_instances_dataset(data, batch * 2, (size, size), seed=0, val_fraction=0.25)
        spec = load_spec(data / "spec.yaml", MaskRCNNSpec, overrides)
        train_set = CocoInstances(data / "train.json", data)
        items = [train_set[i] for i in range(batch)]
    net, _ = build_network(spec, train_set.class_names, train_set.category_ids)
    if model:
        import graft

        state = graft.load(model).module.state_dict()
        own = net.state_dict()
        net.load_state_dict({k: v for k, v in state.items()
                             if k in own and own[k].shape == v.shape}, strict=False)
    net.train()
    positives: list[int] = []
    net.roi_heads.mask_roi_pool.register_forward_hook(
        lambda m, i, o: positives.append(int(o.shape[0])))
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    images, targets = [i for i, _ in items], [t for _, t in items]
    rows = []
    for step in range(steps + 1):  # the first step warms up and is not counted
        cpu0, t0 = time.process_time(), time.perf_counter()
        losses = net(images, targets)
        t1 = time.perf_counter()
        sum(losses.values()).backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad()
        if step:
            rows.append({"forward_s": round(t1 - t0, 3), "backward_s": round(t2 - t1, 3),
                         "cpu_s": round(time.process_time() - cpu0, 3),
                         "positive_rois": positives[-1]})
    with profile(record_shapes=True) as prof:
        sum(net(images, targets).values()).backward()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)

    def share(name: str) -> float:
        return round(sum(e.self_cpu_time_total for e in events if e.key == name) / total, 3)

    convs = [e for e in prof.key_averages(group_by_input_shape=True)
             if e.key == "aten::convolution_backward"]
    convs.sort(key=lambda e: -e.cpu_time_total)
    return {"size": size, "batch": batch, "overrides": overrides, "model": model,
            "threads": torch.get_num_threads(), "steps": rows,
            "share": {"convolution_backward": share("aten::convolution_backward"),
                      "roi_align_backward": share("torchvision::_roi_align_backward")},
            "costliest_conv_backward": [
                {"ms": round(e.cpu_time_total / 1e3), "calls": e.count,
                 "input_and_weight": [e.input_shapes[0], e.input_shapes[2]]}
                for e in convs[:6]]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=192, help="image side (multiple of 32)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="spec override KEY=VALUE (repeatable)")
    ap.add_argument("--model", help="a trained mask_rcnn model.graft to start from")
    ap.add_argument("--json", type=Path, help="write the result here")
    args = ap.parse_args(argv)
    result = profile_step(args.size, args.steps, args.overrides, args.model)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
