"""Tests for edgesim.metrics.plots and edgesim.metrics.atomic."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgesim.metrics.plots import write_run_plots
from edgesim.metrics.atomic import (
    atomic_path,
    write_bytes_atomic,
    write_parquet_atomic,
    write_text_atomic,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOT_NAMES = ["latency_cdf.png", "throughput.png", "queues.png", "utilization.png"]
REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ synthetic data

def make_requests(n: int = 400, seed: int = 0, spread: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = np.sort(rng.uniform(0, 100, n))
    wait = rng.exponential(0.01, n)
    service = rng.lognormal(np.log(0.02), spread, n)
    outcome = rng.choice(["completed", "dropped", "failed", "timed_out"], n, p=[0.85, 0.05, 0.05, 0.05])
    started = created + wait
    finished = np.where(outcome == "completed", started + service, np.nan)
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "source": [f"cam{i % 3}" for i in range(n)],
        "job": "detect",
        "created": created,
        "started": started,
        "finished": finished,
        "latency": finished - created,
        "wait": wait,
        "service": service,
        "nodes": [f"cam{i % 3}>edge{i % 2}" for i in range(n)],
        "batch": rng.integers(1, 5, n),
        "bytes": rng.integers(1_000, 100_000, n).astype(np.int64),
        "outcome": outcome,
        "warmup": created < 10.0,
    })


def make_timeseries(n_nodes: int = 3, n_samples: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(1, n_samples + 1):
        for j in range(n_nodes):
            executors = 1 + j % 4
            busy = float(rng.uniform(0, executors))
            completed = int(rng.integers(0, 30))
            rows.append({
                "time": k * 2.0, "node": f"edge{j}", "queue": float(rng.exponential(2.0)),
                "busy": busy, "executors": executors, "utilization": busy / executors,
                "completed": completed, "throughput": completed / 2.0,
            })
    return pd.DataFrame(rows)


def make_summary(nodes, slo_s=0.05, **extra) -> dict:
    summary = {
        "scenario": "smart-city", "policy": "least-loaded", "seed": 7, "slo_s": slo_s,
        "latency_s": {"mean": 0.03, "p50": 0.02, "p75": 0.04, "p95": 0.08, "p99": 0.15, "max": 0.4},
        "utilization": {n: (i * 0.37) % 1.0 for i, n in enumerate(nodes)},
    }
    summary.update(extra)
    return summary


def assert_valid_plots(paths, out_dir: Path) -> None:
    assert [p.name for p in paths] == PLOT_NAMES
    for p in paths:
        assert p.parent == out_dir
        assert p.is_file(), p
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC, p
        assert len(data) > 5_000, (p, len(data))
    assert_no_temp_files(out_dir)


def assert_no_temp_files(directory: Path) -> None:
    leftovers = [p.name for p in directory.iterdir() if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == []


# ---------------------------------------------------------------------------------- plots

def test_write_run_plots_typical(tmp_path):
    out = tmp_path / "figs" / "nested"  # created if missing
    ts = make_timeseries(3)
    paths = write_run_plots(make_requests(), ts, make_summary(sorted(ts.node.unique())), out)
    assert_valid_plots(paths, out)


def test_write_run_plots_no_completions(tmp_path):
    req = make_requests(50)
    req["outcome"] = "dropped"
    req["finished"] = np.nan
    req["latency"] = np.nan
    summary = make_summary(["edge0"], latency_s={k: float("nan") for k in ("mean", "p50", "p95", "p99")})
    paths = write_run_plots(req, make_timeseries(1), summary, tmp_path)
    assert_valid_plots(paths, tmp_path)


def test_write_run_plots_fully_empty(tmp_path):
    req = make_requests(0)
    ts = make_timeseries(0, 0)
    summary = {"scenario": "empty", "policy": "none", "seed": 0, "slo_s": None,
               "latency_s": {}, "utilization": {}}
    paths = write_run_plots(req, ts, summary, tmp_path)
    assert [p.name for p in paths] == PLOT_NAMES
    for p in paths:
        assert p.read_bytes()[:8] == PNG_MAGIC
    assert_no_temp_files(tmp_path)


def test_empty_plot_says_no_completed_requests(tmp_path, monkeypatch):
    """The latency figure carries the placeholder text instead of crashing."""
    from matplotlib.figure import Figure

    seen = []
    original = Figure.savefig

    def spy(self, *args, **kwargs):
        seen.extend(t.get_text() for ax in self.axes for t in ax.texts)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    write_run_plots(make_requests(0), make_timeseries(1), make_summary(["edge0"]), tmp_path)
    assert "no completed requests" in seen


def test_write_run_plots_single_node_with_nans(tmp_path):
    ts = make_timeseries(1)
    ts.loc[ts.index[::5], ["queue", "throughput", "utilization"]] = np.nan
    req = make_requests(200)
    req.loc[req.index[::7], "latency"] = np.nan
    summary = make_summary(["edge0"], slo_s=None)
    summary["utilization"] = {"edge0": float("nan")}
    paths = write_run_plots(req, ts, summary, tmp_path)
    assert_valid_plots(paths, tmp_path)


def test_write_run_plots_many_nodes_wide_latency(tmp_path):
    ts = make_timeseries(40, 30)
    # latency spanning > 2 decades exercises the log axis; percentiles computed from data
    req = make_requests(1000, spread=2.5)
    summary = make_summary(sorted(ts.node.unique()), latency_s={})
    paths = write_run_plots(req, ts, summary, tmp_path)
    assert_valid_plots(paths, tmp_path)


def test_write_run_plots_overwrites_existing(tmp_path):
    (tmp_path / "queues.png").write_bytes(b"stale")
    ts = make_timeseries(2)
    write_run_plots(make_requests(), ts, make_summary(["edge0", "edge1"]), tmp_path)
    assert (tmp_path / "queues.png").read_bytes()[:8] == PNG_MAGIC


def test_no_warnings_from_edge_cases(tmp_path):
    ts = make_timeseries(20, 10)
    ts.loc[ts.time == 2.0, "queue"] = np.nan  # an all-NaN time row in the many-node aggregate
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_run_plots(make_requests(0), ts, make_summary(sorted(ts.node.unique())), tmp_path)


def test_import_does_not_load_pyplot():
    code = ("import sys, edgesim.metrics.plots; "
            "assert 'matplotlib.pyplot' not in sys.modules; "
            "assert 'matplotlib' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO_ROOT)


def test_plotting_does_not_use_pyplot(tmp_path):
    code = ("import sys, pathlib, pandas as pd; from edgesim.metrics.plots import write_run_plots; "
            f"write_run_plots(pd.DataFrame(), pd.DataFrame(), {{}}, pathlib.Path({str(tmp_path)!r})); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO_ROOT)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PLOT_NAMES)


# ---------------------------------------------------------------------------------- atomic

def test_atomic_path_temp_name_and_replace(tmp_path):
    target = tmp_path / "out.parquet"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".out.parquet.")
        assert tmp.suffix == ".parquet"
        assert ".tmp" in tmp.name
        assert not target.exists()
        tmp.write_text("hello")
    assert target.read_text() == "hello"
    assert not tmp.exists()
    assert_no_temp_files(tmp_path)


def test_atomic_path_exception_leaves_target_untouched(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("original")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("boom")
    assert not tmp.exists()
    assert target.read_text() == "original"
    assert_no_temp_files(tmp_path)


def test_atomic_path_exception_without_existing_target(tmp_path):
    target = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_atomic_path_file_mode(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "a.txt"
    write_text_atomic(target, "x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    os.chmod(target, 0o600)
    write_text_atomic(target, "y")  # an existing file keeps its mode
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_write_text_and_bytes_atomic(tmp_path):
    write_text_atomic(tmp_path / "t.txt", "line1\nline2 \u00b5s\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "line1\nline2 \u00b5s\n"
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01\xff"
    write_text_atomic(str(tmp_path / "t.txt"), "replaced")  # str paths and overwrite
    assert (tmp_path / "t.txt").read_text() == "replaced"
    assert_no_temp_files(tmp_path)


def test_write_parquet_atomic_round_trip(tmp_path):
    df = make_requests(100)
    path = tmp_path / "requests.parquet"
    write_parquet_atomic(df, path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, df, check_dtype=True)
    assert back["id"].dtype == np.int64
    assert back["bytes"].dtype == np.int64
    assert back["warmup"].dtype == bool
    assert back["latency"].dtype == np.float64
    assert back["latency"].isna().sum() == df["latency"].isna().sum()
    assert_no_temp_files(tmp_path)


def test_write_parquet_atomic_drops_index_and_failure_cleans_up(tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 20, 30])
    path = tmp_path / "x.parquet"
    write_parquet_atomic(df, path)
    back = pd.read_parquet(path)
    assert list(back.columns) == ["a"]
    assert list(back.index) == [0, 1, 2]
    bad = pd.DataFrame({"obj": [object()]})  # pyarrow cannot serialise this
    with pytest.raises(Exception):
        write_parquet_atomic(bad, path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), back)
    assert_no_temp_files(tmp_path)
