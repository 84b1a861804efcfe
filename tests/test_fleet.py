"""The source aggregation knob (workload.sources.*.aggregate) and the bundled fleet scenario."""
from __future__ import annotations

import numpy as np
import pytest

import edgesim
from edgesim.bundled import scenarios

from .scenarios import station

BUNDLED = scenarios()


def frames(tmp_path, aggregate=None, *, max_batch=8, duration=20.0, cams=3, **top):
    """Cameras replaying per-frame ROI counts (burst) to one batching server over links."""
    rng = np.random.default_rng(5)
    rows = ["frame,time_s," + ",".join(f"cam{i}" for i in range(cams))]
    for f in range(300):
        rows.append(f"{f},{f / 30:.6f}," + ",".join(str(int(c)) for c in rng.poisson(1.5, cams)))
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    src = {"at": "cam", "job": "j",
           "arrivals": {"process": "trace", "file": str(tmp_path / "t.csv"), "format": "counts",
                        "column": "@member", "interval": 1 / 30, "spread": "burst",
                        "loop": True}}
    if aggregate is not None:
        src["aggregate"] = aggregate
    sc = {
        "name": "agg", "seed": 3, "duration": duration, "warmup": 1.0,
        "nodes": {"cam": {"count": cams, "role": "camera"},
                  "edge": {"role": "edge", "max_batch": max_batch, "max_wait": 0.005}},
        "switches": ["lan"],
        "links": {"up": {"ends": ["cam", "lan"], "bandwidth": "50Mbps", "latency": "1ms"},
                  "down": {"ends": ["lan", "edge"], "bandwidth": "1Gbps", "latency": "0.5ms"}},
        "workload": {"jobs": {"j": {"stages": [{"model": "m", "node": "edge", "bytes": "4KB"}],
                                    "result_bytes": "100B"}},
                     "sources": {"rois": src}},
        "service": {"m": {"cpu": {"dist": "lognormal", "mean": 0.002, "cv": 0.2,
                                  "batch_cost": 0.2}}},
        "metrics": {"interval": 1.0, "slo": 0.1},
    }
    sc.update(top)
    return sc


def test_frame_aggregation_carries_every_roi_and_scales_bytes(tmp_path):
    exact = edgesim.run(frames(tmp_path)).requests
    agg = edgesim.run(frames(tmp_path, {"window": 0, "max_units": 64})).requests
    assert "units" not in exact.columns
    # every ROI is carried once, by fewer events; each event is one frame's burst
    assert agg.units.sum() == len(exact)
    assert len(agg) < len(exact) and agg.units.max() > 1
    assert (agg.groupby(["source", "created"], observed=True).size() == 1).all()
    # each stage (and the result) moves units times its bytes
    assert (agg.bytes == agg.units * (4000 + 100)).all()
    # a batch is counted in units and never exceeds max_batch unless one event alone does
    assert (agg.batch >= agg.units).all() and (agg.batch <= np.maximum(8, agg.units)).all()


def test_frame_aggregation_is_nearly_exact(tmp_path):
    def roi_latency(df):
        df = df[~df.warmup & (df.outcome == "completed")]
        units = df["units"].to_numpy() if "units" in df else np.ones(len(df), int)
        return np.repeat(df.latency.to_numpy(), units)

    exact = roi_latency(edgesim.run(frames(tmp_path)).requests)
    agg = roi_latency(edgesim.run(frames(tmp_path, {"window": 0})).requests)
    assert len(agg) == len(exact)
    assert agg.mean() == pytest.approx(exact.mean(), rel=0.05)
    assert np.percentile(agg, 95) == pytest.approx(np.percentile(exact, 95), rel=0.10)


def test_window_merges_frames_and_caps_units(tmp_path):
    r = edgesim.run(frames(tmp_path, {"window": "100ms", "max_units": 6}))
    df = r.requests
    assert df.units.max() == 6 and df.units.min() >= 1
    frame = edgesim.run(frames(tmp_path, {"window": 0})).requests
    assert len(df) < len(frame)
    # the event enters at its units' mean arrival time: never before the first, and within
    # the window of it
    assert r.summary["littles_law"]["rel_error"] < 0.02


