"""Mahimahi link traces: native 1 ms replay (the default), binned steps, and packet-level timing.

A Mahimahi trace lists one integer millisecond per line; each line is one opportunity to deliver
a 1500-byte packet, and mm-link loops the file with period = the last timestamp.

Why native resolution is the default: a camera frame takes tens of milliseconds to upload, about
the time between bursts of opportunities on a cellular trace. Spreading each 100 ms bin's packets
evenly over the bin moves such an upload's finish time by a large fraction of its duration
(measured in docs/guides/network.md, section 2.2). At 1 ms the step function is the packets'
cumulative-delivery curve itself at every millisecond boundary, so a transfer ends exactly where
that curve reaches its size, and (started on a millisecond boundary) at most 1 ms before
mahimahi's own packet-level schedule.

Why that stays cheap: milliseconds with equal counts in a row are one step (run length), so a
periodic trace with one packet per millisecond is one constant step, and a real LTE trace has
about 400 steps per second of trace. Queries are bisections on the prefix sums that
:class:`~edgesim.network.trace_types.BandwidthTrace` precomputes, so ``time_to_deliver`` answers a
transfer of any length in O(log steps), whatever the number of packets.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

import numpy as np

from edgesim.network.trace_types import BandwidthTrace, PathLike, TraceFormatError, _lines

__all__ = ["read_mahimahi", "parse_mahimahi", "native_trace", "binned_trace", "PacketSchedule",
           "resolution_errors"]

FMT = "mahimahi"


def parse_mahimahi(path: PathLike) -> np.ndarray:
    """The opportunity timestamps (int64 ms, non-decreasing, last > 0) of a mahimahi file.

    Errors name the file, the line and the offending text: a line that is not one non-negative
    whole number of milliseconds, or a timestamp before the previous one.
    """
    ms: List[int] = []
    prev = 0
    for no, text in _lines(path, FMT):
        s = text.strip()
        if not (s.isascii() and s.isdigit()):
            raise TraceFormatError(f"timestamp {s!r} is not one non-negative whole number of "
                                   "milliseconds", path, no, text, FMT)
        v = int(s)
        if v < prev:
            raise TraceFormatError(f"timestamp {v} is before the previous one ({prev})", path, no,
                                   text, FMT)
        ms.append(v)
        prev = v
    if not ms:
        raise TraceFormatError("no timestamps", path, fmt=FMT)
    if ms[-1] == 0:
        raise TraceFormatError("the last timestamp must be > 0 (it is the trace's period)", path,
                               fmt=FMT)
    return np.asarray(ms, dtype=np.int64)


def _check_packet(packet_bytes: int) -> int:
    if isinstance(packet_bytes, bool) or int(packet_bytes) != packet_bytes or packet_bytes < 1:
        raise ValueError(f"packet_bytes must be a positive whole number, got {packet_bytes!r}")
    return int(packet_bytes)


def native_trace(ms: np.ndarray, *, packet_bytes: int = 1500, end: str = "loop", scale: float = 1.0,
                 source: str = "") -> BandwidthTrace:
    """1 ms resolution: the packets of the opportunities at ms t arrive over (t - 1 ms, t].

    So the integral from 0 to every millisecond boundary k is exactly mm-link's cumulative
    delivery over (0, k]. Ms t goes to step (t - 1) mod T: an opportunity at T (the
    period) and one at 0 of the next loop are the same instant, both delivered over the last
    millisecond of a period; only the opportunities at 0 of the very first loop, before any
    transfer can start, are not replayed. A trace of one line per millisecond (1, 2, ..., T) is
    thus one constant step. Equal consecutive milliseconds are merged into one step.
    """
    packet_bytes = _check_packet(packet_bytes)
    T = int(ms[-1])
    c = np.bincount((ms - 1) % T, minlength=T)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(c)) + 1))
    # Rates are whole multiples of packet_bits / 1 ms (12 Mbit/s for 1500 B), exact in floats.
    bps = c[starts] * (packet_bytes * 8.0 * 1000.0)
    return BandwidthTrace(starts / 1000.0, bps, duration=T / 1000.0, end=end, scale=scale,
                          source=source,
                          meta={"format": FMT, "resolution": "native", "bin_s": repr(0.001),
                                "packet_bytes": str(packet_bytes), "period_ms": str(T),
                                "opportunities": str(int(ms.size))})


def binned_trace(ms: np.ndarray, bin_s: float, *, packet_bytes: int = 1500, end: str = "loop",
                 scale: float = 1.0, source: str = "") -> BandwidthTrace:
    """One step per ``bin_s`` bin (a whole number of ms) at the bin's mean rate, every bin kept
    (also equal neighbours), as edgesim read mahimahi files before native resolution."""
    packet_bytes = _check_packet(packet_bytes)
    bin_ms = round(bin_s * 1000)
    if bin_ms < 1 or abs(bin_ms - bin_s * 1000) > 1e-6:
        raise ValueError(f"bin_s must be a positive whole number of milliseconds, got {bin_s!r}")
    # Ms t counts in bin floor(t / bin); there are ceil(T / bin) bins and opportunities at
    # exactly T go to the last one, so one period carries every line exactly once.
    nbins = -(-int(ms[-1]) // bin_ms)
    counts = np.bincount(np.minimum(ms // bin_ms, nbins - 1), minlength=nbins)
    bin_len = bin_ms / 1000.0
    return BandwidthTrace(np.arange(nbins) * bin_ms / 1000.0, counts * (packet_bytes * 8.0 / bin_len),
                          duration=nbins * bin_ms / 1000.0, end=end, scale=scale, source=source,
                          meta={"format": FMT, "resolution": "binned", "bin_s": repr(bin_len),
                                "packet_bytes": str(packet_bytes), "period_ms": str(int(ms[-1])),
                                "opportunities": str(int(ms.size))})


def read_mahimahi(path: PathLike, *, bin_s: float | None = None, packet_bytes: int = 1500,
                  end: str = "loop", scale: float = 1.0) -> BandwidthTrace:
    """A mahimahi file at native 1 ms resolution (``bin_s=None``, the default) or binned.

    Native: see :func:`native_trace`; the trace lasts T ms (T = last timestamp, the loop period).
    Binned (``bin_s`` a whole number of ms, e.g. 0.1 as before): see :func:`binned_trace`; the
    trace lasts ceil(T / bin) bins. Either way one period carries exactly lines x packet bits.
    """
    ms = parse_mahimahi(path)
    if bin_s is None:
        return native_trace(ms, packet_bytes=packet_bytes, end=end, scale=scale, source=str(path))
    return binned_trace(ms, bin_s, packet_bytes=packet_bytes, end=end, scale=scale, source=str(path))


class PacketSchedule:
    """mm-link's own packet-level schedule of a trace (looped): the reference for resolution.

    Opportunity i of loop q is at (ms[i] + q T) ms and carries one packet; a transfer of B bytes
    started at t0 is done at the ceil(B / packet)-th opportunity after t0. This is the exact
    cumulative-delivery staircase; the flow model cannot carry it (its rates are finite), which is
    why :func:`native_trace` spreads each millisecond's packets over the millisecond before it.
    """

    def __init__(self, ms: np.ndarray, packet_bytes: int = 1500) -> None:
        self.ms = np.asarray(ms, dtype=np.int64)
        self.period_ms = int(self.ms[-1])
        self.packet_bytes = _check_packet(packet_bytes)

    def time_to_deliver(self, t0: np.ndarray | float, nbytes: float) -> np.ndarray:
        """Finish times (s) of ``nbytes`` started at each of ``t0`` (s); vectorised over t0."""
        t = np.asarray(t0, dtype=float)
        if nbytes <= 0:
            return t.copy()
        n, per, T = math.ceil(nbytes / self.packet_bytes), self.ms.size, self.period_ms
        # Opportunities strictly after t0, as native replay sees them from a millisecond
        # boundary (1e-6 ms over t0 * 1000 absorbs the rounding of k / 1000 s).
        x = t * 1000.0 + 1e-6
        q = np.floor(x / T).astype(np.int64)
        first = np.searchsorted(self.ms, x - q * T, side="left")     # may be `per`: next loop
        g = q * per + first + (n - 1)
        return ((g // per) * T + self.ms[g % per]) / 1000.0


def resolution_errors(ms: np.ndarray, sizes: Sequence[float], *, bin_s: float = 0.1,
                      starts: int = 1000, packet_bytes: int = 1500) -> List[Dict[str, float]]:
    """Upload-time errors of binned and native replay, per transfer size, over ``starts`` start
    times spread over one period: floor((k + 0.5) T / starts) ms, deterministic, no random draws.

    Starts are on millisecond boundaries, where native replay and :class:`PacketSchedule` agree on
    which opportunities a transfer may use (from mid-millisecond, native replay credits the
    share of the next millisecond's burst still to come, mm-link all of it); from there the
    native finish is at most 1 ms before the packet one.

    Per size: ``binned_*`` = |binned - native| / native upload time (median, p99, max);
    ``native_vs_packet_*`` = |native - packet| / max(packet upload time, 1 ms) (median, max) and
    the largest absolute gap in ms.
    """
    native = native_trace(ms, packet_bytes=packet_bytes)
    binned = binned_trace(ms, bin_s, packet_bytes=packet_bytes)
    packets = PacketSchedule(ms, packet_bytes)
    t0 = np.floor((np.arange(starts) + 0.5) * (int(ms[-1]) / starts)) / 1000.0
    rows = []
    for size in sizes:
        bits = float(size) * 8.0
        nat = np.array([native.time_to_deliver(t, bits) for t in t0.tolist()]) - t0
        bin_ = np.array([binned.time_to_deliver(t, bits) for t in t0.tolist()]) - t0
        pkt = packets.time_to_deliver(t0, float(size)) - t0
        e_bin = np.abs(bin_ - nat) / nat
        gap = np.abs(nat - pkt)
        e_pkt = gap / np.maximum(pkt, 1e-3)     # a packet found at t0 itself: divide by 1 ms
        rows.append({"bytes": float(size), "bin_s": float(bin_s), "starts": int(starts),
                     "native_median_s": float(np.median(nat)),
                     "binned_median": float(np.median(e_bin)),
                     "binned_p99": float(np.percentile(e_bin, 99)), "binned_max": float(e_bin.max()),
                     "native_vs_packet_median": float(np.median(e_pkt)),
                     "native_vs_packet_max": float(e_pkt.max()),
                     "native_vs_packet_max_ms": float(gap.max() * 1000.0)})
    return rows
