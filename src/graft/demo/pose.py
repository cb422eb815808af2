"""Demo workflow 3: BodyPoseNet on generated stick-figure people; train, evaluate, infer.

CPU-sized on purpose: the ResNet-18 backbone variant with two stages and 3x3 refinement convs
at 128x128 trains at about 15 images/s on two cores (validation included), where the default
VGG19 with three 7x7 stages runs at 2; 20 epochs of 640 images reach keypoint AP 0.52.
Everything else is the BodyPoseNet recipe: 18-joint pose config with the synthesized neck,
PAFs and heatmaps (sigma 7) at stride 8, the masked multi-stage loss, the production decoder
and COCO keypoint AP. The people are 0.5-0.9 of the image height: at 128x128 and stride 8
smaller ones leave the label round trip itself well below AP 0.8.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.demo.common import Row, console, write_spec

SIZE = 128
PERSON_HEIGHT = (0.5, 0.9)
MAX_PERSONS = 2


def pose_train_spec(data_dir: Path, epochs: int) -> dict[str, Any]:
    return {
        "trainer": {"epochs": epochs, "checkpoint_interval": 1, "seed": 7},
        "dataloader": {
            "batch_size": 8,
            "workers": 1,
            "image_config": {"image_dims": {"height": SIZE, "width": SIZE, "channels": 3}},
            "dataset_config": {"dataset_spec": data_dir / "dataset_spec.json"},
            "augmentation_config": {
                "spatial_augmentation_mode": "standard",
                "spatial_aug_params": {"rotate_deg_max": 15, "translate_max_x": 12,
                                       "translate_max_y": 12},
            },
            "label_processor_config": {"heatmap_gaussian_sigma": 7.0},
        },
        "model": {"backbone": "resnet18", "stages": 2, "refinement_kernel": 3},
        "optimizer": {"name": "adam"},
        "lr_schedule": {"name": "cosine", "learning_rate": 2e-3, "min_lr": 1e-5,
                        "soft_start": 0.05},
        "regularizer": {"type": "none"},
        "use_stagewise_lr_multipliers": False,
    }


def inference_spec() -> dict[str, Any]:
    return {"input_shape": [SIZE, SIZE], "keep_aspect_ratio_mode": "adjust_network_input"}


def evaluate_ap(infer_file: Path, data_dir: Path, model: Any, results_dir: Path) -> float:
    """COCO keypoint AP of a loaded pose model (:func:`~graft.tasks.bpnet.runner.
    load_pose_model`: .graft, .onnx or .engine) on the validation images."""
    from graft.spec import load_spec
    from graft.tasks.bpnet.evaluate import evaluate
    from graft.tasks.bpnet.spec import InferenceSpec

    spec = load_spec(infer_file, InferenceSpec)
    result = evaluate(spec, model, data_dir / "dataset_spec.json", results_dir=results_dir)
    return float(result["metrics"]["AP"])


@dataclass
class PoseRun:
    """What the pose optimize workflow needs from this one."""

    spec_file: Path
    spec: dict[str, Any]  # as written to spec_file, paths as Path objects
    infer_file: Path
    model: Path
    data_dir: Path
    row: Row

    @property
    def train_images(self) -> Path:
        return self.data_dir / "images" / "train"

    def evaluate(self, model: Path, results_dir: Path) -> float:
        from graft.tasks.bpnet.runner import load_pose_model

        return evaluate_ap(self.infer_file, self.data_dir, load_pose_model(model), results_dir)


def run(out: Path, images: int, epochs: int, force: bool = False) -> PoseRun:
    from graft.spec import load_spec
    from graft.tasks.bpnet.inference import run_inference
    from graft.tasks.bpnet.module import train
    from graft.tasks.bpnet.runner import load_pose_model
    from graft.tasks.bpnet.spec import InferenceSpec
    from graft.tasks.bpnet.synth import make_pose_dataset

    data_dir = out / "data" / "pose"
    work = out / "pose"
    start = time.perf_counter()
    if not (data_dir / "dataset_spec.json").exists():
        make_pose_dataset(data_dir, images=images, size=(SIZE, SIZE), max_persons=MAX_PERSONS,
                          crowd=False, person_height=PERSON_HEIGHT, seed=0, force=True)
    spec = pose_train_spec(data_dir, epochs)
    spec_file = write_spec(work / "train.yaml", spec)
    infer_file = write_spec(work / "infer.yaml", inference_spec())
    console.rule("pose: train BodyPoseNet (resnet18 backbone, 2 stages, from scratch)")
    train(spec_file, work / "train", force=force)
    model_path = work / "train" / "model.graft"
    model = load_pose_model(model_path)
    console.rule("pose: evaluate (COCO keypoint AP) and infer")
    ap = evaluate_ap(infer_file, data_dir, model, work / "eval")
    run_inference(load_spec(infer_file, InferenceSpec), model, "dir",
                  data_dir / "images" / "val", work / "infer", dump_visualizations=True)
    row = Row(workflow="pose", step="train (PyTorch)", model="bpnet resnet18 2-stage",
              params=model.num_params, metric="keypoint AP",
              value=ap, seconds=time.perf_counter() - start, outputs=str(work),
              data=f"synthetic people: {images} images, {SIZE}x{SIZE}, 1-{MAX_PERSONS} per "
              f"image, {PERSON_HEIGHT[0]}-{PERSON_HEIGHT[1]} of the image height")
    return PoseRun(spec_file, spec, infer_file, model_path, data_dir, row)
