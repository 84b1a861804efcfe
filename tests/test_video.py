"""Camera workload traces: ROIs from real and synthetic video (OpenCV), the multi-camera
generator's properties (Distream §1.2.2), and the bundled traces replayed by the engine."""
from __future__ import annotations

import hashlib
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import edgesim
from edgesim.cli.app import main
from edgesim.video import read_header
from edgesim.video import synthetic as syn
from edgesim.workload.tracefile import columns, read_column

REPO = Path(__file__).resolve().parents[1]
ROIS = REPO / "traces" / "rois"
GUIDE = REPO / "docs" / "guides" / "camera-traces.md"
VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
VTEST = VIDEO / "vtest.avi"

needs_cv2 = pytest.mark.skipif(importlib.util.find_spec("cv2") is None,
                               reason="OpenCV not installed (pip install -e '.[video]')")
needs_video = pytest.mark.skipif(not VTEST.is_file(),
                                 reason=f"shared video data not found at {VIDEO}")


def _invoke(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


# ----------------------------------------------------------------------------------- imports

def test_import_edgesim_does_not_import_cv2():
    code = ("import sys, edgesim, edgesim.cli.app, edgesim.video, edgesim.video.roi, "
            "edgesim.video.synthetic, edgesim.cli.video; "
            "assert 'cv2' not in sys.modules, 'cv2 imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ------------------------------------------------------------------------------- from-video

@needs_cv2
@needs_video
def test_from_video_on_vtest(tmp_path):
    out, boxes = tmp_path / "vtest.csv", tmp_path / "boxes.csv"
    res = _invoke("trace", "from-video", VTEST, "-o", out, "--max-frames", 150,
                  "--warmup", 50, "--boxes", boxes)
    assert "150 frames at 10 fps" in res.output
    df = _read(out)
    assert list(df.columns) == ["frame", "time_s", "rois", "roi_bytes_mean"]
    assert len(df) == 150 and df.frame.tolist() == list(range(150))
    np.testing.assert_allclose(df.time_s, df.frame / 10.0)
    assert pd.api.types.is_integer_dtype(df.rois) and (df.rois >= 0).all()
    # Pedestrians are always in view in vtest: a few ROIs per frame, JPEG crops of a few kB.
    assert 1 <= df.rois[50:].mean() <= 15 and df.rois.max() <= 30
    assert ((df.roi_bytes_mean > 0) == (df.rois > 0)).all()
    assert 300 < df.roi_bytes_mean[df.rois > 0].mean() < 20000
    head = read_header(out)
    assert head["source"] == str(VTEST) and head["source_name"] == "vtest.avi"
    assert head["source_sha256"] == hashlib.sha256(VTEST.read_bytes()).hexdigest()
    import cv2
    assert head["opencv"] == cv2.__version__
    assert "history=500" in head["params"] and "threshold=60" in head["params"]
    assert head["warmup_frames"] == "50" and head["edgesim"] == edgesim.__version__
    assert head["kind"].startswith("derived") and head["created"]
    assert head["command"].startswith("edgesim trace from-video")
    # The engine's reader sees the same numbers.
    np.testing.assert_array_equal(read_column(out, "rois"), df.rois.to_numpy())
    per_roi = _read(boxes)
    assert len(per_roi) == df.rois.sum()
    assert per_roi.groupby("frame").size().reindex(range(150), fill_value=0).tolist() == \
        df.rois.tolist()
    assert (per_roi.area_px >= per_roi.pixels).all() and (per_roi.pixels >= 200).all()


def _gray_frames(n: int, square_from: int | None = None):
    for i in range(n):
        frame = np.full((120, 160, 3), 60, np.uint8)
        if square_from is not None and i >= square_from:
            t = 0.15 * i                                     # a 16 px white square on a loop
            cx, cy = int(80 + 50 * np.cos(t)), int(60 + 35 * np.sin(t))
            frame[cy - 8:cy + 8, cx - 8:cx + 8] = 255
        yield frame


@needs_cv2
def test_blank_video_has_no_rois_after_warmup(tmp_path):
    from edgesim.video.roi import write_video
    video = write_video(tmp_path / "blank.avi", _gray_frames(80), fps=10)
    out = tmp_path / "blank.csv"
    _invoke("trace", "from-video", video, "-o", out, "--warmup", 10)
    df = _read(out)
    warm = int(read_header(out)["warmup_frames"])
    assert warm == 10 and len(df) == 80
    assert (df.rois[warm:] == 0).all() and (df.roi_bytes_mean[warm:] == 0).all()


@needs_cv2
def test_moving_square_is_exactly_one_roi_per_frame(tmp_path):
    from edgesim.video.roi import write_video
    video = write_video(tmp_path / "square.avi", _gray_frames(150, square_from=30), fps=10)
    out, boxes = tmp_path / "square.csv", tmp_path / "boxes.csv"
    _invoke("trace", "from-video", video, "-o", out, "--warmup", 30, "--min-area", 50,
            "--boxes", boxes)
    df = _read(out)
    assert df.rois[30:].tolist() == [1] * 120
    assert (df.roi_bytes_mean[30:] > 0).all()
    b = _read(boxes)
    assert b.w.between(14, 22).all() and b.h.between(14, 22).all()   # the 16x16 square


@needs_cv2
def test_fps_override_and_max_frames(tmp_path):
    from edgesim.video.roi import write_video
    video = write_video(tmp_path / "blank.avi", _gray_frames(30), fps=10)
    out = tmp_path / "t.csv"
    _invoke("trace", "from-video", video, "-o", out, "--fps", 25, "--max-frames", 20)
    df, head = _read(out), read_header(out)
    assert len(df) == 20 and head["fps"] == "25.0" and head["fps_from"] == "override"
    np.testing.assert_allclose(df.time_s, df.frame / 25.0, atol=1e-6)


@needs_cv2
def test_unreadable_video_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "not-a-video.avi"
    bad.write_text("hello\n")
    res = CliRunner().invoke(main, ["trace", "from-video", str(bad), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "not-a-video.avi" in res.output and not (tmp_path / "o").exists()


# -------------------------------------------------------------------------------- generator

def test_generator_is_deterministic_by_seed():
    a = syn.generate(8, 15, 120, seed=3)
    b = syn.generate(8, 15, 120, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    c = syn.generate(8, 15, 120, seed=4)
    assert not a.equals(c)
    # The layout depends only on seed, profile and number of cameras.
    d = syn.generate(8, 15, 60, seed=3)
    assert d.attrs["busyness"] == a.attrs["busyness"] and d.attrs["travel_s"] == a.attrs["travel_s"]


@pytest.mark.parametrize("profile,cameras", [("campus", 24), ("traffic", 6)])
def test_counts_are_capped_integers_with_the_right_columns(profile, cameras):
    df = syn.generate(cameras, 15, 600, seed=1, profile=profile)
    assert list(df.columns) == ["frame", "time_s"] + [f"cam{k}" for k in range(cameras)]
    assert len(df) == 9000
    counts = df.filter(like="cam").to_numpy()
    assert counts.dtype.kind == "i" and counts.min() >= 0 and counts.max() <= syn.MAX_ROIS


def test_cap_at_30_rois():
    huge = syn.with_overrides("campus", crowd_median=80.0, crowd_max=120, busy_busyness=(1.0, 1.0),
                              idle_fraction=0.0)
    df = syn.generate(4, 15, 120, seed=1, profile=huge, start_hour=12, day_length=86400)
    assert df.filter(like="cam").to_numpy().max() == 30


@pytest.mark.parametrize("profile,cameras", [("campus", 24), ("traffic", 6)])
def test_peak_and_quiet_load_differ_by_more_than_1000x(profile, cameras):
    s = syn.summarize(syn.generate(cameras, 15, 600, seed=1, profile=profile))
    assert s["peak"] >= 10                       # a burst: 10-30 ROIs per frame for a second
    assert 0 < s["quiet"] <= 0.02                # quiet hours: ~0.01 ROIs per frame or less
    assert s["peak_quiet_ratio"] > 1000


def test_cameras_differ_and_some_are_almost_idle():
    df = syn.generate(24, 15, 600, seed=1, profile="campus")
    means = df.filter(like="cam").mean()
    idle = [f"cam{k}" for k in df.attrs["idle"]]
    busy = means.drop(idle)
    assert len(idle) == 6
    assert means[idle].max() < 0.05 < busy.max()
    assert busy.max() / busy.min() > 5           # busy cameras differ among themselves too
    assert means.nunique() > 20


def test_neighbouring_cameras_correlate_at_a_positive_lag():
    df = syn.generate(24, 15, 600, seed=1, profile="campus")
    s = syn.summarize(df)
    idle = set(df.attrs["idle"])
    lags = [lag for k, lag in enumerate(s["neighbour_lag_s"])
            if k not in idle and k + 1 not in idle]
    assert len(lags) >= 10
    assert sum(lag > 0 for lag in lags) >= 0.8 * len(lags)
    lo, hi = syn.PROFILES["campus"].travel_s
    assert lo <= float(np.median(lags)) <= hi * 1.25


def test_lag_matches_the_travel_time():
    # Crowds only, all walking forward: the peak lag is the link's travel time (x speed 0.8-1.25).
    prof = syn.with_overrides("campus", forward=1.0, solo_occupancy=1e-6, idle_fraction=0.0,
                              busy_busyness=(1.0, 1.0))
    df = syn.generate(4, 15, 1200, seed=2, profile=prof, start_hour=10, day_length=86400)
    s = syn.summarize(df)
    for lag, tau in zip(s["neighbour_lag_s"], df.attrs["travel_s"]):
        assert lag == pytest.approx(tau, abs=0.25 * tau + 0.2)


def test_daily_profile_modulates_the_load():
    df = syn.generate(24, 15, 600, seed=1, profile="campus")
    total = df.filter(like="cam").sum(axis=1).to_numpy()
    period = (24 * df.time_s.to_numpy() / 600 // 4).astype(int)      # Distream's 6 periods
    means = np.array([total[period == p].mean() for p in range(6)])
    assert means.argmin() == 0 and means.max() > 50 * means.min()
    # --start-hour shifts the day: starting at noon, the trace opens busy.
    noon = syn.generate(24, 15, 600, seed=1, profile="campus", start_hour=12)
    assert noon.filter(like="cam").iloc[:1500].to_numpy().sum() > 50 * total[:1500].sum() + 1


def test_generate_cli_writes_a_trace_the_engine_reader_reads(tmp_path):
    out = tmp_path / "t.csv"
    res = _invoke("trace", "generate", "--cameras", 5, "--fps", 10, "--duration", "2min",
                  "--seed", 7, "--profile", "traffic", "--day-length", "60s", "-o", out)
    assert "ratio" in res.output
    head = read_header(out)
    assert head["seed"] == "7" and head["profile"] == "traffic" and head["cameras"] == "5"
    assert head["day_length_s"] == "60.0" and head["kind"].startswith("synthetic")
    assert head["command"] == (f"edgesim trace generate --cameras 5 --fps 10 --duration 120s "
                               f"--seed 7 --profile traffic --day-length 60s -o {out}")
    df = syn.generate(5, 10, 120, seed=7, profile="traffic", day_length=60)
    assert columns(out) == list(df.columns)
    for k in range(5):
        np.testing.assert_array_equal(read_column(out, f"cam{k}"), df[f"cam{k}"].to_numpy())


def test_generate_rejects_bad_options(tmp_path):
    for bad in (["--duration", "ten"], ["--duration", "0s"], ["--profile", "mall"],
                ["--cameras", "0"]):
        res = CliRunner().invoke(main, ["trace", "generate", *bad, "-o", str(tmp_path / "x.csv")])
        assert res.exit_code == 2 and "Traceback" not in res.output, (bad, res.output)
        assert bad[0] in res.output
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------------------- bundled traces

def _header_command(path: Path) -> list[str]:
    return shlex.split(read_header(path)["command"])[1:]


@pytest.mark.parametrize("name", ["campus-24.csv", "traffic-6.csv", "campus-24-day.csv",
                                  "traffic-6-day.csv"])
def test_bundled_synthetic_traces_regenerate_exactly(tmp_path, name):
    argv = _header_command(ROIS / name)
    assert argv[:2] == ["trace", "generate"]
    argv[argv.index("-o") + 1] = str(tmp_path / name)
    _invoke(*argv)
    np.testing.assert_array_equal(_read(tmp_path / name).to_numpy(), _read(ROIS / name).to_numpy())
    assert (ROIS / name).stat().st_size < 5e6


def test_bundled_vtest_trace_is_marked_derived():
    head = read_header(ROIS / "vtest.csv")
    assert head["kind"].startswith("derived") and head["source_name"] == "vtest.avi"
    assert head["command"].startswith("edgesim trace from-video")
    assert int(head["warmup_frames"]) > 0 and head["fps"] == "10.0"
    df = _read(ROIS / "vtest.csv")
    assert len(df) == 795 and (df.rois >= 0).all()
    if VTEST.is_file():
        assert head["source_sha256"] == hashlib.sha256(VTEST.read_bytes()).hexdigest()


def _camera_scenario(trace: Path, cameras: int, fps: float, duration: float,
                     column: str = "@member") -> dict:
    return {
        "name": "cams", "seed": 1, "duration": duration,
        "nodes": {"cam": {"count": cameras, "role": "camera"}, "server": {"executors": 4}},
        "workload": {
            "jobs": {"classify": {"stages": [{"model": "m", "node": "server"}]}},
            "sources": {"rois": {"at": "cam", "job": "classify", "arrivals": {
                "process": "trace", "file": str(trace), "format": "counts", "column": column,
                "interval": 1.0 / fps, "spread": "burst"}}},
        },
        "service": {"m": {"cpu": {"dist": "constant", "time": 1e-5}}},
        "metrics": {"interval": 1.0},
    }


@pytest.mark.parametrize("name,cameras,duration", [
    ("campus-24.csv", 24, 10.0), ("campus-24.csv", 24, 600.0), ("traffic-6.csv", 6, 600.0)])
def test_bundled_traces_replay_through_the_engine(name, cameras, duration):
    path = ROIS / name
    head = read_header(path)
    fps = float(head["fps"])
    trace = _read(path)
    df = edgesim.run(_camera_scenario(path, cameras, fps, duration)).requests
    got = df.source.value_counts()
    frames = trace[trace.time_s < duration - 1e-9]
    for k in range(cameras):
        assert got.get(f"rois.cam{k}", 0) == frames[f"cam{k}"].sum(), f"cam{k}"
    # All ROIs of a frame arrive at the frame's start.
    assert np.allclose(df.created * fps, np.round(df.created * fps), atol=1e-6)
    if duration >= float(head["duration_s"]):
        idle = {int(k) for k in head["idle"].split()}
        assert all(got.get(f"rois.cam{k}", 0) > 0 for k in range(cameras) if k not in idle)


def test_bundled_vtest_trace_replays_through_the_engine():
    sc = _camera_scenario(ROIS / "vtest.csv", 1, 10.0, 80.0, column="rois")
    df = edgesim.run(sc).requests
    assert len(df) == _read(ROIS / "vtest.csv").rois.sum()


# ---------------------------------------------------------------------------------- the guide

def test_guide_commands_parse(monkeypatch):
    monkeypatch.chdir(REPO)                        # the guide's paths are relative to the root
    text = GUIDE.read_text(encoding="utf-8")
    seen = 0
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("edgesim "):
                if "shared/data" in line and not VIDEO.is_dir():
                    continue
                if "$(" in line:        # a shell substitution: its value is not known here
                    continue
                argv = shlex.split(line)[1:]
                ctx = main.make_context("edgesim", list(argv), resilient_parsing=False)
                sub = main.get_command(ctx, argv[0])
                sub_ctx = sub.make_context(argv[0], argv[1:], parent=ctx)
                if hasattr(sub, "get_command") and len(argv) > 1:
                    leaf = sub.get_command(sub_ctx, argv[1])
                    assert leaf is not None, line
                    leaf.make_context(argv[1], argv[2:], parent=sub_ctx)
                seen += 1
    assert seen >= 3


@needs_cv2
def test_a_truncated_video_is_refused_with_its_counts(tmp_path):
    import cv2

    from edgesim.video.roi import RoiParams, VideoError, extract_rois
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(40):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[10:20, i:i + 10] = 255
        w.write(frame)
    w.release()
    assert len(extract_rois(path, RoiParams()).frames) == 40
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match=r"says 40 frames but only \d+ could be read"):
        extract_rois(cut, RoiParams())
    n = int(re.search(r"only (\d+)", str(pytest.raises(VideoError, extract_rois, cut,
                                                         RoiParams()).value))[1])
    assert len(extract_rois(cut, RoiParams(), max_frames=n).frames) == n


def test_the_guide_lists_every_bundled_trace():
    text = GUIDE.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w.-]+\.csv)` \|", text, flags=re.M))
    shipped = {p.name for p in (REPO / "traces" / "rois").glob("*.csv")}
    assert listed == shipped, f"camera-traces.md lists {sorted(listed)}, traces/rois has {sorted(shipped)}"
    for name in shipped:
        assert f"traces/rois/{name}" in text, f"no command for {name} in the guide"
