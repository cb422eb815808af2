"""A sweep of bad inputs and faults across graft's commands, each run as a new user would.

Every case runs ``python -m graft.cli ...`` in a subprocess on a small generated workspace
(two tiny trained models, a classification and a pose dataset) and its outcome is classified:

- ``clean``: exit 2, one line on stderr, no traceback, and nothing damaged;
- ``usage``: exit 2 with the command-line parser's usage message (a wrong flag value);
- ``traceback``: a Python traceback anywhere in the output;
- ``exit0``: the bad input was accepted (exit 0);
- ``damaged``: the case's check found something written or overwritten that must not be;
- ``unclear``: any other exit code, or a message of several lines.

    python benchmarks/bad_input_sweep.py                 # prints one line per case and counts
    python benchmarks/bad_input_sweep.py --json out.json --only spec,output
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Check = Callable[[Path], "str | None"]  # the workspace -> a problem, or None


@dataclass
class Case:
    name: str
    group: str
    argv: list[str]
    prepare: Callable[[Path], None] | None = None
    check: Check | None = None


def graft(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("GRAFT_KEY", None)
    return subprocess.run([sys.executable, "-m", "graft.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _must(args: list[str], cwd: Path) -> None:
    r = graft(args, cwd)
    if r.returncode != 0:
        raise SystemExit(f"setup failed: graft {' '.join(args)}\n{r.stdout}\n{r.stderr}")


def _yaml(path: Path, text: str) -> None:
    path.write_text(text.strip() + "\n")


CLS_SPEC = """
model: {arch: resnet10, input_size: [32, 32]}
data: {train_dir: shapes/train, val_dir: shapes/val, batch_size: 4, workers: 0}
optimizer: {name: adam}
lr_schedule: {name: constant, learning_rate: 0.001}
trainer: {epochs: 1, seed: 1, channels_last: false}
"""
BP_SPEC = """
trainer: {epochs: 1, precision: '32', channels_last: false}
dataloader:
  batch_size: 2
  workers: 0
  image_config: {image_dims: {height: 64, width: 64}}
  dataset_config: {dataset_spec: pose/dataset_spec.json}
model: {backbone: mobilenet_v2, stages: 2}
optimizer: {name: sgd, momentum: 0.9}
lr_schedule: {name: constant, learning_rate: 1.0e-6}
"""


def setup(ws: Path) -> None:
    """Generated data, two one-epoch models, and the odd files the cases point at."""
    _must(["synth", "classification", "-o", "shapes", "--classes", "2", "--per-class", "6",
           "--size", "32"], ws)
    _must(["synth", "pose", "-o", "pose", "--images", "6", "--size", "64x64",
           "--max_persons", "1"], ws)
    _yaml(ws / "cls.yaml", CLS_SPEC)
    _yaml(ws / "bp.yaml", BP_SPEC)
    _yaml(ws / "infer.yaml", "input_shape: [64, 64]\nkeep_aspect_ratio_mode: pad_image_input")
    _must(["classification", "train", "-e", "cls.yaml", "-r", "cls_res", "--accelerator", "cpu"],
          ws)
    _must(["bpnet", "train", "-e", "bp.yaml", "-r", "bp_res", "--accelerator", "cpu"], ws)
    (ws / "afile").write_text("just a file\n")
    model = (ws / "cls_res" / "model.graft").read_bytes()
    (ws / "trunc.graft").write_bytes(model[: len(model) // 2])
    (ws / "emptydir").mkdir()
    (ws / "zero").mkdir()
    (ws / "zero" / "a.jpg").write_bytes(b"")
    (ws / "table.csv").write_text("a,b\n1,2\n3,4\n5,7\n")
    (ws / "kitti" / "images").mkdir(parents=True)
    (ws / "kitti" / "labels").mkdir()
    src = next((ws / "shapes" / "val" / "circle").iterdir())
    (ws / "kitti" / "images" / "0.jpg").write_bytes(src.read_bytes())
    (ws / "kitti" / "labels" / "0.txt").write_text(
        "car 0.00 0 0.00 1.00 1.00 20.00 20.00 0.00 0.00 0.00 0.00 0.00 0.00 0.00\n")
    code = ("import graft, sys; graft.load(sys.argv[1]).save(sys.argv[2], key='right-key')")
    subprocess.run([sys.executable, "-c", code, "cls_res/model.graft", "enc.graft"], cwd=ws,
                   check=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unchanged_file(rel: str) -> tuple[Callable[[Path], None], Check]:
    """A prepare/check pair: the file must keep its bytes."""
    seen: dict[str, str] = {}

    def prepare(ws: Path) -> None:
        seen["h"] = _digest(ws / rel)

    def check(ws: Path) -> str | None:
        return None if _digest(ws / rel) == seen["h"] else f"{rel} was overwritten"

    return prepare, check


def unchanged_tree(rel: str, seed: Callable[[Path], None] | None = None
                   ) -> tuple[Callable[[Path], None], Check]:
    """A prepare/check pair: the folder's list of files must not change."""
    seen: dict[str, list[str]] = {}

    def listing(ws: Path) -> list[str]:
        return sorted(str(p.relative_to(ws / rel)) for p in (ws / rel).rglob("*"))

    def prepare(ws: Path) -> None:
        if seed:
            seed(ws)
        seen["files"] = listing(ws)

    def check(ws: Path) -> str | None:
        return None if listing(ws) == seen["files"] else f"files changed in {rel}"

    return prepare, check


