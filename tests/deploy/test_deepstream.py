"""DeepStream nvinfer configs: the preprocessing nvinfer computes equals graft's, and the file
says what the parser and the clustering need."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graft.data.preprocess import normalization_for, normalize
from graft.deploy.deepstream import (
    ClassAttrs,
    NvinferModel,
    render_nvinfer,
    scale_and_offsets,
    write_nvinfer,
)


def _nvinfer(x: torch.Tensor, factor: float, offsets: list[float], bgr: bool) -> torch.Tensor:
    """What nvinfer feeds the network: factor * (pixel - offset) in the model's channel order."""
    x = x.float().flip(1) if bgr else x.float()
    return factor * (x - torch.tensor(offsets).view(1, 3, 1, 1))


def test_equal_deviations_are_exact_in_either_channel_order() -> None:
    x = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8)
    detectnet = {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.226] * 3,
                 "channel_order": "RGB"}
    for norm in (detectnet, normalization_for("caffe"), normalization_for("tf")):
        factor, offsets, color, note = scale_and_offsets(norm)
        assert note is None and color == (1 if norm["channel_order"] == "BGR" else 0)
        assert torch.allclose(_nvinfer(x, factor, offsets, color == 1), normalize(x, norm),
                              atol=1e-4)


def test_per_channel_deviations_are_approximated_and_said_so() -> None:
    factor, _, _, note = scale_and_offsets(normalization_for("torch"))
    assert note is not None and "approximate" in note
    assert np.isclose(factor, 1 / 255 / np.mean([0.229, 0.224, 0.225]))


def test_the_config_names_outputs_classes_clustering_and_precision(tmp_path: Path) -> None:
    model = NvinferModel(
        onnx_file="det.int8.onnx", labels_file="det_labels.txt", classes=["car", "person"],
        input_shape=(3, 384, 1248), normalization=normalization_for("torch"), data_type="int8",
        output_blob_names=["output_cov/Sigmoid", "output_bbox/BiasAdd"], cluster_mode="hybrid",
        class_attrs={"0": ClassAttrs(0.005, eps=0.13, detected_min_h=20),
                     "1": ClassAttrs(0.01, eps=0.2, min_boxes=2)},
        engine_file="det.engine")
    text = render_nvinfer(model)
    lines = text.splitlines()
    for expected in ("network-mode=1", "cluster-mode=3", "num-detected-classes=2",
                     "infer-dims=3;384;1248", "onnx-file=det.int8.onnx",
                     "model-engine-file=det.engine", "labelfile-path=det_labels.txt",
                     "output-blob-names=output_cov/Sigmoid;output_bbox/BiasAdd",
                     "[class-attrs-0]", "eps=0.13", "detected-min-h=20", "[class-attrs-1]",
                     "minBoxes=2", "pre-cluster-threshold=0.01"):
        assert expected in lines, expected
    assert lines[1].startswith("# approximate")
    config, labels = write_nvinfer(model, tmp_path / "c.txt", tmp_path / "l.txt")
    assert config.read_text() == text and labels.read_text() == "car\nperson\n"
