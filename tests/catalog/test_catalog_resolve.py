"""graft.catalog.resolve: what ``pretrained_weights: catalog:NAME[:VERSION]`` uses."""

import pytest

from graft import catalog

OFFLINE = "http://127.0.0.1:1/"  # nothing listens on port 1


def _model_gets(server):
    return [r for r in server.state.requests if r[0].endswith(".graft")]


def test_resolve_pulls_once_into_the_cache(http_catalog, tmp_path, model_file):
    card = catalog.push(model_file, "toy", "1.0.0", http_catalog.root)
    cache = tmp_path / "cache"
    path = catalog.resolve("catalog:toy", catalog=http_catalog.url, cache_dir=cache,
                           progress=False)
    assert path == cache / "toy" / "1.0.0" / "toy-1.0.0.graft"
    assert path.read_bytes() == model_file.read_bytes()
    again = catalog.resolve("toy:1.0.0", catalog=http_catalog.url, cache_dir=cache,
                            progress=False)
    assert again == path and len(_model_gets(http_catalog)) == 1

    path.write_bytes(b"damaged")  # a damaged cached copy is replaced, not used
    catalog.resolve("toy", catalog=http_catalog.url, cache_dir=cache, progress=False)
    assert path.stat().st_size == card.size and len(_model_gets(http_catalog)) == 2


def test_resolve_defaults_to_env_catalog_and_graft_cache(http_catalog, tmp_path, model_file,
                                                         monkeypatch):
    catalog.push(model_file, "toy", "1.0.0", http_catalog.root)
    monkeypatch.setenv("GRAFT_CATALOG", http_catalog.url)
    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path / "gc"))
    expected = tmp_path / "gc/models/toy/1.0.0/toy-1.0.0.graft"
    assert catalog.resolve("toy", progress=False) == expected


def test_resolve_uses_a_verified_cached_copy_when_offline(http_catalog, tmp_path, model_file,
                                                          make_graft, capsys):
    catalog.push(model_file, "toy", "1.0.0", http_catalog.root)
    catalog.push(make_graft(tmp_path / "b.graft", fill=2.0), "toy", "1.1.0", http_catalog.root)
    cache = tmp_path / "cache"
    for ref in ("toy:1.0.0", "toy:1.1.0"):
        catalog.resolve(ref, catalog=http_catalog.url, cache_dir=cache, progress=False)

    path = catalog.resolve("toy:1.0.0", catalog=OFFLINE, cache_dir=cache, progress=False)
    assert path.name == "toy-1.0.0.graft"
    assert "using the cached toy:1.0.0" in capsys.readouterr().err
    assert catalog.resolve("toy", catalog=OFFLINE, cache_dir=cache).name == "toy-1.1.0.graft"
    with pytest.raises(catalog.CatalogUnreachable):
        catalog.resolve("toy:2.0.0", catalog=OFFLINE, cache_dir=cache)
    (cache / "toy/1.1.0/toy-1.1.0.graft").write_bytes(b"damaged")
    with pytest.raises(catalog.CatalogUnreachable):
        catalog.resolve("toy:1.1.0", catalog=OFFLINE, cache_dir=cache)


def test_resolved_file_loads_with_the_archive_reader(http_catalog, tmp_path, model_file):
    from graft import archive

    catalog.push(model_file, "toy", "1.0.0", http_catalog.root)
    path = catalog.resolve("toy", catalog=http_catalog.url, cache_dir=tmp_path / "c",
                           progress=False)
    tensors, manifest = archive.load(path)
    assert tensors["w"].numel() == 16384 and manifest["task"] == "classification"


def test_concurrent_resolves_download_once(http_catalog, tmp_path, model_file):
    """Every DDP rank resolves the same weights at once: one download, all get a good file."""
    from concurrent.futures import ThreadPoolExecutor

    catalog.push(model_file, "toy", "1.0.0", http_catalog.root)

    def resolve(_):
        return catalog.resolve("toy", catalog=http_catalog.url, cache_dir=tmp_path / "cache",
                               progress=False)

    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(resolve, range(4)))
    (path,) = paths
    assert path.read_bytes() == model_file.read_bytes()
    assert len(_model_gets(http_catalog)) == 1
