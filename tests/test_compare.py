"""`edgesim compare`: tables (Distream Table 1.2 layout) and plots comparing run directories.

Three tiny real runs (two cameras that can serve requests themselves, one edge server; policies
static, round-robin and random; 20 s simulated) are saved once per module. The table's numbers
are checked against independent pandas computations on the Parquet files.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import edgesim
from edgesim.analysis import compare as cmpmod
from edgesim.analysis.compare import (
    CompareError,
    assign_labels,
    box_stats,
    compare,
    imbalance_index,
    to_markdown,
    window_ips,
)
from edgesim.analysis.compare_plots import PLOT_NAMES
from edgesim.cli.app import main

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
POLICIES = ("static", "round-robin", "random")
STATS = ("avg", "median", "p75", "p99")
WARMUP = 2.0


def scenario(policy: str) -> dict:
    """Two cameras (each with its own ROI source, arrivals above its own capacity) that may
    serve locally or send to one two-executor edge server."""
    return {
        "name": "cmp", "seed": 3, "duration": 20.0, "warmup": WARMUP,
        "nodes": {"cam": {"count": 2, "executors": 1, "role": "camera"},
                  "edge": {"count": 1, "executors": 2}},
        "workload": {
            "sources": {"rois": {"at": "cam", "job": "j",
                                 "arrivals": {"process": "poisson", "rate": 6.0}}},
            "jobs": {"j": {"stages": [{"model": "m", "node": ["cam", "edge"]}]}},
        },
        "service": {"m": {"cpu": {"dist": "exponential", "mean": 0.2}}},
        "metrics": {"interval": 1.0, "slo": 1.0},
        "policy": {"name": policy},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for policy in POLICIES:
        out[policy] = edgesim.run(scenario(policy)).save(base / policy, plots=False)
    return out


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory):
    """`edgesim compare` run once through the CLI: (CliRunner result, output folder)."""
    out = tmp_path_factory.mktemp("cmp") / "compare"
    result = CliRunner().invoke(main, ["compare", *map(str, runs.values()), "--baseline",
                                       "static", "-o", str(out)])
    return result, out


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


# ------------------------------------------------------------------ independent computations

def ips_from_parquet(run: Path) -> pd.Series:
    ts = pd.read_parquet(run / "timeseries.parquet")
    g = ts.groupby("time", observed=True)
    return g["completed"].sum() / g["interval"].first()


def latency_from_parquet(run: Path) -> pd.Series:
    req = pd.read_parquet(run / "requests.parquet")
    return req[(req.outcome == "completed") & ~req.warmup].latency


def stats(s: pd.Series) -> dict[str, float]:
    return {"avg": s.mean(), "median": s.median(), "p75": s.quantile(0.75),
            "p99": s.quantile(0.99)}


# ----------------------------------------------------------------------------------- tables

def test_timeseries_holds_only_post_warmup_rows(runs):
    for run in runs.values():
        ts = pd.read_parquet(run / "timeseries.parquet")
        assert (ts.time - ts.interval >= WARMUP - 1e-9).all()
        assert ts.time.min() == pytest.approx(WARMUP + 1.0)


def test_cli_succeeds_and_prints_the_tables(compared):
    result, out = compared
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert "## Performance gain over static" in result.output
    assert "| static (baseline) | 1.00x | 1.00x | 1.00x | 1.00x | 1.00x" in result.output
    assert (out / "comparison.md").read_text() in result.output


def test_table_numbers_equal_independent_computations(runs, compared):
    _result, out = compared
    table = pd.read_csv(out / "comparison.csv").set_index("label")
    assert list(table.index) == list(POLICIES)
    base_ips = stats(ips_from_parquet(runs["static"]))
    base_lat = stats(latency_from_parquet(runs["static"]))
    for policy, run in runs.items():
        row = table.loc[policy]
        ips, lat = stats(ips_from_parquet(run)), stats(latency_from_parquet(run))
        for k in STATS:
            assert row[f"throughput_{k}_ips"] == pytest.approx(ips[k], rel=1e-12)
            assert row[f"latency_{k}_s"] == pytest.approx(lat[k], rel=1e-12)
            assert row[f"throughput_gain_{k}"] == pytest.approx(ips[k] / base_ips[k], rel=1e-12)
            assert row[f"latency_reduction_{k}"] == pytest.approx(base_lat[k] / lat[k],
                                                                  rel=1e-12)
        summary = json.loads((run / "summary.json").read_text())
        assert row["slo_miss_rate"] == pytest.approx(summary["slo_miss_rate"], rel=1e-12)
        assert row["slo_s"] == 1.0
        assert row["completed"] == summary["requests"]["completed"]
        # The per-window IPS agrees with the summary's inference_ips (full 1 s windows).
        for k in STATS:
            assert row[f"throughput_{k}_ips"] == pytest.approx(summary["inference_ips"][k])
    # The scenario makes a difference the table shows: balancing beats the static split.
    assert table.loc["round-robin", "latency_reduction_avg"] > 1.5
    assert table.loc["static", "slo_miss_rate"] > table.loc["round-robin", "slo_miss_rate"]


def test_baseline_row_is_exactly_one(compared):
    _result, out = compared
    table = pd.read_csv(out / "comparison.csv").set_index("label")
    assert bool(table.loc["static", "baseline"]) is True
    assert not table.loc[["round-robin", "random"], "baseline"].any()
    for k in STATS:
        assert table.loc["static", f"throughput_gain_{k}"] == 1.0
        assert table.loc["static", f"latency_reduction_{k}"] == 1.0


def test_csv_columns_are_machine_friendly(compared):
    _result, out = compared
    text = (out / "comparison.csv").read_text()
    header = text.splitlines()[0].split(",")
    assert header[:6] == ["label", "baseline", "run_dir", "scenario", "policy", "seed"]
    for k in STATS:
        assert {f"throughput_gain_{k}", f"latency_reduction_{k}", f"throughput_{k}_ips",
                f"latency_{k}_s"} <= set(header)
    assert {"slo_s", "slo_miss_rate", "windows", "completed", "imbalance_mean",
            "queued_mean"} <= set(header)
    assert all(h == h.lower() and " " not in h for h in header)
    assert len(text.splitlines()) == 1 + len(POLICIES)


def test_markdown_has_the_papers_layout(runs, compared):
    _result, out = compared
    md = (out / "comparison.md").read_text()
    assert "| | Throughput avg | med | 75th | 99th | Latency avg | med | 75th | 99th |" in \
        md.replace("|  |", "| |")
    assert "SLO miss rate" in md and "Throughput (IPS) avg" in md and "Latency (s) avg" in md
    table = pd.read_csv(out / "comparison.csv").set_index("label")
    gain = table.loc["round-robin", "throughput_gain_avg"]
    red = table.loc["round-robin", "latency_reduction_p99"]
    line = next(x for x in md.splitlines() if x.startswith("| round-robin |"))
    assert f"{gain:.2f}x" in line and f"{red:.2f}x" in line
    miss = table.loc["static", "slo_miss_rate"]
    assert f"{100 * miss:.1f} %" in md


def test_imbalance_and_queued_work_equal_independent_computations(runs):
    cmp = compare([runs[p] for p in POLICIES], "static")
    for policy, run in runs.items():
        ts = pd.read_parquet(run / "timeseries.parquet")
        ts["u"] = ts.queue + ts.busy
        cams = ts[ts.node.astype(str).isin(["cam0", "cam1"])]
        u = cams.pivot(index="time", columns="node", values="u")
        expect = u.max(axis=1) / u.mean(axis=1) - 1
        got = cmp.imbalance[policy]
        np.testing.assert_allclose(got.to_numpy(), expect.fillna(0).to_numpy(), rtol=1e-12)
        queued = ts.groupby("time", observed=True).queue.sum()
        np.testing.assert_allclose(cmp.queued[policy].to_numpy(), queued.to_numpy(), rtol=1e-12)
        assert cmp.camera_names[policy] == ["cam0", "cam1"]
    row = cmp.table.set_index("label").loc["random"]
    assert row["imbalance_mean"] == pytest.approx(cmp.imbalance["random"].mean())


# ------------------------------------------------------------------------------------ plots

def test_five_valid_pngs_and_no_temporary_files(compared):
    import matplotlib.image as mpimg

    _result, out = compared
    for name in PLOT_NAMES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200, name
        assert img[..., :3].std() > 0.01, name  # not a blank image
    assert len(PLOT_NAMES) == 5
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["comparison.md", "comparison.csv", *PLOT_NAMES])   # no hidden .tmp leftovers


def test_box_statistics_are_percentiles_not_iqr_whiskers():
    v = np.arange(1001, dtype=float)
    st = box_stats(v, "x")
    assert (st["whislo"], st["q1"], st["med"], st["q3"], st["whishi"]) == (
        10.0, 250.0, 500.0, 750.0, 990.0)
    assert st["fliers"] == [] and st["mean"] == 500.0 and st["label"] == "x"
    assert box_stats([], "empty") is None


def test_plots_without_cameras_or_slo_still_render(runs, tmp_path):
    result = cli("compare", runs["static"], runs["random"], "--baseline", "random",
                 "--cameras", "phone", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    for name in PLOT_NAMES:
        assert (tmp_path / "o" / name).read_bytes().startswith(PNG_MAGIC)
    table = pd.read_csv(tmp_path / "o" / "comparison.csv")
    assert table.imbalance_mean.isna().all()


def test_no_plots_writes_the_tables_only(runs, tmp_path):
    result = cli("compare", *runs.values(), "-b", "random", "-o", tmp_path / "t", "--no-plots")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["comparison.csv",
                                                                  "comparison.md"]


def test_default_output_folder_is_compare_in_the_current_folder(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("compare", runs["static"], runs["random"], "--baseline", "static",
                 "--no-plots")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "compare" / "comparison.md").is_file()


# ----------------------------------------------------------------------------------- labels

def test_labels_fall_back_to_directory_names_when_policies_repeat(runs, tmp_path):
    twin = tmp_path / "static-again"
    shutil.copytree(runs["static"], twin)
    result = cli("compare", runs["static"], twin, runs["random"], "--baseline", "static",
                 "-o", tmp_path / "o", "--no-plots")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "o" / "comparison.csv")
    assert list(table.label) == ["static", "static-again", "random"]
    # The same run twice: both rows are the baseline's numbers, gains exactly 1.
    assert (table.loc[1, [f"throughput_gain_{k}" for k in STATS]] == 1.0).all()
    assert list(table.baseline) == [True, False, False]


def test_label_modes(runs):
    loaded = [cmpmod.load_run(runs[p]) for p in POLICIES]
    assert assign_labels(loaded) == list(POLICIES)
    assert assign_labels(loaded, "dir") == list(POLICIES)   # the folders are named so
    # All three share the scenario: each falls back to its directory name.
    assert assign_labels(loaded, "scenario") == list(POLICIES)
    same = [cmpmod.load_run(runs["static"])] * 2
    labels = assign_labels(same, "dir")
    assert len(set(labels)) == 2 and labels[1].endswith("#2")
    result = cli("compare", runs["static"], runs["random"], "--label", "scenario",
                 "--baseline", "cmp")
    assert result.exit_code == 2 and "static, random" in result.output


def test_cli_label_choices_match_the_module():
    from edgesim.cli import compare as cli_compare
    assert cli_compare.LABEL_MODES == cmpmod.LABEL_MODES


# ----------------------------------------------------------------------------------- errors

def test_not_a_run_directory_exits_2_naming_it(runs, tmp_path):
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    result = cli("compare", runs["static"], empty, "--baseline", "static", "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert f"error: {empty}: not a run directory (no summary.json)" in result.output
    assert not (tmp_path / "o").exists()
    missing = tmp_path / "nowhere"
    result = cli("compare", missing, runs["static"], "--baseline", "static")
    assert result.exit_code == 2 and str(missing) in result.output


def test_unknown_baseline_exits_2_listing_the_labels(runs, tmp_path):
    result = cli("compare", *runs.values(), "--baseline", "least-loaded", "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert "unknown baseline 'least-loaded'" in result.output
    assert "static, round-robin, random" in result.output
    assert not (tmp_path / "o").exists()


def test_incomplete_run_directory_exits_2(runs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(runs["static"], broken)
    (broken / "timeseries.parquet").unlink()
    result = cli("compare", broken, runs["random"], "--baseline", "random")
    assert result.exit_code == 2 and "no timeseries.parquet" in result.output
    (broken / "summary.json").write_text("{not json")
    result = cli("compare", broken, runs["random"], "--baseline", "random")
    assert result.exit_code == 2 and "summary.json" in result.output


def test_compare_error_from_the_api(runs):
    with pytest.raises(CompareError, match="unknown baseline"):
        compare([runs["static"]], "nope")
    with pytest.raises(CompareError, match="no run directories"):
        compare([], "static")


def test_real_process_exits_2_without_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "edgesim", "compare", str(tmp_path),
                           "--baseline", "x"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "not a run directory" in proc.stderr and str(tmp_path) in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_help_lists_compare():
    result = cli("--help")
    assert "compare" in result.output
    result = cli("compare", "--help")
    assert result.exit_code == 0 and "--baseline" in result.output


# ------------------------------------------------------------------------- unit: the series

def test_window_ips_drops_a_tiny_final_interval():
    ts = pd.DataFrame({"time": [1.0, 1.0, 2.0, 2.0, 2.000001],
                       "node": ["a", "b", "a", "b", "a"],
                       "queue": 0.0, "busy": 0.0,
                       "completed": [3.0, 2.0, 4.0, 0.0, 1.0],
                       "interval": [1.0, 1.0, 1.0, 1.0, 1e-6]})
    ips = window_ips(ts, 1.0)
    assert ips.to_dict() == {1.0: 5.0, 2.0: 4.0}


def test_imbalance_is_zero_when_cameras_are_idle_and_ignores_other_nodes():
    ts = pd.DataFrame({"time": [1.0] * 3 + [2.0] * 3,
                       "node": ["cam0", "cam1", "edge0"] * 2,
                       "queue": [0.0, 0.0, 9.0, 3.0, 1.0, 0.0],
                       "busy": [0.0, 0.0, 1.0, 1.0, 1.0, 0.0],
                       "completed": 0.0, "interval": 1.0})
    v = imbalance_index(ts, "cam")
    assert v.to_dict() == {1.0: 0.0, 2.0: pytest.approx(4.0 / 3.0 - 1.0)}


def test_markdown_marks_missing_values(runs):
    cmp = compare([runs["static"], runs["random"]], "static")
    cmp.table.loc[1, "slo_miss_rate"] = None
    cmp.table.loc[1, "throughput_gain_p99"] = float("nan")
    md = to_markdown(cmp)
    assert "n/a" in md
