"""Bandwidth traces: real files parsed here with numpy/pandas and queried against np.cumsum.

The real traces live in ../shared/data/bandwidth beside the project (never copied in); tests that
need them skip when that folder is absent (a fresh clone).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edgesim.network.traces import (BandwidthTrace, TraceFormatError, detect_format, read_5gophers,
                                    read_canonical, read_csv_bps, read_mahimahi, read_mbps, read_trace,
                                    write_canonical)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bandwidth"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real traces not found at {DATA} "
                                "(../shared/data/bandwidth beside the project); skipping real-file tests")


def files(folder: str, pattern: str = "*") -> list:
    if not DATA.is_dir():
        return [pytest.param(None, id="no-shared-data", marks=needs_data)]
    return sorted(p for p in (DATA / folder).glob(pattern)
                  if p.is_file() and not p.name.startswith(("README", "ORIGIN", "LICENSE")))


# --- independent parsers ---------------------------------------------------------------------------
def ref_two_column(path: Path, delimiter, factor):
    a = np.loadtxt(path, delimiter=delimiter, ndmin=2)
    t = a[:, 0] - a[0, 0]
    return t, a[:, 1] * factor, t[-1] + np.median(np.diff(t))


def ref_mahimahi(path: Path, bin_ms: int):
    ms = np.loadtxt(path, dtype=np.int64, ndmin=1)
    nbins = int(math.ceil(ms[-1] / bin_ms))
    counts, _ = np.histogram(ms, bins=np.arange(nbins + 1) * bin_ms)   # last bin closed on the right
    assert counts.sum() == ms.size
    bin_s = bin_ms / 1000
    return np.arange(nbins) * bin_s, counts * 12000 / bin_s, nbins * bin_s


def ref_5gophers(path: Path, column: str):
    df = pd.read_csv(path)
    seq = df["seq_num"].to_numpy(dtype=float)
    stop = np.flatnonzero(np.diff(seq) <= 0)
    n = stop[0] + 1 if stop.size else seq.size
    t = seq[:n] - seq[0]
    return t, df[column].to_numpy(dtype=float)[:n] * 1e6, t[-1] + 1.0


# --- independent queries ---------------------------------------------------------------------------
def ref_time_to_deliver(times, bps, D, end, scale, t0, nbits):
    r = np.asarray(bps, float) * scale
    if end == "loop":
        total = float(np.sum(r * np.diff(np.append(times, D))))
        K = int(t0 // D) + int(math.ceil(nbits / total)) + 2
        edges = np.append((np.arange(K)[:, None] * D + np.asarray(times)[None, :]).ravel(), K * D)
        rates = np.tile(r, K)
    else:
        far = D + t0 + (nbits / r[-1] if r[-1] > 0 else 0.0) + 10.0
        edges = np.append(times, [D, far])
        rates = np.append(r, r[-1])
    cum = np.concatenate(([0.0], np.cumsum(rates * np.diff(edges))))
    i = np.searchsorted(edges, t0, side="right") - 1
    target = cum[i] + rates[i] * (t0 - edges[i]) + nbits
    if target > cum[-1]:
        return math.inf
    j = np.searchsorted(cum, target, side="left")
    return edges[j - 1] + (target - cum[j - 1]) / rates[j - 1]


def check_queries(tr: BandwidthTrace, times, bps, D):
    np.testing.assert_allclose(tr.times, times, rtol=0, atol=1e-9)
    np.testing.assert_allclose(tr.bps, bps, rtol=1e-12)
    assert tr.duration == pytest.approx(D, abs=1e-9)
    period_bits = float(np.sum(np.asarray(bps) * np.diff(np.append(times, D))))
    assert tr.mean_bps() == pytest.approx(period_bits / D, rel=1e-9)
    for end in ("loop", "hold"):
        for scale in (1.0, 2.5):
            t = tr.with_end(end).with_scale(scale)
            for f0 in (0.0, 0.137, 0.5, 0.993, 1.61, 3.3):
                t0 = f0 * D
                for frac in (1e-4, 0.013, 0.37, 1.73, 3.41):
                    nbits = frac * period_bits * scale
                    ref = ref_time_to_deliver(times, bps, D, end, scale, t0, nbits)
                    got = t.time_to_deliver(t0, nbits)
                    assert got == pytest.approx(ref, rel=1e-10, abs=1e-9), (end, scale, t0, nbits)
                    if math.isfinite(got):
                        assert t.integral(t0, got) == pytest.approx(nbits, rel=1e-9)


# --- real files, every format ------------------------------------------------------------------------
@needs_data
@pytest.mark.parametrize("path", files("pensieve_cooked") + files("puffer_oboe_merina", "*.txt"),
                         ids=lambda p: p.name[:40])
def test_mbps_files(path):
    assert detect_format(path) == "mbps"
    tr = read_trace(path)
    assert tr.meta["format"] == "mbps" and str(path) in tr.source
    assert np.array_equal(read_mbps(path).bps, tr.bps)
    check_queries(tr, *ref_two_column(path, None, 1e6))


@needs_data
@pytest.mark.parametrize("path", files("multipath_wifi_cellular_nyu", "*.csv"), ids=lambda p: p.name)
def test_csv_bps_files(path):
    assert detect_format(path) == "csv-bps"
    tr = read_trace(path)
    assert np.array_equal(read_csv_bps(path, end="hold").bps, tr.bps)
    check_queries(tr, *ref_two_column(path, ",", 8.0))
    # the folder's derived summary (sample mean of 1 s steps) agrees with our time average
    summary = pd.read_csv(DATA / "bandwidth_trace_summary.csv").set_index("file")
    row = summary.loc[f"multipath_wifi_cellular_nyu/{path.name}"]
    assert tr.stats()["mean_mbps"] == pytest.approx(row["mean_mbps"], abs=6e-4)
    # equal 1 s steps: time-weighted percentiles are numpy's inverted-CDF sample percentiles
    v = np.loadtxt(path, delimiter=",")[:, 1] * 8 / 1e6
    for key, q in (("p10_mbps", 10), ("median_mbps", 50), ("p90_mbps", 90)):
        assert tr.stats()[key] == pytest.approx(np.percentile(v, q, method="inverted_cdf"), rel=1e-12)
    assert tr.stats()["zero_share"] == pytest.approx(np.mean(v == 0))


@needs_data
@pytest.mark.parametrize("path", files("mahimahi_cellular", "*.down"), ids=lambda p: p.name)
@pytest.mark.parametrize("bin_ms", [100, 1000, 7])
def test_mahimahi_files(path, bin_ms):
    assert detect_format(path) == "mahimahi"
    tr = read_trace(path, bin_s=bin_ms / 1000)
    assert np.array_equal(read_mahimahi(path, bin_s=bin_ms / 1000).bps, tr.bps)
    times, bps, D = ref_mahimahi(path, bin_ms)
    if bin_ms == 7:           # many tiny bins: keep the query test short
        np.testing.assert_allclose(tr.bps, bps, rtol=1e-12)
        assert tr.integral(0, tr.duration) == pytest.approx(np.loadtxt(path).size * 12000, rel=1e-12)
        return
    check_queries(tr, times, bps, D)


@needs_data
@pytest.mark.parametrize("path", files("5gophers_5g", "*throughput*.csv")
                         + files("5gophers_5g", "mobility*.csv"), ids=lambda p: p.name)
def test_5gophers_files(path):
    assert detect_format(path) == "5gophers"
    tr = read_trace(path)
    column = "throughput_mbps" if "throughput_mbps" in pd.read_csv(path, nrows=1).columns \
        else "Sprint_throughput_mbps"
    check_queries(tr, *ref_5gophers(path, column))


@needs_data
def test_5gophers_column_and_where():
    path = DATA / "5gophers_5g" / "all_carriers_throughput.csv"
    df = pd.read_csv(path)
    sel = df[(df.carrier == "VERIZON") & (df.run_num == 103) & (df.server_location == "US-East")]
    assert len(sel) > 30
    tr = read_5gophers(path, where={"carrier": "verizon", "run_num": 103, "server_location": "US-East"})
    seq = sel.seq_num.to_numpy(float)
    stop = np.flatnonzero(np.diff(seq) <= 0)
    n = stop[0] + 1 if stop.size else seq.size
    np.testing.assert_allclose(tr.bps, sel.throughput_mbps.to_numpy()[:n] * 1e6)
    assert "where=" in tr.source
    car = DATA / "5gophers_5g" / "mobility_car-driving-trace-1.csv"
    tv = read_trace(car, column="Verizon_throughput_mbps")
    np.testing.assert_allclose(tv.bps, pd.read_csv(car).Verizon_throughput_mbps.to_numpy() * 1e6)
    with pytest.raises(TraceFormatError, match="no column 'nope'"):
        read_5gophers(car, column="nope")
    with pytest.raises(ValueError, match="no rows match"):
        read_5gophers(path, where={"carrier": "ATT"})


@needs_data
def test_non_trace_file_explains_detection():
    with pytest.raises(TraceFormatError) as exc:
        read_trace(DATA / "5gophers_5g" / "all_carriers_rtt.csv")
    msg = str(exc.value)
    assert "all_carriers_rtt.csv" in msg and "line 1" in msg and "rtt_ms" in msg
    for fmt in ("canonical", "5gophers", "mahimahi", "csv-bps", "mbps"):
        assert fmt in msg


@needs_data
@pytest.mark.parametrize("path", [DATA / "mahimahi_cellular" / "ATT-LTE-driving-2016.down",
                                  *files("pensieve_cooked")[:2], *files("multipath_wifi_cellular_nyu")[:2],
                                  DATA / "5gophers_5g" / "mobility_walking-trace.csv"],
                         ids=lambda p: p.name[:30])
def test_canonical_round_trip_real(path, tmp_path):
    tr = read_trace(path, end="hold", scale=0.75)
    out = write_canonical(tr, tmp_path / "t.csv")
    assert detect_format(out) == "canonical"
    back = read_trace(out)
    assert np.array_equal(back.times, tr.times) and np.array_equal(back.bps, tr.bps)
    assert (back.duration, back.end, back.scale, back.source) == (tr.duration, "hold", 0.75, tr.source)
    assert back.meta["source_format"] == tr.meta["format"]
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]          # no temp file left behind
    head = out.read_text().splitlines()[:9]
    assert head[0] == "# edgesim-bandwidth-trace: 1" and head[-1] == "time_s,bandwidth_bps"
    assert any(h.startswith("# converted_by: edgesim") for h in head)
    assert any(h.startswith("# created: ") for h in head)


# --- synthetic traces: ends, scale, zeros -----------------------------------------------------------
def test_small_trace_by_hand():
    tr = BandwidthTrace([0, 1, 3], [10, 0, 5], duration=4, end="loop", source="hand")
    assert [tr.value_at(x) for x in (0, 0.99, 1, 2.5, 3, 3.99, 4, 5, 7.5)] == [10, 10, 0, 0, 5, 5, 10, 0, 5]
    assert tr.integral(0, 4) == 15 and tr.integral(0.5, 9.5) == pytest.approx(5 + 5 + 15 + 10)
    assert tr.time_to_deliver(0, 10) == 1.0          # earliest: not the end of the zero gap
    assert tr.time_to_deliver(0, 10.5) == 3.1
    assert tr.time_to_deliver(1.5, 20) == pytest.approx(8)
    assert tr.time_to_deliver(2, 0) == 2
    assert [tr.next_change(x) for x in (0, 1, 2, 3.5, 4, 9)] == [1, 3, 3, 4, 5, 11]
    hold = tr.with_end("hold")
    assert hold.value_at(100) == 5 and hold.integral(3, 10) == 35
    assert hold.time_to_deliver(2, 30) == pytest.approx(9)
    assert hold.next_change(3) == math.inf
    zero = BandwidthTrace([0, 1], [8, 0], duration=2, end="hold")
    assert zero.time_to_deliver(0, 8) == 1 and zero.time_to_deliver(0, 9) == math.inf
    assert zero.time_to_deliver(5, 1) == math.inf
    assert BandwidthTrace([0, 1], [0, 0], duration=2).time_to_deliver(0, 1) == math.inf
    assert BandwidthTrace([0], [5], duration=1).next_change(0.5) == math.inf
    s = tr.with_scale(3)
    assert s.value_at(0) == 30 and s.integral(0, 4) == 45 and s.bps[0] == 10
    st_ = tr.stats()
    assert st_["zero_share"] == 0.5 and st_["mean_mbps"] == pytest.approx(15 / 4 / 1e6)
    assert st_["median_mbps"] == 0 and st_["max_mbps"] == 10e-6 and st_["p90_mbps"] == 10e-6
    for bad in (dict(times=[0, 0], bps=[1, 1]), dict(times=[0, 1], bps=[1, -1]),
                dict(times=[0], bps=[1]), dict(times=[0, 1], bps=[1, 1], end="wrap")):
        with pytest.raises(ValueError):
            BandwidthTrace(**bad)
    with pytest.raises(ValueError):
        tr.value_at(-1)
    with pytest.raises(ValueError):
        tr.integral(2, 1)


def test_shifted_start_is_normalised():
    tr = BandwidthTrace([0.5, 1.5, 2.0], [1, 2, 3])
    assert tr.times.tolist() == [0, 1, 1.5] and tr.duration == pytest.approx(2.25)


# --- malformed files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,content,line,snippet", [
    ("mahimahi", "0\n1\n2\nx7\n", 4, "x7"),
    ("mahimahi", "5\n9\n3\n", 3, "3"),
    ("mbps", "0 1.0\n1 2.0\n1 3.0\n", 3, "1 3.0"),
    ("mbps", "0 1.0\n1 abc\n", 2, "abc"),
    ("mbps", "0 1.0\n1 -2\n", 2, "-2"),
    ("csv-bps", "1,100\n2,200,5\n", 2, "2,200,5"),
    ("5gophers", "protocol,seq_num,throughput_mbps\nTCP,0,1.5\nTCP,1,\n", 3, "TCP,1,"),
    ("canonical", "# edgesim-bandwidth-trace: 1\n# duration_s: 3\ntime_s,bandwidth_bps\n0,1\n1,oops\n",
     5, "oops"),
    ("canonical", "# edgesim-bandwidth-trace: 1\n# duration_s: 3\ntime_s,bw\n0,1\n", 3, "time_s,bw"),
])
def test_malformed_files_name_file_and_line(tmp_path, fmt, content, line, snippet):
    p = tmp_path / f"bad_{fmt}.txt"
    p.write_text(content)
    with pytest.raises(TraceFormatError) as exc:
        read_trace(p, fmt=fmt)
    msg = str(exc.value)
    assert "bad_" in msg and f"line {line}" in msg and snippet in msg, msg
    assert exc.value.line == line


def test_auto_detection_failure_lists_formats(tmp_path):
    p = tmp_path / "weird.dat"
    p.write_text("0\n1\n2;3\n")
    with pytest.raises(TraceFormatError) as exc:
        read_trace(p)
    msg = str(exc.value)
    assert "weird.dat" in msg and "mahimahi: line 3 '2;3'" in msg and "mbps: line 1" in msg
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(TraceFormatError, match="empty"):
        read_trace(empty)
    with pytest.raises(ValueError, match="unknown trace format"):
        read_trace(p, fmt="pcap")


def test_canonical_round_trip_synthetic(tmp_path):
    rng = np.random.default_rng(1)
    times = np.cumsum(np.concatenate(([0.0], rng.uniform(1e-3, 3, 50))))
    tr = BandwidthTrace(times, rng.uniform(0, 1e8, times.size) * (rng.random(times.size) > 0.2),
                        duration=times[-1] + 0.123456789, end="loop", scale=1.1,
                        source="synthetic\nwith newline")
    out = write_canonical(tr, tmp_path / "c.csv", source_format="generated")
    back = read_canonical(out)
    assert np.array_equal(back.times, tr.times) and np.array_equal(back.bps, tr.bps)
    assert back.duration == tr.duration and back.scale == 1.1 and back.source == "synthetic with newline"
    assert back.meta["source_format"] == "generated"
    assert read_canonical(out, end="hold", scale=2).end == "hold"


# --- properties --------------------------------------------------------------------------------------
@st.composite
def traces(draw):
    n = draw(st.integers(1, 12))
    steps = draw(st.lists(st.floats(1e-3, 10), min_size=n, max_size=n))
    rates = draw(st.lists(st.one_of(st.just(0.0), st.floats(1e3, 1e9)), min_size=n, max_size=n))
    end = draw(st.sampled_from(["loop", "hold"]))
    scale = draw(st.sampled_from([1.0, 0.5, 3.0]))
    times = np.concatenate(([0.0], np.cumsum(steps[:-1])))
    return BandwidthTrace(times, rates, duration=float(np.sum(steps)), end=end, scale=scale)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tr=traces(), t0=st.floats(0, 1e3), b=st.floats(1e6, 1e10))
def test_integral_of_time_to_deliver_is_size(tr, t0, b):
    t = tr.time_to_deliver(t0, b)
    if math.isinf(t):
        assert tr.end == "hold" or tr.mean_bps() == 0
        assert tr.integral(t0, t0 + 1e6) < b
        return
    assert t >= t0
    assert tr.integral(t0, t) == pytest.approx(b, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(tr=traces(), t=st.floats(0, 1e3), u=st.floats(0, 50), v=st.floats(0, 50))
def test_next_change_and_additivity(tr, t, u, v):
    nc = tr.next_change(t)
    assert nc > t
    if math.isfinite(nc):
        assume(nc - t > 1e-9 * max(1.0, t))
        assert tr.value_at(nc) != tr.value_at(t)
        assert tr.value_at(t + (nc - t) * 0.5) == tr.value_at(t)
    else:
        assert tr.value_at(t + 1e3) == tr.value_at(t)
    a, b = tr.integral(t, t + u), tr.integral(t + u, t + u + v)
    assert a + b == pytest.approx(tr.integral(t, t + u + v), rel=1e-9, abs=1e-3)


def test_a_truncated_canonical_trace_is_refused_with_its_counts(tmp_path):
    from edgesim.network.traces import BandwidthTrace, TraceFormatError, read_canonical, write_canonical
    ts = [float(i) for i in range(100)]
    full = write_canonical(BandwidthTrace(ts, [1e6 + i for i in range(100)], 100.0, end="hold"),
                           tmp_path / "full.csv")
    assert len(read_canonical(full).times) == 100
    lines = full.read_text().splitlines()
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(lines[:len(lines) - 59]) + "\n")          # 41 rows left
    with pytest.raises(TraceFormatError, match=r"about 100 rows were expected and 41 were found"):
        read_canonical(cut)
    # A hand-written step function holds its last value on purpose and is not judged.
    steps = write_canonical(BandwidthTrace([0.0, 5.0, 30.0], [1e6, 2e6, 5e5], 600.0, end="hold"),
                            tmp_path / "steps.csv")
    assert read_canonical(steps).duration == 600.0
