"""Mercury's schedules against the overlap arithmetic of Fig. 2.9 and Eq. 2.2-2.3, with
deterministic times on wired links where aggregation has a closed form, and the Fig. 2.11
table of the bundled scenario."""
from __future__ import annotations

import csv
import math

import pytest
from click.testing import CliRunner

import edgesim
from edgesim.bundled import scenarios
from edgesim.cli.app import main

BACC = scenarios()["mercury/bacc"][0]
G = 4e6            # 1e6 float32 parameters
BW = 80e6          # every device's link to the access point, each direction


def mercury(schedule, k=2, step=1.0, per_sample=0.001, batch=64, reshard=100, chunk=30_000,
            every=1, iterations=6, pause=True, trace=None, mode="adaptive", groups=50,
            breakpoint="byte"):
    link = {"ends": ["dev", "ap"], "bandwidth": BW}
    if trace is not None:
        link["trace"] = {"file": str(trace), "format": "mbps", "end": "hold"}
    return {
        "name": "m", "seed": 2, "duration": 1e6,
        "nodes": {"dev": {"count": k, "role": "worker"}},
        "switches": ["ap"],
        "links": {"wifi": link},
        "training": {"mercury": {
            "schedule": schedule, "devices": "dev", "params": G / 4,
            "step": {"dist": "constant", "time": step},
            "samples": 100_000, "iterations": iterations,
            "group": {"mode": mode, "groups": groups, "batch": batch,
                      "forward": {"dist": "constant", "time": per_sample}},
            "reshard": {"samples": reshard, "every": every, "sample_bytes": 3000,
                        "chunk": chunk, "pause": pause, "breakpoint": breakpoint},
            "convergence": {"iterations": 1000, "ratio": {"sequential": 0.35, "bacc": 0.37}},
        }},
    }


def t_cm(k: int, bw: float = BW) -> float:
    """Multi-PS aggregation on dedicated links: each device sends K-1 shards of G/K through
    its uplink (and receives K-1 through its downlink) at once, then the same back."""
    return 2 * (k - 1) / k * G * 8 / bw


def summary(sc) -> dict:
    return edgesim.run(sc).summary["mercury"]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_bacc_iteration_is_compute_plus_aggregation_exactly(k):
    """Fig. 2.9b: importance computation hides in aggregation (its group sized to fit the
    last aggregation) and resharding in computation, so an iteration lasts T_cp + T_cm."""
    agg = t_cm(k)
    sgd = summary(mercury("sgd", k))
    bacc = summary(mercury("bacc", k))
    for it in sgd["iteration_times_s"] + bacc["iteration_times_s"]:
        assert it == pytest.approx(1.0 + agg, rel=1e-9)
    assert bacc["t_cm_s"] == pytest.approx(agg, rel=1e-9)
    g = 64 * math.floor(agg / 0.064)
    assert bacc["group_max"] == g                      # 0 in the first iteration, then g
    assert bacc["importance_abandoned"] == 0            # every group finished in time
    assert bacc["reshard_sent_bytes"] == bacc["reshard_asked_bytes"] == k * 6 * 300_000
    assert bacc["time_ratio"] == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("k", [2, 4])