def test_units_fill_batches_on_the_node(tmp_path):
    # 4 arrivals at once as one event on a server batching up to 4: one call of batch 4
    sc = station({"dist": "constant", "time": 0.01, "batch_cost": 0.5}, process="deterministic",
                 rate=1.0, duration=5.0, node={"max_batch": 4, "max_wait": 1.0})
    sc["workload"]["sources"]["in"]["aggregate"] = {"window": 0, "max_units": 4}
    sc["workload"]["sources"]["in"]["limit"] = 1
    (tmp_path / "t.csv").write_text("count\n4\n")
    sc["workload"]["sources"]["in"]["arrivals"] = {
        "process": "trace", "file": str(tmp_path / "t.csv"), "format": "counts",
        "spread": "burst"}
    df = edgesim.run(sc).requests
    assert len(df) == 1 and df.units[0] == 4 and df.batch[0] == 4
    # batch 4 costs 1 + 0.5 * 3 times the batch-1 time, and it started at once: the four
    # units filled the batch, so max_wait did not hold it
    assert df.service[0] == pytest.approx(0.025)
    assert df.wait[0] == pytest.approx(0.0)


@pytest.mark.parametrize("bad, where", [
    ({"window": "-1s"}, "aggregate.window"),
    ({"max_units": 0}, "aggregate.max_units"),
    ({"window": "soon"}, "aggregate.window"),
    ({"units": 4}, "aggregate.units"),
    (7, "aggregate"),
])
def test_bad_aggregate_is_a_clear_scenario_error(tmp_path, bad, where):
    with pytest.raises(edgesim.ScenarioError) as err:
        edgesim.load(frames(tmp_path, bad))
    assert f"workload.sources.rois.{where}" in str(err.value)


def test_fleet_scenarios_are_bundled_and_consistent():
    assert {"fleet/fleet", "fleet/slice-50"} <= set(BUNDLED)
    full = edgesim.load(BUNDLED["fleet/fleet"][0]).spec
    assert full.nodes["cam"].count == 1000 and full.nodes["gpu"].count == 40
    assert len(full.cells) == 40 and full.duration == 3600
    assert full.workload.sources["rois"].aggregate is not None
    part = edgesim.load(BUNDLED["fleet/slice-50"][0]).spec
    assert part.nodes["cam"].count == 50 and len(part.cells) == 2


def test_fleet_slice_runs_aggregated_and_exact():
    path = BUNDLED["fleet/slice-50"][0]
    agg = edgesim.run(edgesim.load(path, ["duration=12s", "warmup=2s"]))
    exact = edgesim.run(edgesim.load(path, ["duration=12s", "warmup=2s",
                                            "workload.sources.rois.aggregate=null"]))
    rois = agg.requests.units.sum()
    assert rois == pytest.approx(len(exact.requests), rel=0.02)
    assert agg.summary["events"] < exact.summary["events"] / 3
    assert (agg.requests.outcome == "completed").mean() > 0.99


# --------------------------------------------------------------------------- streamed records

def _plain(df):
    """Categoricals as strings (a streamed file's categories are in first-seen order)."""
    out = df.copy()
    for c in out.columns:
        if str(out[c].dtype) == "category":
            out[c] = out[c].astype(str)
    return out.sort_values("id").reset_index(drop=True)


