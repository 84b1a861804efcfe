"""Node failures (crash, slowdown, preemption, per-request fault) and message loss: exact
timings on small deterministic cases, and long-run behaviour against renewal theory and binomial
proportions over independent replications."""
from __future__ import annotations

import math

import numpy as np
import pytest

import edgesim
from edgesim.errors import ScenarioError
from edgesim.failures.timing import draw
from edgesim.engine.rng import Stream
from tests.queueing import t_interval
from tests.scenarios import station


def one_node(service: float, *, rate: float = 1.0, limit=None, failures=(), executors: int = 1,
             duration: float = 100.0, process: str = "deterministic", seed: int = 1, **top):
    sc = station({"dist": "constant", "time": service}, rate=rate, executors=executors,
                 duration=duration, process=process, seed=seed, **top)
    if limit is not None:
        sc["workload"]["sources"]["in"]["limit"] = limit
    sc["failures"] = list(failures)
    return sc


def requests(sc):
    return edgesim.run(sc).requests.set_index("id")


# --------------------------------------------------------------------------- crash

def test_crash_loses_queued_and_in_service_work_and_refuses_arrivals():
    # Arrivals at 0, 0.1, ..., 0.9 s; 1 s of service each; crash at 0.45 s, repair at 2 s.
    sc = one_node(1.0, rate=10.0, limit=30, failures=[
        {"target": "server", "kind": "crash", "schedule": [[0.45, 2.0]]}])
    df = requests(sc)
    lost = df.loc[0:4]               # the one in service and the four queued behind it
    assert set(lost.outcome) == {"failed"} and np.allclose(lost.ended, 0.45)
    refused = df.loc[5:19]            # arrived while down: fail where they arrive
    assert set(refused.outcome) == {"failed"}
    assert np.allclose(refused.ended, refused.created)
    back = df.loc[20:]                # arrive after the repair: served in order
    assert set(back.outcome) == {"completed"}
    assert back.started.iloc[0] == pytest.approx(2.0)
    s = edgesim.run(sc).summary["failures"]["0"]
    assert s["kind"] == "crash" and s["nodes"]["server0"]["episodes"] == 1
    assert s["nodes"]["server0"]["time_s"] == pytest.approx(1.55)
    assert s["nodes"]["server0"]["lost_requests"] == 20


def test_monitor_view_shows_a_crashed_node_down_at_once():
    sc = one_node(0.01, failures=[{"target": "server", "kind": "crash",
                                   "schedule": [[1.0, 2.0]]}])
    sim = edgesim.simulation(sc)
    seen = []

    def probe(t):
        yield sim.env.timeout(t)
        seen.append(sim.view.up[0])

    for t in (0.5, 1.5, 2.5):
        sim.env.process(probe(t))
    sim.run()
    assert seen == [True, False, True]


@pytest.mark.parametrize("up_dist,down_dist", [("exponential", "exponential"),
                                                ("weibull", "lognormal")])
def test_long_run_availability_is_mtbf_over_mtbf_plus_mttr(up_dist, down_dist):
    # Renewal-reward: the long-run share of time up is MTBF / (MTBF + MTTR) for any up and down
    # time distributions. Poisson arrivals see time averages (PASTA), so the share of requests
    # refused is the share of time down.
    mtbf, mttr, horizon = 8.0, 2.0, 4000.0
    down_share, refused = [], []
    for seed in range(10):
        sc = one_node(1e-6, rate=5.0, process="poisson", duration=horizon, seed=seed,
                      failures=[{"target": "server", "kind": "crash", "mtbf": mtbf,
                                 "mttr": mttr, "up_dist": up_dist, "down_dist": down_dist,
                                 "shape": 0.7, "cv": 1.5}])
        r = edgesim.run(sc)
        down_share.append(r.summary["failures"]["0"]["nodes"]["server0"]["share"])
        refused.append((r.requests.outcome == "failed").mean())
    expected = mttr / (mtbf + mttr)
    for values in (down_share, refused):
        mean, lo, hi = t_interval(values)
        assert lo <= expected <= hi and hi - lo < 0.04, (mean, lo, hi)