def _nonempty(rel: str) -> Callable[[Path], None]:
    def seed(ws: Path) -> None:
        (ws / rel).mkdir(parents=True, exist_ok=True)
        (ws / rel / "keep.txt").write_text("mine\n")
    return seed


def _spec_variant(name: str, text: str) -> Callable[[Path], None]:
    def prepare(ws: Path) -> None:
        (ws / name).write_text(text)
    return prepare


def cases() -> list[Case]:
    tr = ["classification", "train", "-e", "cls.yaml", "--accelerator", "cpu"]
    ev = ["classification", "evaluate", "-e", "cls.yaml", "-m", "cls_res/model.graft"]
    inf = ["classification", "inference", "-m", "cls_res/model.graft", "-i", "shapes/val"]
    bp_ev = ["bpnet", "evaluate", "--inference_spec", "infer.yaml", "-m", "bp_res/model.graft",
             "--dataset_spec", "pose/dataset_spec.json"]
    bp_inf = ["bpnet", "inference", "--inference_spec", "infer.yaml", "-m", "bp_res/model.graft",
              "--input_type", "dir"]
    out: list[Case] = []

    def add(name: str, group: str, argv: list[str], pair=None, prepare=None, check=None):
        if pair is not None:
            prepare, check = pair
        out.append(Case(name, group, argv, prepare, check))

    typo = CLS_SPEC.replace("batch_size: 4", "batchsize: 4")
    add("spec_typo", "spec", ["classification", "train", "-e", "typo.yaml", "-r", "r1"],
        prepare=_spec_variant("typo.yaml", typo))
    add("spec_missing", "spec", ["classification", "train", "-e", "nope.yaml", "-r", "r1"])
    add("spec_duplicate_key", "spec", ["classification", "train", "-e", "dup.yaml", "-r", "r1"],
        prepare=_spec_variant("dup.yaml", CLS_SPEC + "trainer: {epochs: 3}\n"))
    add("spec_yaml_syntax", "spec", ["classification", "train", "-e", "syn.yaml", "-r", "r1"],
        prepare=_spec_variant("syn.yaml", "model: [unclosed\n"))
    add("spec_empty", "spec", ["classification", "train", "-e", "empty.yaml", "-r", "r1"],
        prepare=_spec_variant("empty.yaml", ""))
    add("spec_wrong_type", "spec", [*tr, "-r", "r1", "--set", "trainer.epochs=many"])
    add("spec_bad_arch", "spec", [*tr, "-r", "r1", "--set", "model.arch=resnet19"])
    add("set_typo", "spec", [*tr, "-r", "r1", "--set", "trainer.epoch=1"])
    add("set_short_list", "spec", [*tr, "-r", "r1", "--set", "model.input_size=[64]"])
    add("set_no_equals", "spec", [*tr, "-r", "r1", "--set", "trainer.epochs"])
    add("spec_missing_data", "spec", [*tr, "-r", "r1", "--set", "data.train_dir=nowhere"])
    add("bpnet_spec_typo", "spec", ["bpnet", "train", "-e", "bptypo.yaml", "-r", "r2"],
        prepare=_spec_variant("bptypo.yaml", BP_SPEC.replace("stages: 2", "stage: 2")))
    add("accelerator_tpu", "launch", [*tr, "-r", "r1", "--accelerator", "tpu"])
    add("gpus_2_without_gpu", "launch", [*tr[:-2], "-r", "r1", "--gpus", "2"])
    add("num_nodes_0", "launch", [*tr, "-r", "r1", "--num_nodes", "0"])
    add("train_results_is_file", "output", [*tr, "-r", "afile"], unchanged_file("afile"))
    add("train_results_under_file", "output", [*tr, "-r", "afile/run"])
    add("train_into_other_task_run", "output", [*tr, "-r", "bp_res"],
        unchanged_file("bp_res/model.graft"))
    add("evaluate_results_is_file", "output", [*ev, "-r", "afile"], unchanged_file("afile"))
    add("evaluate_results_under_file", "output", [*ev, "-r", "afile/eval"])
    add("inference_results_is_file", "output", [*inf, "-r", "afile"], unchanged_file("afile"))
    add("inference_results_under_file", "output", [*inf, "-r", "afile/inf"])
    add("export_output_under_file", "output",
        ["classification", "export", "-m", "cls_res/model.graft", "-o", "afile/m.onnx"])
    add("export_output_is_dir", "output",
        ["classification", "export", "-m", "cls_res/model.graft", "-o", "emptydir"])
    add("prune_output_is_input", "output",
        ["classification", "prune", "-m", "cls_res/model.graft", "-o", "cls_res/model.graft"],
        unchanged_file("cls_res/model.graft"))
    add("prune_output_under_file", "output",
        ["classification", "prune", "-m", "cls_res/model.graft", "-o", "afile/p.graft"])
    add("gaussrank_output_under_file", "output",
        ["gaussrank", "fit", "-i", "table.csv", "-o", "afile/s.npz"])
    add("catalog_push_under_file", "output",
        ["catalog", "push", "cls_res/model.graft", "--name", "m", "--version", "1.0.0",
         "-c", "afile/cat"])
    add("synth_output_is_file", "output", ["synth", "classification", "-o", "afile"],
        unchanged_file("afile"))
    add("synth_into_nonempty", "output",
        ["synth", "classification", "-o", "full", "--classes", "2", "--per-class", "2"],
        unchanged_tree("full", _nonempty("full")))
    add("synth_pose_into_nonempty", "output",
        ["synth", "pose", "-o", "fullp", "--images", "2", "--size", "32x32"],
        unchanged_tree("fullp", _nonempty("fullp")))
    add("synth_pose_under_file", "output", ["synth", "pose", "-o", "afile/p", "--images", "2"])
    add("kitti2coco_under_file", "output",
        ["convert", "kitti2coco", "-i", "kitti/images", "-l", "kitti/labels", "-o",
         "afile/c.json"])
    add("coco2kitti_under_file", "output",
        ["convert", "coco2kitti", "-a", "pose/annotations/person_keypoints_val.json", "-o",
         "afile/k"])
    add("split_under_file", "output",
        ["split", "folder", "-i", "shapes/train", "-o", "afile/s", "-f", "0.5"])
    add("evaluate_coco_under_file", "output",
        ["evaluate", "coco", "-a", "pose/annotations/person_keypoints_val.json", "-p",
         "preds.json", "--iou_type", "keypoints", "-r", "afile/e"],
        prepare=_spec_variant("preds.json", "[]"))
    add("demo_under_file", "output", ["demo", "-o", "afile/d"])
    add("bpnet_evaluate_results_is_file", "output", [*bp_ev, "-r", "afile"],
        unchanged_file("afile"))
    add("bpnet_inference_under_file", "output",
        [*bp_inf, "--input", "pose/images/val", "-r", "afile/i"])
    add("bpnet_export_under_file", "output",
        ["bpnet", "export", "-m", "bp_res/model.graft", "-o", "afile/b.onnx"])
    add("sample_calibration_into_nonempty", "output",
        ["bpnet", "sample_calibration", "-a", "pose/annotations/person_keypoints_train.json",
         "-i", "pose/images/train", "-o", "fullc", "-n", "2"],
        unchanged_tree("fullc", _nonempty("fullc")))
    add("evaluate_model_missing", "input", [*ev[:-1], "nope.graft"])
    add("evaluate_model_truncated", "input", [*ev[:-1], "trunc.graft"])
    add("model_info_truncated", "input", ["model", "info", "trunc.graft"])
    add("model_info_not_a_model", "input", ["model", "info", "afile"])
    add("inference_input_missing", "input", [*inf[:-1], "nowhere", "-r", "i1"])
    add("inference_input_empty_dir", "input", [*inf[:-1], "emptydir", "-r", "i1"])
    add("inference_zero_byte_image", "input", [*inf[:-1], "zero", "-r", "i1"])
    add("encrypted_model_without_key", "input",
        ["classification", "inference", "-m", "enc.graft", "-i", "shapes/val", "-r", "i1"])
    add("encrypted_model_wrong_key", "input",
        ["classification", "inference", "-m", "enc.graft", "-i", "shapes/val", "-r", "i1",
         "-k", "wrong"])
    add("bpnet_inference_input_missing", "input", [*bp_inf, "--input", "nowhere", "-r", "i2"])
    add("bpnet_dataset_spec_missing", "input",
        [*bp_ev[:-1], "nope.json", "-r", "e2"])
    add("gaussrank_input_missing", "input", ["gaussrank", "fit", "-i", "no.csv", "-o", "s.npz"])
    add("gaussrank_unknown_column", "input",
        ["gaussrank", "fit", "-i", "table.csv", "-c", "zz", "-o", "s.npz"])
    add("catalog_pull_unknown", "input",
        ["catalog", "pull", "nosuchmodel", "-o", "models", "-c", "emptydir"])
    add("evaluate_coco_gt_missing", "input",
        ["evaluate", "coco", "-a", "nope.json", "-p", "afile"])
    add("deploy_triton_model_missing", "input",
        ["deploy", "triton", "-m", "nope.onnx", "-o", "repo", "--name", "m"])
    add("prune_bad_normalizer", "value",
        ["classification", "prune", "-m", "cls_res/model.graft", "-o", "p.graft", "-n", "foo"])
    add("export_bad_data_type", "value",
        ["classification", "export", "-m", "cls_res/model.graft", "-o", "m.onnx",
         "--data_type", "int4"])
    add("synth_pose_bad_size", "value", ["synth", "pose", "-o", "sp", "--size", "64"])
    add("split_bad_fraction", "value",
        ["split", "folder", "-i", "shapes/train", "-o", "sf", "-f", "1.5"])
    add("inference_top_k_0", "value", [*inf, "-r", "i3", "--top_k", "0"])
    return out


