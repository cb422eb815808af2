"""Pulling over HTTP from a catalog served on the loopback interface."""

import hashlib
import json

import pytest

from graft import catalog
from graft.catalog.download import partial_path
from graft.catalog.index import CatalogIndex
from graft.errors import UserError


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def served(http_catalog, model_file):
    """The loopback catalog holding toy:1.0.0 (the 64 KiB model)."""
    card = catalog.push(model_file, "toy", "1.0.0", http_catalog.root)
    return http_catalog, card


def test_pull_over_http_verifies_and_saves(served, tmp_path, model_file):
    server, card = served
    path, pulled, downloaded = catalog.pull("toy", tmp_path / "out", catalog=server.url,
                                            progress=False)
    assert downloaded and pulled == card
    assert path.read_bytes() == model_file.read_bytes()
    assert _files(tmp_path / "out") == ["toy-1.0.0.card.json", "toy-1.0.0.graft"]


def test_latest_is_the_highest_semantic_version(http_catalog, tmp_path, make_graft):
    for i, version in enumerate(["1.2.0", "1.10.0", "1.9.0", "2.0.0-rc.1"]):
        model = make_graft(tmp_path / f"m{i}.graft", fill=float(i), numel=4)
        catalog.push(model, "toy", version, http_catalog.root)
    path, card, _ = catalog.pull("toy:latest", tmp_path / "out", catalog=http_catalog.url,
                                 progress=False)
    assert card.version == "1.10.0" and path.name == "toy-1.10.0.graft"
    _, pre, _ = catalog.pull("toy:2.0.0-rc.1", tmp_path / "out", catalog=http_catalog.url,
                             progress=False)
    assert pre.version == "2.0.0-rc.1"


def test_corrupt_file_is_refused_and_nothing_is_left(served, tmp_path):
    server, card = served
    blob = server.root / card.file
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    blob.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(UserError, match="checksum mismatch for toy:1.0.0.*nothing was saved"):
        catalog.pull("toy", out, catalog=server.url, progress=False)
    assert _files(out) == []


def test_truncated_file_on_the_server_is_refused(served, tmp_path):
    server, card = served
    blob = server.root / card.file
    blob.write_bytes(blob.read_bytes()[:1000])
    out = tmp_path / "out"
    with pytest.raises(UserError, match="has 1000 bytes but its card says"):
        catalog.pull("toy", out, catalog=server.url, progress=False)
    assert _files(out) == []


def test_interrupted_pull_resumes_with_a_range_request(served, tmp_path, model_file):
    server, card = served
    out = tmp_path / "out"
    server.state.drop_after = 20_000  # the connection dies after 20 kB of the model file
    with pytest.raises(UserError, match="rerun the same command to resume"):
        catalog.pull("toy", out, catalog=server.url, progress=False)
    part = partial_path(out / card.filename, card)
    assert _files(out) == [part.name] and part.stat().st_size == 20_000
    assert not (out / card.filename).exists()

    path, _, _ = catalog.pull("toy", out, catalog=server.url, progress=False)
    assert path.read_bytes() == model_file.read_bytes()
    model_requests = [r for r in server.state.requests if r[0].endswith(".graft")]
    assert model_requests[-1][1] == "bytes=20000-"
    assert server.state.bytes_sent[-1] == card.size - 20_000, "only the rest was sent"
    assert _files(out) == ["toy-1.0.0.card.json", "toy-1.0.0.graft"]


def test_resume_falls_back_to_a_full_download_without_range_support(served, tmp_path,
                                                                    model_file):
    server, card = served
    server.state.honour_range = False
    out = tmp_path / "out"
    out.mkdir()
    partial_path(out / card.filename, card).write_bytes(model_file.read_bytes()[:5000])
    path, _, _ = catalog.pull("toy", out, catalog=server.url, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card.sha256
    assert server.state.bytes_sent[-1] == card.size


def test_corrupt_tail_after_a_resume_is_refused(served, tmp_path, model_file):
    server, card = served
    out = tmp_path / "out"
    server.state.drop_after = 20_000
    with pytest.raises(UserError, match="resume"):
        catalog.pull("toy", out, catalog=server.url, progress=False)
    blob = server.root / card.file
    data = blob.read_bytes()
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # corrupt a byte not yet pulled
    with pytest.raises(UserError, match="checksum mismatch"):
        catalog.pull("toy", out, catalog=server.url, progress=False)
    assert _files(out) == []


def test_http_errors_are_user_errors(served, tmp_path):
    server, card = served
    with pytest.raises(UserError, match="no model named 'toys'.*did you mean 'toy'"):
        catalog.pull("toys", tmp_path / "out", catalog=server.url, progress=False)
    with pytest.raises(UserError, match=r"no version '9.9.9'.*available: 1.0.0"):
        catalog.pull("toy:9.9.9", tmp_path / "out", catalog=server.url, progress=False)
    with pytest.raises(UserError, match="no catalog at .*HTTP 404"):
        catalog.open_catalog(server.url + "elsewhere/").read_index()
    (server.root / card.file).unlink()
    with pytest.raises(UserError, match="HTTP 404"):
        catalog.pull("toy", tmp_path / "out", catalog=server.url, progress=False)
    assert _files(tmp_path / "out") == []


def test_unreachable_server_and_bad_index(http_catalog, tmp_path):
    (http_catalog.root / "index.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        catalog.open_catalog(http_catalog.url).read_index()
    (http_catalog.root / "index.json").write_text(json.dumps({"models": [{"name": "x"}]}))
    with pytest.raises(UserError, match="not a valid catalog index"):
        catalog.open_catalog(http_catalog.url).read_index()
    with pytest.raises(catalog.CatalogUnreachable, match="cannot reach"):
        catalog.open_catalog("http://127.0.0.1:1/").read_index()
    assert CatalogIndex().models == []


def test_plain_http_catalogs_get_a_warning_once(capsys) -> None:
    from graft.catalog.sources import open_catalog

    open_catalog("http://models.example.org/graft")
    open_catalog("http://models.example.org/graft")
    err = capsys.readouterr().err
    assert err.count("is plain HTTP") == 1 and "https://" in err
    for quiet in ("https://models.example.org/graft", "http://127.0.0.1:8000/",
                  "http://localhost/cat"):
        open_catalog(quiet)
    assert "plain HTTP" not in capsys.readouterr().err
