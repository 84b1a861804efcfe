"""Mahimahi traces at native 1 ms resolution, against exact (Fraction) arithmetic.

The reference here is independent of edgesim: the opportunity at ms t delivers one packet over
(t - 1, t] ms (step (t - 1) mod T, T = the last timestamp = the loop period), and a transfer of
B bytes ends at the earliest time the cumulative delivered bits since its start reach 8 B.
Real traces are read from ../shared/data/bandwidth (never copied in); those tests skip without it.
"""
from __future__ import annotations

import bisect
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import edgesim
from edgesim.network.mahimahi import (PacketSchedule, binned_trace, native_trace, parse_mahimahi,
                                      resolution_errors)
from edgesim.network.traces import TraceFormatError, read_mahimahi, read_trace

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bandwidth" / "mahimahi_cellular"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real mahimahi traces not found at {DATA} "
                                "(../shared/data beside the project); skipping real-file tests")
PKT = 12000          # bits per 1500-byte opportunity


class Exact:
    """The 1 ms cumulative-delivery curve of a looped trace, in integers and Fractions (ms, bits)."""

    def __init__(self, ms: list[int]) -> None:
        self.T = ms[-1]
        self.c = [0] * self.T
        for t in ms:
            self.c[(t - 1) % self.T] += 1
        self.pre = [0]
        for n in self.c:
            self.pre.append(self.pre[-1] + n * PKT)
        self.total = self.pre[-1]

    def cum(self, t: Fraction) -> Fraction:
        q, x = divmod(t, self.T)
        k = math.floor(x)
        return q * self.total + self.pre[k] + (self.c[k] * PKT * (x - k) if k < self.T else 0)

    def deliver(self, t0: Fraction, bits: int) -> Fraction:
        target = self.cum(t0) + bits
        q = math.ceil(target / self.total) - 1          # 0 < target - q total <= total
        rest = target - q * self.total
        k = bisect.bisect_left(self.pre, rest) - 1       # pre[k] < rest <= pre[k + 1]
        return q * self.T + k + (rest - self.pre[k]) / (self.c[k] * PKT)


def write(tmp_path: Path, ms, name: str = "t.down") -> Path:
    p = tmp_path / name
    p.write_text("".join(f"{t}\n" for t in ms))
    return p


def bursty(seed: int, T: int = 400) -> list[int]:
    """Bursts of packets (0-3 per draw, draws may repeat a ms) with gaps, ending at the period T."""
    rng = np.random.default_rng(seed)
    ms = sorted(int(t) for t in rng.integers(0, T, 300) for _ in range(int(rng.integers(0, 4))))
    return ms + [T]


# --- exact arithmetic ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transfer_ends_when_cumulative_delivery_reaches_its_size(tmp_path, seed):
    ms = bursty(seed)
    ex = Exact(ms)
    tr = read_trace(write(tmp_path, ms), "mahimahi")
    assert tr.meta["resolution"] == "native" and tr.duration == ms[-1] / 1000
    assert tr.integral(0, tr.duration) == pytest.approx(len(ms) * PKT, rel=1e-12)
    rng = np.random.default_rng(100 + seed)
    # ms-aligned and arbitrary starts; whole packets (ends on a step end), odd sizes, many loops
    starts = [0.0, 0.001, 0.017, 0.25, 0.399] + rng.uniform(0, 3.0, 12).tolist()
    sizes = [1500, 3000, 45000, 1501, 777, 1_000_000, 12_345_678]
    for t0 in starts:
        for size in sizes:
            # t0 as the decimal it prints as: 0.001 means 1 ms; its binary float lies 2e-20 s
            # later, which would push an end that falls on a step end past the gap after it
            want = ex.deliver(Fraction(repr(t0)) * 1000, size * 8) / 1000
            got = tr.time_to_deliver(t0, size * 8.0)
            assert got == pytest.approx(float(want), rel=1e-12, abs=1e-12), (t0, size)
            assert tr.integral(t0, got) == pytest.approx(size * 8, rel=1e-9)
    for t0, t1 in ((0.0, 0.1234), (0.0005, 0.0015), (0.3, 2.71828)):
        exact = ex.cum(Fraction(repr(t1)) * 1000) - ex.cum(Fraction(repr(t0)) * 1000)
        assert tr.integral(t0, t1) == pytest.approx(float(exact), rel=1e-12)


def test_whole_packets_end_on_the_packet_schedule_or_up_to_1ms_before(tmp_path):
    ms = bursty(7)
    tr = native_trace(np.asarray(ms))
    pk = PacketSchedule(np.asarray(ms))
    for k in range(0, 1200, 37):                  # ms-aligned starts, over three loops
        t0 = k / 1000
        for n in (1, 2, 5, 40, 333):
            native = tr.time_to_deliver(t0, n * PKT)
            packet = float(pk.time_to_deliver(t0, n * 1500))
            # within the n-th packet's own millisecond (t - 1, t], on t when it is the last
            assert -1e-12 <= packet - native < 1e-3 + 1e-12, (k, n)


