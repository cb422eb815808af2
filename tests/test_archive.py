from pathlib import Path

import pytest
import torch

from graft import archive
from graft.errors import ArchiveError, UserError


@pytest.fixture()
def tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "bn.num_batches_tracked": torch.tensor(5),
        "fc.bias": torch.randn(4, generator=g).half(),
    }


MANIFEST = {"task": "classification", "architecture": {"arch": "x"}, "classes": ["a", "b"]}


def test_plain_round_trip_is_safetensors(tmp_path: Path, tensors):
    from safetensors.torch import load_file

    path = tmp_path / "m.graft"
    stored = archive.save(path, tensors, MANIFEST)
    loaded, manifest = archive.load(path)
    assert manifest["classes"] == ["a", "b"] and manifest["content_hash"] == stored["content_hash"]
    for k, v in tensors.items():
        assert torch.equal(loaded[k], v) and loaded[k].dtype == v.dtype
    assert set(load_file(str(path))) == set(tensors)  # readable by any safetensors tool
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


def test_encrypted_round_trip_and_refusals(tmp_path: Path, tensors):
    path = tmp_path / "m.graft"
    archive.save(path, tensors, MANIFEST, key="s3cret")
    assert archive.is_encrypted(path) and b"classification" not in path.read_bytes()
    loaded, manifest = archive.load(path, key="s3cret")
    assert torch.equal(loaded["conv.weight"], tensors["conv.weight"]) and manifest["encrypted"]
    with pytest.raises(ArchiveError, match="wrong key, or the file was modified"):
        archive.load(path, key="wrong")
    with pytest.raises(ArchiveError, match="is encrypted"):
        archive.read_manifest(path)
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="wrong key, or the file was modified"):
        archive.load(path, key="s3cret")


def test_tampered_plain_file_is_refused(tmp_path: Path, tensors):
    path = tmp_path / "m.graft"
    archive.save(path, tensors, MANIFEST)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the tensor payload
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="integrity check"):
        archive.load(path)


def test_not_a_graft_file(tmp_path: Path):
    bad = tmp_path / "x.graft"
    bad.write_bytes(b"hello world, not a model")
    with pytest.raises(ArchiveError, match="not a .graft model file"):
        archive.load(bad)
    with pytest.raises(UserError, match="model file not found"):
        archive.load(tmp_path / "missing.graft")
