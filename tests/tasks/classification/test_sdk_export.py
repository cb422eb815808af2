"""``export --sdk_compatible_model``: the softmax export DeepStream's classifier reads
(output ``probabilities``) scores exactly like the plain logits export in graft's runners."""

from __future__ import annotations

import json

import onnx
import pytest
import torch

from graft.cli import main
from graft.tasks.classification.runner import load_classifier


def test_the_softmax_export_classifies_like_the_logits_one(untrained_model, spec_file,
                                                            tmp_path) -> None:
    plain, sdk = tmp_path / "plain.onnx", tmp_path / "sdk.onnx"
    assert main(["classification", "export", "-m", str(untrained_model), "-o", str(plain)]) == 0
    assert main(["classification", "export", "-m", str(untrained_model), "-o", str(sdk),
                 "--sdk_compatible_model"]) == 0
    graph = onnx.load(str(sdk)).graph
    assert [o.name for o in graph.output] == ["probabilities"]
    assert graph.node[-1].op_type == "Softmax"
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    a, b = load_classifier(plain, device="cpu"), load_classifier(sdk, device="cpu")
    probs = b.runner(_normalized(b, images), returns="torch")["probabilities"]
    assert torch.allclose(probs.sum(1), torch.ones(4), atol=1e-5)
    assert torch.allclose(a.logits(images).softmax(1), b.logits(images).softmax(1), atol=1e-5)
    for model, out in ((plain, "plain"), (sdk, "sdk")):
        assert main(["classification", "evaluate", "-e", str(spec_file), "-m", str(model),
                     "-r", str(tmp_path / out)]) == 0
    got = [json.loads((tmp_path / d / "evaluation.json").read_text()) for d in ("plain", "sdk")]
    assert got[0]["confusion_matrix"] == got[1]["confusion_matrix"]
    assert got[0]["loss"] == pytest.approx(got[1]["loss"], abs=1e-4)


def _normalized(clf, images: torch.Tensor) -> torch.Tensor:
    from graft.data.preprocess import normalize

    return normalize(images, clf.normalization)
