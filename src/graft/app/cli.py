"""``graft app ...``: applications that chain graft models over video (``graft app gesture``).
Heavy libraries load only when a command runs."""

from __future__ import annotations

from pathlib import Path

import typer

from graft.cli_options import KEY, SPEC, overrides_option
from graft.console import console

app = typer.Typer(no_args_is_help=True, help="Video applications built from graft models.\n\n"
                  "Example: graft app gesture -e app.yaml")

STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://",
                   "srt://")


def _source(value: str | int, spec: Path, overridden: bool) -> str | int:
    """A camera index or URL as given; a path relative to the spec's folder (to the working
    directory when it came from --set)."""
    from graft.spec_paths import absolute, spec_folder

    text = str(value)
    if isinstance(value, int) or text.isdigit() or text.lower().startswith(STREAM_PREFIXES):
        return value
    return str(absolute(text, Path.cwd() if overridden else spec_folder(spec)))


@app.command("gesture")
def gesture(spec: Path = SPEC, key: str | None = KEY,
            overrides: list[str] = overrides_option("source=other.mp4", "app spec")) -> None:
    """Hand gestures in a video: detect hands (DetectNet_v2), track them (ByteTrack), crop
    each with a margin, classify the crop (GestureNet or any classification model), smooth
    per track; writes annotated.mp4, frames.jsonl (one line per frame) and summary.json
    (frames read/dropped, FPS, latency per stage). Ctrl-C stops and keeps valid files.

    Example: graft app gesture -e app.yaml --set source=rtsp://camera/stream

    A minimal app.yaml: source: clip.mp4 | detector: {model: hands.graft, classes: [hand]} |
    classifier: {model: gesturenet.onnx} | output: {dir: gesture_out} (one key per line; paths
    relative to the spec file; `source` may be a folder of images, a camera index or a URL).
    """
    from graft.app.spec import GestureAppSpec
    from graft.fsutil import check_output_dir
    from graft.spec import load_spec

    s = load_spec(spec, GestureAppSpec, overrides)
    source = _source(s.source, spec, any(o.startswith("source=") for o in overrides))
    out = check_output_dir(s.output.dir, "output.dir")
    if s.truth is not None and not Path(s.truth).is_file():
        from graft.errors import UserError

        raise UserError(f"truth file {s.truth} does not exist",
                        "give a clip's .jsonl (graft synth hands) or drop `truth`")

    from graft.app.pipeline import GesturePipeline
    from graft.app.sources import open_source, probe_fps
    from graft.app.tracking import HandTracker, TrackLabels

    so = s.source_options
    src = open_source(source, stride=so.stride, latest=so.latest, reconnect=so.reconnect,
                      max_retries=so.max_retries, backoff=so.backoff)
    fps = s.output.fps or (probe_fps(source) or 30.0 * so.stride) / so.stride
    t = s.tracker
    tracker = HandTracker(frame_rate=fps, lost_track_buffer=t.lost_track_buffer,
                          activation_threshold=t.activation_threshold,
                          high_threshold=t.high_threshold, min_iou=t.min_iou) \
        if t.enabled else None
    c = s.crop
    pipeline = GesturePipeline.from_files(
        s.detector.model, s.classifier.model, hand_classes=s.detector.classes,
        threshold=s.detector.threshold, detector_device=s.detector.device,
        classifier_device=s.classifier.device, detector_batch=s.detector.batch_size,
        classifier_batch=s.classifier.batch_size, key=key, tracker=tracker or False,
        labels=TrackLabels(window=s.smoothing.window, smoothing=s.smoothing.method,
                           every=s.smoothing.classify_every),
        crop={"mode": c.mode, "value": c.value, "square": c.square, "border": c.border,
              "min_size": c.min_size},
        detect_batch=so.detect_batch)
    summary = pipeline.run(src, out, video=s.output.video, fps=fps,
                           max_frames=s.output.max_frames)
    lat = summary["latency"]["frame"]
    console.print(f"{summary['processed']} frames ({summary['stopped']}), "
                  f"{summary['fps']} FPS, {summary['dropped']} dropped, "
                  f"{summary['corrupt']} corrupt; per frame p50 {lat.get('p50_ms')} ms; "
                  f"results in {out} (annotated.mp4, frames.jsonl, summary.json)",
                  highlight=False)
    if summary["stopped"] == "interrupted":
        raise typer.Exit(130)
    if s.truth is not None:
        from graft.app.evaluate import evaluate_files

        m = evaluate_files(out / "frames.jsonl", s.truth, out / "evaluation")["metrics"]
        console.print(f"against {s.truth}: gesture accuracy {m['gesture_accuracy']:.3f} over "
                      f"{m['matched']} hands found (recall {m['recall']:.3f}, precision "
                      f"{m['precision']:.3f}); details in {out / 'evaluation'}",
                      highlight=False)


@app.command("evaluate")
def evaluate(
    pred: Path = typer.Option(..., "--pred", help="The app's frames.jsonl."),
    truth: Path = typer.Option(..., "--truth", help="Per-frame ground truth JSONL (e.g. a "
                               "clip's from `graft synth hands`)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Folder for metrics.json, "
                                       "CSVs and confusion_matrix.png."),
    iou: float = typer.Option(0.5, "--iou", min=0.05, max=1.0,
                              help="IoU an app box needs to count as finding a hand."),
) -> None:
    """Score the gesture app on a clip with known hands: pair the app's boxes with the true
    hands per frame (Hungarian, IoU >= --iou), then detection recall/precision, gesture
    accuracy over the hands found and end to end, a per-class report and a confusion matrix
    (with "background" for missed hands and stray boxes).

    Example: graft app evaluate --pred out/frames.jsonl --truth hands/clips/clip_000.jsonl -o ev
    """
    from graft.app.evaluate import DESCRIPTIONS, evaluate_files
    from graft.fsutil import check_output_dir
    from graft.metrics.tables import metrics_table, table

    if output is not None:
        check_output_dir(output, "output folder (-o)")
    result = evaluate_files(pred, truth, output, iou=iou)
    console.print(metrics_table(result["metrics"], DESCRIPTIONS, title="gesture app"))
    labels = result["labels"]
    console.print(table(["true \\ app", *labels],
                        [[name, *row] for name, row in zip(labels, result["confusion_matrix"],
                                                           strict=True)],
                        title="confusion matrix"))
    if output is not None:
        console.print(f"results in {output} (metrics.json, metrics.csv, confusion_matrix.csv "
                      f"and .png, per_class.csv)", highlight=False)
