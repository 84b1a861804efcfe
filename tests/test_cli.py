"""The `edgesim` command line: run, check, schema, scenarios, policies, --version, --help.

Most tests invoke the click group in-process (CliRunner); a few start a real
`python -m edgesim` so the entry point itself is covered. Runs are short (`--duration 50s`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import edgesim
from edgesim.cli.app import main

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
VALID = DATA / "valid.yaml"
MULTI = DATA / "multi.yaml"
MMC = REPO / "scenarios" / "queueing" / "mmc.yaml"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = {"latency_cdf.png", "throughput.png", "queues.png", "utilization.png"}
SUMMARY_KEYS = {"scenario", "policy", "seed", "edgesim_version", "sim_time_s", "wall_time_s",
                "events", "stopped_by", "requests", "throughput_ips", "latency_s", "wait_s",
                "slo_s", "slo_miss_rate", "utilization", "littles_law", "measured_s", "speedup"}
REQUEST_COUNTS = {"generated", "completed", "dropped", "failed", "timed_out", "in_flight",
                  "warmup"}
REQUEST_COLUMNS = {"id", "source", "job", "created", "started", "finished", "latency", "wait",
                   "service", "nodes", "batch", "bytes", "outcome", "warmup", "ended"}
TIMESERIES_COLUMNS = {"time", "node", "queue", "busy", "executors", "utilization", "completed",
                      "throughput", "interval"}


def cli(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def ok(*args: str):
    result = cli(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def python_m(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "edgesim", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One quiet 50 s run of the small M/M/4 scenario, shared by the checks on its outputs."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = ok("run", VALID, "--duration", "50s", "-q", "-o", out)
    assert result.output == ""          # --quiet: no table, no progress bar
    return out


# ------------------------------------------------------------------------------ run

def test_run_writes_the_run_directory(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"requests.parquet", "timeseries.parquet", "summary.json", "scenario.resolved.yaml",
            "plots"} <= names
    assert {p.name for p in (run_dir / "plots").iterdir()} == PLOTS
    for png in (run_dir / "plots").iterdir():
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert png.stat().st_size > 1000
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]   # atomic writes cleaned up


def test_run_summary_has_the_required_keys(run_dir):
    s = summary(run_dir)
    assert SUMMARY_KEYS <= set(s)
    assert REQUEST_COUNTS <= set(s["requests"])
    assert {"avg", "median", "p75", "p99"} <= set(s["throughput_ips"])
    assert {"mean", "p50", "p75", "p95", "p99", "max"} <= set(s["latency_s"])
    assert {"mean", "p95"} <= set(s["wait_s"])
    assert {"L", "lambda", "W", "lambda_W", "rel_error"} <= set(s["littles_law"])
    assert s["scenario"] == "mini" and s["policy"] == "static" and s["seed"] == 1
    assert s["edgesim_version"] == edgesim.__version__
    assert s["sim_time_s"] == pytest.approx(50.0)
    assert s["stopped_by"] == "duration"
    assert s["measured_s"] == pytest.approx(40.0)       # 50 s minus the 10 s warm-up
    assert s["requests"]["completed"] > 50
    assert set(s["utilization"]) == {"server0"}


def test_run_tables(run_dir):
    req = pd.read_parquet(run_dir / "requests.parquet")
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    assert REQUEST_COLUMNS <= set(req.columns)
    assert TIMESERIES_COLUMNS <= set(ts.columns)
    s = summary(run_dir)
    measured = req[~req["warmup"]]
    assert (measured["outcome"] == "completed").sum() == s["requests"]["completed"]
    assert list(req["id"]) == sorted(req["id"])
    assert set(req["outcome"]) <= {"completed", "dropped", "failed", "timed_out"}
    assert set(ts["node"].astype(str)) == {"server0"}
    assert ts["time"].max() == pytest.approx(50.0)


def test_resolved_scenario_round_trips(run_dir, tmp_path):
    """scenario.resolved.yaml has every default filled in, is itself valid, and reruns the same."""
    resolved = run_dir / "scenario.resolved.yaml"
    data = yaml.safe_load(resolved.read_text())
    assert data["seed"] == 1 and data["duration"] == 50.0 and data["warmup"] == 10.0
    assert data["policy"] == {"name": "static", "params": {}, "report_interval": 0.05}
    assert data["nodes"]["server"]["queue"] == "fifo"          # a default, written out
    assert data["workload"]["sources"]["arrivals"]["arrivals"]["rate"] == 3.6

    result = ok("check", resolved)
    assert result.output == f"{resolved}: ok (1 nodes, 1 sources, policy static)\n"

    again = tmp_path / "again"
    ok("run", resolved, "-q", "--no-plots", "-o", again)
    first = pd.read_parquet(run_dir / "requests.parquet")
    second = pd.read_parquet(again / "requests.parquet")
    pd.testing.assert_frame_equal(first, second)


def test_resolved_multi_node_scenario_round_trips(tmp_path):
    """The same for a scenario with devices, links, a switch, on/off and MMPP sources."""
    out = tmp_path / "multi"
    ok("run", MULTI, "--duration", "10s", "--set", "warmup=1s", "-q", "--no-plots", "-o", out)
    s = summary(out)
    assert s["scenario"] == "multi" and s["policy"] == "least-loaded"
    assert "network" in s and s["network"]["transfers"] > 0
    result = ok("check", out / "scenario.resolved.yaml")
    assert result.output.endswith(": ok (6 nodes, 5 sources, policy least-loaded)\n")


def test_run_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        ok("run", VALID, "--duration", "50s", "--seed", seed, "-q", "--no-plots", "-o", out)
    assert summary(a)["seed"] == 5 and summary(c)["seed"] == 6
    assert yaml.safe_load((a / "scenario.resolved.yaml").read_text())["seed"] == 5
    ra, rb, rc = (pd.read_parquet(d / "requests.parquet") for d in (a, b, c))
    pd.testing.assert_frame_equal(ra, rb)                 # same seed, same run
    assert not ra["created"].equals(rc["created"])        # another seed, another run


def test_run_set_overrides(tmp_path):
    out = tmp_path / "rr"
    ok("run", VALID, "--duration", "50s", "--set", "policy.name=round-robin",
       "--set", "nodes.server.count=2", "-q", "--no-plots", "-o", out)
    s = summary(out)
    assert s["policy"] == "round-robin"
    assert set(s["utilization"]) == {"server0", "server1"}
    req = pd.read_parquet(out / "requests.parquet")
    done = req[req.outcome == "completed"]
    assert set(done["nodes"]) == {"server0", "server1"}   # round-robin uses both
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["nodes"]["server"]["count"] == 2
    assert resolved["policy"]["name"] == "round-robin"


def test_run_duration(tmp_path):
    out = tmp_path / "short"
    ok("run", VALID, "--duration", "20s", "-q", "--no-plots", "-o", out)
    assert summary(out)["sim_time_s"] == pytest.approx(20.0)
    assert yaml.safe_load((out / "scenario.resolved.yaml").read_text())["duration"] == 20.0


def test_run_no_plots(tmp_path):
    out = tmp_path / "np"
    ok("run", VALID, "--duration", "20s", "-q", "--no-plots", "-o", out)
    assert (out / "summary.json").exists() and not (out / "plots").exists()


def test_run_prints_a_summary_unless_quiet(tmp_path):
    out = tmp_path / "loud"
    result = ok("run", VALID, "--duration", "20s", "--no-plots", "-o", out)
    assert "mini" in result.output and "policy static" in result.output
    assert "latency" in result.output and "throughput" in result.output
    assert "results" in result.output


def test_run_default_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok("run", VALID, "--duration", "20s", "-q", "--no-plots")
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("mini-")
    assert (runs[0] / "summary.json").exists()


def test_run_bundled_scenario_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                 # the name must not depend on the working folder
    out = tmp_path / "mmc"
    ok("run", "queueing/mmc", "--duration", "50s", "--set", "warmup=5s", "-q", "-o", out)
    s = summary(out)
    assert s["scenario"] == "mmc" and s["sim_time_s"] == pytest.approx(50.0)
    assert {p.name for p in (out / "plots").iterdir()} == PLOTS


def test_run_error_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "bad"
    result = cli("run", VALID, "--duration", "5s", "-q", "-o", out)   # warm-up 10 s >= 5 s
    assert result.exit_code == 2
    assert result.stderr == f"{VALID}:6: warmup: 10.0: must be shorter than duration (5.0 s)\n"
    assert not out.exists()


def test_run_real_process(tmp_path):
    out = tmp_path / "proc"
    proc = python_m("run", "queueing/mmc", "--duration", "50s", "--set", "warmup=0", "-q",
                    "--no-plots", "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert summary(out)["scenario"] == "mmc"


# ------------------------------------------------------------------------------ check

def test_check_ok():
    result = ok("check", VALID)
    assert result.output == f"{VALID}: ok (1 nodes, 1 sources, policy static)\n"
    result = ok("check", MULTI)
    assert result.output == f"{MULTI}: ok (6 nodes, 5 sources, policy least-loaded)\n"


def test_check_bundled_name_and_set():
    result = ok("check", "queueing/mmc", "--set", "nodes.server.count=3",
                "--set", "policy.name=random")
    assert result.output.endswith("mmc.yaml: ok (3 nodes, 1 sources, policy random)\n")


def test_check_error():
    result = cli("check", VALID, "--set", "policy.name=least-loded")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("--set policy.name=least-loded: policy.name: 'least-loded': "
                                    "unknown policy (did you mean 'least-loaded'?); valid: ")
    assert isinstance(result.exception, SystemExit)


def test_check_missing_file():
    result = cli("check", "no/such/scenario.yaml")
    assert result.exit_code == 2
    assert result.stderr == "no/such/scenario.yaml: <top level>: scenario file not found\n"


# ------------------------------------------------------------------------------ the rest

def test_schema():
    result = ok("schema")
    schema = json.loads(result.output)
    props = schema["properties"]
    assert {"nodes", "workload", "service", "duration", "policy", "metrics"} <= set(props)
    assert {"duration", "nodes"} <= set(schema["required"])
    # workload and service unless the scenario trains models instead
    assert {"required": ["workload", "service"]} in schema["anyOf"]
    assert {"required": ["training"]} in schema["anyOf"]
    assert schema["additionalProperties"] is False       # unknown keys are rejected
    assert schema["title"] == "Scenario"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:edgesim:scenario-schema:")


def test_schema_is_what_editors_check_bundled_scenarios_against():
    """The schema is valid JSON Schema 2020-12, every bundled scenario (without `extends`)
    passes it, and a misspelt key fails it, as the editor set-up in the README relies on."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(ok("schema").output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for f in sorted((REPO / "scenarios").rglob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        if isinstance(doc, dict) and "extends" not in doc and "grid" not in doc:
            errors = [e.message for e in validator.iter_errors(doc)]
            assert not errors, f"{f}: {errors[:2]}"
            checked += 1
    assert checked >= 20
    doc = yaml.safe_load(MMC.read_text())
    doc["nodes"]["server"]["exectors"] = 4
    assert list(validator.iter_errors(doc))


