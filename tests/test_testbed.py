"""`edgesim testbed`: the statistics, the simulated twin, and one small real run end to end.

The accuracy targets (mean 10 %, p95 15 %, throughput 5 %) are not asserted: the test machine is
shared, so a real run here says little about accuracy. docs/validation.md holds the figures.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from edgesim.calibration.testbed.run import (ServiceSource, compare, latency_stats, midpoints, simulate,
                                         twin_scenario)

TINY = "resnet20@8"


def test_latency_stats_drops_warmup_and_counts_missing():
    arrival = np.arange(10, dtype=float)
    finish = arrival + 0.5
    finish[-1] = np.nan
    s = latency_stats(arrival, finish, warmup=0.2)
    assert s["n"] == 7 and s["missing"] == 1
    assert s["mean_ms"] == pytest.approx(500.0) and s["p95_ms"] == pytest.approx(500.0)
    assert s["throughput_rps"] == pytest.approx(7 / (8.5 - 2.0))


def test_compare_diff_and_verdicts():
    real = {"mean_ms": 10.0, "p50_ms": 8.0, "p95_ms": 20.0, "throughput_rps": 100.0}
    sim = {"mean_ms": 10.5, "p50_ms": 8.0, "p95_ms": 24.0, "throughput_rps": 104.0}
    m = compare(real, sim)
    assert m["mean"]["diff_pct"] == pytest.approx(5.0) and m["mean"]["pass"] is True
    assert m["p95"]["diff_pct"] == pytest.approx(20.0) and m["p95"]["pass"] is False
    assert m["throughput"]["pass"] is True and m["p50"]["pass"] is None


def test_midpoints():
    assert midpoints([1, 2, 4, 8, 16, 32]) == [3, 6, 12, 24]
    assert midpoints([4, 1]) == [2]
    assert midpoints([1, 2]) == []


def test_service_source_specs():
    emp = ServiceSource(0.01, [0.009, 0.011], 0.01, 0.011, 1)
    assert emp.service_spec() == {"dist": "empirical", "samples": [0.009, 0.011]}
    logn = ServiceSource(0.01, None, 0.0095, 0.012, 1).service_spec()
    assert logn["dist"] == "lognormal" and logn["mean"] == 0.01 and 0 < logn["cv"] < 1
    assert ServiceSource(0.01, None, 0.01, None, 1).service_spec() == {"dist": "constant", "time": 0.01}


def test_simulated_twin_matches_md1_theory():
    """M/D/1 at rho = 0.5 with 10 ms service: mean sojourn = S + rho S / (2 (1 - rho)) = 15 ms."""
    sc = twin_scenario("m", 1, 50.0, 100, {"dist": "constant", "time": 0.01}, seed=1)
    assert sc["nodes"]["server"]["executors"] == 1 and sc["nodes"]["server"]["queue"] == "fifo"
    raw = simulate("m", 1, 50.0, 40000, {"dist": "constant", "time": 0.01}, seed=3)
    s = latency_stats(raw["arrival"], raw["finish"], 0.05)
    assert s["mean_ms"] == pytest.approx(15.0, rel=0.05)
    assert s["throughput_rps"] == pytest.approx(50.0, rel=0.03)


def test_replayed_arrivals_are_the_given_times():
    times = np.array([0.0, 0.5, 0.6, 2.0])
    raw = simulate("m", 1, 1.0, 4, {"dist": "constant", "time": 0.2}, replay_times=times)
    np.testing.assert_allclose(np.sort(raw["arrival"]), times, atol=1e-9)
    np.testing.assert_allclose(np.sort(raw["finish"]), [0.2, 0.7, 0.9, 2.2], atol=1e-9)


def _tiny_bundle(path):
    from edgesim.hardware.profiles.bundle import write_bundle
    from edgesim.calibration.profiler import profile
    table, samples = profile([TINY], batches=[1, 2], threads=1, phases=["infer"], min_run_time=0.02,
                             malloc="default")
    meta = {"schema_version": 1, "device_id": "cpu-test", "provenance": "measured",
            "fingerprint": {"device": "cpu", "profiler": {"device": "cpu", "threads": 1,
                                                          "min_run_time": 0.02}},
            "command": "test", "sources": [], "notes": "tiny test bundle"}
    return write_bundle(path, meta, table, samples)


def test_testbed_end_to_end_one_worker(tmp_path):
    pytest.importorskip("torch")
    from edgesim.cli.calibrate import testbed
    _tiny_bundle(tmp_path / "b")
    res = CliRunner().invoke(testbed, ["--bundle", str(tmp_path / "b"), "--model", TINY,
                                       "--workers", "1", "--load", "0.5", "--requests", "100",
                                       "--max-requests", "100", "--service", "backtoback",
                                       "--sim-requests", "2000", "--replay", "--timeout", "120",
                                       "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["model"] == TINY and rep["service_dist"] == "empirical"
    assert "empirical" in rep["service"]
    assert len(rep["rows"]) == 1
    row = rep["rows"][0]
    assert row["workers"] == 1 and row["load"] == 0.5 and row["timed_out"] is False
    assert row["rate_rps"] == pytest.approx(0.5 / (row["bundle_service_mean_ms"] / 1e3))
    assert row["real"]["n"] == 95 and row["real"]["missing"] == 0     # 5 % warm-up dropped
    assert row["sim"]["n"] == 1900
    for metric in ("mean", "p50", "p95", "throughput"):
        m = row["metrics"][metric]
        assert m["real"] > 0 and m["sim"] > 0 and math.isfinite(m["diff_pct"])
        assert set(m) == {"real", "sim", "diff_pct", "target_pct", "pass"}
        assert row["replay_metrics"][metric]["sim"] > 0
        assert row["own_service_metrics"][metric]["sim"] > 0
    assert row["metrics"]["mean"]["target_pct"] == 10.0
    assert row["metrics"]["p95"]["target_pct"] == 15.0
    assert row["metrics"]["throughput"]["target_pct"] == 5.0
    assert row["real_service_mean_ms"] > 0 and row["pass"] in (True, False)
    assert "other_cores" in row and "steal_cores" in row
    assert rep["pass"] in (True, False)


def test_testbed_table_output(tmp_path):
    pytest.importorskip("torch")
    from edgesim.cli.calibrate import testbed
    _tiny_bundle(tmp_path / "b")
    res = CliRunner().invoke(testbed, ["--bundle", str(tmp_path / "b"), "--model", TINY,
                                       "--workers", "1", "--load", "0.3", "--requests", "40",
                                       "--max-requests", "40", "--service", "backtoback",
                                       "--sim-requests", "500", "--markdown", "-q"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("| W | load | batching | metric | real | sim | diff % | target | "
                               "result |")
    assert sum(1 for ln in lines if ln.startswith("| 1 | 0.3 | none |")) == 4
    assert "service model: empirical" in res.output and "overall:" in res.output


def test_testbed_rejects_unknown_model_in_bundle(tmp_path):
    pytest.importorskip("torch")
    from edgesim.cli.calibrate import testbed
    _tiny_bundle(tmp_path / "b")
    res = CliRunner().invoke(testbed, ["--bundle", str(tmp_path / "b"), "--model", "resnet56"])
    assert res.exit_code == 2 and "Traceback" not in res.output and TINY in res.output


def test_service_time_reasons_tell_drift_from_queueing():
    """A row whose real batch-1 model time moved past 10 % of the calibration's says so; with
    a replay, the own-service simulation decides whether the queueing model or the service
    times missed."""
    from edgesim.calibration.testbed.run import service_time_reasons
    row = {"real_service_mean_ms": 14.49, "bundle_service_mean_ms": 9.03,
           "own_service_metrics": compare({"mean_ms": 63.64, "p50_ms": 50.0, "p95_ms": 131.15,
                                           "throughput_rps": 88.7},
                                          {"mean_ms": 63.74, "p50_ms": 50.0, "p95_ms": 136.05,
                                           "throughput_rps": 88.7})}
    out = service_time_reasons(row)
    assert len(out) == 2
    assert "14.49 ms against the calibration's 9.03 ms (+60 %)" in out[0]
    assert "+0.2 %" in out[1] and "+3.7 %" in out[1] and "queueing and batching model holds" in out[1]
    row["own_service_metrics"]["mean"] = compare({"mean_ms": 50.0}, {"mean_ms": 70.0})["mean"]
    assert "not modelled well enough" in service_time_reasons(row)[1]
    # within 10 % and no replay: nothing to say
    assert service_time_reasons({"real_service_mean_ms": 9.5, "bundle_service_mean_ms": 9.03}) == []
    row = {"real_service_mean_ms": 9.1, "bundle_service_mean_ms": 9.03, "real_utilisation": 0.99,
           "own_service_metrics": compare({"mean_ms": 7e4, "p95_ms": 1.3e5},
                                          {"mean_ms": 5e4, "p95_ms": 1.2e5})}
    assert service_time_reasons(row) == [service_time_reasons(row)[0]]
    assert "no steady state" in service_time_reasons(row)[0]
