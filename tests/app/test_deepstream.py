"""DeepStream configs for the gesture app, parsed back: the SGIE runs on the PGIE's hand
boxes, and its net-scale-factor/offsets reproduce graft's normalization of real pixels."""

from __future__ import annotations

import configparser

import numpy as np
import pytest

from graft.errors import UserError
from tests.app.conftest import GESTURES


@pytest.fixture(scope="module")
def onnx_pair(models):
    from graft import tasks
    from graft.api import load
    from graft.optimize.export import ExportOptions, export_onnx

    detector = models["root"] / "hands.onnx"
    if not detector.is_file():
        m = load(models["detector"])
        export_onnx(m.module.eval(), m.manifest, detector, ExportOptions(exporter="torchscript"),
                    task=tasks.get("detectnet_v2"))
    classifier = models["root"] / "gesture.sdk.onnx"  # ends in a softmax: what nvinfer reads
    head, names = tasks.get("classification").sdk_compatible_head(load(models["graft"]).manifest)
    m = load(models["graft"])
    export_onnx(m.module.eval(), m.manifest, classifier,
                ExportOptions(exporter="torchscript", head=head, output_names=names),
                task=tasks.get("classification"))
    return detector, classifier


def _ini(path) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read_string(path.read_text())
    return cfg


def test_gesture_app_configs(onnx_pair, tmp_path) -> None:
    from graft.cli import main
    from graft.data.preprocess import normalization_for

    detector, classifier = onnx_pair
    out = tmp_path / "ds"
    assert main(["deploy", "deepstream", "-d", str(detector), "-c", str(classifier), "-o",
                 str(out), "--hand_class", "car", "--min_size", "24"]) == 0
    pgie, sgie = _ini(out / "pgie_hand_detector.txt"), _ini(out / "sgie_gesturenet.txt")
    p, s = pgie["property"], sgie["property"]
    assert (out / p["onnx-file"]).is_file() and (out / s["onnx-file"]).is_file()
    det_classes = (out / p["labelfile-path"]).read_text().split()
    assert (out / s["labelfile-path"]).read_text().strip().split(";") == GESTURES
    assert s["network-type"] == "1" and s["process-mode"] == "2"
    assert s["operate-on-gie-id"] == p["gie-unique-id"] != s["gie-unique-id"]
    assert s["operate-on-class-ids"] == str(det_classes.index("car"))
    assert s["input-object-min-width"] == "24"
    assert s["output-blob-names"] == "probabilities" and s["classifier-threshold"] == "0"
    c, h, w = (int(v) for v in s["infer-dims"].split(";"))
    assert (c, h, w) == (3, 32, 32)  # the classifier's recorded input (the tests' spec)
    # nvinfer: factor * (x - offset[c]) must equal graft's normalization of the same pixels
    norm = normalization_for("torch").to_dict()
    x = np.array([0.0, 77.0, 255.0])
    factor, offsets = float(s["net-scale-factor"]), [float(o) for o in s["offsets"].split(";")]
    for ch in range(3):
        graft = (x * norm["scale"] - norm["mean"][ch]) / norm["std"][ch]
        assert np.allclose(factor * (x - offsets[ch]), graft, atol=0.05)  # mean std (noted)
    assert "x1.3 of the box" in (out / "sgie_gesturenet.txt").read_text()  # the crop rule


def test_wrong_models_are_refused(onnx_pair, tmp_path) -> None:
    from graft.app.deepstream import write_gesture_deepstream

    detector, classifier = onnx_pair
    with pytest.raises(UserError, match="not a DetectNet_v2 export"):
        write_gesture_deepstream(classifier, classifier, tmp_path / "a")
    with pytest.raises(UserError, match="no class 'hand'"):
        write_gesture_deepstream(detector, classifier, tmp_path / "b", hand_classes=["hand"])


def test_a_classifier_that_outputs_logits_is_refused(onnx_pair, models, tmp_path) -> None:
    # nvinfer compares the top value with classifier-threshold as a probability: with logits,
    # hands whose top logit is negative would get no label
    from graft.cli import main

    detector, _ = onnx_pair
    rc = main(["deploy", "deepstream", "-d", str(detector), "-c", str(models["onnx"]), "-o",
               str(tmp_path / "ds")])
    assert rc == 2 and not (tmp_path / "ds").exists()


def test_nvinferserver_variant_matches_the_nvinfer_one(onnx_pair, tmp_path) -> None:
    import re

    from graft.app.deepstream import write_gesture_deepstream

    detector, classifier = onnx_pair
    write_gesture_deepstream(detector, classifier, tmp_path / "ds", hand_classes=["car"],
                             triton_url="triton:8001")
    nvinfer = _ini(tmp_path / "ds" / "sgie_gesturenet.txt")["property"]
    text = (tmp_path / "ds" / "sgie_gesturenet_triton.txt").read_text()
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    assert body.count("{") == body.count("}")

    def value(key: str) -> str:
        return re.search(rf"\b{key}: ([^\n]+)", body).group(1).strip()

    assert float(value("scale_factor")) == pytest.approx(float(nvinfer["net-scale-factor"]))
    offsets = [float(v) for v in value("channel_offsets").strip("[]").split(",")]
    assert offsets == pytest.approx([float(v) for v in nvinfer["offsets"].split(";")])
    assert value("operate_on_gie_id") == "1" and value("unique_id") == nvinfer["gie-unique-id"]
    assert value("operate_on_class_ids") == f"[{nvinfer['operate-on-class-ids']}]"
    assert value("model_name") == '"gesturenet"' and 'url: "triton:8001"' in body
