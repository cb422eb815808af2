"""Issue 17: specs a user can write without reading the source.

``graft TASK spec`` prints every section and key (type, default, allowed values, meaning) as
YAML to start from; ``docs/specs/TASK.md`` is generated from the same walk and must match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import Field

from graft import docs_gen, tasks
from graft.cli import main
from graft.spec import SpecPath, StrictModel
from graft.spec_doc import REQUIRED, fields, spec_markdown, spec_yaml, undocumented, walk

REPO = Path(__file__).resolve().parents[1]
SPECS = [(name, kind) for name in tasks.available()
         for kind in tasks.get(name).spec_models()]
# The least each spec needs besides its defaults (its REQUIRED keys, filled in).
MINIMAL = {
    ("classification", "train"): {"data": {"train_dir": "images"}},
    ("gesturenet", "train"): {"data": {"train_file": "train.json"}},
    ("bpnet", "train"): {"dataloader": {"dataset_config": {"dataset_spec": "data.json"}}},
    ("detectnet_v2", "train"): {"dataset_config": {
        "data_sources": [{"image_directory_path": "images", "label_directory_path": "labels"}],
        "target_class_mapping": {"car": "car"}}},
    ("mask_rcnn", "train"): {"data_config": {"train_annotations": "train.json",
                                             "train_images": "images"}},
    ("bpnet", "dataset"): {"test_data": {"images_root_dir_path": "images", "mask_root_dir_path":
                                         "masks", "annotation_root_dir_path": "test.json"}},
}


def model_of(name: str, kind: str):
    return tasks.get(name).spec_models()[kind]


def merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


@pytest.mark.parametrize(("name", "kind"), SPECS)
def test_every_field_is_documented(name, kind):
    assert undocumented(model_of(name, kind)) == []


@pytest.mark.parametrize(("name", "kind"), SPECS)
def test_the_printed_spec_is_every_default_with_each_key_explained(name, kind):
    model = model_of(name, kind)
    text = spec_yaml(model, "title")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("#"):  # every key sits under its explanation
            assert i > 0 and lines[i - 1].lstrip().startswith("# "), line
    for _, _, docs in walk(model):
        for f in docs:
            assert f"{f.key}:" in text, f.path
    minimal = MINIMAL.get((name, kind), {})
    template = yaml.safe_load(text) or {}
    assert model.model_validate(merged(template, minimal)) == model.model_validate(minimal)


def test_the_walker_reads_types_defaults_choices_and_bounds():
    class Inner(StrictModel):
        """An inner section."""

        size: int = Field(3, ge=1, lt=9, description="how big")

    class Outer(StrictModel):
        """The top."""

        mode: Literal["a", "b"] = Field("a", description="which")
        where: SpecPath = Field(description="a folder")
        maybe: Inner | None = Field(None, description="optional section")
        items: list[Inner] = Field(default_factory=list, description="repeated section")
        fixed: Inner = Field(default_factory=Inner)
        key_: float | None = Field(None, alias="key", description="aliased")

    docs = {f.key: f for f in fields(Outer)}
    assert docs["mode"].allowed == ("a", "b") and docs["mode"].default == "a"
    assert docs["where"].type == "path" and docs["where"].default is REQUIRED
    assert docs["maybe"].section is Inner and docs["maybe"].optional_section
    assert docs["items"].container == "list" and docs["items"].default == []
    assert docs["fixed"].description == "An inner section." and docs["fixed"].default == {
        "size": 3}
    assert docs["key"].type == "float or null"
    inner = fields(Inner)[0]
    assert (inner.type, inner.bounds) == ("int", ">= 1, < 9")
    text = spec_yaml(Outer, "t")
    assert "where:" in text and "REQUIRED" in text and "# maybe:" in text
    loaded = yaml.safe_load(text)
    assert loaded["maybe"] is None and loaded["fixed"] == {"size": 3} and loaded["key"] is None
    assert Outer.model_validate({**loaded, "where": "x"}).fixed.size == 3
    md = spec_markdown(Outer, "Outer")
    assert "### `maybe`" in md and "### `items[]`" in md and "| `size` | int; >= 1, < 9 |" in md


def test_the_docs_match_the_models():
    assert docs_gen.main(["--check", "--out", str(REPO / "docs" / "specs")]) == 0, \
        "run: python -m graft.docs_gen"
    assert sorted(p.name for p in (REPO / "docs" / "specs").glob("*.md")) == sorted(
        docs_gen.references())


def test_docs_gen_writes_what_check_compares(tmp_path, capsys):
    assert docs_gen.main(["--check", "--out", str(tmp_path)]) == 1
    assert docs_gen.main(["--out", str(tmp_path)]) == 0
    assert docs_gen.main(["--check", "--out", str(tmp_path)]) == 0
    capsys.readouterr()


def test_spec_command(tmp_path, capsys):
    assert main(["classification", "spec"]) == 0
    out = capsys.readouterr().out
    assert out == spec_yaml(model_of("classification", "train"),
                            "graft classification train spec")
    target = tmp_path / "train.yaml"
    assert main(["bpnet", "spec", "inference", "-o", str(target)]) == 0
    assert yaml.safe_load(target.read_text())["keep_aspect_ratio_mode"] == "adjust_network_input"
    capsys.readouterr()
    assert main(["bpnet", "spec", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no 'nope' spec" in err and "inference" in err