@pytest.mark.parametrize("dist", ["exponential", "weibull", "lognormal", "deterministic"])
def test_drawn_times_have_the_requested_mean(dist):
    s = Stream(3, "t")
    x = np.array([draw(s, dist, 2.0, 0.7, 1.5) for _ in range(200_000)])
    assert x.min() > 0
    assert x.mean() == pytest.approx(2.0, rel=0.02)
    if dist == "lognormal":
        assert x.std() / x.mean() == pytest.approx(1.5, rel=0.1)
    if dist == "weibull":   # CV of a Weibull with shape k
        g1, g2 = math.gamma(1 + 1 / 0.7), math.gamma(1 + 2 / 0.7)
        assert x.std() / x.mean() == pytest.approx(math.sqrt(g2 / g1 ** 2 - 1), rel=0.1)


def test_group_members_fail_independently():
    sc = station({"dist": "constant", "time": 1e-6}, rate=1.0, duration=2000.0,
                 node={"count": 3})
    sc["workload"]["jobs"]["j"]["stages"][0]["node"] = "server0"
    sc["failures"] = [{"target": "server", "kind": "crash", "mtbf": 5.0, "mttr": 1.0}]
    nodes = edgesim.run(sc).summary["failures"]["0"]["nodes"]
    episodes = [nodes[f"server{i}"]["episodes"] for i in range(3)]
    assert len(set(episodes)) == 3 and all(e > 200 for e in episodes)


# --------------------------------------------------------------------------- slowdown

@pytest.mark.parametrize("window,end", [([0.5, 10.0], 2.0),          # 0.5 s left -> 1.5 s
                                        ([0.5, 1.0], 0.5 + 0.5 + 1.0 / 3.0),  # back to speed
                                        ([0.0, 10.0], 3.0)])         # starts slowed
def test_slowdown_stretches_service_while_it_lasts(window, end):
    sc = one_node(1.0, limit=1, failures=[{"target": "server", "kind": "slowdown",
                                           "factor": 3.0, "schedule": [window]}])
    df = requests(sc)
    assert df.latency.loc[0] == pytest.approx(end, rel=1e-12)
    assert df.service.loc[0] == pytest.approx(end, rel=1e-12)


def test_overlapping_slowdowns_multiply():
    sc = one_node(1.0, limit=1, failures=[
        {"target": "server", "kind": "slowdown", "factor": 2.0, "schedule": [[0.0, 100.0]]},
        {"target": "server", "kind": "slowdown", "factor": 3.0, "schedule": [[0.0, 100.0]]}])
    assert requests(sc).latency.loc[0] == pytest.approx(6.0)


# --------------------------------------------------------------------------- preemption

def test_preemption_pauses_and_resumes_the_interrupted_batch():
    sc = one_node(1.0, limit=2, rate=0.5, failures=[
        {"target": "server", "kind": "preemption", "schedule": [[0.3, 0.8], [2.2, 2.4]]}])
    df = requests(sc)
    assert df.latency.loc[0] == pytest.approx(1.5)      # 0.5 s of own work in the middle
    assert df.service.loc[0] == pytest.approx(1.0)      # paused time is not service
    assert df.latency.loc[1] == pytest.approx(1.2)      # arrives at 2, paused 2.2-2.4
    s = edgesim.run(sc).summary["failures"]["0"]["nodes"]["server0"]
    assert s["episodes"] == 2 and s["interrupted_batches"] == 2
    assert s["time_s"] == pytest.approx(0.7)


def test_preemption_in_fail_mode_loses_the_interrupted_batch():
    sc = one_node(1.0, limit=2, rate=0.5, failures=[
        {"target": "server", "kind": "preemption", "mode": "fail", "schedule": [[0.3, 0.8]]}])
    df = requests(sc)
    assert list(df.outcome) == ["failed", "completed"]
    assert df.ended.loc[0] == pytest.approx(0.3)


def test_preemption_takes_a_free_executor_first_and_blocks_new_batches():
    # Two executors, one request in service: the device's job takes the idle executor, so
    # nothing is interrupted, but a second request must wait for the busy one to finish.
    sc = one_node(1.0, limit=2, rate=1 / 0.5, executors=2, failures=[
        {"target": "server", "kind": "preemption", "schedule": [[0.2, 5.0]]}])
    df = requests(sc)
    assert df.latency.loc[0] == pytest.approx(1.0)
    assert df.started.loc[1] == pytest.approx(1.0)     # arrived at 0.5, waited for executor 0
    s = edgesim.run(sc).summary["failures"]["0"]["nodes"]["server0"]
    assert s["interrupted_batches"] == 0