@pytest.mark.parametrize("aggregate", [None, {"window": 0}])
def test_streamed_requests_match_the_in_memory_table(tmp_path, aggregate):
    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq
    memory = edgesim.run(frames(tmp_path, aggregate))
    streamed = edgesim.run(frames(tmp_path, aggregate, metrics={
        "interval": 1.0, "slo": 0.1, "stream_rows": 500}))
    assert streamed.summary["requests"] == memory.summary["requests"]
    for key in ("latency_s", "wait_s", "slo_miss_rate", "throughput_ips", "littles_law"):
        assert streamed.summary[key] == memory.summary[key]
    n = len(memory.requests)
    assert n > 1000     # several row groups
    # the recorder held at most one row group of the per-request columns
    assert len(streamed._sim.recorder.id) < 500
    pd.testing.assert_frame_equal(_plain(streamed.requests), _plain(memory.requests))
    a = memory.save(tmp_path / "a", plots=False)
    b = streamed.save(tmp_path / "b", plots=True)
    meta = pq.ParquetFile(b / "requests.parquet").metadata
    assert meta.num_rows == n and meta.num_row_groups == -(-n // 500)
    pd.testing.assert_frame_equal(_plain(pd.read_parquet(b / "requests.parquet")),
                                  _plain(pd.read_parquet(a / "requests.parquet")))
    con = duckdb.connect()
    q = "select count(*), sum(latency), sum(bytes) from read_parquet('{}')"
    got = con.execute(q.format(b / "requests.parquet")).fetchone()
    want = con.execute(q.format(a / "requests.parquet")).fetchone()
    assert got[0] == want[0] == n and got[2] == want[2]
    assert got[1] == pytest.approx(want[1], rel=1e-12)
    assert (b / "plots" / "latency_cdf.png").exists()


def test_streamed_run_with_nothing_finished_writes_an_empty_table(tmp_path):
    sc = frames(tmp_path, metrics={"interval": 1.0, "stream_rows": 500}, duration=0.01,
                warmup=0.0)
    r = edgesim.run(sc)
    df = r.requests
    assert len(df) == 0 and "latency" in df.columns


@pytest.mark.parametrize("bad", [0, 10, "many", -5, 2.5])
def test_bad_stream_rows_is_a_clear_scenario_error(tmp_path, bad):
    with pytest.raises(edgesim.ScenarioError) as err:
        edgesim.load(frames(tmp_path, metrics={"stream_rows": bad}))
    assert "metrics.stream_rows" in str(err.value)


def test_max_units_beyond_a_profile_is_reported(tmp_path):
    (tmp_path / "p.csv").write_text("model,batch,median_ms\nm,1,2.0\nm,8,6.0\n")
    sc = frames(tmp_path, {"window": 0, "max_units": 16})
    sc["service"] = {"m": {"cpu": {"dist": "profile", "file": str(tmp_path / "p.csv"),
                                   "spread": "none"}}}
    with pytest.raises(edgesim.ScenarioError) as err:
        edgesim.run(sc)
    assert "workload.sources.rois.aggregate.max_units" in str(err.value)
    assert "up to batch 8" in str(err.value)
    sc["workload"]["sources"]["rois"]["aggregate"]["max_units"] = 8
    assert edgesim.run(sc).requests.units.max() <= 8


# --------------------------------------------------------------------------- per-arrival summary

@pytest.mark.parametrize("seed", range(5))
def test_weighted_quantile_is_the_quantile_of_the_repeated_values(seed):
    from edgesim.metrics.summary import weighted_quantile
    rng = np.random.default_rng(seed)
    values = rng.exponential(size=200)
    values[::7] = values[3]                               # ties
    weights = rng.integers(0, 6, size=200)
    for q in (0.0, 0.01, 0.5, 0.75, 0.95, 0.99, 1.0):
        assert weighted_quantile(values, weights, q) == pytest.approx(
            np.quantile(np.repeat(values, weights), q), rel=1e-12, abs=1e-15)
    assert weighted_quantile(values, np.zeros(200, int), 0.5) is None


@pytest.mark.parametrize("aggregate", [{"window": 0}, {"window": "100ms", "max_units": 6}])
def test_aggregated_summary_counts_arrivals(tmp_path, aggregate):
    """The summary of an aggregated run weighs each event by its units: its latency, SLO miss
    rate and throughput are those of the requests table expanded to one row per arrival."""
    r = edgesim.run(frames(tmp_path, aggregate))
    df = r.requests
    m = df[~df.warmup]
    done = m[m.outcome == "completed"]
    lat = np.repeat(done.latency.to_numpy(), done.units.to_numpy())
    s = r.summary
    assert s["requests"]["completed"] == len(done)                    # events
    assert s["requests"]["units"]["completed"] == int(done.units.sum())  # arrivals
    assert s["requests"]["units"]["generated"] >= s["requests"]["units"]["completed"]
    assert s["latency_s"]["mean"] == pytest.approx(lat.mean(), rel=1e-12)
    for q in (50, 95, 99):
        assert s["latency_s"][f"p{q}"] == pytest.approx(np.percentile(lat, q), rel=1e-12)
    ended = int(m.units.sum())
    assert s["slo_miss_rate"] == pytest.approx(((lat > 0.1).sum() + ended - len(lat)) / ended)
    # throughput counts arrivals per second: near the arrival rate of the trace (1.5 ROIs a
    # camera a frame, 3 cameras, 30 fps) and equal to the exact run's
    exact = edgesim.run(frames(tmp_path)).summary
    assert s["throughput_ips"]["avg"] == pytest.approx(exact["throughput_ips"]["avg"], rel=0.02)
    assert s["throughput_ips"]["avg"] == pytest.approx(3 * 1.5 * 30, rel=0.1)
    assert "units" not in exact["requests"]
