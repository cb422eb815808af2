"""DeepStream files beside a DetectNet_v2 export: nvinfer's built-in DetectNet_v2 parser.

nvinfer parses DetectNet_v2's two outputs itself (``output-blob-names``, box scale 35 and
offset 0.5 as TLT trains) and clusters the cells with the algorithm and thresholds of the
model's ``postprocessing_config``: ``cluster-mode`` from the first class's algorithm (one mode
serves all classes in nvinfer; a note says so when the classes differ) and one
``[class-attrs-N]`` section per class with its coverage threshold, DBSCAN eps, min samples and
confidence threshold, NMS IoU and minimum height.
"""

from __future__ import annotations

from pathlib import Path

from graft.deploy.deepstream import ClassAttrs, NvinferModel, write_nvinfer
from graft.manifest import Manifest, Normalization
from graft.tasks.detectnet_v2.model import OUTPUT_NAMES


def deepstream_paths(model_path: Path) -> tuple[Path, Path]:
    """(config, labels) beside ``model_path``: ``NAME_nvinfer_config.txt``, ``NAME_labels.txt``."""
    stem = model_path.with_suffix("").name
    return (model_path.with_name(f"{stem}_nvinfer_config.txt"),
            model_path.with_name(f"{stem}_labels.txt"))


def nvinfer_model(manifest: Manifest, model_path: Path, data_type: str,
                  engine_file: Path | None = None) -> NvinferModel:
    """The nvinfer settings of an exported DetectNet_v2 model (manifest of the export)."""
    from graft.tasks.detectnet_v2.detector import spec_of

    manifest = Manifest.of(manifest)
    spec = spec_of(manifest)
    clustering = spec.clustering_configs()
    inp = manifest.require_input()
    algorithms = {c.clustering_algorithm for c in clustering}
    notes = [] if len(algorithms) == 1 else [
        f"the classes cluster with {', '.join(sorted(algorithms))}; nvinfer has one "
        f"cluster-mode, the first class's ({clustering[0].clustering_algorithm})"]
    _, labels = deepstream_paths(model_path)
    engine = None
    if engine_file is not None:
        engine = str(engine_file.name if engine_file.parent == model_path.parent else engine_file)
    return NvinferModel(
        onnx_file=model_path.name, labels_file=labels.name, classes=list(manifest.classes),
        input_shape=inp.shape,
        normalization=(inp.normalization or Normalization()).to_dict(), data_type=data_type,
        output_blob_names=OUTPUT_NAMES, cluster_mode=clustering[0].clustering_algorithm,
        class_attrs={str(k): ClassAttrs(pre_cluster_threshold=c.coverage_threshold,
                                        eps=c.dbscan_eps, min_boxes=c.min_samples,
                                        dbscan_min_score=c.dbscan_confidence_threshold,
                                        nms_iou_threshold=c.nms_iou_threshold,
                                        detected_min_h=int(c.minimum_bounding_box_height))
                     for k, c in enumerate(clustering)},
        engine_file=engine, notes=notes)


def write_deepstream_files(manifest: Manifest, model_path: Path, data_type: str,
                           engine_file: Path | None = None) -> list[Path]:
    config, labels = deepstream_paths(model_path)
    return write_nvinfer(nvinfer_model(manifest, model_path, data_type, engine_file), config,
                         labels)
