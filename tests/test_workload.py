"""Arrival processes: rates against their closed forms (with confidence intervals), trace
replay exactly, and policies' placement rules."""
from __future__ import annotations

import math

import numpy as np
import pytest

import edgesim
from edgesim.engine.rng import Stream
from edgesim.workload import arrivals as arr
from tests.scenarios import station

FAST = {"dist": "constant", "time": 1e-6}


def _count_ci(process, horizon: float, reps: int = 30):
    counts = []
    for r in range(reps):
        p = process(Stream(r, "test"))
        t, n = 0.0, 0
        while True:
            t = p.next_time(t)
            if t >= horizon:
                break
            n += 1
        counts.append(n / horizon)
    x = np.array(counts)
    half = 2.756 * x.std(ddof=1) / math.sqrt(reps)   # t_{0.995, 29}
    return x.mean() - half, x.mean() + half


def test_poisson_rate_and_exponential_gaps():
    lo, hi = _count_ci(lambda s: arr.PoissonArrivals(4.0, s), 500.0)
    assert lo <= 4.0 <= hi


@pytest.mark.parametrize("rates,sojourn,transitions", [
    ([10.0, 0.0], [2.0, 8.0], None),                       # on/off
    ([1.0, 5.0, 20.0], [5.0, 2.0, 0.5], None),             # cyclic MMPP
    ([1.0, 5.0, 20.0], [5.0, 2.0, 0.5], [[0, 0.5, 0.5], [0.9, 0, 0.1], [1.0, 0, 0]]),
])
def test_mmpp_mean_rate(rates, sojourn, transitions):
    proc = arr.ModulatedPoisson(rates, sojourn, Stream(0, "x"), transitions)
    # Stationary time-average rate, computed here from the embedded chain independently.
    n = len(rates)
    p = np.array(transitions) if transitions else np.roll(np.eye(n), 1, axis=1)
    a = np.vstack([p.T - np.eye(n), np.ones(n)])
    pi = np.linalg.lstsq(a, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    expected = float(np.dot(pi * sojourn, rates) / np.dot(pi, sojourn))
    assert proc.mean_rate() == pytest.approx(expected, rel=1e-9)
    lo, hi = _count_ci(lambda s: arr.ModulatedPoisson(rates, sojourn, s, transitions), 2000.0)
    assert lo <= expected <= hi


def test_deterministic_fps_has_no_drift():
    p = arr.DeterministicArrivals(30.0)
    times = [p.next_time(0.0) for _ in range(300_001)]
    assert times[-1] == 10_000.0 and times[30] == 1.0


def test_trace_times_replay_exact(tmp_path):
    f = tmp_path / "arrivals.csv"
    f.write_text("# recorded at the gate\ntime_s\n0.5\n1.25\n3.0\n")
    sc = station(FAST, duration=20.0)
    sc["workload"]["sources"]["in"]["arrivals"] = {"process": "trace", "file": str(f)}
    df = edgesim.run(sc).requests
    np.testing.assert_array_equal(df.created.to_numpy(), [0.5, 1.25, 3.0])
    sc["workload"]["sources"]["in"]["arrivals"].update(loop=True)
    df = edgesim.run(sc).requests
    # period = last time + median gap = 3.0 + median(0.75, 1.75) = 4.25
    assert df.created.iloc[3] == pytest.approx(4.25 + 0.5, rel=1e-12)
    assert len(df) == 3 * 4 + 2


def _counts_station(tmp_path, rows: str) -> dict:
    f = tmp_path / "counts.csv"
    f.write_text("minute,count\n" + rows)
    sc = station(FAST, duration=200.0)
    sc["workload"]["sources"]["in"]["arrivals"] = {
        "process": "trace", "file": str(f), "format": "counts", "column": "count",
        "interval": "60s", "spread": "even"}
    return sc


def test_trace_counts_replay(tmp_path):
    df = edgesim.run(_counts_station(tmp_path, "0,3\n1,0\n2,5\n")).requests
    np.testing.assert_allclose(df.created, [10, 30, 50, 126, 138, 150, 162, 174])


def test_a_negative_count_is_a_located_problem_not_a_quiet_zero(tmp_path):
    from edgesim.errors import ScenarioError
    sc = _counts_station(tmp_path, "0,3\n1,-2\n2,5\n")
    with pytest.raises(ScenarioError, match=r"counts must be >= 0; data row 2 of column 'count' is -2"):
        edgesim.run(sc)


def _spread(policy: str, **params) -> dict:
    sc = station(FAST, rate=20.0, duration=50.0, process="deterministic",
                 node={"count": 4})
    sc["policy"] = {"name": policy, "params": params}
    return edgesim.run(sc).requests.nodes.value_counts().to_dict()


def test_round_robin_spreads_evenly():
    counts = _spread("round-robin")
    assert sorted(counts) == ["server0", "server1", "server2", "server3"]
    assert max(counts.values()) - min(counts.values()) <= 1


def test_random_is_roughly_uniform_and_seeded():
    counts = _spread("random")
    assert all(200 <= c <= 300 for c in counts.values()), counts
    assert _spread("random") == counts


def test_static_keeps_each_source_on_one_member():
    sc = station(FAST, rate=5.0, duration=20.0, node={"count": 2})
    sc["nodes"]["cam"] = {"count": 2, "role": "camera"}
    sc["workload"]["sources"]["in"]["at"] = "cam"
    df = edgesim.run(sc).requests
    assert set(df[df.source == "in.cam0"].nodes) == {"server0"}
    assert set(df[df.source == "in.cam1"].nodes) == {"server1"}


def test_least_loaded_balances_heterogeneous_servers():
    sc = station({"dist": "exponential", "mean": 1.0}, rate=2.5, duration=2000.0,
                 node={"count": 2})
    sc["nodes"]["big"] = {"executors": 3}
    sc["workload"]["jobs"]["j"]["stages"][0]["node"] = ["server", "big"]
    sc["policy"] = {"name": "least-loaded"}
    r = edgesim.run(sc)
    counts = r.requests.nodes.value_counts()
    # The 3-executor node takes the largest share (3/5 of the capacity; at half load idle
    # single servers still get picked, so less than 3/5 of the requests).
    assert counts["big0"] > max(counts["server0"], counts["server1"])
    assert 0.4 < counts["big0"] / counts.sum() < 0.7
    rr = dict(sc, policy={"name": "round-robin"})
    assert r.summary["latency_s"]["mean"] < edgesim.run(rr).summary["latency_s"]["mean"]


def test_per_camera_columns_and_frame_bursts(tmp_path):
    # Two cameras at 10 fps: ROI counts per frame, one column per camera.
    f = tmp_path / "rois.csv"
    f.write_text("frame,cam0,cam1\n0,2,0\n1,0,3\n2,1,1\n")
    sc = station(FAST, duration=10.0)
    sc["nodes"]["cam"] = {"count": 2, "role": "camera"}
    sc["workload"]["sources"]["in"].update(at="cam", arrivals={
        "process": "trace", "file": str(f), "format": "counts", "column": "@member",
        "interval": "100ms", "spread": "burst"})
    df = edgesim.run(sc).requests
    got = {s: sorted(df[df.source == s].created.round(12)) for s in ("in.cam0", "in.cam1")}
    assert got == {"in.cam0": [0.0, 0.0, 0.2], "in.cam1": [0.1, 0.1, 0.1, 0.2]}


def test_origin_stage_runs_where_the_request_came_from():
    sc = station(FAST, rate=5.0, duration=10.0, node={"count": 3})
    sc["nodes"]["cam"] = {"count": 3, "role": "camera"}
    sc["service"]["m"]["*"] = FAST
    sc["workload"]["sources"]["in"]["at"] = "cam"
    sc["workload"]["jobs"]["j"]["stages"] = [{"model": "m", "node": "@origin"},
                                             {"model": "m", "node": "server"}]
    sc["policy"] = {"name": "round-robin"}
    df = edgesim.run(sc).requests
    first = df.nodes.str.split(">").str[0]
    assert (first == df.source.str.split(".").str[1]).all()
