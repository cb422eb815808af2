"""DeepStream configs for the gesture app (``graft deploy deepstream``): the hand detector as
the primary nvinfer (PGIE) and GestureNet as a secondary classifier (SGIE) on its hand boxes,
for users who deploy on a Jetson or a GPU server with DeepStream.

Written into one folder, with paths relative to the configs: both ONNX files (copied),
``pgie_hand_detector.txt`` + ``hand_detector_labels.txt`` (the DetectNet_v2 writer,
:mod:`graft.tasks.detectnet_v2.deploy`: its own parser settings and clustering) and
``sgie_gesturenet.txt`` + ``gesturenet_labels.txt``: ``network-type=1`` (classifier),
``process-mode=2`` (on objects), ``operate-on-gie-id`` = the PGIE's ``gie-unique-id``,
``operate-on-class-ids`` = the detector's hand class, the input dims and the
``net-scale-factor``/``offsets`` from graft's recorded normalization, the minimum object size,
asynchronous classification of tracked objects. A classifier's labels file is one line of
``;``-separated names (one line per output layer). ``sgie_gesturenet_triton.txt`` is the same
secondary model for ``nvinferserver``, computed by a Triton server over gRPC (the repository of
``graft deploy triton``; ``--triton_url``, model name ``gesturenet``).

nvinfer crops the detector's tight box, while GestureNet was trained on crops enlarged by the
rule its file records (``input.crop``); the config notes the rule, and the app must enlarge the
object's box before the SGIE (a probe, as NVIDIA's sample does, with the corrected arithmetic of
:mod:`graft.app.margin`) or use nvdspreprocess.

nvinfer's classifier reads its output layer as probabilities (``classifier-threshold`` drops a
label whose top value is below it), so the classifier must be the softmax export
(``export --sdk_compatible_model``, output ``probabilities``); a plain export's logits are
refused, since with logits every hand whose top logit is negative would silently get no label.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import typer

from graft.errors import UserError
from graft.fsutil import atomic_path, check_output_dir, write_text
from graft.tasks.classification.outputs import PROBABILITIES

PGIE_ID, SGIE_ID = 1, 2


def _onnx_meta(path: Path) -> dict[str, Any]:
    from graft.deploy.triton import model_io

    if path.suffix.lower() != ".onnx":
        raise UserError(f"{path} is not an ONNX export", "pass the .onnx of `graft TASK export`")
    return model_io(path).metadata


def _crop_note(crop: dict[str, Any] | None) -> str:
    if not crop:
        return "the classifier's file records no crop rule; graft's app default: square, x1.1"
    ratio = crop.get("ratio", crop.get("value"))
    mode = crop.get("mode", "ratio")
    size = f"x{ratio} of the box" if mode == "ratio" else f"{ratio} px on every side"
    return (f"GestureNet was trained on crops enlarged {size}"
            f"{' and made square' if crop.get('square', True) else ''}; nvinfer crops the "
            "detector's tight box, so enlarge each hand box before this SGIE (a probe: "
            "x1 = clip(l - m, 0, W), x2 = clip(l + w + m, 0, W), width = x2 - x1; same for y)")


def render_sgie(meta: dict[str, Any], onnx_file: str, labels_file: str, hand_ids: list[int],
                batch_size: int, min_size: int, data_type: str) -> str:
    from graft.deploy.deepstream import NETWORK_MODES, scale_and_offsets

    inp = meta.get("input") or {}
    if not meta.get("classes") or "height" not in inp or not inp.get("normalization"):
        raise UserError(f"{onnx_file} carries no classifier metadata (classes, input size, "
                        "normalization)", "export it with `graft gesturenet export`")
    factor, offsets, color, note = scale_and_offsets(inp["normalization"])
    notes = [_crop_note(inp.get("crop")), *([note] if note else []),
             "the output is softmax probabilities; classifier-threshold=0 keeps the top class"]
    lines = ["# DeepStream nvinfer config (secondary classifier) written by graft; paths are "
             "relative to this file.", *(f"# {n}" for n in notes), "[property]", "gpu-id=0",
             f"net-scale-factor={factor:.12g}",
             f"offsets={';'.join(f'{o:.6g}' for o in offsets)}",
             f"model-color-format={color}", f"onnx-file={onnx_file}",
             f"labelfile-path={labels_file}",
             f"infer-dims={inp.get('channels', 3)};{inp['height']};{inp['width']}",
             f"batch-size={batch_size}", f"network-mode={NETWORK_MODES[data_type]}",
             "network-type=1", "process-mode=2", f"gie-unique-id={SGIE_ID}",
             f"operate-on-gie-id={PGIE_ID}",
             f"operate-on-class-ids={';'.join(str(i) for i in hand_ids)}",
             f"output-blob-names={PROBABILITIES}",
             "classifier-async-mode=1", "classifier-threshold=0",
             f"input-object-min-width={min_size}", f"input-object-min-height={min_size}",
             "maintain-aspect-ratio=0", "symmetric-padding=0"]
    return "\n".join(lines) + "\n"


def render_sgie_triton(meta: dict[str, Any], model_name: str, url: str, labels_file: str,
                       hand_ids: list[int], batch_size: int, min_size: int) -> str:
    """The nvinferserver (protobuf text) variant of the SGIE: the same preprocessing and
    object control, the model on Triton at ``url``."""
    from graft.deploy.deepstream import scale_and_offsets

    factor, offsets, color, _ = scale_and_offsets(meta["input"]["normalization"])
    fmt = "IMAGE_FORMAT_BGR" if color == 1 else "IMAGE_FORMAT_RGB"
    crop = _crop_note(meta["input"].get("crop"))
    return f"""# DeepStream nvinferserver config (secondary classifier on Triton) written by graft.
