"""Network features through whole scenarios: traces, Wi-Fi cells, outages, RPC costs, caps,
pinned routes. Expected values are computed here by hand or with numpy."""
from __future__ import annotations

import numpy as np
import pytest

import edgesim
from edgesim.network.wifi import cell_shares


def two_hosts(size: float, *, link: dict | None = None, sends: int = 1, rate: float = 1.0,
              **top) -> dict:
    sc = {
        "name": "net", "seed": 0, "duration": 500.0,
        "nodes": {"cam": {"role": "camera"}, "srv": {"executors": 64}},
        "links": {"l": {"ends": ["cam", "srv"], "bandwidth": 8e6, **(link or {})}},
        "workload": {
            "sources": {"s": {"at": "cam", "job": "j", "limit": sends,
                              "arrivals": {"process": "deterministic", "rate": rate}}},
            "jobs": {"j": {"stages": [{"model": "m", "node": "srv", "bytes": size}]}}},
        "service": {"m": {"cpu": {"dist": "constant", "time": 1e-9}}},
        "metrics": {"interval": 1.0},
    }
    sc.update(top)
    return sc


def test_link_trace_transfer_time_equals_trace_integral(tmp_path):
    # 1 MB/s for 2 s, then 0.25 MB/s for 2 s, looped: 3 MB take 2 s + 4 s... computed by numpy.
    f = tmp_path / "bw.csv"
    f.write_text("0,1000000\n2,250000\n")
    size = 3_000_000.0
    sc = two_hosts(size, link={"trace": {"file": str(f), "format": "csv-bps"}})
    lat = edgesim.run(sc).requests.latency.iloc[0]
    step = 0.001
    t = np.arange(0, 100, step)
    bps = np.where((t % 4.0) < 2.0, 8e6, 2e6)
    reached = np.cumsum(bps * step) >= size * 8
    expected = t[np.argmax(reached)] + step
    assert lat == pytest.approx(expected, abs=2 * step)


def test_pause_outage_delays_by_the_downtime():
    size = 1_000_000.0  # 1 s alone on 8 Mbit/s
    sc = two_hosts(size, failures=[{"target": "l", "kind": "outage", "schedule": [[0.4, 1.9]]}])
    r = edgesim.run(sc)
    assert r.requests.latency.iloc[0] == pytest.approx(1.0 + 1.5, rel=1e-9)
    assert r.summary["outages"]["l"] == {"downs": 1, "downtime_s": pytest.approx(1.5)}


def test_fail_outage_fails_in_flight_requests_only():
    size = 1_000_000.0
    sc = two_hosts(size, sends=3, rate=0.2, network={"on_outage": "fail"},
                   failures=[{"target": "l", "kind": "outage", "schedule": [[5.5, 7.0]]}])
    df = edgesim.run(sc).requests.set_index("id")
    # Sends at 0, 5, 10 s: the one in flight at 5.5 fails; the others take 1 s.
    assert list(df.outcome) == ["completed", "failed", "completed"]
    assert df.ended.loc[1] == pytest.approx(5.5)
    assert df.latency.loc[2] == pytest.approx(1.0)


def test_rpc_overhead_header_and_batching():
    sc = two_hosts(1000.0, network={"rpc_overhead": "2.1ms", "header_bytes": 100})
    lat = edgesim.run(sc).requests.latency.iloc[0]
    assert lat == pytest.approx(0.0021 + 1100 * 8 / 8e6 + 1e-9, rel=1e-9)
    # 45 small messages sent as batches of 20: 3 RPCs, each paying one overhead and one
    # header, sent concurrently and sharing the link max-min.
    sim = edgesim.simulation(two_hosts(1000.0, network={"rpc_overhead": "2.1ms",
                                                         "header_bytes": 100}))
    arrived = {}
    net, env = sim.network, sim.env
    net.send_batch(0, 1, [(500.0, lambda k: arrived.__setitem__(k, env.now), k)
                          for k in range(45)])
    env.run(until=1.0)
    assert net.transfers == 3 and sorted(arrived) == list(range(45))
    small, big = (5 * 500 + 100) * 8, (20 * 500 + 100) * 8
    t_small = 0.0021 + 3 * small / 8e6               # three flows at 8/3 Mbit/s each
    t_big = t_small + (big - small) / 4e6            # then two at 4 Mbit/s each
    assert all(arrived[k] == pytest.approx(t_small, rel=1e-12) for k in range(40, 45))
    assert all(arrived[k] == pytest.approx(t_big, rel=1e-12) for k in range(40))


