"""`edgesim trace from-video` and `edgesim trace generate`: camera workload traces (ROIs per frame).

Registered on the `trace` group by ``edgesim/cli/trace.py``. OpenCV and the generator are imported
inside the commands, so ``edgesim --help`` stays fast and needs no OpenCV.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import click


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _duration(_ctx, _param, value):
    if value is None:
        return None
    from edgesim.units import UnitError, parse_duration
    try:
        seconds = parse_duration(value)
    except (UnitError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be positive")
    return seconds


def _command(name: str, *parts) -> str:
    return " ".join(["edgesim", "trace", name] + [shlex.quote(str(p)) for p in parts])


@click.command("from-video")
@click.argument("video", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="ROI trace to write (CSV: frame,time_s,rois,roi_bytes_mean)")
@click.option("--history", type=click.IntRange(min=1), default=500, show_default=True,
              help="MOG2 history (frames)")
@click.option("--threshold", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="MOG2 varThreshold")
@click.option("--min-area", type=click.IntRange(min=1), default=200, show_default=True,
              help="smallest blob that counts as an ROI (foreground pixels)")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True),
              help="frame rate to use instead of the container's")
@click.option("--max-frames", type=click.IntRange(min=1), help="stop after this many frames")
@click.option("--kernel", type=click.IntRange(min=0), default=3, show_default=True,
              help="morphological open/close kernel size (0 or 1: none)")
@click.option("--shadows/--no-shadows", "detect_shadows", default=True, show_default=True,
              help="let MOG2 mark shadows (they are then dropped from the mask)")
@click.option("--jpeg-quality", type=click.IntRange(0, 100), default=90, show_default=True,
              help="JPEG quality of the encoded ROI crops")
@click.option("--max-rois", type=click.IntRange(min=0),
              help="keep only the N largest blobs of a frame (default: all)")
@click.option("--warmup", type=click.IntRange(min=0),
              help="frames marked as the subtractor's warm-up in the header "
                   "[default: 0.3 x history]")
@click.option("--boxes", type=click.Path(dir_okay=False),
              help="also write one row per ROI (frame, box, area, JPEG bytes) to this CSV")
def from_video(video: str, out: str, history: int, threshold: float, min_area: int,
               fps: Optional[float], max_frames: Optional[int], kernel: int,
               detect_shadows: bool, jpeg_quality: int, max_rois: Optional[int],
               warmup: Optional[int], boxes: Optional[str]) -> None:
    """ROIs per frame of VIDEO, found as Distream's cameras find them.

    Gaussian-mixture background subtraction (OpenCV MOG2), shadows dropped, open/close, then
    blobs of at least --min-area pixels; each ROI's crop is JPEG-encoded to measure its bytes.
    Replay it with arrivals: {process: trace, format: counts, column: rois, interval: <1/fps>,
    spread: burst}.
    """
    from edgesim.video.roi import RoiParams, VideoError, extract_rois, write, write_boxes
    try:
        params = RoiParams(history=history, threshold=threshold, detect_shadows=detect_shadows,
                           min_area=min_area, kernel=kernel, jpeg_quality=jpeg_quality,
                           max_rois=max_rois, warmup=warmup)
        tr = extract_rois(video, params, fps=fps, max_frames=max_frames)
    except (VideoError, ValueError) as exc:
        _fail(str(exc))
    args = [video, "-o", out, "--history", history, "--threshold", f"{threshold:g}",
            "--min-area", min_area, "--kernel", kernel, "--jpeg-quality", jpeg_quality,
            "--warmup", params.warmup_frames]
    args += [] if detect_shadows else ["--no-shadows"]
    args += ["--fps", f"{fps:g}"] if fps else []
    args += ["--max-frames", max_frames] if max_frames else []
    args += ["--max-rois", max_rois] if max_rois is not None else []
    write(tr, out, command=_command("from-video", *args))
    if boxes:
        write_boxes(tr, boxes)
    s, whole = tr.stats(), tr.stats(after_warmup=False)
    m = tr.meta
    click.echo(f"wrote {out}: {whole['frames']} frames at {m['fps']:g} fps "
               f"({m['source_size']}), warm-up {m['warmup_frames']} frames")
    for label, st in (("all frames", whole), ("after warm-up", s)):
        if st["frames"]:
            click.echo(f"  {label:>13}: {st['frames']} frames, ROIs/frame mean "
                       f"{st['rois_mean']:.3f} max {st['rois_max']}, p99 {st['rois_p99']:.1f}, "
                       f"empty {100 * st['zero_frames']:.0f}%, ROI JPEG mean "
                       f"{st['roi_bytes_mean']:.0f} B")
    if boxes:
        click.echo(f"boxes: {boxes} ({len(tr.boxes)} ROIs)")


@click.command("generate")
@click.option("--cameras", type=click.IntRange(min=1), default=24, show_default=True)
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=15.0,
              show_default=True)
@click.option("--duration", default="600s", show_default=True, callback=_duration,
              help="trace length, e.g. 600s or 10min")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--profile", type=click.Choice(["campus", "traffic"]), default="campus",
              show_default=True)
@click.option("--day-length", callback=_duration,
              help="trace time one simulated day takes, e.g. 600s [default: --duration, so the "
                   "trace spans one day]")
@click.option("--start-hour", type=click.FloatRange(0, 24, max_open=True), default=0.0,
              show_default=True, help="time of day at the start of the trace")
@click.option("--max-rois", type=click.IntRange(min=0), default=30, show_default=True,
              help="cap on ROIs per frame")
@click.option("--skew", type=click.FloatRange(min=0), default=None,
              help="cross-camera skew: standard deviation of the log of the cameras' expected "
                   "mean ROIs (0: equal cameras) [default: the profile's idle/busy draws]")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="trace to write (CSV: frame,time_s,cam0,...)")
def generate(cameras: int, fps: float, duration: float, seed: int, profile: str,
             day_length: Optional[float], start_hour: float, max_rois: int, skew: Optional[float],
             out: str) -> None:
    """A synthetic multi-camera ROI-count trace with Distream's workload dynamics.

    Cameras stand along a path; lone passers-by and moving crowds (which pass camera k, then
    k+1 a few seconds later) appear in their views; a daily profile modulates both; some
    cameras are almost idle. Replay it with arrivals: {process: trace, format: counts,
    column: "@member", interval: <1/fps>, spread: burst} on a camera group.
    """
    import numpy as np

    from edgesim.video.synthetic import generate as gen, summarize, write
    from edgesim.cli.common import _Bar, _interactive
    with _Bar(_interactive(False), "generating") as bar:
        df = gen(cameras, fps, duration, seed, profile, day_length, start_hour, max_rois, skew,
                 progress=bar)
    args = ["--cameras", cameras, "--fps", f"{fps:g}", "--duration", f"{duration:g}s",
            "--seed", seed, "--profile", profile]
    args += ["--day-length", f"{day_length:g}s"] if day_length else []
    args += ["--start-hour", f"{start_hour:g}"] if start_hour else []
    args += ["--max-rois", max_rois] if max_rois != 30 else []
    args += ["--skew", f"{skew:g}"] if skew is not None else []
    write(df, out, command=_command("generate", *args, "-o", out))
    s = summarize(df)
    means = np.array(list(s["mean"].values()))
    idle = set(df.attrs["idle"])
    lags = [x for k, x in enumerate(s["neighbour_lag_s"])
            if x is not None and k not in idle and k + 1 not in idle]
    click.echo(f"wrote {out}: {cameras} cameras x {len(df)} frames at {fps:g} fps "
               f"({Path(out).stat().st_size / 1e6:.2f} MB), profile {profile}, seed {seed}")
    click.echo(f"  ROIs/frame per camera: mean {means.mean():.3f} (cameras from "
               f"{means.min():.4f} to {means.max():.3f}), max {max(s['max'].values())}")
    click.echo(f"  peak 1 s {s['peak']:.2f}, quiet ({s['quiet_period']}) {s['quiet']:.4f}, "
               f"ratio {s['peak_quiet_ratio']:.0f}")
    if lags:
        click.echo(f"  neighbours' cross-correlation peaks at lag: median {np.median(lags):.1f} s, "
                   f"positive for {sum(x > 0 for x in lags)}/{len(lags)} pairs of non-idle "
                   "cameras")