def test_sequential_iteration_adds_resharding_and_importance_and_obeys_eq_2_3(k):
    """Fig. 2.9a: everything in line. Resharding sends 300 kB from every uplink at once
    (R x 8 / B), then the importance of one of D = 50 equal groups (100,000 / K / 50 samples,
    in forward batches of 64, a partial last batch charged whole), then T_cp, then T_cm."""
    agg = t_cm(k)
    g = math.ceil(100_000 // k / 50)
    t_rs, t_is = 300_000 * 8 / BW, math.ceil(g / 64) * 64 * 0.001
    seq = summary(mercury("sequential", k))
    steady = t_rs + t_is + 1.0 + agg
    assert seq["group_max"] == g
    for it in seq["iteration_times_s"]:
        assert it == pytest.approx(steady, rel=1e-9)
    bacc = summary(mercury("bacc", k))
    assert bacc["mean_iteration_s"] < seq["mean_iteration_s"]
    # Eq. 2.3: speedup = 1 / (E_is/E (1 + T_is / (T_cp + T_cm))), T_is all the added time
    assert seq["speedup_vs_sgd"] == pytest.approx(
        1 / (0.35 * (1 + (t_rs + t_is) / (1.0 + agg))), rel=1e-9)


def test_message_breakpoints_pause_at_a_message_boundary_when_aggregation_begins():
    """`breakpoint: message` (the older reading): with more resharding than a computation
    window holds, a message is in flight when computation ends; aggregation starts when it has
    arrived (the next message boundary), and resharding resumes when aggregation ends."""
    chunk = 300_000
    d = chunk * 8 / BW                              # 30 ms a message
    sc = mercury("bacc", 2, step=0.1, reshard=700, chunk=chunk, breakpoint="message")
    s = summary(sc)
    wait = math.ceil(0.1 / d) * d                   # 0.12 s: four messages
    for it in s["iteration_times_s"]:
        assert it == pytest.approx(wait + t_cm(2), rel=1e-9)
    assert s["reshard_sent_bytes"] < s["reshard_asked_bytes"]    # it keeps a backlog
    # never longer than the sequential pipeline doing the same work
    assert s["mean_iteration_s"] < summary(mercury("sequential", 2, step=0.1, reshard=700,
                                                   chunk=chunk))["mean_iteration_s"]
    # Byte breakpoints (the default) stop the transfer at once: no delay at all.
    byte = summary(mercury("bacc", 2, step=0.1, reshard=700, chunk=chunk))
    for it in byte["iteration_times_s"]:
        assert it == pytest.approx(0.1 + t_cm(2), rel=1e-9)
    # Without the pause, resharding competes with aggregation for the links.
    free = summary(mercury("bacc", 2, step=0.1, reshard=700, chunk=chunk, pause=False))
    assert free["t_cm_s"] > t_cm(2) * 1.01
    assert free["mean_iteration_s"] > 0.1 + t_cm(2)


def test_importance_overrun_delays_the_next_computation_by_at_most_a_batch():
    """A fixed group (1,000 samples, D = 50 on 50,000) larger than the aggregation time
    (bandwidth-agnostic BACC): the second thread
    yields the compute resource between forward batches, so the next gradient computation
    waits for the batch in progress only, and the rest of the group is abandoned."""
    agg = t_cm(2)                                   # 0.4 s
    s = summary(mercury("bacc", 2, batch=100, per_sample=0.003, mode="fixed", groups=50))
    batch_t = 0.3
    # from the end of computation: batches at 0.3, 0.6 > 0.4 -> computation resumes at 0.6,
    # which the second iteration onwards pays
    assert s["iteration_times_s"][0] == pytest.approx(1.0 + agg, rel=1e-9)
    for it in s["iteration_times_s"][1:]:
        assert it == pytest.approx(1.0 + math.ceil(agg / batch_t) * batch_t, rel=1e-9)
    assert s["importance_abandoned"] > 0


def test_aggregation_follows_a_bandwidth_trace_and_the_group_follows_aggregation(tmp_path):
    """The links drop from 80 to 20 Mbit/s at t = 5 s: T_cm quadruples, and the next group is
    sized from the slower aggregation."""
    trace = tmp_path / "drop.txt"
    trace.write_text("0 80\n5 20\n")
    r = edgesim.run(mercury("bacc", 2, iterations=8, trace=trace))
    df = r.schedule
    agg = df[(df.kind == "aggregate") & (df.worker == "dev0")]
    fast, slow = t_cm(2, 80e6), t_cm(2, 20e6)
    durations = list(agg.duration)
    assert durations[0] == pytest.approx(fast, rel=1e-9)
    assert durations[-1] == pytest.approx(slow, rel=1e-9)
    assert all(min(abs(x - fast), abs(x - slow)) < 1e-6 or a < 5 < b
               for x, a, b in zip(durations, agg.start, agg.end))
    s = r.summary["mercury"]
    assert s["group_max"] == 64 * math.floor(slow / 0.064)


def test_bundled_scenario_table_like_fig_2_11(tmp_path):
    """`edgesim training sweep` over bandwidth and schedule: aggregation follows the
    bandwidth, BACC keeps the SGD iteration time, the sequential pipeline pays for importance
    and resharding, most at high bandwidth where it is a larger share."""
    out = tmp_path / "fig211.csv"
    res = CliRunner().invoke(main, [
        "training", "sweep", str(BACC),
        "--vary", "links.wifi.bandwidth=10Mbps,50Mbps,200Mbps",
        "--vary", "training.mercury.schedule=sequential,bacc", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "speedup_vs_sgd" in res.output.splitlines()[0]
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6
    by = {(r["links.wifi.bandwidth"], r["schedule"]): r for r in rows}
    grad = 11173962 * 4
    for bw, mbps in (("10Mbps", 10e6), ("50Mbps", 50e6), ("200Mbps", 200e6)):
        seq, bacc = by[(bw, "sequential")], by[(bw, "bacc")]
        # 4 devices: T_cm = 2 x 3/4 x G x 8 / B, plus link latencies
        assert float(bacc["t_cm_s"]) == pytest.approx(1.5 * grad * 8 / mbps, rel=0.05)
        assert float(bacc["time_ratio"]) > 0.97
        # no E_is / E in the bundled scenario: the speed-up is unknown, not typed in
        assert bacc["speedup_vs_sgd"] == "" and seq["speedup_vs_sgd"] == ""
        assert float(bacc["time_ratio"]) > float(seq["time_ratio"])
        # the sequential pipeline adds one of D = 10 groups (1,250 images, 10 batches of
        # 0.852 s) to every iteration: ~8.5 s, a large share at high bandwidth
        extra = float(seq["iteration_s"]) - float(bacc["iteration_s"])
        assert extra == pytest.approx(10 * 0.852, rel=0.05)
    assert float(by[("10Mbps", "bacc")]["t_cm_s"]) > float(by[("200Mbps", "bacc")]["t_cm_s"])


def test_mercury_needs_the_ratio_of_the_schedule_it_runs():
    sc = mercury("bacc")
    sc["training"]["mercury"]["convergence"]["ratio"] = {"sequential": 0.35}
    with pytest.raises(edgesim.ScenarioError, match="needs E_is / E for 'bacc'"):
        edgesim.run(sc)