# {crop}
infer_config {{
  unique_id: {SGIE_ID}
  gpu_ids: [0]
  max_batch_size: {batch_size}
  backend {{
    triton {{
      model_name: "{model_name}"
      version: -1
      grpc {{ url: "{url}" }}
    }}
  }}
  preprocess {{
    network_format: {fmt}
    tensor_order: TENSOR_ORDER_LINEAR
    maintain_aspect_ratio: 0
    normalize {{
      scale_factor: {factor:.12g}
      channel_offsets: [{", ".join(f"{o:.6g}" for o in offsets)}]
    }}
  }}
  postprocess {{
    labelfile_path: "{labels_file}"
    classification {{ threshold: 0 }}
  }}
}}
input_control {{
  process_mode: PROCESS_MODE_CLIP_OBJECTS
  operate_on_gie_id: {PGIE_ID}
  operate_on_class_ids: [{", ".join(str(i) for i in hand_ids)}]
  interval: 0
  async_mode: true
  object_control {{ bbox_filter {{ min_width: {min_size} min_height: {min_size} }} }}
}}
"""


def write_gesture_deepstream(detector: str | Path, classifier: str | Path, out: str | Path, *,
                             hand_classes: list[str] | None = None, batch_size: int = 16,
                             min_size: int = 16, triton_url: str = "localhost:8001"
                             ) -> list[Path]:
    """Write the PGIE and SGIE configs, labels and model copies into ``out``; returns them."""
    from graft.data.kitti import class_key
    from graft.deploy.deepstream import write_nvinfer
    from graft.manifest import Manifest
    from graft.tasks.detectnet_v2.deploy import nvinfer_model

    det, clf = Path(detector), Path(classifier)
    det_meta, clf_meta = _onnx_meta(det), _onnx_meta(clf)
    outputs = clf_meta.get("output_names") or []
    if outputs[:1] != [PROBABILITIES]:
        raise UserError(f"{clf} outputs {outputs[0] if outputs else 'no named output'}, not "
                        "probabilities, which DeepStream's classifier compares against its "
                        "threshold", f"export it with `graft {clf_meta.get('task', 'gesturenet')} "
                        "export --sdk_compatible_model` (a softmax at the end)")
    if det_meta.get("task") != "detectnet_v2":
        raise UserError(f"{det} is not a DetectNet_v2 export (task {det_meta.get('task')!r})",
                        "export the hand detector with `graft detectnet_v2 export`")
    names = [class_key(c) for c in det_meta.get("classes") or []]
    wanted = [class_key(c) for c in hand_classes] if hand_classes else names
    missing = [c for c in wanted if c not in names]
    if missing:
        raise UserError(f"the detector has no class {missing[0]!r}",
                        f"its classes are {', '.join(det_meta.get('classes') or [])}")
    folder = check_output_dir(out, "output folder (-o)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for src, name in ((det, "hand_detector.onnx"), (clf, "gesturenet.onnx")):
        with atomic_path(folder / name) as tmp:
            shutil.copyfile(src, tmp)
        written.append(folder / name)
    pgie = nvinfer_model(Manifest.from_dict(det_meta["manifest"]), folder / "hand_detector.onnx",
                         str(det_meta.get("data_type", "fp32")))
    pgie.labels_file = "hand_detector_labels.txt"
    written += write_nvinfer(pgie, folder / "pgie_hand_detector.txt",
                             folder / pgie.labels_file)
    sgie = render_sgie(clf_meta, "gesturenet.onnx", "gesturenet_labels.txt",
                       [names.index(c) for c in wanted], batch_size, min_size,
                       str(clf_meta.get("data_type", "fp32")))
    write_text(folder / "sgie_gesturenet.txt", sgie)
    write_text(folder / "gesturenet_labels.txt", ";".join(clf_meta["classes"]) + "\n")
    write_text(folder / "sgie_gesturenet_triton.txt",
               render_sgie_triton(clf_meta, "gesturenet", triton_url, "gesturenet_labels.txt",
                                  [names.index(c) for c in wanted], batch_size, min_size))
    return [*written, folder / "sgie_gesturenet.txt", folder / "gesturenet_labels.txt",
            folder / "sgie_gesturenet_triton.txt"]


def deepstream_command(
    detector: Path = typer.Option(..., "--detector", "-d", help="Hand detector: a DetectNet_v2 "
                                  ".onnx export."),
    classifier: Path = typer.Option(..., "--classifier", "-c", help="GestureNet (or any "
                                    "classification) .onnx export with a softmax at the end "
                                    "(export --sdk_compatible_model)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the configs."),
    hand_class: list[str] = typer.Option([], "--hand_class", help="The detector's classes the "
                                         "classifier runs on (repeatable; default: all)."),
    batch_size: int = typer.Option(16, "--batch_size", help="SGIE batch size (hands per run)."),
    min_size: int = typer.Option(16, "--min_size", help="Smallest box side (px) classified."),
    triton_url: str = typer.Option("localhost:8001", "--triton_url", help="gRPC address of "
                                   "the Triton server in the nvinferserver variant."),
) -> None:
    """Write DeepStream nvinfer configs for the gesture app: the hand detector (primary) and
    GestureNet (secondary classifier on its hand boxes), labels and model copies.

    Example: graft gesturenet export -m gesture.graft -o gesturenet.onnx --sdk_compatible_model

    Example: graft deploy deepstream -d hands.onnx -c gesturenet.onnx -o ds_configs
    --hand_class hand
    """
    from graft.console import console

    files = write_gesture_deepstream(detector, classifier, output, hand_classes=hand_class or None,
                                     batch_size=batch_size, min_size=min_size,
                                     triton_url=triton_url)
    console.print(f"DeepStream configs in {output}: "
                  f"{', '.join(p.name for p in files if p.suffix == '.txt')}", highlight=False)