def test_scenarios_lists_bundled_with_descriptions():
    result = ok("scenarios")
    lines = result.output.splitlines()
    description = yaml.safe_load(MMC.read_text())["description"]
    mmc = [ln for ln in lines if ln.split()[0] == "queueing/mmc"]
    assert len(mmc) == 1
    assert mmc[0].split(None, 1)[1].strip() == description.strip().splitlines()[0]
    assert all(len(ln.split(None, 1)) == 2 for ln in lines)   # every scenario has a description


def test_policies():
    result = ok("policies")
    listed = {ln.split()[0]: ln.split(None, 1)[1] for ln in result.output.splitlines()}
    assert {"static", "round-robin", "random", "least-loaded"} <= set(listed)
    assert all(desc.strip() for desc in listed.values())


def test_version():
    result = ok("--version")
    assert result.output == f"edgesim, version {edgesim.__version__}\n"


def test_help_in_process():
    result = ok("--help")
    for command in ("run", "check", "schema", "scenarios", "policies"):
        assert f"  {command} " in result.output
    assert "Usage:" in ok("run", "-h").output


def test_python_m_help():
    proc = python_m("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: python -m edgesim [OPTIONS] COMMAND [ARGS]...")
    for command in ("run", "check", "schema", "scenarios", "policies"):
        assert f"  {command} " in proc.stdout
    assert proc.stderr == ""


