"""``-m`` of the commands that run a model through the shared runner takes a Triton URL whole
(a Path would fold ``grpc://`` to ``grpc:/``); the commands that need a .graft keep a path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from graft import cli
from graft.cli_options import model_or_url
from graft.spec import load_spec

URL = "grpc://triton-host:8001/model/2"
RUNNER_COMMANDS = [("classification", "evaluate"), ("classification", "inference"),
                   ("detectnet_v2", "evaluate"), ("detectnet_v2", "inference"),
                   ("gesturenet", "evaluate"), ("gesturenet", "inference"),
                   ("bpnet", "evaluate"), ("bpnet", "inference")]


def parsed_model(task: str, command: str, value: str) -> Any:
    """The value the command's function receives for ``-m VALUE`` (the other required options
    given dummies; nothing runs)."""
    cli._mount()  # the task commands join the app on first use
    cmd = typer.main.get_command(cli.app).commands[task].commands[command]
    args = [a for p in cmd.params if p.required and "-m" not in p.opts for a in (p.opts[0], "x")]
    params = cmd.make_context(command, [*args, "-m", value]).params
    return params.get("model", params.get("model_filename"))


def test_urls_stay_whole_and_files_become_paths() -> None:
    assert model_or_url(URL) == URL
    assert model_or_url("http://h:8000/m") == "http://h:8000/m"
    assert model_or_url("runs/model.onnx") == Path("runs/model.onnx")
    assert model_or_url("grpc_model.graft") == Path("grpc_model.graft")


@pytest.mark.parametrize(("task", "command"), RUNNER_COMMANDS)
def test_runner_commands_pass_the_url_through(task: str, command: str) -> None:
    assert parsed_model(task, command, URL) == URL
    assert parsed_model(task, command, "m.onnx") == Path("m.onnx")


def test_an_unreachable_url_is_named_whole(capsys) -> None:
    from graft.deploy.triton_server import free_port

    url = f"grpc://127.0.0.1:{free_port()}/shapes"
    rc = cli.main(["classification", "inference", "-m", url, "-i", "none", "-r", "out"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach the Triton server" in err, err
    assert "127.0.0.1" in err and "grpc:/1" not in err


def test_bpnet_inference_spec_keeps_a_url_as_written(tmp_path) -> None:
    from graft.tasks.bpnet.spec import InferenceSpec

    spec = tmp_path / "infer.yaml"
    spec.write_text(f"model_path: {URL}\n")
    assert load_spec(spec, InferenceSpec, []).model_path == URL
    spec.write_text("model_path: model.onnx\n")
    assert Path(load_spec(spec, InferenceSpec, []).model_path) == tmp_path / "model.onnx"


def test_telling_a_url_from_a_file_loads_no_torch() -> None:
    # -m is parsed before the command runs: a spec typo must still fail fast, before torch
    import subprocess
    import sys

    code = ("import sys; from graft.cli_options import model_or_url; "
            "model_or_url('grpc://h:1/m'); model_or_url('m.onnx'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