def test_saturated_throughput_under_preemption_is_the_available_share():
    # A node that always has work completes (1 - u) / s per second, u = MTTR / (MTBF + MTTR)
    # being the share of time its own jobs hold it (preemptive resume loses no work).
    s, mtbf, mttr, horizon = 0.1, 4.0, 1.0, 3000.0
    rates = []
    for seed in range(8):
        sc = one_node(s, rate=20.0, duration=horizon, seed=seed, warmup=100.0,
                      failures=[{"target": "server", "kind": "preemption", "mtbf": mtbf,
                                 "mttr": mttr}])
        r = edgesim.run(sc)
        rates.append(r.summary["throughput_ips"]["avg"])
    mean, lo, hi = t_interval(rates)
    expected = (1 - mttr / (mtbf + mttr)) / s
    assert lo <= expected <= hi and hi - lo < 0.05 * expected, (mean, lo, hi)


def test_crash_during_preemption_loses_the_paused_batch():
    sc = one_node(1.0, limit=1, failures=[
        {"target": "server", "kind": "preemption", "schedule": [[0.2, 0.6]]},
        {"target": "server", "kind": "crash", "schedule": [[0.4, 0.5]]}])
    df = requests(sc)
    assert df.outcome.loc[0] == "failed" and df.ended.loc[0] == pytest.approx(0.4)


# --------------------------------------------------------------------------- fault, loss

def test_fault_fails_each_request_with_its_probability():
    p, n = 0.2, 1000
    shares = []
    for seed in range(20):
        sc = one_node(1e-4, rate=10.0, limit=n, duration=1000.0, seed=seed,
                      failures=[{"target": "server", "kind": "fault", "probability": p}])
        r = edgesim.run(sc)
        shares.append((r.requests.outcome == "failed").mean())
        f = r.summary["failures"]["0"]["nodes"]["server0"]
        assert f["requests"] == n and f["faults"] == (r.requests.outcome == "failed").sum()
    mean, lo, hi = t_interval(shares)
    assert lo <= p <= hi


def two_hosts_with_loss(p: float, seed: int) -> dict:
    return {
        "name": "loss", "seed": seed, "duration": 1000.0,
        "nodes": {"cam": {"role": "camera"}, "srv": {"executors": 8}},
        "links": {"l": {"ends": ["cam", "srv"], "bandwidth": "100Mbps", "latency": "1ms"}},
        "workload": {"sources": {"s": {"at": "cam", "job": "j", "limit": 1000,
                                       "arrivals": {"process": "poisson", "rate": 5.0}}},
                     "jobs": {"j": {"stages": [{"model": "m", "node": "srv", "bytes": 1000}],
                                    "result_bytes": 100}}},
        "service": {"m": {"cpu": {"dist": "constant", "time": 0.001}}},
        "failures": [{"target": "l", "kind": "loss", "probability": p}],
    }


def test_loss_drops_each_message_with_its_probability():
    # Two messages per request (input and result), each lost with p: a request survives both
    # with (1 - p)^2.
    p = 0.1
    shares = []
    for seed in range(6):
        r = edgesim.run(two_hosts_with_loss(p, seed))
        shares.append((r.requests.outcome == "completed").mean())
        s = r.summary["failures"]["0"]
        assert s["lost_messages"] == r.summary["network"]["failed_transfers"]
    mean, lo, hi = t_interval(shares)
    assert lo <= (1 - p) ** 2 <= hi


