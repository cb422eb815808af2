import json

import pytest

from graft import catalog
from graft.catalog.index import CatalogIndex
from graft.errors import UserError


def _index(root) -> CatalogIndex:
    return CatalogIndex.parse(json.loads((root / "index.json").read_text()), "index.json")


def test_push_writes_file_card_and_index(tmp_path, model_file):
    root = tmp_path / "cat"
    card = catalog.push(model_file, "toy", "1.0.0", root, license="CC-BY-4.0")
    assert (root / card.file).read_bytes() == model_file.read_bytes()
    assert json.loads((root / "models/toy/1.0.0/card.json").read_text()) == card.model_dump(
        mode="json")
    assert _index(root).find("toy") == card
    assert (card.task, card.architecture, card.license) == ("classification", "resnet18",
                                                           "CC-BY-4.0")
    assert card.size == model_file.stat().st_size
    # no temporary files left behind by the atomic writes
    assert not [p for p in root.rglob("*.tmp")]
    # a web server running as another user can read what was published
    for path in (root / card.file, root / "models/toy/1.0.0/card.json", root / "index.json"):
        assert path.stat().st_mode & 0o044 == 0o044, path


def test_existing_version_is_refused_unless_forced(tmp_path, model_file, make_graft):
    root = tmp_path / "cat"
    first = catalog.push(model_file, "toy", "1.0.0", root)
    other = make_graft(tmp_path / "other.graft", fill=1.0)
    with pytest.raises(UserError, match="already in the catalog.*--force"):
        catalog.push(other, "toy", "1.0.0", root)
    assert _index(root).find("toy", "1.0.0").sha256 == first.sha256
    second = catalog.push(other, "toy", "1.0.0", root, force=True)
    assert second.sha256 != first.sha256
    assert len(_index(root).models) == 1
    assert not (root / first.file).exists(), "the replaced model file is cleaned up"
    assert (root / second.file).read_bytes() == other.read_bytes()


def test_push_encrypted_model_needs_its_key(tmp_path, make_graft):
    model = make_graft(tmp_path / "enc.graft", numel=8, key="s3cret")
    with pytest.raises(UserError, match="-k"):
        catalog.push(model, "enc", "1.0.0", tmp_path / "cat")
    assert not (tmp_path / "cat" / "index.json").exists()
    card = catalog.push(model, "enc", "1.0.0", tmp_path / "cat", key="s3cret")
    assert card.encrypted and card.task == "classification"


def test_push_refuses_bad_inputs(tmp_path, model_file):
    with pytest.raises(UserError, match="not a URL"):
        catalog.push(model_file, "toy", "1.0.0", "http://127.0.0.1:9/")
    with pytest.raises(UserError, match="not a semantic version"):
        catalog.push(model_file, "toy", "1.0", tmp_path / "cat")
    with pytest.raises(UserError, match="not found"):
        catalog.push(tmp_path / "missing.graft", "toy", "1.0.0", tmp_path / "cat")
    junk = tmp_path / "junk.graft"
    junk.write_bytes(b"not a model")
    with pytest.raises(UserError, match="not a .graft model"):
        catalog.push(junk, "toy", "1.0.0", tmp_path / "cat")
    assert not (tmp_path / "cat" / "index.json").exists()


def test_pull_from_a_local_directory(tmp_path, model_file):
    root = tmp_path / "cat"
    catalog.push(model_file, "toy", "1.0.0", root)
    path, card, downloaded = catalog.pull("toy", tmp_path / "out", catalog=str(root),
                                          progress=False)
    assert downloaded and path.name == "toy-1.0.0.graft"
    assert path.read_bytes() == model_file.read_bytes()
    assert (tmp_path / "out" / "toy-1.0.0.card.json").is_file()
    _, _, again = catalog.pull("toy:1.0.0", tmp_path / "out", catalog=f"file://{root}",
                               progress=False)
    assert not again, "a verified existing copy is not downloaded twice"


def test_published_model_and_card_carry_no_absolute_local_paths(tmp_path, make_graft, capsys):
    from graft import archive

    spec = {"dataset": {"train_dir": "/home/alice/data/shapes/train", "val_dir": "data/val",
                        "cache": "~/cache/shapes", "win": "C:\\Users\\alice\\shapes"},
            "model": {"pretrained_weights": "file:///home/alice/base.graft"},
            "results": ["/srv/runs/exp1", "runs/exp2"]}
    local = make_graft(tmp_path / "m.graft", spec=spec, dataset="/home/alice/data/shapes",
                       classes=["/m/01g317", "/m/0k4j"], key="s3cret")
    root = tmp_path / "cat"
    card = catalog.push(local, "toy", "1.0.0", root, key="s3cret")
    assert "published without 6 local paths" in capsys.readouterr().err
    _, published = archive.load(root / card.file, key="s3cret")  # still encrypted, still sound
    assert published["spec"] == {
        "dataset": {"train_dir": "train", "val_dir": "data/val", "cache": "shapes",
                    "win": "shapes"},
        "model": {"pretrained_weights": "base.graft"},
        "results": ["exp1", "runs/exp2"]}
    assert published["classes"] == ["/m/01g317", "/m/0k4j"]  # class ids are not paths
    assert card.dataset == "shapes" and card.classes == ["/m/01g317", "/m/0k4j"]
    published_bytes = (root / card.file).read_bytes()
    assert b"alice" not in (root / "index.json").read_bytes()
    assert card.sha256 == __import__("hashlib").sha256(published_bytes).hexdigest()
    pulled, _, _ = catalog.pull("toy", tmp_path / "out", catalog=str(root), progress=False)
    assert archive.load(pulled, key="s3cret")[1]["spec"]["results"] == ["exp1", "runs/exp2"]
