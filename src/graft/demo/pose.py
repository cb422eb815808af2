"""Demo workflow 3: BodyPoseNet on generated stick-figure people; train, evaluate, infer.

CPU-sized on purpose: the ResNet-18 backbone variant with two stages at 128x128 trains at about
10 images/s on two cores, where the default VGG19, three stages, runs at 2. Everything else is
the BodyPoseNet recipe: 18-joint pose config with the synthesized neck, PAFs and heatmaps at
stride 8, the masked multi-stage loss and the production decoder and COCO keypoint AP.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from graft.demo.common import Row, console, write_spec

SIZE = 128


def pose_train_spec(data_dir: Path, epochs: int) -> dict[str, Any]:
    return {
        "trainer": {"epochs": epochs, "checkpoint_interval": 1, "seed": 7},
        "dataloader": {
            "batch_size": 8,
            "workers": 1,
            "image_config": {"image_dims": {"height": SIZE, "width": SIZE, "channels": 3}},
            "dataset_config": {"dataset_spec": str(data_dir / "dataset_spec.json")},
            "augmentation_config": {
                "spatial_augmentation_mode": "standard",
                "spatial_aug_params": {"rotate_deg_max": 15, "translate_max_x": 12,
                                       "translate_max_y": 12},
            },
            "label_processor_config": {"heatmap_gaussian_sigma": 5.0},
        },
        "model": {"backbone": "resnet18", "stages": 2},
        "optimizer": {"name": "adam"},
        "lr_schedule": {"name": "cosine", "learning_rate": 1e-3, "min_lr": 1e-5,
                        "soft_start": 0.05},
        "regularizer": {"type": "none"},
        "use_stagewise_lr_multipliers": False,
    }


def inference_spec() -> dict[str, Any]:
    return {"input_shape": [SIZE, SIZE], "keep_aspect_ratio_mode": "adjust_network_input"}


def run(out: Path, images: int, epochs: int, force: bool = False) -> Row:
    from graft.api import load
    from graft.spec import validate
    from graft.tasks.bpnet.evaluate import evaluate
    from graft.tasks.bpnet.inference import run_inference
    from graft.tasks.bpnet.module import train
    from graft.tasks.bpnet.spec import InferenceSpec
    from graft.tasks.bpnet.synth import make_pose_dataset

    data_dir = out / "data" / "pose"
    work = out / "pose"
    start = time.perf_counter()
    if not (data_dir / "dataset_spec.json").exists():
        make_pose_dataset(data_dir, images=images, size=(SIZE, SIZE), max_persons=2,
                          crowd=False, seed=0)
    spec_file = write_spec(work / "train.yaml", pose_train_spec(data_dir, epochs))
    infer_file = write_spec(work / "infer.yaml", inference_spec())
    console.rule("[bold]pose: train BodyPoseNet (resnet18 backbone, 2 stages, from scratch)")
    train(spec_file, work / "train", force=force)
    model_path = work / "train" / "model.graft"
    model = load(model_path)
    console.rule("[bold]pose: evaluate (COCO keypoint AP) and infer")
    spec = validate(InferenceSpec, inference_spec(), source=str(infer_file))
    result = evaluate(spec, model, data_dir / "dataset_spec.json", results_dir=work / "eval")
    run_inference(spec, model, "dir", data_dir / "images" / "val", work / "infer",
                  dump_visualizations=True)
    return Row(workflow="pose", step="train (PyTorch)", model="bpnet resnet18 2-stage",
               params=model.num_params, metric="keypoint AP",
               value=result["metrics"]["AP"], seconds=time.perf_counter() - start,
               outputs=str(work),
               data=f"synthetic people: {images} images, {SIZE}x{SIZE}, 1-2 per image")