def test_unknown_command_is_a_usage_error():
    result = cli("rnu")
    assert result.exit_code == 2
    assert "No such command 'rnu'" in result.output


@pytest.mark.parametrize("scenario,plotter", [
    (VALID, "edgesim.metrics.plots.write_run_plots"),
    (REPO / "scenarios" / "deepcon" / "dmml-par.yaml", "edgesim.training.gantt.write_training_plots"),
])
def test_run_prints_the_summary_before_the_plots(tmp_path, monkeypatch, scenario, plotter):
    """Request and training runs alike: the table is printed before the plots are drawn."""
    import importlib
    module, name = plotter.rsplit(".", 1)
    seen = []
    real = getattr(importlib.import_module(module), name)

    def plotting(*args, **kw):
        seen.append("plots")
        return real(*args, **kw)

    monkeypatch.setattr(importlib.import_module(module), name, plotting)
    import edgesim.report as report
    for printer in ("print_summary", "print_training_summary"):
        real_print = getattr(report, printer)

        def printed(*args, _real=real_print, **kw):
            seen.append("summary")
            return _real(*args, **kw)
        monkeypatch.setattr(report, printer, printed)
    out = tmp_path / "order"
    ok("run", scenario, "-o", out)
    assert seen == ["summary", "plots"]
    assert (out / "summary.json").exists()


def test_tables_carry_their_provenance(run_dir):
    """Each Parquet table says which scenario, seed, policy and version made it (issue #29)."""
    import pyarrow.parquet as pq
    summary = json.loads((run_dir / "summary.json").read_text())
    for name in ("requests", "timeseries"):
        meta = json.loads(pq.read_schema(run_dir / f"{name}.parquet").metadata[b"edgesim"])
        assert meta == {"scenario": summary["scenario"], "seed": summary["seed"],
                        "policy": summary["policy"], "producer": "edgesim",
                        "edgesim_version": summary["edgesim_version"]}
