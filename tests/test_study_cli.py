"""`edgesim sweep` and `edgesim plot` from the command line."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from edgesim.cli.app import main

REPO = Path(__file__).resolve().parents[1]
MMC = REPO / "scenarios" / "queueing" / "mmc.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"""
description: test sweep
base: {MMC}
replications: 2
set: {{duration: 600s, warmup: 60s}}
grid:
  nodes.server.executors: [4, 5]
  workload.sources.arrivals.arrivals.rate: [2.0, 3.0]
zip:
  policy.name: [least-loaded]
metrics: [wait_s.mean, slo_miss_rate, latency_s.p99]
""", encoding="utf-8")
    return path


def test_sweep_then_plot(tmp_path):
    out = tmp_path / "out"
    r = cli("sweep", _sweep_file(tmp_path), "-o", out, "--workers", "1")
    assert r.exit_code == 0, r.output
    assert "8 runs (8 executed, 0 already done, 0 failed)" in r.output
    assert (out / "summary.csv").exists() and (out / "sweep.json").exists()
    again = cli("sweep", _sweep_file(tmp_path), "-o", out, "--workers", "1", "-q")
    assert "8 runs (0 executed, 8 already done, 0 failed)" in again.output

    png = tmp_path / "wait.png"
    r = cli("plot", out, "--x", "workload.sources.arrivals.arrivals.rate", "--y", "wait_s.mean",
            "--hue", "nodes.server.executors", "-o", png)
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == PNG_MAGIC
    # Any metric of the runs, not only those of summary.parquet; default file name.
    r = cli("plot", out, "--x", "nodes.server.executors", "--y", "utilization.server0")
    assert r.exit_code == 0, r.output
    assert (out / "plots" / "utilization.server0-vs-nodes.server.executors.png").exists()
    # A categorical axis (one value here) plots too.
    r = cli("plot", out, "--x", "policy.name", "--y", "latency_s.p99")
    assert r.exit_code == 0, r.output

    bad = cli("plot", out, "--x", "nodes.server.executor", "--y", "wait_s.mean")
    assert bad.exit_code == 2
    assert "error: --x 'nodes.server.executor' is not one of this sweep's axes (did you mean " \
           "'nodes.server.executors'?)" in bad.output
    bad = cli("plot", out, "--x", "nodes.server.executors", "--y", "wait.mean")
    assert bad.exit_code == 2 and "valid: " in bad.output and "wait_s.mean" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = cli("plot", empty, "--x", "a", "--y", "b")
    assert bad.exit_code == 2 and "is not a finished sweep folder" in bad.output


def test_sweep_mistakes_exit_2_with_located_messages(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(f"base: {MMC}\ngrid:\n  nodes.server.executors: [0]\n", encoding="utf-8")
    r = cli("sweep", path, "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert r.output.strip() == f"{path}:3: nodes.server.executors: 0: must be >= 1"
    r = cli("sweep", _sweep_file(tmp_path), "-o", tmp_path / "out", "--set", "duration=-1s")
    assert r.exit_code == 2 and r.output.startswith("--set duration=-1s: duration: ")
    r = cli("sweep", _sweep_file(tmp_path), "--executor", "local", "--scheduler",
            "tcp://127.0.0.1:1")
    assert r.exit_code == 2 and "use it with --executor dask" in r.output
    r = cli("sweep", tmp_path / "nowhere.yaml")
    assert r.exit_code == 2 and "sweep file not found" in r.output


def test_metrics_typo_is_reported_after_the_runs_are_kept(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(f"base: {MMC}\nset: {{duration: 300s, warmup: 30s}}\n"
                    "metrics: [wait_s.mean, latency.p99]\n", encoding="utf-8")
    r = cli("sweep", path, "-o", tmp_path / "out", "--workers", "1")
    assert r.exit_code == 2
    assert r.output.startswith(f"{path}:3: metrics.1: 'latency.p99': not a numeric summary metric "
                               "of these runs (did you mean 'latency_s.p99'?)")
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert (runs.status == "ok").all()          # the runs are kept; fixing the name reruns none


def test_bundled_sweep_by_name(tmp_path):
    r = cli("sweep", "studies/mmc-sweep", "-o", tmp_path / "o", "--replications", "1",
            "--set", "duration=300s", "--set", "warmup=30s", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    assert "8 runs (8 executed" in r.output


def test_studies_guide_commands_and_sweep_files_are_real(tmp_path):
    """docs/guides/studies.md: every `edgesim` line parses with real options, every ```yaml
    block is a valid sweep file, and the first one is the bundled mmc-sweep."""
    import yaml

    from edgesim.study import read_sweep
    from tests.test_docs import _SHELL, _assert_parses, blocks, edgesim_lines

    guide = REPO / "docs" / "guides" / "studies.md"
    commands = sweeps_found = 0
    for lang, body, line in blocks(guide):
        if lang in _SHELL:
            for argv, _code, text in edgesim_lines(body.replace("\\\n", " ")):
                _assert_parses(argv, f"studies.md:{line}: {text}")
                commands += 1
        elif lang == "yaml":
            read_sweep(yaml.safe_load(body), base_dir=REPO / "scenarios" / "studies")
            sweeps_found += 1
    assert commands >= 8 and sweeps_found >= 2
    first = yaml.safe_load(next(b for lang, b, _ in blocks(guide) if lang == "yaml"))
    bundled = yaml.safe_load((REPO / "scenarios" / "studies" / "mmc-sweep.yaml").read_text())
    assert {k: v for k, v in first.items() if k != "description"} == \
        {k: v for k, v in bundled.items() if k != "description"}