def test_one_packet_per_ms_is_one_constant_step(tmp_path):
    tr = read_mahimahi(write(tmp_path, range(1, 501)))
    assert len(tr) == 1 and tr.bps.tolist() == [12e6] and tr.duration == 0.5
    assert tr.next_change(0.0) == math.inf and tr.value_at(123.4567) == 12e6
    # a long transfer (600 loops) is exact arithmetic on a constant rate: no per-packet events
    assert tr.time_to_deliver(0.0037, 3.6e9) == pytest.approx(0.0037 + 300.0, rel=1e-13)


def test_periodic_trace_has_its_mean_rate_over_whole_periods(tmp_path):
    # 2 packets every 3 ms: 8 Mbit/s on average, exactly at every multiple of 3 ms
    ms = [t for k in range(1, 101) for t in (3 * k, 3 * k)]
    tr = read_mahimahi(write(tmp_path, ms))
    assert tr.mean_bps() == pytest.approx(8e6, rel=1e-12)
    for n in (1, 7, 100, 101, 12_345):
        assert tr.time_to_deliver(0.0, n * 2 * PKT) == pytest.approx(0.003 * n, rel=1e-12)
        assert tr.integral(0.0, 0.003 * n) == pytest.approx(n * 2 * PKT, rel=1e-12)
    # from mid-burst: the rest of (2, 3] ms, then half of (5, 6] ms
    assert tr.time_to_deliver(0.0025, 2 * PKT) == pytest.approx(0.0055, rel=1e-12)


def test_binned_mode_is_the_former_default(tmp_path):
    ms = bursty(3, T=1000)
    p = write(tmp_path, ms)
    tr = read_trace(p, bin_s=0.1)
    counts, _ = np.histogram(ms, bins=np.arange(11) * 100)      # last bin closed on the right
    assert tr.meta["resolution"] == "binned" and len(tr) == 10
    np.testing.assert_array_equal(tr.bps, counts * PKT / 0.1)
    np.testing.assert_array_equal(tr.times, np.arange(10) / 10)
    assert tr.integral(0, tr.duration) == pytest.approx(native_trace(np.asarray(ms)).integral(0, 1.0))
    assert np.array_equal(binned_trace(np.asarray(ms), 0.1).bps, tr.bps)


def test_same_input_same_results(tmp_path):
    p = write(tmp_path, bursty(4))
    a, b = read_mahimahi(p), read_mahimahi(p)
    assert np.array_equal(a.times, b.times) and np.array_equal(a.bps, b.bps)
    ms = parse_mahimahi(p)
    assert resolution_errors(ms, [3000, 30000], starts=50) == \
        resolution_errors(ms, [3000, 30000], starts=50)


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("content,line,bad", [
    ("0\n1\n12.5\n20\n", 3, "'12.5'"),
    ("0\n-3\n", 2, "'-3'"),
    ("0\n4 5\n", 2, "'4 5'"),
    ("1\n2\nten\n", 3, "'ten'"),
    ("5\n9\n3\n", 3, "timestamp 3 is before the previous one (9)"),
])
def test_malformed_line_names_file_line_and_value(tmp_path, content, line, bad):
    p = tmp_path / "broken.down"
    p.write_text(content)
    with pytest.raises(TraceFormatError) as exc:
        read_trace(p, "mahimahi")
    msg = str(exc.value)
    assert "broken.down" in msg and f"line {line}" in msg and bad in msg, msg
    assert exc.value.line == line and exc.value.fmt == "mahimahi"


def test_bad_parameters_and_degenerate_files(tmp_path):
    with pytest.raises(TraceFormatError, match="last timestamp must be > 0"):
        read_mahimahi(write(tmp_path, [0, 0]))
    p = write(tmp_path, [1, 2, 3])
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        read_mahimahi(p, bin_s=0.0005)
    with pytest.raises(ValueError, match="packet_bytes"):
        read_mahimahi(p, packet_bytes=0)
    tr = read_mahimahi(write(tmp_path, [7], "one.down"))         # one opportunity, at the period
    assert tr.duration == 0.007 and tr.integral(0, 0.007) == pytest.approx(PKT)
    assert tr.time_to_deliver(0, PKT) == pytest.approx(0.007)


# --- through the simulator: max-min sharing of a traced bottleneck ------------------------------------
def _scenario(path: Path, sends: list[tuple[float, float]]) -> dict:
    return {
        "name": "mm", "seed": 0, "duration": 1e4,
        "nodes": {"cam": {"role": "camera"}, "srv": {"executors": 64}},
        "links": {"l": {"ends": ["cam", "srv"], "bandwidth": 1.0,
                        "trace": {"file": str(path), "format": "mahimahi"}}},
        "workload": {
            "sources": {f"s{i}": {"at": "cam", "job": f"j{i}", "limit": 1,
                                  "arrivals": {"process": "deterministic", "rate": 1.0,
                                               "offset": t}} for i, (t, _) in enumerate(sends)},
            "jobs": {f"j{i}": {"stages": [{"model": "m", "node": "srv", "bytes": b}]}
                     for i, (_, b) in enumerate(sends)}},
        "service": {"m": {"cpu": {"dist": "constant", "time": 1e-9}}},
    }