def classify(r: subprocess.CompletedProcess, problem: str | None) -> str:
    text = r.stdout + r.stderr
    if "Traceback" in text:
        return "traceback"
    if problem:
        return "damaged"
    if r.returncode == 0:
        return "exit0"
    if r.returncode == 2 and "Usage:" in r.stderr:
        return "usage"
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    if r.returncode == 2 and len(lines) == 1:
        return "clean"
    return "unclear"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="Workspace (default: a temporary folder).")
    ap.add_argument("--only", default="", help="Comma-separated groups or case names.")
    ap.add_argument("--json", type=Path, help="Write every outcome here.")
    args = ap.parse_args()
    ws = args.workdir or Path(tempfile.mkdtemp(prefix="graft-sweep-"))
    ws.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not (ws / "cls_res" / "model.graft").exists():
        setup(ws)
    print(f"workspace {ws} ready in {time.time() - t0:.0f} s")
    wanted = {w for w in args.only.split(",") if w}
    results = []
    for case in cases():
        if wanted and case.name not in wanted and case.group not in wanted:
            continue
        if case.prepare:
            case.prepare(ws)
        start = time.time()
        r = graft(case.argv, ws)
        seconds = time.time() - start
        problem = case.check(ws) if case.check else None
        outcome = classify(r, problem)
        first = (problem or r.stderr.strip().splitlines()[-1:] or [""])
        line = first if isinstance(first, str) else first[0]
        if outcome == "exit0":
            line = (r.stdout.strip().splitlines() or [""])[-1]
        print(f"{outcome:9} {seconds:5.1f}s {case.group:7} {case.name:34} {line[:150]}")
        results.append({"case": case.name, "group": case.group, "argv": case.argv,
                        "outcome": outcome, "exit": r.returncode, "seconds": round(seconds, 2),
                        "stderr": r.stderr[-2000:], "problem": problem})
    counts = Counter(r["outcome"] for r in results)
    print(f"{len(results)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.json:
        args.json.write_text(json.dumps({"counts": counts, "cases": results}, indent=1))


if __name__ == "__main__":
    main()
