"""Served-mode calibration, the correlated service model, the shaped link and the two-tier
testbed: the parts that theory pins down (fast; real runs are seconds, tiny models).

As in test_testbed.py, no accuracy target is asserted against real runs: the machine is shared.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from edgesim.hardware.profiles.served_model import ServedService, lag1
from edgesim.calibration.testbed.served_profile import Batching, arrival_offsets, parse_batching
from edgesim.calibration.testbed.run import run_scenario, twin_scenario
from edgesim.calibration.testbed.stats import latency_stats
from edgesim.calibration.testbed.twotier import (SEG_OVERHEAD, TokenBucket, netns_problem, twotier_scenario,
                                         wire_bytes)
from edgesim.engine.rng import Stream

TINY = "resnet20@8"


def _ar1(n: int, phi: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.empty(n)
    z[0] = rng.standard_normal()
    for t in range(1, n):
        z[t] = phi * z[t - 1] + math.sqrt(1 - phi * phi) * rng.standard_normal()
    return 0.01 * np.exp(0.2 * z)          # slow calls in runs: a lognormal AR(1)


@pytest.mark.parametrize("order", ["replay", "ar1"])
def test_correlated_sampler_reproduces_lag1_autocorrelation(order):
    s = _ar1(4000, 0.6)
    measured = lag1(s)
    m = ServedService(np.ones(s.size, int), np.zeros(s.size), s, order=order)
    st = Stream(0, "node0")
    out = np.array([m.sample_after(1, st, 0.0) for _ in range(30000)])
    assert measured == pytest.approx(0.6, abs=0.06)
    assert lag1(out) == pytest.approx(measured, abs=0.04)
    assert out.mean() == pytest.approx(s.mean(), rel=0.03)


def test_iid_order_has_no_autocorrelation_and_segments_are_not_paired():
    s = _ar1(4000, 0.6)
    m = ServedService(np.ones(s.size, int), np.zeros(s.size), s, order="iid")
    st = Stream(0, "node0")
    out = np.array([m.sample_after(1, st, 0.0) for _ in range(20000)])
    assert abs(lag1(out)) < 0.03
    # two runs glued together: the jump between them is no lag-1 pair
    x = np.r_[np.zeros(50), np.ones(50)]
    assert lag1(x) > 0.9 and lag1(x, np.r_[np.zeros(50), np.ones(50)]) > 0.9
    assert lag1([1.0, 2.0, 1.0, 2.0], [0, 1, 2, 3]) == 0.0


def test_served_model_location_penalty_and_batches():
    # warm calls 10 ms at batch 1, 16 ms at batch 4; cold calls 3 ms slower whatever the batch
    b = np.r_[np.ones(200, int), 4 * np.ones(200, int), np.ones(200, int)]
    g = np.r_[np.zeros(400), np.geomspace(2e-3, 50e-3, 200)]
    s = np.r_[np.full(200, 0.010), np.full(200, 0.016), np.full(200, 0.013)]
    m = ServedService(b, g, s, fallback={1: 0.009, 2: 0.0105, 4: 0.0135})
    assert m.location(1, 0.0) == pytest.approx(0.010)
    assert m.location(4, 0.0) == pytest.approx(0.016)
    assert m.penalty(0.02) == pytest.approx(0.003, rel=1e-6)
    assert m.penalty(1e-4) == 0.0 and m.penalty(1.0) == pytest.approx(0.003, rel=1e-6)
    # batch 2 takes the back-to-back shape from the nearest served size (1)
    assert m.batch_location(2) == pytest.approx(0.010 * 0.0105 / 0.009)
    assert m.batch_location(3) == pytest.approx(0.010 + (0.016 - 0.010) * 2 / 3)
    assert m.sample_after(4, Stream(0, "n"), 0.02) == pytest.approx(0.019)
    assert "served (replay)" in m.describe()


@pytest.mark.parametrize("bad", [dict(order="sorted"), dict(service_s=[0.0, 0.01]),
                                 dict(gap_s=[-1.0, 0.0]), dict(batch=[0, 1]),
                                 dict(service_s=[0.01])])
def test_served_model_rejects_bad_input(bad):
    args = dict(batch=[1, 1], gap_s=[0.0, 0.0], service_s=[0.01, 0.01])
    args.update(bad)
    order = args.pop("order", "replay")
    with pytest.raises(ValueError):
        ServedService(args["batch"], args["gap_s"], args["service_s"], order=order)


def test_engine_idle_gaps_give_welchs_exceptional_first_service():
    """M/D/1 where a call after an idle gap takes S0 = 14 ms and one that follows another
    S = 10 ms (Welch 1964): W_q = lam E[S^2] / (2 (1 - rho)) + lam (E[S0^2] - E[S^2]) /
    (2 (1 - rho + rho0)), and a fraction p0 = (1 - rho) / (1 - rho + rho0) of requests starts
    a busy period (takes S0)."""
    lam, S, S0 = 50.0, 0.010, 0.014
    gaps = np.r_[np.zeros(500), np.linspace(2.1e-4, 2.5e-4, 500)]
    m = ServedService(np.ones(1000, int), gaps, np.r_[np.full(500, S), np.full(500, S0)])
    sc = twin_scenario("m", 1, lam, 60000, {"dist": "constant", "time": S}, seed=5)
    raw = run_scenario(sc, m)
    rho, rho0 = lam * S, lam * S0
    wq = lam * S * S / (2 * (1 - rho)) + lam * (S0 * S0 - S * S) / (2 * (1 - rho + rho0))
    p0 = (1 - rho) / (1 - rho + rho0)
    st = latency_stats(raw["arrival"], raw["finish"], 0.02)
    assert st["mean_ms"] / 1e3 == pytest.approx(wq + p0 * S0 + (1 - p0) * S, rel=0.03)
    assert np.mean(raw["service"] > 0.012) == pytest.approx(p0, abs=0.02)


def test_batching_parse_and_errors():
    assert parse_batching(["none", "dynamic"], 4, 0.005) == [Batching(1, 0.0), Batching(4, 0.005)]
    assert Batching(4, 0.005).label == "dynamic (max 4, wait 5 ms)"
    with pytest.raises(ValueError, match="unknown batching"):
        parse_batching(["static"], 4, 0.0)
    with pytest.raises(ValueError, match="max_batch"):
        Batching(0, 0.0)
    with pytest.raises(ValueError):
        arrival_offsets(0.0, 10, np.random.default_rng(0))


def test_served_profile_gaps_follow_the_requested_process():
    """Sleeping stand-in workers behind the real dispatcher: Poisson arrivals at lam, so the
    idle gaps before cold calls are exponential with rate lam (memoryless), and the fraction of
    cold calls is the server's idle fraction (PASTA), about 1 - lam E[occupancy] (M/G/1)."""
    from scipy import stats

    from edgesim.calibration.testbed.served_profile import profile_served
    mean_s = 0.004
    df = profile_served("stand-in", mean_s, loads=[0.5], workers=[1], calls=400,
                        warmup_s=0.05, stand_in_s=mean_s)
    assert list(df.columns)[:3] == ["model", "phase", "batch"] and len(df) == 400
    lam = 0.5 / mean_s
    cold = df["gap_ms"] >= 0.2
    # memoryless: the excess of an idle gap over any threshold is exponential with rate lam
    # too. Tested past 1 ms, so the OS's sub-millisecond wake-up jitter (which thins out the
    # shortest gaps) does not decide the test; the first call's gap includes the warm-up
    g0_ms = 1.0
    excess = df["gap_ms"].iloc[1:]
    excess = (excess[excess >= g0_ms] - g0_ms) / 1e3
    assert len(excess) > 100
    assert stats.kstest(excess, "expon", args=(0, 1 / lam)).pvalue > 1e-3
    # PASTA: the fraction of Poisson arrivals that find the server idle is the fraction of
    # time it is idle, both read off the same timeline (4 binomial sd at 400 calls)
    span = df["start_ms"].iloc[-1] + df["sample_ms"].iloc[-1] - df["start_ms"].iloc[1]
    idle = df["gap_ms"].iloc[1:].sum() / span
    assert cold.iloc[1:].mean() == pytest.approx(idle, abs=0.1)
    assert idle == pytest.approx(1 - lam * df["sample_ms"].mean() / 1e3, abs=0.1)
    assert (df["sample_ms"] >= df["compute_ms"]).all()
    assert df.attrs["runs"][0]["calls"] == 400


