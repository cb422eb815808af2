import json

import pytest

from graft.catalog.index import CatalogIndex, ModelCard, card_from_manifest, parse_ref
from graft.errors import UserError

SHA = "ab" * 32


def _card(name="toy", version="1.0.0", **extra) -> ModelCard:
    return ModelCard(name=name, version=version, task="classification", architecture="resnet18",
                     sha256=SHA, size=10, file=f"models/{name}/{version}/m.graft", **extra)


@pytest.mark.parametrize(("ref", "expected"), [
    ("toy", ("toy", None)),
    ("toy:latest", ("toy", None)),
    ("catalog:toy:1.2.0", ("toy", "1.2.0")),
    ("catalog:resnet18_shapes.v2", ("resnet18_shapes.v2", None)),
])
def test_parse_ref(ref, expected):
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["../etc:1.0.0", "a/b", "toy:1.0", ":1.0.0"])
def test_parse_ref_rejects_bad_names_and_versions(ref):
    with pytest.raises(UserError):
        parse_ref(ref)


def test_card_from_manifest_takes_fields_from_the_manifest(manifest):
    card = card_from_manifest({**manifest, "encrypted": True}, name="toy", version="1.0.0",
                              sha256=SHA, size=123, file="models/toy/1.0.0/x.graft",
                              license="CC-BY-4.0")
    assert (card.task, card.architecture, card.dataset) == ("classification", "resnet18",
                                                           "shapes-synth")
    assert card.metrics == {"top1": 0.93, "loss": 0.21, "val.top5": 1.0}
    assert card.input_size == [3, 32, 32]
    assert (card.params, card.license, card.encrypted) == (16384, "CC-BY-4.0", True)
    assert card.classes == ["circle", "square"]


def test_find_latest_uses_semver_and_unknowns_say_what_exists():
    index = CatalogIndex()
    for version in ["1.2.0", "1.10.0", "2.0.0-rc.1"]:
        index = index.with_card(_card(version=version))
    assert index.find("toy").version == "1.10.0"
    assert [c.version for c in index.versions("toy")] == ["1.2.0", "1.10.0", "2.0.0-rc.1"]
    with pytest.raises(UserError, match=r"no version '3.0.0'.*available: 1.2.0, 1.10.0"):
        index.find("toy", "3.0.0")
    with pytest.raises(UserError, match="did you mean 'toy'"):
        index.find("tot")


def test_with_card_replaces_the_same_version():
    index = CatalogIndex().with_card(_card(description="old")).with_card(_card(description="new"))
    assert [c.description for c in index.models] == ["new"]


def test_index_rejects_paths_outside_the_catalog_and_bad_json():
    raw = {"models": [_card().model_dump(mode="json") | {"file": "../../etc/passwd"}]}
    with pytest.raises(UserError, match="not a valid catalog index: models.0.file"):
        CatalogIndex.parse(raw, "index.json")
    with pytest.raises(UserError, match="newer graft"):
        CatalogIndex.parse({"format_version": 99, "models": []}, "index.json")


def test_index_round_trips_unknown_card_fields():
    raw = {"models": [_card().model_dump(mode="json") | {"future_field": [1, 2]}]}
    again = CatalogIndex.parse(json.loads(json.dumps(raw)), "x").model_dump(mode="json")
    assert again["models"][0]["future_field"] == [1, 2]
