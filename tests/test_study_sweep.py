"""Sweeps: identical tables on every executor, resuming after a kill, failures per run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from edgesim.policies.base import Policy, PolicyConfig
from edgesim.policies import registry
from edgesim.study import run_sweep
from edgesim.study.tables import TIMING

REPO = Path(__file__).resolve().parents[1]
MMC_SWEEP = REPO / "scenarios" / "studies" / "mmc-sweep.yaml"
SHORT = ["duration=1000s", "warmup=100s"]


def _same_tables(a, b) -> None:
    keep = [c for c in a.runs.columns if c not in TIMING]
    pd.testing.assert_frame_equal(a.runs[keep], b.runs[keep], check_exact=True)
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)


def test_local_and_dask_give_identical_tables(tmp_path):
    """The bundled M/M/c sweep: 8 configurations x 3 replications on a 2-process pool, on a
    Dask LocalCluster (2 workers, threads) and in this process; every table equal bit for bit."""
    pytest.importorskip("distributed", reason="needs the dask extra (pip install -e .[dask])")
    pool = run_sweep(MMC_SWEEP, tmp_path / "pool", executor="local", workers=2, sets=SHORT)
    dask = run_sweep(MMC_SWEEP, tmp_path / "dask", executor="dask", workers=2, processes=False,
                     sets=SHORT)
    here = run_sweep(MMC_SWEEP, tmp_path / "here", executor="local", workers=1, sets=SHORT)
    assert len(pool.plan.configs) == 8 and pool.plan.replications == 3
    assert len(pool.runs) == 24 and (pool.runs.status == "ok").all()
    assert pool.executed == dask.executed == here.executed == 24
    _same_tables(pool, dask)
    _same_tables(pool, here)
    # The files say the same as the returned tables.
    on_disk = pd.read_parquet(tmp_path / "dask" / "runs.parquet")
    pd.testing.assert_frame_equal(on_disk, dask.runs, check_exact=True)
    csv = pd.read_csv(tmp_path / "dask" / "summary.csv")
    assert len(csv) == 8 * 5 and list(csv.metric.unique()) == [
        "wait_s.mean", "latency_s.mean", "latency_s.p99", "utilization.server0",
        "throughput_ips.avg"]
    # Every run has its own directory, as `edgesim run` writes it.
    for key in pool.runs.key:
        d = tmp_path / "dask" / "runs" / key
        assert {"summary.json", "requests.parquet", "timeseries.parquet",
                "scenario.resolved.yaml"} <= {p.name for p in d.iterdir()}


def test_replications_use_common_seeds_and_differ(tmp_path):
    res = run_sweep(MMC_SWEEP, tmp_path, workers=1, sets=SHORT, replications=2)
    runs = res.runs
    # Same replication index -> same seed in every configuration (common random numbers);
    # different replications -> different seeds and different results.
    assert runs.groupby("replication").seed.nunique().eq(1).all()
    assert runs.seed.nunique() == 2
    first = runs[runs.config == 0]
    assert first["wait_s.mean"].nunique() == 2
    # The summary's interval is the Student-t one over the replications.
    row = res.summary[(res.summary.config == 0) & (res.summary.metric == "wait_s.mean")].iloc[0]
    assert row.n == 2 and row.ci_low < row["mean"] < row.ci_high
    assert row["mean"] == pytest.approx(first["wait_s.mean"].mean(), rel=1e-12)


@pytest.mark.parametrize("workers,chunk", [(2, 1), (2, 5), (2, None), (1, 3)])
def test_tables_do_not_depend_on_workers_or_chunks(tmp_path, workers, chunk):
    """Same seeds -> the same tables bit for bit as the serial run, whatever the worker count
    and however the runs are grouped into chunks (5 leaves an uneven last chunk)."""
    kw = dict(sets=SHORT, replications=2)
    serial = run_sweep(MMC_SWEEP, tmp_path / "serial", workers=1, **kw)
    other = run_sweep(MMC_SWEEP, tmp_path / "other", workers=workers, chunk=chunk, **kw)
    assert serial.executed == other.executed == 16 and other.failed == 0
    _same_tables(serial, other)
    assert list(other.runs.key) == list(serial.runs.key) == list(serial.plan.tasks)


def test_chunk_sizes_and_order():
    from edgesim.errors import UserError
    from edgesim.study.executors import chunk_size, chunks
    assert chunk_size(16, 2) == 2 and chunk_size(7, 2) == 1 and chunk_size(0, 4) == 1
    assert chunk_size(10_000, 2) == 16 and chunk_size(10_000, 2, 100) == 100
    with pytest.raises(UserError):
        chunk_size(10, 2, 0)
    parts = chunks(list(range(11)), 4)
    assert parts == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10)]


def test_pool_lives_for_every_run_of_the_executor(tmp_path):
    """One pool for the whole `with` block: two batches of runs share the same processes, and
    progress still counts every run when runs travel in chunks."""
    from edgesim.study.executors import LocalExecutor
    from edgesim.study.plan import cli_settings, make_plan
    from edgesim.study.sweep import execute, load
    plan = make_plan(load(MMC_SWEEP), tmp_path, cli_settings(SHORT), 1, None, False)
    tasks = list(plan.tasks.values())
    seen = []
    with LocalExecutor(2, chunk=3) as ex:
        pool = ex._pool
        out, executed, _ = execute(tasks[:4], ex, lambda d, t, lab: seen.append((d, t)))
        pids = {ex._pool.submit(os.getpid).result() for _ in range(8)}
        more = list(ex.run(tasks[4:]))
        assert ex._pool is pool
        pids |= {ex._pool.submit(os.getpid).result() for _ in range(8)}
    assert len(pids) <= 2 and os.getpid() not in pids
    assert executed == 4 and seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(o["status"] == "ok" for o in list(out.values()) + more)
    assert {o["key"] for o in more} == {t.key for t in tasks[4:]}


def test_a_lost_chunk_keeps_its_finished_runs(tmp_path):
    """A worker that dies in the middle of a chunk: the runs it saved count as done."""
    from edgesim.study.executors import _lost
    from edgesim.study.plan import cli_settings, make_plan
    from edgesim.study.sweep import load
    from edgesim.study.worker import run_task
    plan = make_plan(load(MMC_SWEEP), tmp_path, cli_settings(SHORT), 1, None, False)
    a, b = list(plan.tasks.values())[:2]
    assert run_task(a)["status"] == "ok"
    got = list(_lost((a, b), "worker died: boom"))
    assert [o["status"] for o in got] == ["ok", "failed"] and got[1]["error"] == "worker died: boom"


def test_worker_scenario_cache_matches_read_and_sees_edits(tmp_path):
    """load_scenario() gives what read() gives, parses the base once, and re-reads an edit."""
    from edgesim.scenario.loader import read
    from edgesim.study import worker
    base = tmp_path / "base.yaml"
    base.write_text((REPO / "scenarios" / "queueing" / "mmc.yaml").read_text())
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nduration: 300s\n")
    worker.clear_cache()
    for f, sets in [(child, ["warmup=10s"]), (child, ["warmup=20s"]), (base, [])]:
        want, got = read(str(f), sets), worker.load_scenario(str(f), tuple(sets))
        assert got.spec.model_dump() == want.spec.model_dump()
        assert (got.data, got.lines, got.origins, got.file, got.base_dir) == (
            want.data, want.lines, want.origins, want.file, want.base_dir)
    assert len(worker._parsed) == 2
    text = base.read_text().replace("executors: 4", "executors: 6")
    base.write_text(text + "\n")          # a different size: seen even within one mtime tick
    assert worker.load_scenario(str(child)).spec.model_dump() == read(str(child)).spec.model_dump()
    assert worker.load_scenario(str(child)).data["nodes"]["server"]["executors"] == 6
    # A bad override is reported as read() reports it, file and line included.
    from edgesim.errors import ScenarioError
    with pytest.raises(ScenarioError) as mine:
        worker.load_scenario(str(child), ("nodes.server.executors=-1",))
    with pytest.raises(ScenarioError) as theirs:
        read(str(child), ["nodes.server.executors=-1"])
    assert str(mine.value) == str(theirs.value)
    worker.clear_cache()


def _summaries(out: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}


def test_sweep_killed_midway_resumes_with_the_missing_runs_only(tmp_path):
    """SIGKILL a real `edgesim sweep` after a few runs, then run the same command again."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "edgesim", "sweep", str(MMC_SWEEP), "-o", str(out), "-q",
            "--workers", "1", "--replications", "1", "--set", "duration=20000s"]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while len(_summaries(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = _summaries(out)
    assert 3 <= len(before) < 8, f"kill came too late or too early: {len(before)} runs done"
    assert not (out / "runs.parquet").exists()            # killed before the tables

    res = run_sweep(MMC_SWEEP, out, workers=1, replications=1, sets=["duration=20000s"])
    assert res.skipped == len(before) and res.executed == 8 - len(before)
    assert (res.runs.status == "ok").all() and len(res.runs) == 8
    after = _summaries(out)
    assert {k: after[k] for k in before} == before         # finished runs were not redone
    # Rows of skipped runs come from their summary.json, like the others.
    for _, row in res.runs.iterrows():
        s = json.loads((out / "runs" / row.key / "summary.json").read_text())
        assert s["wait_s"]["mean"] == row["wait_s.mean"]


def test_interrupt_keeps_finished_runs(tmp_path):
    """Deterministic: a KeyboardInterrupt after the third run; the rerun executes the rest."""
    def stop_at_three(done, total, label):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(MMC_SWEEP, tmp_path, workers=1, sets=SHORT, progress=stop_at_three)
    assert len(_summaries(tmp_path)) == 3
    res = run_sweep(MMC_SWEEP, tmp_path, workers=1, sets=SHORT)
    assert (res.executed, res.skipped, res.failed) == (21, 3, 0)


class _ExplodeConfig(PolicyConfig):
    explode: bool = False


class _Explode(Policy):
    """Places on the first candidate, or raises at the first decision when told to."""

    name = "test-explode"
    description = "test policy that fails at run time"
    Config = _ExplodeConfig

    def place(self, req, stage, candidates):
        if self.config.explode:
            raise RuntimeError("boom at run time")
        return candidates[0]


@pytest.fixture
def explode_policy():
    """The policy above, registered for one test (in this process only: runs use --workers 1)."""
    registry.available()
    saved = dict(registry._REGISTRY)
    registry.register(_Explode)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_a_failed_run_is_reported_and_the_sweep_goes_on(tmp_path, explode_policy):
    sweep = {
        "base": str(REPO / "tests" / "data" / "multi.yaml"),
        "replications": 2,
        "set": {"policy": {"name": "test-explode"}},
        "grid": {"policy.params.explode": [False, True]},
    }
    res = run_sweep(sweep, tmp_path, workers=1)
    runs = res.runs
    assert list(runs.status) == ["ok", "ok", "failed", "failed"]
    assert res.failed == 2
    bad = runs[runs.status == "failed"]
    assert bad.error.str.contains("boom at run time").all()
    assert bad["latency_s.mean"].isna().all()
    for key in bad.key:
        d = tmp_path / "runs" / key
        assert not (d / "summary.json").exists()
        assert "RuntimeError: boom at run time" in (d / "error.txt").read_text()
    summary = res.summary[res.summary.metric == "latency_s.mean"]
    assert list(summary.n) == [2, 0] and list(summary.failed) == [0, 2]


def test_cli_reports_failed_runs_and_exits_1(tmp_path, explode_policy):
    from click.testing import CliRunner

    from edgesim.cli.app import main
    path = tmp_path / "s.yaml"
    path.write_text(f"base: {REPO / 'tests' / 'data' / 'multi.yaml'}\n"
                    "set: {policy: {name: test-explode}}\n"
                    "grid: {policy.params.explode: [false, true]}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["sweep", str(path), "-o", str(tmp_path / "o"),
                                       "--workers", "1", "-q"])
    assert result.exit_code == 1, result.output
    assert "failed: run " in result.output and "(configuration 1, replication 0): " \
        "RuntimeError: boom at run time" in result.output
    assert "2 runs (2 executed, 0 already done, 1 failed)" in result.output