def test_token_bucket_delivers_at_its_rate():
    t = [0.0]
    out = []
    tb = TokenBucket(8e6, clock=lambda: t[0], sleep=lambda dt: t.__setitem__(0, t[0] + dt))
    data = b"x" * 1_000_000
    tb.send(data, out.append)
    assert sum(len(c) for c in out) == len(data)
    wire = (len(data) + len(out) * SEG_OVERHEAD) * 8
    # everything but the initial bucket (two segments) waits for its tokens
    assert t[0] == pytest.approx((wire - tb.cap) / 8e6, rel=1e-9)
    assert wire_bytes(20000) == 20016 + 14 * 66      # 16-byte frame header, 14 segments
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_twin_link_is_an_md1_queue_of_frames():
    """With (almost) free service the two-tier twin is the link alone: one connection, frames
    in order, so M/D/1 with S = wire bits / rate: mean sojourn S + rho S / (2 (1 - rho))."""
    rate, frame, header, bps = 50.0, 20000, 924, 20e6
    S = (frame + header) * 8 / bps
    sc = twotier_scenario(1, rate, 30000, {"dist": "constant", "time": 1e-7}, 3, Batching(),
                          bps, 0.0, frame, header)
    raw = run_scenario(sc)
    rho = rate * S
    st = latency_stats(raw["arrival"], raw["finish"], 0.02)
    assert st["mean_ms"] / 1e3 == pytest.approx(S + rho * S / (2 * (1 - rho)), rel=0.03)


