"""The DetectNet_v2 spec: TLT's sections and defaults, class consistency across sections, and
one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graft.errors import UserError
from graft.spec import dump_spec, load_spec
from graft.tasks.detectnet_v2.sections import EvaluationConfig
from graft.tasks.detectnet_v2.spec import DetectNetSpec

BASE = {
    "dataset_config": {
        "data_sources": [{"image_directory_path": "images", "label_directory_path": "labels"}],
        "target_class_mapping": {"Car": "car", "van": "car", "pedestrian": "pedestrian",
                                 "misc": "dontcare"},
    },
}


def _load(tmp_path: Path, extra: dict | None = None, overrides: list[str] | None = None):
    data = {**BASE, **(extra or {})}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path, DetectNetSpec, overrides)


def _error(tmp_path: Path, extra: dict | None = None, overrides: list[str] | None = None) -> str:
    with pytest.raises(UserError) as info:
        _load(tmp_path, extra, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_are_tlts_kitti_values(tmp_path: Path) -> None:
    spec = _load(tmp_path)
    assert spec.class_names == ["car", "pedestrian"]
    assert spec.input_size == (384, 1248) and spec.model.arch == "resnet18"
    assert spec.bbox_rasterizer_config.deadzone_radius == 0.67
    raster = spec.rasterizer_classes()
    assert len(raster) == 2 and raster[0].cov_radius_x == 0.4 and raster[0].bbox_min_radius == 1
    clustering = spec.clustering_configs()[1]
    assert (clustering.dbscan_eps, clustering.coverage_threshold,
            clustering.minimum_bounding_box_height) == (0.13, 0.005, 20)
    costs = spec.cost_classes()
    assert [c.name for c in costs] == ["car", "pedestrian"]
    assert costs[0].coverage_foreground_weight == 0.05
    assert costs[0].objective("bbox").initial_weight == 10
    tc = spec.training_config
    assert (tc.batch_size_per_gpu, tc.num_epochs, tc.optimizer.name) == (8, 120, "adam")
    assert (tc.learning_rate.min_lr, tc.learning_rate.learning_rate) == (5e-6, 5e-4)
    assert (tc.regularizer.type, tc.regularizer.weight) == ("l1", 3e-9)
    assert spec.evaluation_config.average_precision_mode == "integrate"
    rules = spec.class_rules()
    assert rules["car"].iou == 0.5 and rules["car"].min_height == 0
    assert spec.dataset_config.data_sources[0].format == "kitti"
    class_map = spec.dataset_config.class_map()
    assert (class_map.target("VAN"), class_map.target("Misc")) == ("car", "dontcare")
    assert Path(spec.dataset_config.data_sources[0].image_directory_path) == tmp_path / "images"


def test_the_trainer_section_follows_tlts_fields(tmp_path: Path) -> None:
    spec = _load(tmp_path, {"random_seed": 7, "training_config": {
        "num_epochs": 30, "checkpoint_interval": 5, "trainer": {"precision": "32"}},
        "evaluation_config": {"validation_period_during_training": 3}})
    trainer = spec.trainer
    assert (trainer.epochs, trainer.checkpoint_interval, trainer.validation_interval,
            trainer.seed, trainer.precision) == (30, 5, 3, 7, "32")
    message = _error(tmp_path, {"training_config": {"trainer": {"epochs": 3}}})
    assert "training_config.trainer.epochs 3 differs from training_config.num_epochs 120" in message


def test_a_written_spec_loads_again(tmp_path: Path) -> None:
    spec = _load(tmp_path, {"model_config": {"arch": "resnet", "num_layers": 10}})
    assert spec.model.arch == "resnet10"
    text = dump_spec(spec)
    assert "model_config:" in text and "model:" not in text.replace("model_config:", "")
    again = tmp_path / "again.yaml"
    again.write_text(text)
    assert load_spec(again, DetectNetSpec) == spec


def test_per_class_sections_match_the_mapping_ignoring_case(tmp_path: Path) -> None:
    spec = _load(tmp_path, {
        "postprocessing_config": {"target_class_config": {
            "CAR": {"clustering_config": {"clustering_algorithm": "NMS"}}, "Pedestrian": {}}},
        "evaluation_config": {
            "minimum_detection_ground_truth_overlap": {"car": 0.7, "pedestrian": 0.5},
            "evaluation_box_config": {"car": {"minimum_height": 40},
                                      "pedestrian": {"minimum_height": 25}},
            "average_precision_mode": "SAMPLE"}})
    assert [c.clustering_algorithm for c in spec.clustering_configs()] == ["nms", "dbscan"]
    rules = spec.class_rules()
    assert (rules["car"].iou, rules["car"].min_height, rules["pedestrian"].iou) == (0.7, 40, 0.5)
    assert spec.evaluation_config.average_precision_mode == "sample"


def test_a_class_missing_from_a_section_names_both(tmp_path: Path) -> None:
    message = _error(tmp_path, {"bbox_rasterizer_config": {"target_class_config": {"car": {}}}})
    assert ("bbox_rasterizer_config.target_class_config has no 'pedestrian', a target class of "
            "dataset_config.target_class_mapping (car, pedestrian)") in message


def test_a_class_unknown_to_the_mapping_names_both(tmp_path: Path) -> None:
    message = _error(tmp_path, overrides=[
        "cost_function_config.target_classes=[{name: car}, {name: pedestrian}, {name: cyclist}]"])
    assert ("cost_function_config.target_classes names 'cyclist', which is not a target class "
            "of dataset_config.target_class_mapping") in message
    message = _error(tmp_path, overrides=[
        "evaluation_config.minimum_detection_ground_truth_overlap={car: 0.7, Car: 0.5}"])
    assert "overlap names 'car' and 'Car', one class" in message


@pytest.mark.parametrize(("override", "expected"), [
    ("augmentation_config.preprocessing.output_image_width=1250",
     "1250 is not a multiple of 16 (DetectNet_v2's output stride); use 1248 or 1264"),
    ("augmentation_config.preprocessing.output_image_height=8", "greater than or equal to 16"),
    ("model_config.arch=vgg19", "arch 'vgg19' is not a DetectNet_v2 backbone"),
    ("model_config.use_batch_norm=false", "use_batch_norm: false is only available for vgg16"),
    ("model_config.all_projections=true", None),
    ("evaluation_config.first_validation_epoch=121",
     "first_validation_epoch 121 comes after the last epoch (training_config.num_epochs 120)"),
    ("dataset_config.target_class_mapping={a: dontcare}", "maps every class to dontcare"),
    ("dataset_config.target_class_mapping={car: car, CAR: truck}", "'CAR' is mapped twice"),
    ("dataset_config.validation_split={fraction: 0.2}", None),
    ("cost_function_config.target_classes=[{name: car, objectives: [{name: cov, "
     "initial_weight: 1, weight_target: 1}]}]", "needs the objectives cov and bbox"),
    ("postprocessing_config.target_class_config={car: {clustering_config: "
     "{clustering_algorithm: kmeans}}, pedestrian: {}}", "clustering_algorithm"),
])
def test_bad_values_are_one_line_errors(tmp_path: Path, override: str, expected: str | None
                                        ) -> None:
    if expected is None:
        _load(tmp_path, overrides=[override])  # valid
        return
    assert expected in _error(tmp_path, overrides=[override])


def test_data_sources_need_one_label_format_and_one_validation(tmp_path: Path) -> None:
    both = {"image_directory_path": "i", "label_directory_path": "l", "annotation_file": "a.json"}
    message = _error(tmp_path, {"dataset_config": {**BASE["dataset_config"],
                                                   "data_sources": [both]}})
    assert "either label_directory_path (KITTI) or annotation_file (COCO)" in message
    coco = {"image_directory_path": "i", "annotation_file": "a.json"}
    spec = _load(tmp_path, {"dataset_config": {**BASE["dataset_config"], "data_sources": [coco],
                                               "validation_data_source": coco}})
    assert spec.dataset_config.data_sources[0].format == "coco"
    message = _error(tmp_path, {"dataset_config": {
        **BASE["dataset_config"], "validation_data_source": coco,
        "validation_split": {"fraction": 0.1}}})
    assert "both validation_split and validation_data_source" in message


def test_validation_epochs_always_end_with_the_last() -> None:
    assert EvaluationConfig().validation_epochs(25) == [10, 20, 25]
    assert EvaluationConfig().validation_epochs(5) == [5]
    assert EvaluationConfig(first_validation_epoch=110).validation_epochs(120) == [110, 120]
    assert EvaluationConfig(validation_period_during_training=1).validation_epochs(3) == [1, 2, 3]


def test_every_field_is_documented() -> None:
    from graft.spec import _model_of

    missing, todo, seen = [], [(DetectNetSpec, "")], set()
    while todo:
        model, path = todo.pop()
        if model in seen or not model.__module__.startswith("graft.tasks.detectnet_v2"):
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            key = f"{path}.{field.alias or name}".lstrip(".")
            if not field.description:
                missing.append(key)
            sub = _model_of(field.annotation)
            if sub is not None:
                todo.append((sub, key))
    assert not missing


def test_the_core_modules_build_from_the_spec(tmp_path: Path) -> None:
    from graft.tasks.detectnet_v2.decoder import DetectionDecoder
    from graft.tasks.detectnet_v2.encoder import TargetEncoder
    from graft.tasks.detectnet_v2.loss import DetectNetCost

    spec = _load(tmp_path, {
        "augmentation_config": {"preprocessing": {"output_image_width": 320,
                                                  "output_image_height": 96}},
        "bbox_rasterizer_config": {"deadzone_radius": 0.4},
        "model_config": {"objective_set": {"bbox": {"scale": 20.0}}}})
    encoder, decoder = TargetEncoder.from_spec(spec), DetectionDecoder.from_spec(spec)
    assert (encoder.grid, encoder.deadzone, encoder.scale) == ((6, 20), 0.4, 20.0)
    assert (decoder.num_classes, decoder.input_size, decoder.scale) == (2, (96, 320), 20.0)
    cost = DetectNetCost.from_config(spec.cost_function_config, spec.cost_classes())
    assert cost.num_classes == 2 and cost.autoweighting


def test_imagenet_efficientnet_lite_weights_are_named_in_model_config(tmp_path: Path) -> None:
    from graft.engine.weights import load_matching, resolve_pretrained
    from graft.tasks.detectnet_v2.model import DetectNetV2

    spec = _load(tmp_path, {"model_config": {"arch": "efficientnet_lite0",
                                             "pretrained_weights": "efficientnet_lite0",
                                             "freeze_blocks": [0, 1]}})
    assert spec.model.pretrained_weights == "efficientnet_lite0"  # a name, not a path
    net = DetectNetV2(spec.model.arch, len(spec.class_names))
    weights = resolve_pretrained(spec.model.pretrained_weights, arch=spec.model.arch)
    report = load_matching(net, weights.state_dict, backbone="backbone", source=weights.source)
    assert len(report.filled) == len(report.required) > 100
    assert net.freeze_blocks(spec.model.freeze_blocks) == ["_conv_stem", "_bn0", "_blocks.0"]
