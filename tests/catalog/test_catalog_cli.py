"""``graft catalog ...`` through the root CLI: exit codes, one-line errors, --help examples."""

import json

import pytest


@pytest.mark.parametrize("command", ["list", "info", "pull", "push"])
def test_every_command_has_help_with_an_example(cli, command):
    code, out, _ = cli(command, "--help")
    assert code == 0 and "Example: graft catalog" in out


def test_help_names_the_default_catalog(cli):
    code, out, _ = cli("list", "--help")
    assert code == 0 and "GRAFT_CATALOG" in out and "~/.cache/graft/catalog" in out


def test_push_list_info_pull_round_trip(cli, http_catalog, tmp_path, model_file):
    root, url = str(http_catalog.root), http_catalog.url
    code, out, _ = cli("push", str(model_file), "--name", "toy", "--version", "1.0.0",
                       "--catalog", root, "--license", "CC-BY-4.0")
    assert code == 0 and "pushed toy:1.0.0" in out
    assert cli("push", str(model_file), "-n", "toy", "--version", "1.2.0", "-c", root)[0] == 0

    code, out, _ = cli("list", "--catalog", url, "--json")
    assert code == 0
    assert [(c["name"], c["version"]) for c in json.loads(out)] == [("toy", "1.2.0")]
    code, out, _ = cli("list", "--catalog", url, "--json", "--all")
    assert [c["version"] for c in json.loads(out)] == ["1.0.0", "1.2.0"]
    code, out, _ = cli("list", "--catalog", url)
    assert code == 0 and "toy" in out and "1.2.0" in out

    code, out, _ = cli("info", "toy:1.0.0", "--catalog", url, "--json")
    card = json.loads(out)
    assert card["license"] == "CC-BY-4.0" and card["versions"] == ["1.0.0", "1.2.0"]
    assert card["input_size"] == [3, 32, 32] and card["params"] == 16384
    code, out, _ = cli("info", "toy", "--catalog", url)
    assert code == 0 and "1.2.0 (latest)" in out and "resnet18" in out

    code, out, _ = cli("pull", "toy", "-o", str(tmp_path / "out"), "--catalog", url, "-q")
    assert code == 0 and "pulled toy:1.2.0" in out
    assert (tmp_path / "out" / "toy-1.2.0.graft").read_bytes() == model_file.read_bytes()
    code, out, _ = cli("pull", "toy", "-o", str(tmp_path / "out"), "--catalog", url, "-q")
    assert code == 0 and "already up to date" in out


def test_errors_are_one_line_with_exit_code_2(cli, http_catalog, tmp_path, model_file):
    root, url = str(http_catalog.root), http_catalog.url
    cli("push", str(model_file), "--name", "toy", "--version", "1.0.0", "-c", root)

    code, _, err = cli("push", str(model_file), "--name", "toy", "--version", "1.0.0", "-c", root)
    assert code == 2 and "--force" in err
    assert cli("push", str(model_file), "--name", "toy", "--version", "1.0.0", "-c", root,
               "--force")[0] == 0

    for args, expected in [
        (("info", "nope", "-c", url), "no model named 'nope'"),
        (("info", "toy:2.0.0", "-c", url), "available: 1.0.0"),
        (("info", "toy:2.0", "-c", url), "not a semantic version"),
        (("list", "-c", url + "missing/"), "HTTP 404"),
    ]:
        code, _, err = cli(*args)
        assert code == 2, args
        assert expected in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err

    blob = next(http_catalog.root.rglob("*.graft"))
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    code, _, err = cli("pull", "toy", "-o", str(tmp_path / "out"), "-c", url, "-q")
    assert code == 2 and "checksum mismatch" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_catalog_location_comes_from_the_environment(cli, http_catalog, model_file,
                                                     monkeypatch, tmp_path):
    code, _, err = cli("list")
    assert code == 2 and "GRAFT_CATALOG" in err and str(tmp_path / "graft-cache") in err

    monkeypatch.setenv("GRAFT_CATALOG", str(http_catalog.root))
    assert cli("push", str(model_file), "--name", "toy", "--version", "0.1.0")[0] == 0
    monkeypatch.setenv("GRAFT_CATALOG", http_catalog.url)
    code, out, _ = cli("list", "--json")
    assert code == 0 and json.loads(out)[0]["version"] == "0.1.0"


def test_push_reads_the_key_from_graft_key(cli, tmp_path, make_graft, monkeypatch) -> None:
    model = make_graft(tmp_path / "enc.graft", numel=8, key="s3cret")
    monkeypatch.setenv("GRAFT_KEY", "s3cret")
    code, out, err = cli("push", str(model), "--name", "enc", "--version", "1.0.0",
                         "-c", str(tmp_path / "cat"))
    assert code == 0, err
    assert "pushed enc:1.0.0" in out