@pytest.mark.skipif(netns_problem() is not None, reason=f"netns link: {netns_problem()}")
def test_netns_tbf_link_delivers_at_its_rate():
    import multiprocessing as mp
    import socket
    import time

    from edgesim.calibration.testbed.twotier import NetnsLink
    with NetnsLink(20e6) as link:
        ls = socket.create_server((link.edge_ip, 0))
        n = 1_500_000
        p = mp.get_context("spawn").Process(target=_send_bytes,
                                            args=(link.ns, link.edge_ip, ls.getsockname()[1], n))
        p.start()
        c, _ = ls.accept()
        got, first, t0 = 0, 0, None
        while True:
            d = c.recv(1 << 20)
            if not d:
                break
            if t0 is None:
                t0, first = time.perf_counter(), len(d)
            got += len(d)
        t1 = time.perf_counter()
        p.join(10)
    assert got == n
    wire_bps = (got - first) * (1448 + SEG_OVERHEAD) / 1448 * 8 / (t1 - t0)
    assert wire_bps == pytest.approx(20e6, rel=0.05)


def _send_bytes(ns, host, port, n):
    import socket

    from edgesim.calibration.testbed.twotier import _enter_netns
    _enter_netns(ns)
    s = socket.create_connection((host, port))
    s.sendall(b"x" * n)
    s.close()


# -------------------------------------------------------------------------- with torch


def _tiny_bundle(path):
    from tests.test_testbed import _tiny_bundle as make
    return make(path)


