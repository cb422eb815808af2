"""``graft synth hands``."""

from __future__ import annotations

from pathlib import Path

import typer


def synth_hands(
    out_dir: Path = typer.Option(..., "-o", "--output", help="Output directory."),
    frames: int = typer.Option(600, "--frames", min=2, help="Frames to draw."),
    users: int = typer.Option(8, "--users", min=3, help="People (hand build, skin, sleeve)."),
    val_users: int = typer.Option(2, "--val-users", "--val_users", min=1,
                                  help="Users whose frames form the val split."),
    size: str = typer.Option("320x240", "--size", help="Frame WIDTHxHEIGHT."),
    max_hands: int = typer.Option(4, "--max-hands", "--max_hands", min=1, max=4),
    seed: int = typer.Option(0, "--seed"),
    clips: int = typer.Option(1, "--clips", min=0, help="Videos of moving hands changing "
                              "gesture, with per-frame ground truth (0: none)."),
    clip_frames: int = typer.Option(90, "--clip-frames", "--clip_frames", min=1,
                                    help="Frames per clip (15 fps)."),
    clip_users: str = typer.Option("", "--clip-users", "--clip_users",
                                   help="Comma-separated users shown in the clips (default: "
                                   "the last user, a val user)."),
    force: bool = typer.Option(False, "--force",
                               help="Replace OUT if it holds files (else that is refused)."),
) -> None:
    """Generate frames of 1-4 hands making the six GestureNet gestures: KITTI labels (class
    hand) for the detector (with a DetectNet_v2 spec.yaml beside them), one GestureNet label
    JSON per hand, split by user, and short mp4 clips with per-frame ground truth (JSONL) for
    `graft app gesture` and `graft app evaluate`.

    OUT must be new or empty (or pass --force); it appears whole when done. Then:
    graft gesturenet dataset_convert -d OUT/gesturenet -o OUT/splits --kpi_users user07

    Example: graft synth hands -o data/hands --frames 600 --users 8
    """
    from graft.console import console
    from graft.data.synthetic import parse_wxh
    from graft.errors import UserError
    from graft.tasks.gesturenet.synth import make_hands_dataset

    if val_users >= users:
        raise UserError(f"--val-users {val_users} leaves no training user of {users}",
                        "give fewer val users than users")
    h, w = parse_wxh(size)
    s = make_hands_dataset(out_dir, frames=frames, users=users, val_users=val_users,
                           size=(w, h), max_hands=max_hands, seed=seed, force=force,
                           clips=clips, clip_frames=clip_frames,
                           clip_users=[u.strip() for u in clip_users.split(",") if u.strip()])
    hands = {split: sum(c.values()) for split, c in s["hands"].items()}
    console.print(f"wrote {frames} frames ({w}x{h}) of {users} users to {out_dir}: "
                  f"{hands['train']} train and {hands['val']} val hands (val users "
                  f"{', '.join(s['val_users'])}); detector spec "
                  f"{Path(out_dir) / 'detector' / 'spec.yaml'}")
    for clip in s.get("clips", []):
        console.print(f"clip {Path(out_dir) / 'clips' / clip['video']}: {clip['frames']} "
                      f"frames, {clip['hands']} hands of {', '.join(clip['users'])}; truth "
                      f"{clip['truth']}")
