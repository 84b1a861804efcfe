"""Engine behaviour that has exact answers: batching, disciplines, drops, timeouts, ordering,
stop conditions, warm-up, determinism and independence of random streams."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import edgesim
from edgesim.engine.clock import ARRIVAL, COMPLETION, CONTROL, SAMPLE, call_in
from tests.scenarios import station

CONST = {"dist": "constant", "time": 1.0}


def test_deterministic_queue_exact_latencies():
    # D/D/1 with service 1 s and arrivals every 0.5 s: request k waits 0.5 k seconds.
    r = edgesim.run(station(CONST, rate=2.0, process="deterministic", duration=10.0))
    df = r.requests[r.requests.outcome == "completed"]
    k = df.id.to_numpy()
    np.testing.assert_allclose(df.wait.to_numpy(), 0.5 * k, atol=1e-12)
    np.testing.assert_allclose(df.latency.to_numpy(), 0.5 * k + 1.0, atol=1e-12)


def test_same_time_completion_before_arrival():
    # Arrivals every 1 s, service exactly 1 s: each arrival finds the server just freed
    # (completions run before same-time arrivals), so nobody ever waits.
    r = edgesim.run(station(CONST, rate=1.0, process="deterministic", duration=20.0))
    df = r.requests
    assert (df.wait == 0).all() and len(df) == 19


def test_clock_priority_order():
    import simpy
    env, out = simpy.Environment(), []
    for prio, tag in [(SAMPLE, "sample"), (CONTROL, "control"), (ARRIVAL, "arrival1"),
                      (COMPLETION, "completion"), (ARRIVAL, "arrival2")]:
        call_in(env, 1.0, prio, out.append, tag)
    env.run()
    assert out == ["completion", "arrival1", "arrival2", "control", "sample"]


def test_dynamic_batching_full_batch_and_max_wait():
    # 4 arrivals at once every 10 s, max_batch 4: one batch per burst, service = 1 + 0.5*3 s.
    sc = station({"dist": "constant", "time": 1.0, "batch_cost": 0.5}, rate=0.1,
                 process="deterministic", duration=100.0,
                 node={"max_batch": 4, "max_wait": 5.0},
                 extra_sources={f"b{i}": {"arrivals": {"process": "deterministic", "rate": 0.1},
                                          "job": "j"} for i in range(3)})
    df = edgesim.run(sc).requests
    assert (df.batch == 4).all()
    np.testing.assert_allclose(df.latency, 2.5, atol=1e-12)
    # A lone request waits exactly max_wait, then runs as a batch of one.
    df1 = edgesim.run(station(CONST, rate=0.1, process="deterministic", duration=100.0,
                              node={"max_batch": 4, "max_wait": 0.25})).requests
    assert (df1.batch == 1).all()
    np.testing.assert_allclose(df1.wait, 0.25, atol=1e-12)


def test_priority_queue_serves_higher_priority_first():
    sc = station(CONST, rate=1.0, process="deterministic", duration=50.0,
                 node={"queue": "priority"},
                 extra_sources={"vip": {"arrivals": {"process": "deterministic", "rate": 1.0,
                                                     "offset": 0.0}, "job": "j", "priority": 5}})
    df = edgesim.run(sc).requests
    waits = df.groupby("source", observed=True).wait.mean()
    # Overloaded 2x: every vip request is served one service time after it arrives, while
    # the low-priority queue only grows.
    assert waits["vip"] == pytest.approx(1.0, abs=1e-12)
    done = df.groupby("source", observed=True).size()
    # vip k (k = 0..49) arrives at k and ends at k + 2 < 50 for k <= 47.
    assert done["vip"] == 48 and done["in"] == 1   # only the very first low-priority one ran


def test_capacity_drops_and_timeouts():
    df = edgesim.run(station(CONST, rate=3.0, process="deterministic", duration=30.0,
                             node={"capacity": 2})).requests
    assert (df.outcome == "dropped").sum() > 0
    assert (df[df.outcome == "dropped"].latency.isna()).all()
    df = edgesim.run(station(CONST, rate=2.0, process="deterministic", duration=30.0,
                             job={"timeout": 3.0})).requests
    timed = df[df.outcome == "timed_out"]
    assert len(timed) > 0 and ((timed.ended - timed.created) > 3.0).all()
    assert (df[df.outcome == "completed"].wait <= 3.0 + 1e-12).all()


def test_stop_after_n_completions():
    r = edgesim.run(station(CONST, rate=0.5, process="deterministic", duration=1e6,
                            max_completions=25))
    assert r.summary["requests"]["completed"] == 25 and r.summary["stopped_by"] == "max_completions"
    assert r.summary["sim_time_s"] == pytest.approx(49.0)


def test_warmup_excluded():
    r = edgesim.run(station(CONST, rate=1.0, process="deterministic", duration=100.0, warmup=30.0))
    s = r.summary
    assert s["requests"]["warmup"] == 30 and s["requests"]["generated"] == 70
    assert r.requests.warmup.sum() == 30
    assert r.timeseries.time.min() > 30.0
    assert s["utilization"]["server0"] == pytest.approx(1.0)


def _digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=True).values.tobytes()).hexdigest()


def test_same_seed_same_records(tmp_path):
    a = edgesim.run("scenarios/quickstart.yaml", seed=5)
    b = edgesim.run("scenarios/quickstart.yaml", seed=5)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    assert _digest(a.requests) == _digest(b.requests)
    a.save(tmp_path / "a", plots=False)
    b.save(tmp_path / "b", plots=False)
    ra = pd.read_parquet(tmp_path / "a" / "requests.parquet")
    rb = pd.read_parquet(tmp_path / "b" / "requests.parquet")
    pd.testing.assert_frame_equal(ra, rb)
    c = edgesim.run("scenarios/quickstart.yaml", seed=6)
    assert _digest(c.requests) != _digest(a.requests)


def test_unrelated_source_does_not_change_arrivals():
    base = edgesim.load("scenarios/quickstart.yaml")
    more = edgesim.load("scenarios/quickstart.yaml", [
        "workload.sources.extra={at: cam, arrivals: {process: poisson, rate: 3/s}, job: classify}",
        "nodes.other={device: cpu}"])
    a, b = edgesim.run(base).requests, edgesim.run(more).requests
    for cam in ("rois.cam0", "rois.cam1", "rois.cam2"):
        ta = a[a.source == cam].created.to_numpy()
        tb = b[b.source == cam].created.to_numpy()
        assert len(ta) > 100
        np.testing.assert_array_equal(np.sort(ta), np.sort(tb))


def test_common_random_numbers_across_policies():
    a = edgesim.run(edgesim.load("scenarios/quickstart.yaml")).requests
    b = edgesim.run(edgesim.load("scenarios/quickstart.yaml", ["policy.name=random"])).requests
    np.testing.assert_array_equal(np.sort(a.created), np.sort(b.created))


def test_lifo_batch_timer_starts_from_the_oldest_request():
    # max_wait 1 s, batch 8, arrivals every 0.5 s: under LIFO as under FIFO the first batch
    # leaves when the oldest request has waited 1 s (t = 1.0), with 3 requests in it.
    for queue in ("fifo", "lifo", "priority"):
        df = edgesim.run(station(CONST, rate=2.0, process="deterministic", duration=10.0,
                                 node={"max_batch": 8, "max_wait": 1.0, "queue": queue})).requests
        first = df[df.id == 0].iloc[0]
        assert first.started == pytest.approx(1.0), queue
        assert first.batch == 3, queue


def test_static_maps_each_groups_member_i_to_member_i():
    sc = station(FAST := {"dist": "constant", "time": 1e-6}, rate=5.0, duration=5.0,
                 node={"count": 2})
    sc["nodes"]["cam"] = {"count": 2, "role": "camera"}
    sc["workload"]["sources"] = {
        name: {"at": "cam", "job": "j", "arrivals": {"process": "poisson", "rate": 5.0}}
        for name in ("first", "second")}
    df = edgesim.run(sc).requests
    for name in ("first", "second"):
        assert set(df[df.source == f"{name}.cam0"].nodes) == {"server0"}
        assert set(df[df.source == f"{name}.cam1"].nodes) == {"server1"}


def test_resolved_scenario_runs_from_anywhere(tmp_path):
    r = edgesim.run("scenarios/network/wifi-trace.yaml", seed=1)
    out = r.save(tmp_path / "run", plots=False)
    again = edgesim.run(edgesim.load(out / "scenario.resolved.yaml", ["duration=20s"]))
    assert again.summary["requests"]["completed"] > 0


def test_mmpp_stuck_in_silent_states_ends_at_the_horizon():
    # States 0 and 1 are silent and only lead to each other: no arrival ever, and no hang.
    sc = station(CONST, duration=50.0)
    sc["workload"]["sources"]["in"]["arrivals"] = {
        "process": "mmpp", "rates": [0, 0, 5], "sojourn": [1, 1, 1],
        "transitions": [[0, 1, 0], [1, 0, 0], [0.5, 0.5, 0]]}
    assert edgesim.run(sc).summary["requests"]["generated"] == 0


def test_inference_throughput_counts_every_stage():
    sc = station({"dist": "constant", "time": 0.1}, rate=1.0, process="deterministic",
                 duration=100.0, job={"stages": [{"model": "m", "node": "server"}] * 3})
    s = edgesim.run(sc).summary
    assert s["throughput_ips"]["avg"] == pytest.approx(1.0, abs=0.011)
    assert s["inference_ips"]["avg"] == pytest.approx(3.0, abs=0.031)
    assert s["inference_ips"]["median"] == 3.0


def test_device_mix_in_member_order():
    sc = station(CONST, duration=5.0, node={"count": 4,
                                            "device": {"jetson-tx1": 3, "jetson-tx2": 1}})
    sc["service"]["m"] = {"*": CONST}
    sim = edgesim.simulation(sc)
    assert [n.device for n in sim.nodes] == ["jetson-tx1"] * 3 + ["jetson-tx2"]
    sc["service"]["m"] = {"jetson-tx1": CONST, "jetson-tx2": {"dist": "constant", "time": 0.5}}
    sim = edgesim.simulation(sc)
    assert sim.nodes[3].services["m"].mean() == 0.5 and sim.nodes[0].services["m"].mean() == 1.0
    bad = station(CONST, duration=5.0, node={"count": 4, "device": {"jetson-tx1": 3}})
    with pytest.raises(edgesim.ScenarioError, match="the mix has 3 members but count is 4"):
        edgesim.simulation(bad)