def test_calibrate_served_then_testbed_served_end_to_end(tmp_path):
    pytest.importorskip("torch")
    from edgesim.hardware.profiles.bundle import load_bundle
    from edgesim.cli.calibrate import calibrate, testbed
    _tiny_bundle(tmp_path / "b")
    res = CliRunner().invoke(calibrate, ["served", str(tmp_path / "b"), "--model", TINY,
                                         "--workers", "1", "--load", "0.5", "--calls", "150",
                                         "--batching", "none,dynamic", "--max-batch", "3",
                                         "--out", str(tmp_path / "s"), "-q"])
    assert res.exit_code == 0, res.output
    b = load_bundle(tmp_path / "s")
    df = b.load_served()
    assert set(df["max_batch"]) == {1, 3} and (df["model"] == TINY).all()
    assert b.meta["served"][0]["command"].startswith("edgesim calibrate served")
    assert b.has_samples() and len(b.table) == len(load_bundle(tmp_path / "b").table)
    res = CliRunner().invoke(testbed, ["--bundle", str(tmp_path / "s"), "--model", TINY,
                                       "--workers", "1", "--load", "0.5", "--batching",
                                       "none,dynamic", "--max-batch", "3", "--requests", "200",
                                       "--max-requests", "400", "--sim-requests", "2000",
                                       "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["service_dist"] == "served" and "served (replay)" in rep["service"]
    assert [r["batching"] for r in rep["rows"]] == ["none", "dynamic (max 3, wait 5 ms)"]
    for row in rep["rows"]:
        assert 200 <= row["requests"] <= 400 and row["ci_history"]
        assert row["metrics"]["mean"]["sim"] > 0 and row["real_occupancy_mean_ms"] > 0
    assert rep["rows"][1]["real_mean_batch"] >= 1.0


def test_testbed_served_without_served_calls_is_a_clear_error(tmp_path):
    pytest.importorskip("torch")
    from edgesim.cli.calibrate import testbed
    _tiny_bundle(tmp_path / "b")
    res = CliRunner().invoke(testbed, ["--bundle", str(tmp_path / "b"), "--model", TINY,
                                       "--service", "served", "--requests", "20"])
    assert res.exit_code == 2 and "calibrate served" in res.output and "Traceback" not in res.output


def test_two_tier_testbed_end_to_end(tmp_path):
    pytest.importorskip("torch")
    from edgesim.cli.calibrate import testbed
    _tiny_bundle(tmp_path / "b")
    res = CliRunner().invoke(testbed, ["--bundle", str(tmp_path / "b"), "--model", TINY,
                                       "--two-tier", "--service", "backtoback",
                                       "--workers", "1", "--load", "0.4",
                                       "--batching", "dynamic", "--max-batch", "3",
                                       "--frame-bytes", "4kB", "--requests", "150",
                                       "--max-requests", "150", "--sim-requests", "1500",
                                       "--markdown", "-q"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("| W | load | batching | metric | real | sim | diff % |")
    assert sum(1 for ln in lines if ln.startswith("| 1 | 0.4 | dynamic |")) == 4
    assert "link: " in res.output and "Mbit/s" in res.output and "overall:" in res.output


def test_served_bundle_file_is_validated(tmp_path):
    import pandas as pd

    from edgesim.hardware.profiles.bundle import BundleError, SERVED_COLUMNS, write_bundle
    from edgesim.hardware.profiles.bundle import empty_table
    row = dict(model="m", phase="infer", batch=1, workers=1, worker=0, load=0.5, max_batch=1,
               max_wait_ms=0.0, run=0, seq=0, start_ms=0.0, gap_ms=-1.0, sample_ms=5.0,
               compute_ms=4.0)
    meta = {"schema_version": 1, "device_id": "d", "provenance": "measured"}
    with pytest.raises(BundleError, match="gap_ms"):
        write_bundle(tmp_path / "x", meta, empty_table(), served=pd.DataFrame([row]))
    with pytest.raises(BundleError, match="missing column"):
        write_bundle(tmp_path / "x", meta, empty_table(),
                     served=pd.DataFrame([{"model": "m"}]))
    row["gap_ms"] = 0.0
    b = write_bundle(tmp_path / "x", meta, empty_table(), served=pd.DataFrame([row]))
    assert b.has_served() and list(b.load_served().columns) == list(SERVED_COLUMNS)


# -------------------------------------------------------------------- served mode in a scenario

def _served_bundle(path, calls: bool = True):
    """A synthetic bundle: batch-1 back to back 5 ms; served calls 5 ms warm, 8 ms after an
    idle gap of 20 ms or more (3 ms of cold-start penalty)."""
    import pandas as pd

    from edgesim.hardware.profiles.bundle import write_bundle
    table = pd.DataFrame([dict(model="m", phase="infer", batch=1, input_shape="1x3x32x32",
                               threads=1, n=50, median_ms=5.0, p10_ms=4.9, p90_ms=5.1,
                               p99_ms=5.2, mean_ms=5.0, std_ms=0.1, flops=1e6, params=1e3,
                               out_bytes=40, peak_mem_mb=1.0, provenance="measured")])
    rng = np.random.default_rng(0)
    rows = []
    for seq in range(400):
        cold = seq % 2 == 1
        gap = float(rng.uniform(20.0, 40.0)) if cold else 0.0
        ms = (8.0 if cold else 5.0) * float(rng.uniform(0.98, 1.02))
        rows.append(dict(model="m", phase="infer", batch=1, workers=1, worker=0, load=0.5,
                         max_batch=1, max_wait_ms=0.0, run=0, seq=seq, start_ms=seq * 10.0,
                         gap_ms=gap, sample_ms=ms, compute_ms=ms - 0.1))
    meta = {"schema_version": 1, "device_id": "tiny-cpu", "provenance": "measured"}
    write_bundle(path, meta, table, served=pd.DataFrame(rows) if calls else None)


def _served_scenario(bundle, rate: float, **extra) -> dict:
    return {"name": "served", "seed": 2, "duration": 400.0, "warmup": 10.0,
            "nodes": {"server": {"count": 1, "device": "cpu"}},
            "workload": {"sources": {"c": {"arrivals": {"process": "poisson", "rate": rate},
                                           "job": "j"}},
                         "jobs": {"j": {"stages": [{"model": "m", "node": "server"}]}}},
            "service": {"m": {"cpu": {"dist": "calibrated", "bundle": str(bundle),
                                      "device": "tiny-cpu", **extra}}},
            "metrics": {"interval": 10.0}}


def test_scenario_served_mode_slows_calls_after_idle_gaps(tmp_path):
    """At a low rate nearly every call follows a long idle gap: served mode gives the cold
    calls' 8 ms, back-to-back mode the profile's 5 ms; at a high rate (calls queue behind each
    other, no gap) served mode gives the warm 5 ms."""
    import edgesim
    _served_bundle(tmp_path / "b")

    def mean_service(rate, **extra):
        r = edgesim.run(_served_scenario(tmp_path / "b", rate, **extra))
        return float(r.requests.service[~r.requests.warmup].mean())
    assert mean_service(2.0, mode="backtoback") == pytest.approx(5.0e-3, rel=0.03)
    assert mean_service(2.0, mode="served") == pytest.approx(8.0e-3, rel=0.03)
    busy = mean_service(150.0, mode="served")     # rho ~ 0.75: most calls start warm
    assert 5.0e-3 < busy < 6.5e-3


def test_scenario_served_mode_reads_each_bundle_once(tmp_path, monkeypatch):
    """Two models served from the same bundle: the bundle is read once per run, and each
    service still gets its own served model (its own stream of residuals)."""
    import edgesim
    from edgesim.hardware.profiles import bundle as bundle_mod
    _served_bundle(tmp_path / "b")
    sc = _served_scenario(tmp_path / "b", 20.0, mode="served")
    sc["workload"]["jobs"]["j"]["stages"].append({"model": "m2", "node": "server"})
    sc["service"]["m2"] = {"cpu": dict(sc["service"]["m"]["cpu"], model="m")}
    reads = []
    real = bundle_mod.load_bundle
    monkeypatch.setattr(bundle_mod, "load_bundle", lambda p: reads.append(p) or real(p))
    r = edgesim.run(sc)
    assert len(reads) == 1
    svc = r.requests.service[~r.requests.warmup]
    assert len(svc) > 100 and float(svc.mean()) > 4.5e-3


@pytest.mark.parametrize("extra,where,what", [
    ({"mode": "served", "phase": "train"}, "service.m.cpu.phase", "inference only"),
    ({"mode": "served", "device": "other"}, "service.m.cpu.device", "no bundle of device"),
    ({"mode": "served", "order": "sorted"}, "service.m.cpu", "order"),
])
def test_scenario_served_mode_errors_are_clear(tmp_path, extra, where, what):
    import edgesim
    from edgesim.errors import ScenarioError
    _served_bundle(tmp_path / "b")
    with pytest.raises(ScenarioError) as e:
        edgesim.run(_served_scenario(tmp_path / "b", 2.0, **extra))
    assert where in str(e.value) and what in str(e.value)


def test_scenario_served_mode_without_served_calls_says_how_to_make_them(tmp_path):
    import edgesim
    from edgesim.errors import ScenarioError
    _served_bundle(tmp_path / "b", calls=False)
    with pytest.raises(ScenarioError, match="calibrate served"):
        edgesim.run(_served_scenario(tmp_path / "b", 2.0, mode="served"))


def test_profiling_some_worker_counts_again_keeps_the_others_provenance():
    from edgesim.cli.testbed import _without_workers
    old = [{"model": "m", "workers": [1, 2], "command": "first",
            "runs": [{"run": 0, "workers": 1}, {"run": 1, "workers": 2}]},
           {"model": "other", "workers": [2], "command": "x", "runs": []}]
    kept = _without_workers(old, "m", [2])
    assert kept[0]["workers"] == [1] and kept[0]["runs"] == [{"run": 0, "workers": 1}]
    assert kept[0]["command"] == "first" and kept[1] == old[1]
    assert _without_workers(old, "m", [1, 2]) == [old[1]]
    assert old[0]["workers"] == [1, 2]           # the input is not changed


def test_served_calls_of_the_nearest_configuration_model_it(tmp_path):
    """served_service(load=, max_batch=) keeps the calls of the profiled configuration nearest
    the simulated one: their idle gaps came from that arrival process."""
    import pandas as pd

    from edgesim.hardware.profiles.bundle import load_bundle, write_bundle
    from edgesim.hardware.profiles.bundle_service import served_service
    _served_bundle(tmp_path / "a")
    b = load_bundle(tmp_path / "a")
    calls = b.load_served()
    calls["gap_ms"], calls["sample_ms"] = 0.0, 5.0         # all warm: L(1) is the median
    at8 = calls.assign(load=0.8, run=1, sample_ms=7.0, compute_ms=6.9)
    batched = calls.assign(load=0.8, run=2, max_batch=4, sample_ms=9.0, compute_ms=8.9)
    write_bundle(tmp_path / "b", b.meta, b.table,
                 served=pd.concat([calls, at8, batched], ignore_index=True))
    median = lambda m: m.location(1, 0.0) * 1e3           # noqa: E731
    m, note = served_service(tmp_path / "b", "m", 1, load=0.5, max_batch=1)
    assert median(m) == pytest.approx(5.0, rel=0.03) and note == ""
    m, note = served_service(tmp_path / "b", "m", 1, load=0.8, max_batch=1)
    assert median(m) == pytest.approx(7.0) and m.calibration_runs == [1]
    m, note = served_service(tmp_path / "b", "m", 1, load=0.7, max_batch=4)
    assert median(m) == pytest.approx(9.0) and "load 0.8 (none at 0.7)" in note
    m, note = served_service(tmp_path / "b", "m", 2, load=0.5, max_batch=8)
    assert "W=1 (none with W=2)" in note and "none with max_batch 8" in note
    pooled, _ = served_service(tmp_path / "b", "m", 1)
    assert pooled.calibration_runs == [0, 1, 2]
