"""The typed manifest: today's files round-trip, older formats (1 and 2, made here byte for byte
as those versions wrote them) load with their provenance migrated, bad manifests are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

import graft
from graft import archive
from graft.api import GraftModel, read, read_manifest
from graft.errors import ArchiveError
from graft.manifest import FORMAT_VERSION, InputSpec, Manifest, Normalization
from graft.tasks.classification.model import build_from_architecture

ARCH = {"arch": "resnet10", "num_classes": 3, "dropout": 0.0}
NORM = {"mode": "torch", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225], "channel_order": "RGB"}


def legacy_manifest() -> dict:
    """What graft wrote before format 3: graft_version and created at the top level."""
    return {"task": "classification", "architecture": ARCH, "classes": ["a", "b", "c"],
            "input": {"channels": 3, "height": 32, "width": 32, "dtype": "uint8 RGB 0..255",
                      "normalization": NORM},
            "spec": {"trainer": {"epochs": 1}}, "metrics": {"epochs": 1, "val/acc": 0.5},
            "params": 123, "graft_version": "0.0.9", "created": "2026-01-02T03:04:05+00:00",
            "license": "CC0"}


def write_legacy(path: Path, version: int, tensors: dict[str, torch.Tensor]) -> Path:
    """A format-1 or -2 file exactly as those versions laid it out."""
    manifest = {**legacy_manifest(), "format_version": version, "encrypted": False}
    covered = manifest if version >= 2 else None
    manifest["content_hash"] = archive.content_hash(tensors, covered)
    path.write_bytes(st_save(tensors, metadata={archive.MANIFEST_KEY: json.dumps(manifest)}))
    return path


@pytest.fixture(scope="module")
def tensors() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.contiguous() for k, v in build_from_architecture(ARCH).state_dict().items()}


@pytest.mark.parametrize("version", [1, 2])
def test_older_formats_load_with_their_provenance_migrated(tmp_path: Path, tensors,
                                                           version: int) -> None:
    path = write_legacy(tmp_path / f"v{version}.graft", version, tensors)
    model = graft.load(path)
    m = model.manifest
    assert isinstance(m, Manifest) and m.format_version == version
    assert (m.provenance.graft_version, m.provenance.created) == ("0.0.9",
                                                                 "2026-01-02T03:04:05+00:00")
    assert m.input is not None and m.input.shape == (3, 32, 32)
    assert m.normalization == Normalization(**NORM) and m.license == "CC0"
    assert m.classes == ["a", "b", "c"] and m.metrics["val/acc"] == 0.5
    x = torch.rand(1, 3, 32, 32)
    net = build_from_architecture(ARCH).eval()
    net.load_state_dict(tensors)
    torch.testing.assert_close(model.module(x), net(x))
    # saved again, it is today's layout: provenance kept, nothing at the top level
    resaved = model.save(tmp_path / "new.graft")
    raw = archive.read_manifest(tmp_path / "new.graft")
    assert raw["format_version"] == FORMAT_VERSION and "graft_version" not in raw
    assert raw["provenance"]["created"] == "2026-01-02T03:04:05+00:00"
    assert resaved.provenance.graft_version == graft.__version__
    assert read_manifest(tmp_path / "new.graft") == resaved


def test_todays_files_round_trip_every_typed_field_and_unknown_keys(tmp_path: Path,
                                                                    tensors) -> None:
    manifest = Manifest(task="classification", architecture=ARCH, classes=["a", "b", "c"],
                        input=InputSpec(height=32, width=32, normalization=Normalization(**NORM)),
                        metrics={"epochs": 2}, dataset={"name": "shapes"})
    with_extra = {**manifest.to_dict(), "team_note": {"owner": "vision"}}
    net = build_from_architecture(ARCH)
    stored = GraftModel(net, with_extra).save(tmp_path / "m.graft", key="k3y")
    _, loaded = read(tmp_path / "m.graft", key="k3y")
    assert loaded == stored and loaded.encrypted and loaded.content_hash
    assert loaded.format_version == FORMAT_VERSION and loaded.task == "classification"
    assert loaded["team_note"] == {"owner": "vision"}  # kept, readable through the dict view
    assert loaded.layer_shapes and "layer_shapes" not in loaded.stock_architecture
    assert loaded.params == sum(p.numel() for p in net.parameters())
    assert Manifest.from_dict(loaded.to_dict()) == loaded


def test_the_dict_view_reads_the_json_form() -> None:
    m = Manifest.from_dict(legacy_manifest())
    assert m["classes"] == ["a", "b", "c"] and m["input"]["normalization"]["scale"] == 1 / 255
    assert "graft_version" not in m and m["provenance"]["graft_version"] == "0.0.9"
    assert m.get("pruning") is None and dict(m.items())["task"] == "classification"


def test_a_manifest_of_the_wrong_shape_is_one_line_naming_the_file(tmp_path: Path,
                                                                   tensors) -> None:
    bad = {**legacy_manifest(), "classes": "a,b,c"}
    path = tmp_path / "bad.graft"
    archive.save(path, tensors, bad)
    with pytest.raises(ArchiveError) as err:
        graft.load(path)
    message = str(err.value)
    assert str(path) in message and "classes" in message and "\n" not in message


def test_normalization_fills_what_a_file_leaves_out() -> None:
    partial = Normalization(mean=[0.5, 0.5, 0.5])
    full = partial.resolved(3)
    assert (full.scale, full.mean, full.std, full.channel_order) == (1 / 255, [0.5] * 3,
                                                                     [1.0] * 3, "RGB")
    assert partial.to_dict() == {"mean": [0.5, 0.5, 0.5]}  # the file's form stays as it was
