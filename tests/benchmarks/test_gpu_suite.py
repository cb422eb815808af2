"""The GPU suite's driver: its list, one real quick benchmark, and keeping going on failure."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", ROOT / "benchmarks/gpu_suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_suite"] = module
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_exists_and_fits_the_time(suite):
    names = [b.name for b in suite.SUITE]
    assert len(names) == len(set(names))
    assert len(names) + 1 <= 8  # one JSON each and the summary: what a device run returns
    assert sum(b.timeout_s for b in suite.SUITE) < 9 * 60
    for b in suite.SUITE:
        assert (ROOT / "benchmarks" / b.script).is_file(), b.script
        cmd = suite.command(b, "cpu", True, Path("x.json"))
        assert cmd[cmd.index("--device") + 1] == "cpu" and cmd[-2:] == ["--json", "x.json"]


def test_list_and_only(suite, capsys):
    assert suite.main(["out", "--list", "--quick", "--device", "cpu",
                       "--only", "gaussrank,bpnet_decoder"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["gaussrank", "bpnet_decoder"]
    assert "--sizes 1e3 1e4" in lines[0]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        suite.select("gaussrank,nope")


def test_failures_are_recorded_and_the_rest_still_runs(suite, tmp_path, monkeypatch):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "fails.py").write_text("raise SystemExit('broken on purpose')\n")
    (bench_dir / "slow.py").write_text("import time\ntime.sleep(30)\n")
    (bench_dir / "works.py").write_text(
        "import sys, json\nopen(sys.argv[sys.argv.index('--json') + 1], 'w')"
        ".write(json.dumps({'device': sys.argv[sys.argv.index('--device') + 1]}))\n")
    monkeypatch.setattr(suite, "HERE", bench_dir)
    monkeypatch.setattr(suite, "SUITE", (
        suite.Bench("fails", "fails.py", "", "", 30),
        suite.Bench("slow", "slow.py", "", "", 1),
        suite.Bench("works", "works.py", "--full", "", 30)))
    out = tmp_path / "out"
    assert suite.main([str(out), "--device", "cpu", "--quick"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    status = {r["name"]: r["status"] for r in summary["benchmarks"]}
    assert status == {"fails": "failed", "slow": "timeout", "works": "ok"}
    assert "broken on purpose" in summary["benchmarks"][0]["output_tail"]
    assert json.loads((out / "works.json").read_text()) == {"device": "cpu"}
    assert suite.main([str(out), "--device", "cpu", "--quick", "--only", "works"]) == 0
    rerun = json.loads((out / "summary.json").read_text())["benchmarks"]
    assert [(r["name"], r["status"]) for r in rerun] == [
        ("fails", "failed"), ("slow", "timeout"), ("works", "ok")]


@pytest.mark.slow
def test_one_quick_benchmark_writes_its_json(suite, tmp_path):
    bench = next(b for b in suite.SUITE if b.name == "gaussrank")
    result = suite.run_one(bench, "cpu", True, tmp_path, timeout_s=300)
    assert result["status"] == "ok", result["output_tail"]
    assert json.loads((tmp_path / "gaussrank.json").read_text())