def test_runs_with_failures_are_reproducible():
    sc = one_node(0.05, rate=10.0, process="poisson", duration=200.0, failures=[
        {"target": "server", "kind": "crash", "mtbf": 10.0, "mttr": 1.0, "up_dist": "weibull",
         "shape": 2.0},
        {"target": "server", "kind": "slowdown", "factor": 2.0, "mtbf": 5.0, "mttr": 2.0},
        {"target": "server", "kind": "preemption", "mtbf": 3.0, "mttr": 0.5},
        {"target": "server", "kind": "fault", "probability": 0.05}])
    a, b = edgesim.run(sc).requests, edgesim.run(sc).requests
    assert a.equals(b)
    assert set(a.outcome) == {"completed", "failed"}


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("entry,words", [
    ({"target": "server", "kind": "fault"}, "needs 'probability'"),
    ({"target": "server", "kind": "crash", "probability": 0.1, "mtbf": 1, "mttr": 1},
     "'probability' belongs with kind 'fault' or 'loss'"),
    ({"target": "server", "kind": "fault", "probability": 0.1, "mtbf": 1, "mttr": 1},
     "do not apply"),
    ({"target": "server", "kind": "slowdown", "schedule": [[1, 2]]}, "needs 'factor'"),
    ({"target": "server", "kind": "crash", "factor": 2, "schedule": [[1, 2]]},
     "'factor' belongs with kind 'slowdown'"),
    ({"target": "server", "kind": "crash", "mode": "fail", "schedule": [[1, 2]]},
     "'mode' belongs with kind 'outage' or 'preemption'"),
    ({"target": "server", "kind": "fault", "probability": 1.5}, "failures.0.probability"),
    ({"target": "nope", "kind": "crash", "schedule": [[1, 2]]}, "unknown node or group"),
    ({"target": "server", "kind": "loss", "probability": 0.1}, "not a link or cell"),
    ({"target": "server", "kind": "crash", "schedule": [[2, 1]]}, "must end after it starts"),
])
def test_bad_failures_are_located_problems(entry, words):
    sc = one_node(1.0, failures=[entry])
    with pytest.raises(ScenarioError) as info:
        edgesim.run(sc)
    text = str(info.value)
    assert words in text and "failures.0" in text, text


def test_nested_preemptions_of_one_entry_resume_in_turn():
    # Two executors, two requests in service; two overlapping episodes each take one.
    sc = one_node(1.0, limit=2, rate=1e3, executors=2, failures=[
        {"target": "server", "kind": "preemption", "schedule": [[0.2, 0.6], [0.4, 0.5]]}])
    df = requests(sc)
    # the batch that started last is interrupted first (0.2-0.6), the other at 0.4-0.5
    assert list(df.latency) == pytest.approx([1.0 + 0.1, 1.0 + 0.4])


def _cameras(sensor=None) -> dict:
    crash = {"target": "cam0", "kind": "crash", "schedule": [[10.0, 50.0]]}
    if sensor is not None:
        crash["sensor"] = sensor
    return {
        "name": "cams", "seed": 1, "duration": 60.0,
        "nodes": {"cam": {"count": 2}, "edge": {"executors": 4}},
        "workload": {"sources": {"roi": {"at": "cam", "job": "j",
                                         "arrivals": {"process": "deterministic", "rate": 10}}},
                     "jobs": {"j": {"stages": [{"model": "m", "node": "edge"}]}}},
        "service": {"m": {"cpu": {"dist": "constant", "time": 0.01}}},
        "failures": [crash],
    }


def test_a_crashed_camera_makes_no_requests_while_it_is_down():
    """Its sensor is part of it: 10 s + 10 s of a 60 s run at 10 arrivals a second, exactly,
    while the other camera makes all 600; the arrivals not made are counted."""
    r = edgesim.run(_cameras())
    by = r.requests.groupby("source").size()
    assert by["roi.cam1"] == 600
    assert by["roi.cam0"] == 200
    created = r.requests[r.requests.source == "roi.cam0"].created
    assert not ((created >= 10.0) & (created < 50.0)).any()
    row = r.summary["failures"]["0"]["nodes"]["cam0"]
    assert row["arrivals_suppressed"] == 400
    # the arrival process went on drawing: after the repair the arrivals are where they were
    sep = edgesim.run(_cameras("separate")).requests
    late = lambda df: list(df[(df.source == "roi.cam0") & (df.created >= 50.0)].created)  # noqa: E731
    assert late(r.requests) == late(sep)


def test_a_separate_sensor_keeps_producing_and_sensor_is_only_for_crashes():
    df = edgesim.run(_cameras("separate")).requests
    assert (df.source == "roi.cam0").sum() == 600      # the stage runs on the edge, not cam0
    bad = _cameras("separate")
    bad["failures"][0]["kind"] = "slowdown"
    bad["failures"][0]["factor"] = 2.0
    with pytest.raises(ScenarioError, match=r"failures\.0.*'sensor' belongs with kind 'crash'"):
        edgesim.run(bad)
