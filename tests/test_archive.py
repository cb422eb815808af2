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


def _rewrite_header(path: Path, **changes) -> None:
    """Replace fields of an encrypted file's header line (the payload is left as it is)."""
    import json

    data = path.read_bytes()
    end = data.index(b"\n", len(archive.ENC_MAGIC))
    header = json.loads(data[len(archive.ENC_MAGIC):end])
    for field, value in changes.items():
        (header["kdf"] if field in ("n", "r", "p", "salt", "name") else header)[field] = value
    path.write_bytes(archive.ENC_MAGIC + json.dumps(header).encode() + data[end:])


@pytest.mark.parametrize("changes", [
    {"n": 2**40}, {"n": 2**20, "r": 8}, {"n": 1000}, {"r": 10**6}, {"p": 10**6}, {"n": True},
    {"salt": "00"}, {"salt": "ab" * 1000}, {"nonce": "00" * 64}, {"name": "argon2"},
    {"cipher": "ROT13"},
], ids=["huge-n", "1GiB", "n-not-power-of-2", "huge-r", "huge-p", "bool-n", "short-salt",
        "long-salt", "long-nonce", "other-kdf", "other-cipher"])
def test_encryption_header_parameters_are_bounded(tmp_path: Path, tensors, changes):
    """A crafted header cannot make graft allocate gigabytes for scrypt: refused up front."""
    path = tmp_path / "m.graft"
    archive.save(path, tensors, MANIFEST, key="s3cret")
    _rewrite_header(path, **changes)
    with pytest.raises(ArchiveError, match="has an encryption header with") as err:
        archive.load(path, key="s3cret")
    assert "\n" not in str(err.value)


def test_an_oversized_header_line_is_refused(tmp_path: Path, tensors):
    path = tmp_path / "m.graft"
    archive.save(path, tensors, MANIFEST, key="s3cret")
    _rewrite_header(path, padding="x" * 10_000)
    with pytest.raises(ArchiveError, match="corrupt encryption header"):
        archive.load(path, key="s3cret")


def test_an_edited_manifest_fails_the_integrity_check(tmp_path: Path, tensors):
    """Swapping two class names leaves the weights intact but relabels every prediction."""
    path = tmp_path / "m.graft"
    archive.save(path, tensors, MANIFEST)
    data = path.read_bytes()
    old, new = b'[\\"a\\", \\"b\\"]', b'[\\"b\\", \\"a\\"]'  # as escaped inside the header
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    assert archive.read_manifest(path)["classes"] == ["b", "a"]
    with pytest.raises(ArchiveError, match="weights or manifest were modified"):
        archive.load(path)


def test_format_1_files_still_load_and_newer_formats_are_refused(tmp_path: Path, tensors):
    import json

    from safetensors.torch import save

    def write(version: int, digest: str) -> Path:
        manifest = {**MANIFEST, "format_version": version, "content_hash": digest,
                    "encrypted": False}
        path = tmp_path / f"v{version}.graft"
        path.write_bytes(save(tensors, metadata={archive.MANIFEST_KEY: json.dumps(manifest)}))
        return path

    loaded, manifest = archive.load(write(1, archive.content_hash(tensors)))  # tensors only
    assert manifest["classes"] == ["a", "b"] and torch.equal(loaded["conv.weight"],
                                                             tensors["conv.weight"])
    with pytest.raises(ArchiveError, match="integrity check"):
        archive.load(write(2, archive.content_hash(tensors)))  # v2 must cover the manifest
    with pytest.raises(ArchiveError, match="newer graft"):
        archive.load(write(archive.FORMAT_VERSION + 1, "x"))
    stored = archive.save(tmp_path / "new.graft", tensors, MANIFEST)
    assert stored["format_version"] == archive.FORMAT_VERSION == 3
