"""bpnet spec files: TLT defaults, strict keys, inference-spec conveniences."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft.errors import UserError
from graft.spec import load_spec
from graft.tasks.bpnet.spec import BpnetTrainSpec, InferenceSpec

DATALOADER = {"dataset_config": {"dataset_spec": "data/spec.json"}}


def test_training_defaults_are_tlts() -> None:
    spec = BpnetTrainSpec.model_validate({"dataloader": DATALOADER})
    s = spec.lr_schedule
    assert (s.name, s.learning_rate, s.soft_start, s.annealing, s.min_lr) == (
        "soft_start_annealing", 2e-5, 0.05, 0.5, 8e-8)
    assert (spec.optimizer.name, spec.optimizer.momentum, spec.optimizer.nesterov) == (
        "sgd", 0.9, False)
    assert (spec.regularizer.type, spec.regularizer.weight) == ("l1", 5e-4)
    assert (spec.model.backbone, spec.model.stages) == ("vgg19", 3)
    assert spec.use_stagewise_lr_multipliers
    assert spec.dataloader.batch_size == 10


def test_typos_and_bad_values_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("dataloader:\n  dataset_config: {dataset_spec: d.json}\nmodel: {stagez: 3}\n")
    with pytest.raises(UserError, match="did you mean 'model.stages'"):
        load_spec(path, BpnetTrainSpec)
    path.write_text("dataloader:\n  dataset_config: {dataset_spec: d.json}\nmodel: {stages: 9}\n")
    with pytest.raises(UserError, match="model.stages"):
        load_spec(path, BpnetTrainSpec)
    with pytest.raises(UserError, match="backbone"):
        load_spec(path, BpnetTrainSpec, ["model.stages=3", "model.backbone=vgg16"])


def test_inference_spec_accepts_tlt_forms(tmp_path: Path) -> None:
    path = tmp_path / "infer.yaml"
    path.write_text("input_shape: [288, 384]\nkeep_aspect_ratio_mode: None\n"
                    "output_upsampling_factor: [8, 8]\nmulti_scale_inference: true\n")
    spec = load_spec(path, InferenceSpec)
    assert spec.keep_aspect_ratio_mode == "none"
    assert spec.input_shape == (288, 384)
    assert spec.effective_scales == [0.5, 1.0, 1.5, 2.0]
    assert InferenceSpec(keep_aspect_ratio_mode=None).keep_aspect_ratio_mode == "none"
    assert InferenceSpec(output_upsampling_factor=4).output_upsampling_factor == (4, 4)
    assert InferenceSpec().effective_scales == [1.0]
    with pytest.raises(ValueError, match="equal"):
        InferenceSpec(output_upsampling_factor=(8, 4))
    with pytest.raises(ValueError, match="positive"):
        InferenceSpec(scales=[1.0, 0.0])


def test_decoder_params_follow_the_inference_spec() -> None:
    spec = InferenceSpec(heatmap_threshold=0.2, paf_threshold=0.1, output_upsampling_factor=4,
                         decoder={"min_parts": 3, "peak_refinement": "upsample"})
    p = spec.decoder_params()
    assert (p.heatmap_threshold, p.paf_threshold, p.upsample_factor) == (0.2, 0.1, 4)
    assert (p.min_parts, p.peak_refinement, p.paf_samples) == (3, "upsample", 10)
