"""Capacity search against queueing theory: the M/M/c capacity that Erlang C predicts.

Why the target 0.12 s and why noise cannot flip the answers: the mean wait W_q of M/M/c
(Erlang C, tests/queueing.py) at the boundaries searched below is

    servers, lambda = 8/s, mean service 1 s:   c = 10 -> 0.205 s,  c = 11 -> 0.082 s
    arrival rate, c = 10, mean service 1 s:    8/s -> 0.205 s,   7/s -> 0.074 s

so 0.12 s lies a factor >= 1.46 from the value on either side of each boundary. Three
replications of 3000 s (about 24,000 requests each) estimate W_q to within ~15 % (95 %
Student-t half-width; asserted below on the probes themselves), far inside that margin.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesim.cli.app import main
from edgesim.errors import ScenarioError, UserError
from edgesim.study import Target, capacity_search

from .queueing import mmc_wq

REPO = Path(__file__).resolve().parents[1]
MMC = REPO / "scenarios" / "queueing" / "mmc.yaml"
RATE = "workload.sources.arrivals.arrivals.rate"
TARGET_S = 0.12
RUN = ["duration=3000s", "warmup=300s"]


def _boundary_probes_are_clear(res, theory) -> None:
    """Probes next to the answer: CIs entirely on their side of the target, and within 15 %
    of Erlang C (the simulation measures what theory says, not only the right side)."""
    for p in res.probes:
        if abs(p.value - res.answer) <= 1:
            assert p.sure, p
            assert p.ci_half < 0.15 * p.mean, p
            assert p.mean == pytest.approx(theory(p.value), rel=0.15), p


def test_smallest_server_count_meeting_a_wait_target(tmp_path):
    lam, mu = 8.0, 1.0
    # Erlang C's answer, computed here from the closed form (c <= lambda/mu is unstable).
    expected = next(c for c in range(9, 40) if mmc_wq(lam, mu, c) <= TARGET_S)
    assert expected == 11
    res = capacity_search(MMC, "nodes.server.executors", f"wait_s.mean<={TARGET_S}",
                          out=tmp_path, direction="smallest", lo=9, replications=3,
                          sets=[f"{RATE}={lam}", *RUN])
    assert res.answer == expected, res.table()
    _boundary_probes_are_clear(res, lambda c: mmc_wq(lam, mu, c))
    saved = json.loads((tmp_path / "capacity.json").read_text())
    assert saved["answer"] == expected and saved["direction"] == "smallest"
    assert {p["value"] for p in saved["probes"]} >= {10, 11}


def test_largest_arrival_rate_meeting_a_wait_target(tmp_path):
    c, mu = 10, 1.0
    expected = max(lam for lam in range(1, c) if mmc_wq(lam, mu, c) <= TARGET_S)
    assert expected == 7
    # No --hi: the search doubles its step from lo=1 (2, 3, 5, 9) and then bisects.
    res = capacity_search(MMC, RATE, f"wait_s.mean<={TARGET_S}", out=tmp_path, lo=1,
                          replications=3, sets=[f"nodes.server.executors={c}", *RUN])
    assert res.answer == expected, res.table()
    assert [p.value for p in res.probes][:5] == [1, 2, 3, 5, 9]
    _boundary_probes_are_clear(res, lambda lam: mmc_wq(lam, mu, c))


def test_search_reuses_finished_runs(tmp_path):
    args = dict(out=tmp_path, direction="smallest", lo=10, hi=12, replications=2,
                sets=[f"{RATE}=8", "duration=1000s", "warmup=100s"])
    first = capacity_search(MMC, "nodes.server.executors", "wait_s.mean<=0.12", **args)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/summary.json")}
    again = capacity_search(MMC, "nodes.server.executors", "wait_s.mean<=0.12", **args)
    assert again.to_dict() == first.to_dict()
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/summary.json")} == stamps


@pytest.mark.parametrize("text,metric,op,value", [
    ("slo_miss_rate<=0.01", "slo_miss_rate", "<=", 0.01),
    (" latency_s.p99 < 3 ", "latency_s.p99", "<", 3.0),
    ("utilization.server0>=0.5", "utilization.server0", ">=", 0.5),
    ("throughput_ips.avg>1e3", "throughput_ips.avg", ">", 1000.0),
])
def test_target_parsing(text, metric, op, value):
    t = Target.parse(text)
    assert (t.metric, t.op, t.threshold) == (metric, op, value)


@pytest.mark.parametrize("text", ["slo_miss_rate=0.01", "latency<=fast", "<=3", "p99 <= nan"])
def test_bad_targets_are_user_errors(text):
    with pytest.raises(UserError, match="expected METRIC OP NUMBER"):
        Target.parse(text)


def test_unknown_metric_lists_the_valid_ones(tmp_path):
    with pytest.raises(UserError, match=r"'wait_s\.maen' is not a numeric summary metric; "
                                        r"valid: .*wait_s\.mean"):
        capacity_search(MMC, "nodes.server.executors", "wait_s.maen<=1", out=tmp_path, lo=4,
                        hi=5, replications=1, sets=["duration=1000s"])


def test_bad_vary_key_is_located_at_the_option(tmp_path):
    with pytest.raises(ScenarioError) as err:
        capacity_search(MMC, "nodes.server.executorz", "wait_s.mean<=1", out=tmp_path,
                        replications=1, sets=["duration=1000s"])
    assert str(err.value).startswith("--vary nodes.server.executorz: nodes.server.executorz: "
                                     "unknown key 'executorz' (did you mean 'executors'?)")


def test_capacity_cli_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "cap"
    result = CliRunner().invoke(main, [
        "capacity", str(MMC), "--vary", "nodes.server.executors", "--target",
        "wait_s.mean<=0.12", "--direction", "smallest", "--lo", "10", "--hi", "12",
        "--replications", "2", "--set", f"{RATE}=8", "--duration", "1500s", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "answer: nodes.server.executors = 11" in result.output
    assert json.loads((out / "capacity.json").read_text())["answer"] == 11
    as_json = CliRunner().invoke(main, [
        "capacity", str(MMC), "--vary", "nodes.server.executors", "--target",
        "wait_s.mean<=0.12", "--direction", "smallest", "--lo", "10", "--hi", "12",
        "--replications", "2", "--set", f"{RATE}=8", "--duration", "1500s", "-o", str(out),
        "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["answer"] == 11
    bad = CliRunner().invoke(main, ["capacity", str(MMC), "--vary", "nodes.server.executors",
                                    "--target", "wait<0.1s", "-o", str(out)])
    assert bad.exit_code == 2 and "expected METRIC OP NUMBER" in bad.output
    assert "Traceback" not in bad.output