def test_window_cap_limits_a_long_fat_link():
    sc = two_hosts(1_000_000.0, link={"bandwidth": "1Gbps", "latency": "50ms"},
                   network={"flow_window": "64KiB"})
    lat = edgesim.run(sc).requests.latency.iloc[0]
    cap = 65536 * 8 / 0.1
    assert lat == pytest.approx(1_000_000 * 8 / cap + 0.05 + 1e-9, rel=1e-9)


def test_pinned_route_overrides_lowest_latency():
    sc = two_hosts(1_000_000.0, switches=["fast", "slow"])
    sc["links"] = {"a": {"ends": ["cam", "fast"], "bandwidth": 8e6, "latency": 0.001},
                   "b": {"ends": ["fast", "srv"], "bandwidth": 8e6, "latency": 0.001},
                   "c": {"ends": ["cam", "slow"], "bandwidth": 4e6, "latency": 0.01},
                   "d": {"ends": ["slow", "srv"], "bandwidth": 4e6, "latency": 0.01}}
    assert edgesim.run(sc).requests.latency.iloc[0] == pytest.approx(1.0 + 0.002 + 1e-9)
    sc["network"] = {"routes": [{"from": "cam0", "to": "srv0", "via": ["slow"]}]}
    assert edgesim.run(sc).requests.latency.iloc[0] == pytest.approx(2.0 + 0.02 + 1e-9)


def wifi(mode: str, rates: dict, size: float = 1_500_000.0) -> dict:
    sc = two_hosts(size)
    n = len(rates)
    sc["nodes"]["cam"]["count"] = n
    sc["links"] = {"wired": {"ends": ["ap", "srv"], "bandwidth": "10Gbps"}}
    sc["cells"] = {"home": {"ap": "ap", "stations": "cam", "standard": "802.11b", "mode": mode,
                            "rates": rates, "latency": 0}}
    return sc


@pytest.mark.parametrize("mode", ["dcf", "fair-share"])
def test_wifi_cell_shares_and_performance_anomaly(mode):
    rates = {"cam0": 1e6, "cam1": 11e6}
    size = 150_000.0
    df = edgesim.run(wifi(mode, rates, size)).requests.set_index("source")
    shares = cell_shares([1e6, 11e6], mode, "802.11b")
    alone = cell_shares([1e6], mode, "802.11b")[0], cell_shares([11e6], mode, "802.11b")[0]
    bits = size * 8
    # Both send at t = 0; the one with the larger share finishes first, then the other one
    # continues alone at its solo rate.
    t_first = min(bits / shares[0], bits / shares[1])
    fast = 0 if bits / shares[0] <= bits / shares[1] else 1
    slow = 1 - fast
    t_second = t_first + (bits - shares[slow] * t_first) / alone[slow]
    got = [df.latency.loc["s.cam0"], df.latency.loc["s.cam1"]]
    assert got[fast] == pytest.approx(t_first + 1e-9, rel=1e-6)
    assert got[slow] == pytest.approx(t_second + 1e-9, rel=1e-6)
    if mode == "dcf":
        # The anomaly: equal throughput, so both finish together.
        assert got[0] == pytest.approx(got[1], rel=1e-6)