def _two_flows(ex: Exact, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Finish times (s) of flows a then b (start s, bytes) sharing the curve max-min fairly."""
    (ta, ba), (tb, bb) = [(Fraction(repr(t)) * 1000, n * 8) for t, n in (a, b)]
    fa = ex.deliver(ta, ba)
    if fa <= tb:
        return float(fa / 1000), float(ex.deliver(tb, bb) / 1000)
    left_a = ba - (ex.cum(tb) - ex.cum(ta))
    first = ex.deliver(tb, 2 * min(left_a, bb))          # each gets half while both send
    if left_a <= bb:
        return float(first / 1000), float(ex.deliver(first, bb - left_a) / 1000)
    return float(ex.deliver(first, left_a - bb) / 1000), float(first / 1000)


@pytest.mark.parametrize("a,b", [((0.0103, 61_111), (0.0407, 20_003)),
                                 ((0.5, 400_001), (0.6, 400_002)),
                                 ((0.2, 10_001), (0.9, 33_333))])
def test_shared_traced_bottleneck_matches_exact_max_min(tmp_path, a, b):
    ms = bursty(11)
    p = write(tmp_path, ms)
    fa, fb = _two_flows(Exact(ms), a, b)
    df = edgesim.run(_scenario(p, [a, b])).requests.sort_values("created")
    # service starts when the bytes have arrived (no latency, header or RPC cost here)
    assert df.started.tolist() == pytest.approx([fa, fb], rel=1e-9, abs=1e-8)


def test_whole_packet_upload_ending_on_a_step_end(tmp_path):
    p = write(tmp_path, bursty(5))
    tr = native_trace(parse_mahimahi(p))
    late = []
    for k in range(40):
        t0, size = round(0.011 + 0.137 * k, 3), 1500.0 * (3 + 5 * k)   # ms-aligned, whole packets
        want = tr.time_to_deliver(t0, size * 8)
        got = edgesim.run(_scenario(p, [(t0, size)])).requests.started.iloc[0]
        if abs(got - want) > 1e-8:
            late.append((t0, size, got - want))
    assert not late


# --- real traces -----------------------------------------------------------------------------------
def real_files() -> list:
    if not DATA.is_dir():
        return [pytest.param(None, id="no-shared-data", marks=needs_data)]
    return sorted(DATA.glob("*.down"))


def _numpy_deliver(ms: np.ndarray, t0: float, bits: float) -> float:
    """Independent of edgesim: unrolled per-ms counts, np.cumsum, interpolation in the ms."""
    T = int(ms[-1])
    c = np.bincount((ms - 1) % T, minlength=T).astype(float) * PKT
    loops = int(bits // c.sum()) + int(t0 * 1000 // T) + 2
    cum = np.concatenate(([0.0], np.cumsum(np.tile(c, loops))))
    x = t0 * 1000
    k = int(x)
    target = cum[k] + c[k % T] * (x - k) + bits
    j = int(np.searchsorted(cum, target * (1 - 1e-13), side="left"))   # earliest, ms-end ties
    return (j - 1 + min((target - cum[j - 1]) / (cum[j] - cum[j - 1]), 1.0)) / 1000


@needs_data
@pytest.mark.parametrize("path", real_files(), ids=lambda p: getattr(p, "name", p))
def test_real_native_against_numpy_and_packets(path):
    ms = np.loadtxt(path, dtype=np.int64, ndmin=1)
    tr = read_trace(path)                                # auto-detected, native by default
    assert tr.meta["resolution"] == "native" and tr.duration == ms[-1] / 1000
    assert tr.integral(0, tr.duration) == pytest.approx(ms.size * PKT, rel=1e-12)
    pk = PacketSchedule(ms)
    for t0 in (0.0, 0.001, 3.7, 0.37 * tr.duration, tr.duration - 0.004):
        for size in (20_000, 150_000, 5_000_000, ms.size * 1500 * 1.3):
            got = tr.time_to_deliver(t0, size * 8)
            assert got == pytest.approx(_numpy_deliver(ms, t0, size * 8), rel=1e-11, abs=1e-9)
            gap = float(pk.time_to_deliver(round(t0, 3), size)) - tr.time_to_deliver(round(t0, 3),
                                                                                       size * 8)
            assert -1e-9 <= gap < 1e-3 + 1e-9


@needs_data
def test_real_frame_uploads_binning_error_vs_native():
    """The figures quoted in docs/guides/network.md (edgesim trace resolution FILE)."""
    rows = resolution_errors(parse_mahimahi(DATA / "Verizon-LTE-short.down"),
                             [10e3, 60e3, 150e3], bin_s=0.1, starts=1000)
    by = {r["bytes"]: r for r in rows}
    assert by[10e3]["binned_median"] > 0.15 and by[10e3]["binned_max"] > 10
    assert by[150e3]["binned_max"] > 0.45 and by[60e3]["binned_p99"] > 0.5
    assert all(r["native_vs_packet_max_ms"] < 1.0 for r in rows)
