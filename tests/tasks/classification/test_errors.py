"""Bad input -> one line naming the problem, exit code 2, no traceback."""

import shutil

import yaml

from graft.cli import main


def run_err(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_spec_typo(capsys, spec_file, tmp_path):
    data = yaml.safe_load(spec_file.read_text())
    data["data"]["batchsize"] = 4
    spec_file.write_text(yaml.safe_dump(data))
    err = run_err(
        capsys, ["classification", "train", "-e", str(spec_file), "-r", str(tmp_path / "r")]
    )
    assert "did you mean 'data.batch_size'" in err


def test_missing_and_empty_dataset(capsys, spec_file, tmp_path):
    err = run_err(
        capsys,
        [
            "classification",
            "train",
            "-e",
            str(spec_file),
            "-r",
            str(tmp_path / "r"),
            "--set",
            f"data.train_dir={tmp_path / 'nowhere'}",
        ],
    )
    assert "train directory not found" in err
    (tmp_path / "empty" / "a").mkdir(parents=True)
    err = run_err(
        capsys,
        [
            "classification",
            "train",
            "-e",
            str(spec_file),
            "-r",
            str(tmp_path / "r"),
            "--set",
            f"data.train_dir={tmp_path / 'empty'}",
        ],
    )
    assert "no images" in err


def test_corrupt_image(capsys, spec_file, shapes_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(shapes_dir, bad)
    victim = sorted((bad / "train" / "circle").iterdir())[0]
    victim.write_bytes(b"\xff\xd8\xff garbage")
    err = run_err(
        capsys,
        [
            "classification",
            "train",
            "-e",
            str(spec_file),
            "-r",
            str(tmp_path / "r"),
            "--set",
            f"data.train_dir={bad / 'train'}",
            "--set",
            "trainer.epochs=1",
        ],
    )
    assert "corrupt or unsupported image" in err and victim.name in err


def test_missing_model_and_bad_task(capsys, spec_file, tmp_path):
    err = run_err(
        capsys,
        ["classification", "evaluate", "-e", str(spec_file), "-m", str(tmp_path / "none.graft")],
    )
    assert "model file not found" in err