def test_mtbf_mttr_availability_matches_renewal_theory():
    from tests.queueing import t_interval
    mtbf, mttr, horizon = 10.0, 2.0, 2000.0
    fractions = []
    for seed in range(12):
        sc = two_hosts(1.0, duration=horizon, seed=seed,
                       failures=[{"target": "l", "kind": "outage", "mtbf": mtbf, "mttr": mttr}])
        out = edgesim.run(sc).summary["outages"]["l"]
        fractions.append(out["downtime_s"] / horizon)
    mean, lo, hi = t_interval(fractions)
    assert lo <= mttr / (mtbf + mttr) <= hi and hi - lo < 0.05


def test_policy_sees_outage_in_monitor_view():
    sc = two_hosts(1.0, failures=[{"target": "l", "kind": "outage", "schedule": [[1.0, 2.0]]}])
    sim = edgesim.simulation(sc)
    seen = []
    for t in (0.5, 1.5, 2.5):
        sim.env.process(_probe(sim, t, seen))
    sim.run()
    assert seen == [True, False, True]


def _probe(sim, t, seen):
    yield sim.env.timeout(t)
    seen.append(sim.view.links_up["l"])


SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "bandwidth"
REAL = [
    ("mahimahi_cellular/Verizon-LTE-short.down", "mahimahi"),
    ("pensieve_cooked/norway_hsdpa_bus.ljansbakken-oslo-report.2010-09-30_1114CEST.log", "mbps"),
    ("multipath_wifi_cellular_nyu/7_1_wifi.csv", "csv-bps"),
    ("5gophers_5g/mobility_walking-trace.csv", "5gophers"),
]


def _numpy_delivery(times, bps, duration, start, bits):
    """When the looped step function's integral from `start` reaches `bits`, by cumsum."""
    ends = np.append(times[1:], duration)
    per_period = float(np.sum(bps * (ends - times)))
    # Unroll enough periods to cover start + delivery.
    reps = int(bits // per_period) + 3 + int(start // duration)
    t0 = np.concatenate([times + k * duration for k in range(reps)])
    t1 = np.concatenate([ends + k * duration for k in range(reps)])
    r = np.tile(bps, reps)
    a, b = np.maximum(t0, start), t1
    seg = np.where(b > a, (b - a) * r, 0.0)
    cum = np.cumsum(seg)
    i = int(np.searchsorted(cum, bits))
    before = cum[i - 1] if i else 0.0
    return max(t0[i], start) + (bits - before) / r[i]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")
@pytest.mark.parametrize("rel,fmt", REAL)
@pytest.mark.parametrize("size", [200_000.0, 5_000_000.0])
def test_real_trace_transfer_time_matches_numpy(rel, fmt, size):
    from edgesim.network.traces import read_trace
    path = SHARED / rel
    tr = read_trace(path, fmt)
    sc = two_hosts(size, link={"bandwidth": 1.0, "trace": {"file": str(path), "format": fmt}},
                   duration=1e5)
    sc["workload"]["sources"]["s"]["arrivals"]["offset"] = 3.7
    lat = edgesim.run(sc).requests.latency.iloc[0]
    expected = _numpy_delivery(np.asarray(tr.times), np.asarray(tr.bps), tr.duration, 3.7,
                               size * 8) - 3.7
    assert lat == pytest.approx(expected + 1e-9, rel=1e-9)


def test_connection_in_order_with_batching():
    # 5 messages of 1 MB queued at t = 0 on one connection: one in flight at a time, each
    # 1 s alone on 8 Mbit/s; with batching (rpc_batch 2) they leave in pairs.
    sc = two_hosts(1_000_000.0, sends=5, rate=1e6, network={"max_in_flight": 1})
    done = sorted(edgesim.run(sc).requests.latency)
    # (arrivals are 1 us apart, hence the tolerance)
    assert done == pytest.approx([1.0 + k for k in range(5)], abs=1e-5)
    sc["network"] = {"max_in_flight": 1, "batch_messages": True, "rpc_batch": 2,
                     "header_bytes": 0}
    done = sorted(edgesim.run(sc).requests.latency)
    # first message alone (it found the connection free), then pairs of 2 MB, then the last
    assert done == pytest.approx([1.0, 3.0, 3.0, 5.0, 5.0], abs=1e-5)
