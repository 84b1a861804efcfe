"""Piecewise-constant bandwidth traces and readers for public trace formats.

A :class:`BandwidthTrace` holds step start times ``times`` (first 0, strictly increasing), the
rate ``bps`` of each step (held until the next start; the last step ends at ``duration``), what
happens after ``duration`` (``end="loop"`` repeats from 0, ``end="hold"`` keeps the last rate)
and a ``scale`` multiplying every rate. All queries are exact for that step function.

Formats (details and conventions in docs/guides/network.md):
  mahimahi   one integer millisecond per line = one 1500-byte delivery opportunity; read at
             native 1 ms resolution by default (edgesim.network.mahimahi)
  mbps       whitespace ``time_s throughput_Mbps`` (Pensieve cooked traces, Puffer, Oboe)
  csv-bps    headerless ``time_s,bytes_per_second`` (NYU multipath Wi-Fi/cellular)
  5gophers   headered CSV with a ``*throughput_mbps`` column, one row per 1 s step
  canonical  edgesim's own CSV, written by :func:`write_canonical`
"""
from __future__ import annotations

import bisect
import csv
import datetime as _dt
import math
import os
import re
from array import array
from pathlib import Path
from types import MappingProxyType
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from edgesim.metrics.atomic import write_text_atomic

import numpy as np

__all__ = [
    "BandwidthTrace", "TraceFormatError", "FORMATS", "detect_format", "read_trace", "read_mahimahi",
    "read_mbps", "read_csv_bps", "read_5gophers", "read_canonical", "write_canonical",
]

PathLike = Union[str, "os.PathLike[str]"]
FORMATS = ("canonical", "5gophers", "mahimahi", "csv-bps", "mbps")
CANONICAL_MAGIC = "edgesim-bandwidth-trace"
CANONICAL_VERSION = "1"
CANONICAL_HEADER = "time_s,bandwidth_bps"
MAHIMAHI_BIN_S = 0.1  # the binned mode's former default; mahimahi now reads at 1 ms unless asked
_REL = 1e-12          # rounding slack of time_to_deliver, relative to the bits in play
_TIME_ULPS = 64 * 2.0 ** -52   # and the slack for rounding of times, relative to their size


class TraceFormatError(ValueError):
    """A trace file that cannot be read; names the file, the line and the offending text."""

    def __init__(self, message: str, path: PathLike | None = None, line: int | None = None,
                 text: str | None = None, fmt: str | None = None) -> None:
        self.path, self.line, self.text, self.fmt = path, line, text, fmt
        msg = f"{'<trace>' if path is None else path}" + ("" if line is None else f", line {line}")
        msg += f": {message}" + ("" if text is None else f" (text: {text.rstrip()[:120]!r})")
        super().__init__(msg + ("" if fmt is None else f" [format {fmt}]"))


def _doubles(a: np.ndarray) -> "array[float]":
    out = array("d")
    out.frombytes(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return out


class BandwidthTrace:
    """A piecewise-constant link rate (bits/s) over time; read-only after construction."""

    __slots__ = ("times", "bps", "duration", "end", "scale", "source", "meta", "_t", "_r", "_seg_end",
                 "_cum", "_total", "_changes", "_r_max")

    def __init__(self, times: Sequence[float], bps: Sequence[float], duration: float | None = None,
                 end: str = "loop", scale: float = 1.0, source: str = "",
                 meta: Optional[Mapping[str, str]] = None) -> None:
        t = np.array(times, dtype=float).reshape(-1)
        b = np.array(bps, dtype=float).reshape(-1)
        if t.size == 0 or t.size != b.size:
            raise ValueError(f"times and bps must be non-empty and of equal length ({t.size} vs {b.size})")
        ok = np.all(np.isfinite(t)) and np.all(np.diff(t) > 0) and np.all(np.isfinite(b)) and np.all(b >= 0)
        if not ok:
            raise ValueError("times must be finite and strictly increasing, bps finite and >= 0")
        if duration is None:
            if t.size < 2:
                raise ValueError("a single-sample trace needs an explicit duration")
            duration = float(t[-1] + np.median(np.diff(t)))
        duration = float(duration) - float(t[0])
        t = t - t[0]
        if not (math.isfinite(duration) and duration > t[-1]):
            raise ValueError(f"duration must end after the last step start ({duration!r} <= {t[-1]!r})")
        if end not in ("loop", "hold"):
            raise ValueError(f"end must be 'loop' or 'hold', got {end!r}")
        scale = float(scale)
        if not (math.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale must be finite and >= 0, got {scale!r}")
        t.setflags(write=False)
        b.setflags(write=False)
        self.times, self.bps, self.duration, self.end, self.scale = t, b, duration, end, scale
        self.source = str(source)
        self.meta = MappingProxyType(dict(meta or {}))
        r = b * scale
        seg_end = np.append(t[1:], duration)
        cum = np.concatenate(([0.0], np.cumsum(r * (seg_end - t))))
        # Offsets in [0, duration) where the (scaled) rate changes; 0 (the wrap) for loop only.
        ch = t[1:][r[1:] != r[:-1]]
        if end == "loop" and r[0] != r[-1]:
            ch = np.concatenate(([0.0], ch))
        # array('d') rather than lists: bisect and indexing stay on plain floats (no numpy scalars
        # in the hot path) at 8 bytes a step, and a native mahimahi trace has ~1e5 steps.
        self._t, self._r, self._seg_end, self._cum, self._changes = (
            _doubles(t), _doubles(r), _doubles(seg_end), _doubles(cum), _doubles(ch))
        self._total = self._cum[-1]
        self._r_max = float(r.max())

    # --- construction helpers ---------------------------------------------------------------
    @classmethod
    def constant(cls, bps: float, duration: float = 1.0, source: str = "constant") -> "BandwidthTrace":
        return cls([0.0], [bps], duration=duration, end="hold", source=source)

    def _replace(self, **kw) -> "BandwidthTrace":
        args = dict(times=self.times, bps=self.bps, duration=self.duration, end=self.end,
                    scale=self.scale, source=self.source, meta=self.meta)
        args.update(kw)
        return BandwidthTrace(**args)

    def with_scale(self, scale: float) -> "BandwidthTrace":  # noqa: D102
        return self._replace(scale=scale)

    def with_end(self, end: str) -> "BandwidthTrace":  # noqa: D102
        return self._replace(end=end)

    def __repr__(self) -> str:
        return (f"BandwidthTrace(steps={len(self._t)}, duration={self.duration:g}, end={self.end!r}, "
                f"scale={self.scale:g}, mean_bps={self.mean_bps():.6g}, source={self.source!r})")

    def __len__(self) -> int:
        return len(self._t)

    # --- locating ----------------------------------------------------------------------------
    def _locate(self, t: float) -> Tuple[int, float, float, int]:
        """(period q, its start q*duration, offset, step index) of time t (loop semantics).

        Step boundaries are the floats q*duration + times[j], the same expressions
        :meth:`next_change` returns, so the rate at a returned change time is the new rate.
        """
        if not 0 <= t < math.inf:
            raise ValueError(f"time must be finite and >= 0, got {t!r}")
        d, tl = self.duration, self._t
        q = math.floor(t / d)
        if t < q * d:
            q -= 1
        elif t >= (q + 1) * d:
            q += 1
        base = q * d
        x = min(max(t - base, 0.0), d)
        i = max(bisect.bisect_right(tl, x) - 1, 0)
        while i + 1 < len(tl) and t >= base + tl[i + 1]:
            i += 1
        while i > 0 and t < base + tl[i]:
            i -= 1
        return q, base, x, i

    def _span(self, x0: float, i0: int, x1: float, i1: int) -> float:
        """Bits between offsets x0 <= x1 of one period (steps i0 <= i1)."""
        r = self._r
        if i0 == i1:
            return r[i0] * (x1 - x0)
        cum = self._cum
        return r[i0] * (self._seg_end[i0] - x0) + cum[i1] - cum[i0 + 1] + r[i1] * (x1 - self._t[i1])

    # --- queries -------------------------------------------------------------------------------
    def value_at(self, t: float) -> float:
        """Rate (bits/s, scaled) at time t; steps are closed on the left."""
        if self.end == "hold" and t >= self.duration:
            return self._r[-1]
        return self._r[self._locate(t)[3]]

    def next_change(self, t: float) -> float:
        """First time > t at which the rate changes; inf if it never changes again."""
        ch, d = self._changes, self.duration
        if not t >= 0:
            raise ValueError(f"time must be >= 0, got {t!r}")
        if self.end == "hold":
            k = bisect.bisect_right(ch, t)
            return ch[k] if k < len(ch) else math.inf
        if not ch:
            return math.inf
        q, _base, x, _i = self._locate(t)
        k = bisect.bisect_right(ch, x)
        while True:                     # guard against rounding in q * duration + offset
            if k == len(ch):
                q, k = q + 1, 0
            cand = q * d + ch[k]
            if cand > t:
                return cand
            k += 1

    def integral(self, t0: float, t1: float) -> float:
        """Bits the trace delivers over [t0, t1] (exact for the step function)."""
        if t1 < t0:
            raise ValueError(f"integral needs t0 <= t1, got {t0!r} > {t1!r}")
        if t1 == t0:
            self._locate(t0)
            return 0.0
        d = self.duration
        if self.end == "hold":
            if t0 >= d:
                return self._r[-1] * (t1 - t0)
            _q, _b, x0, i0 = self._locate(t0)
            x1 = min(t1, d)
            i1 = self._locate(x1)[3] if x1 < d else len(self._t) - 1
            return self._span(x0, i0, x1, i1) + self._r[-1] * max(t1 - d, 0.0)
        q0, _b0, x0, i0 = self._locate(t0)
        q1, _b1, x1, i1 = self._locate(t1)
        k = q1 - q0
        if k == 0:
            return self._span(x0, i0, x1, i1)
        last = len(self._t) - 1
        return self._span(x0, i0, d, last) + (k - 1) * self._total + self._span(0.0, 0, x1, i1)

    def _solve_in_period(self, target: float, slack: float) -> float:
        """Smallest offset y in one period with cumulative bits(0, y) == target (0 < target <= total).

        A step whose end falls short of ``target`` by at most ``slack`` ends the search there:
        prefix sums carry rounding, and without the slack a transfer due exactly at the end of a
        step (common at native mahimahi resolution) would wait out the zero-rate gap after it.
        """
        cum = self._cum
        key = target - slack if target > 2.0 * slack else target   # key > 0 = cum[0]: r[s] > 0
        s = min(bisect.bisect_left(cum, key), len(self._t)) - 1
        return min(self._t[s] + (target - cum[s]) / self._r[s], self._seg_end[s])

    def time_to_deliver(self, t0: float, nbits: float) -> float:
        """Earliest t >= t0 with integral(t0, t) == nbits; inf if that never happens.

        O(log steps) whatever nbits: a bisection on the prefix sums, whole loops by division.
        Where rounding leaves a shortfall of at most ``_slack`` bits at the end of a step or of a
        period, that end is returned instead of waiting out a following zero-rate gap.
        """
        if not (nbits >= 0):
            raise ValueError(f"nbits must be >= 0, got {nbits!r}")
        if nbits == 0:
            self._locate(t0)
            return float(t0)
        if math.isinf(nbits):
            return math.inf
        d, r_last, total = self.duration, self._r[-1], self._total
        if self.end == "hold" and t0 >= d:
            return t0 + nbits / r_last if r_last > 0 else math.inf
        slack = self._slack(t0, nbits)
        _q, b0, x0, i0 = self._locate(t0)
        r0 = self._r[i0]
        avail = r0 * (self._seg_end[i0] - x0)
        if r0 > 0 and nbits <= avail + slack:
            return min(t0 + nbits / r0, b0 + self._seg_end[i0]) if nbits > avail else t0 + nbits / r0
        target = self._cum[i0 + 1] + (nbits - avail)
        if target <= total + slack:
            return b0 + self._solve_in_period(min(target, total), slack)
        rem = target - total                # bits still due after this period ends
        if self.end == "hold":
            return d + rem / r_last if r_last > 0 else math.inf
        if total <= 0:
            return math.inf
        k = math.floor(rem / total)
        rem -= k * total
        if rem <= slack:
            k, rem = k - 1, rem + total
        return b0 + (k + 1) * d + self._solve_in_period(min(rem, total), slack)

    def _slack(self, t0: float, nbits: float) -> float:
        """Bits of rounding tolerated at a step end: relative to the bits asked for and to the
        prefix sums (up to one period's total), plus what an ulp of the times involved is worth
        at the peak rate (a trace 1000 s into a loop has ulps of 2e-13 s)."""
        return _REL * max(nbits, self._total) + _TIME_ULPS * self._r_max * (t0 + self.duration)

    def mean_bps(self) -> float:
        """Time-average rate over one period [0, duration)."""
        return self._total / self.duration

    def stats(self) -> Dict[str, float]:
        """Duration, steps and time-weighted rate statistics (Mbit/s) over [0, duration).

        Percentiles are of the rate seen at a uniformly random instant: the smallest rate v with
        share of time at rate <= v of at least q.
        """
        r = np.asarray(self._r)
        w = np.diff(np.append(self.times, self.duration))
        order = np.argsort(r, kind="stable")
        cw = np.cumsum(w[order]) / self.duration

        def pct(q: float) -> float:
            return float(r[order][min(np.searchsorted(cw, q - 1e-12, side="left"), r.size - 1)]) / 1e6

        return {
            "duration_s": self.duration, "samples": int(r.size), "mean_mbps": self.mean_bps() / 1e6,
            "min_mbps": float(r.min()) / 1e6, "p10_mbps": pct(0.10), "median_mbps": pct(0.50),
            "p90_mbps": pct(0.90), "max_mbps": float(r.max()) / 1e6,
            "zero_share": float(w[r == 0].sum() / self.duration),
        }


# --- reading helpers ---------------------------------------------------------------------------
def _lines(path: PathLike, fmt: str) -> Iterator[Tuple[int, str]]:
    """(1-based line number, text) of every non-blank line."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for no, text in enumerate(fh, 1):
                if text.strip():
                    yield no, text.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path, fmt=fmt) from None


def _float(tok: str, what: str, path: PathLike, no: int, text: str, fmt: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise TraceFormatError(f"{what} {tok!r} is not a number", path, no, text, fmt) from None
    if not math.isfinite(v):
        raise TraceFormatError(f"{what} {tok!r} is not finite", path, no, text, fmt)
    return v


def _two_columns(path: PathLike, fmt: str, split) -> Tuple[np.ndarray, np.ndarray]:
    ts: List[float] = []
    vs: List[float] = []
    for no, text in _lines(path, fmt):
        parts = split(text)
        if len(parts) != 2:
            raise TraceFormatError(f"expected 2 columns, found {len(parts)}", path, no, text, fmt)
        t = _float(parts[0], "time", path, no, text, fmt)
        v = _float(parts[1], "rate", path, no, text, fmt)
        if v < 0:
            raise TraceFormatError("negative rate", path, no, text, fmt)
        if ts and t <= ts[-1]:
            raise TraceFormatError(f"time {t!r} does not increase (previous {ts[-1]!r})", path, no, text, fmt)
        ts.append(t)
        vs.append(v)
    if len(ts) < 2:
        raise TraceFormatError(f"need at least 2 samples, found {len(ts)}", path, fmt=fmt)
    return np.asarray(ts), np.asarray(vs)


def _sampled(path: PathLike, fmt: str, t: np.ndarray, bps: np.ndarray, end: str, scale: float,
             meta: Dict[str, str]) -> BandwidthTrace:
    # Sample i holds from t_i to t_{i+1}; the last sample holds for the median step.
    duration = float(t[-1] + np.median(np.diff(t)))
    meta = {"format": fmt, "time_offset_s": repr(float(t[0])), **meta}
    return BandwidthTrace(t, bps, duration, end=end, scale=scale, source=str(path), meta=meta)


# --- readers -------------------------------------------------------------------------------------
def read_mbps(path: PathLike, *, end: str = "loop", scale: float = 1.0) -> BandwidthTrace:
    """Whitespace ``time_s throughput_Mbps`` (Pensieve cooked, Puffer, Oboe)."""
    t, v = _two_columns(path, "mbps", str.split)
    return _sampled(path, "mbps", t, v * 1e6, end, scale, {})


def read_csv_bps(path: PathLike, *, end: str = "loop", scale: float = 1.0) -> BandwidthTrace:
    """Headerless ``time_s,bytes_per_second`` (NYU multipath traces); rates x 8."""
    t, v = _two_columns(path, "csv-bps", lambda s: [p.strip() for p in s.split(",")])
    return _sampled(path, "csv-bps", t, v * 8.0, end, scale, {})


def read_mahimahi(path: PathLike, *, bin_s: float | None = None, packet_bytes: int = 1500,
                  end: str = "loop", scale: float = 1.0) -> BandwidthTrace:
    """Mahimahi link trace at native 1 ms resolution, or binned into ``bin_s`` steps.

    Defined in :mod:`edgesim.network.mahimahi` (imported here lazily: that module builds on
    this one); see its ``read_mahimahi`` for the conventions.
    """
    from edgesim.network.mahimahi import read_mahimahi as read
    return read(path, bin_s=bin_s, packet_bytes=packet_bytes, end=end, scale=scale)


def read_5gophers(path: PathLike, *, column: str | None = None, where: Mapping[str, object] | None = None,
                  segment: int = 0, step_s: float = 1.0, end: str = "loop",
                  scale: float = 1.0) -> BandwidthTrace:
    """5Gophers CSV: one row per ``step_s`` step numbered by ``seq_num``, rates in Mbit/s.

    ``column`` defaults to ``throughput_mbps`` or else the first column ending in
    ``throughput_mbps`` (the mobility files: Sprint). ``where`` keeps rows whose columns equal the
    given values (case-insensitive, numbers compared as numbers). The kept rows are cut into runs
    wherever ``seq_num`` does not increase; ``segment`` picks one (0 = first). Step k starts at
    (seq_num_k - seq_num_0) * step_s, so a gap in seq_num holds the previous value.
    """
    fmt = "5gophers"
    rows = [(no, text) for no, text in _lines(path, fmt)]
    if not rows:
        raise TraceFormatError("empty file", path, fmt=fmt)
    hno, htext = rows[0]
    header = [h.strip() for h in next(csv.reader([htext]))]
    low = [h.lower() for h in header]
    if column is None:
        cands = sorted((h for h in header if h.lower().endswith("throughput_mbps")),
                       key=lambda h: h.lower() != "throughput_mbps")      # the exact name first
        if not cands:
            raise TraceFormatError(f"no *throughput_mbps column; columns are {header}", path, hno, htext, fmt)
        column = cands[0]
    if column not in header:
        raise TraceFormatError(f"no column {column!r}; columns are {header}", path, hno, htext, fmt)
    if "seq_num" not in low:
        raise TraceFormatError(f"no seq_num column; columns are {header}", path, hno, htext, fmt)
    ci, si = header.index(column), low.index("seq_num")
    where = dict(where or {})
    for k in where:
        if k not in header:
            raise ValueError(f"where: no column {k!r} in {path}; columns are {header}")
    wi = {header.index(k): v for k, v in where.items()}
    runs: List[List[Tuple[float, float]]] = []
    seen: Dict[str, set] = {k: set() for k in where}
    for no, text in rows[1:]:
        f = next(csv.reader([text]))
        if len(f) != len(header):
            raise TraceFormatError(f"expected {len(header)} fields, found {len(f)}", path, no, text, fmt)
        for k in where:
            seen[k].add(f[header.index(k)])
        if not all(_matches(f[i], v) for i, v in wi.items()):
            continue
        seq = _float(f[si], "seq_num", path, no, text, fmt)
        val = _float(f[ci], column, path, no, text, fmt)
        if val < 0:
            raise TraceFormatError("negative rate", path, no, text, fmt)
        if not runs or seq <= runs[-1][-1][0]:
            runs.append([])
        runs[-1].append((seq, val))
    if not runs:
        avail = {k: sorted(v)[:10] for k, v in seen.items()}
        raise ValueError(f"{path}: no rows match where={where}; values seen: {avail}")
    if not -len(runs) <= segment < len(runs):
        raise ValueError(f"{path}: segment {segment} out of range, {len(runs)} run(s) match where={where}")
    run = np.asarray(runs[segment])
    t = (run[:, 0] - run[0, 0]) * step_s
    src = f"{path} [column={column}" + (f", where={where}" if where else "") + \
        (f", segment={segment} of {len(runs)}" if len(runs) > 1 else "") + "]"
    return BandwidthTrace(t, run[:, 1] * 1e6, duration=float(t[-1] + step_s), end=end, scale=scale,
                          source=src, meta={"format": fmt, "column": column, "segment": str(segment),
                                            "runs": str(len(runs)), "step_s": repr(float(step_s))})


def _matches(cell: str, want: object) -> bool:
    cell = cell.strip()
    try:
        return float(cell) == float(want)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return cell.lower() == str(want).strip().lower()


def read_canonical(path: PathLike, *, end: str | None = None, scale: float | None = None) -> BandwidthTrace:
    """edgesim's canonical CSV; ``end``/``scale`` default to the values stored in the file."""
    fmt, magic = "canonical", f"# {CANONICAL_MAGIC}: {CANONICAL_VERSION}"
    meta: Dict[str, str] = {}
    ts: List[float] = []
    vs: List[float] = []
    in_rows = False
    for no, text in _lines(path, fmt):
        if not meta:
            if " ".join(text.split()) != magic:
                raise TraceFormatError(f"first line must be {magic!r}", path, no, text, fmt)
            meta[CANONICAL_MAGIC] = CANONICAL_VERSION
        elif not in_rows and text.startswith("#"):
            key, sep, val = text[1:].partition(":")
            if not sep:
                raise TraceFormatError("comment line is not '# key: value'", path, no, text, fmt)
            meta[key.strip()] = val.strip()
        elif not in_rows:
            if text.replace(" ", "") != CANONICAL_HEADER:
                raise TraceFormatError(f"expected header {CANONICAL_HEADER!r}", path, no, text, fmt)
            in_rows = True
        else:
            parts = text.split(",")
            if len(parts) != 2:
                raise TraceFormatError(f"expected 2 columns, found {len(parts)}", path, no, text, fmt)
            t = _float(parts[0], "time", path, no, text, fmt)
            v = _float(parts[1], "rate", path, no, text, fmt)
            if v < 0 or (ts and t <= ts[-1]) or (not ts and t != 0):
                raise TraceFormatError("times must start at 0 and increase; rates >= 0", path, no, text, fmt)
            ts.append(t)
            vs.append(v)
    if not ts or "duration_s" not in meta:
        raise TraceFormatError("no rows, or no '# duration_s:' header line", path, fmt=fmt)
    try:
        end = meta.get("end", "loop") if end is None else end
        return BandwidthTrace(ts, vs, float(meta["duration_s"]), end=end,
                              scale=float(meta.get("scale", "1")) if scale is None else scale,
                              source=meta.get("source", ""), meta={**meta, "canonical_path": str(path)})
    except ValueError as exc:
        raise TraceFormatError(f"inconsistent header or rows: {exc}", path, fmt=fmt) from None


def write_canonical(trace: BandwidthTrace, path: PathLike, *, source_format: str | None = None) -> Path:
    """Write ``trace`` as canonical CSV atomically (temp file in the same folder, then os.replace)."""
    from edgesim._version import __version__

    path = Path(path)
    clean = lambda s: " ".join(str(s).split())  # noqa: E731  (one header line per key)
    fmt = source_format or trace.meta.get("source_format") or trace.meta.get("format", "unknown")
    head = [
        (CANONICAL_MAGIC, CANONICAL_VERSION), ("source", clean(trace.source)),
        ("source_format", clean(fmt)),
        ("converted_by", f"edgesim {__version__} edgesim.network.traces.write_canonical"),
        ("created", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("duration_s", repr(trace.duration)), ("end", trace.end), ("scale", repr(trace.scale)),
    ]
    lines = [f"# {k}: {v}\n" for k, v in head] + [CANONICAL_HEADER + "\n"]
    lines += [f"{t!r},{b!r}\n" for t, b in zip(trace.times.tolist(), trace.bps.tolist())]
    write_text_atomic(path, "".join(lines))
    return path


# --- detection -----------------------------------------------------------------------------------
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SNIFF = {
    "mahimahi": (re.compile(r"^\s*\d+\s*$"), "one integer millisecond timestamp per line"),
    "csv-bps": (re.compile(rf"^\s*{_NUM}\s*,\s*{_NUM}\s*$"), "two comma-separated numbers"),
    "mbps": (re.compile(rf"^\s*{_NUM}\s+{_NUM}\s*$"), "two whitespace-separated numbers"),
}


def detect_format(path: PathLike, sniff_lines: int = 50) -> str:
    """Guess the format from the first ``sniff_lines`` non-blank lines; explain every rejection."""
    head: List[Tuple[int, str]] = []
    for item in _lines(path, "auto"):
        head.append(item)
        if len(head) >= sniff_lines:
            break
    if not head:
        raise TraceFormatError("file is empty", path, fmt="auto")
    no0, first = head[0]
    reasons = []
    if first.lstrip("# ").startswith(CANONICAL_MAGIC):
        return "canonical"
    reasons.append(f"canonical: line {no0} {first[:60]!r} is not '# {CANONICAL_MAGIC}: ...'")
    if any(h.strip().lower().endswith("throughput_mbps") for h in first.split(",")):
        return "5gophers"
    reasons.append(f"5gophers: line {no0} {first[:60]!r} is not a CSV header with a *throughput_mbps column")
    for fmt, (rx, what) in _SNIFF.items():
        bad = next(((no, s) for no, s in head if not rx.match(s)), None)
        if bad is None:
            return fmt
        reasons.append(f"{fmt}: line {bad[0]} {bad[1][:60]!r} is not {what}")
    raise TraceFormatError("unknown trace format; tried " + "; ".join(reasons), path, no0, first, "auto")


_READERS = {"mahimahi": read_mahimahi, "mbps": read_mbps, "csv-bps": read_csv_bps,
            "5gophers": read_5gophers, "canonical": read_canonical}


def read_trace(path: PathLike, fmt: str = "auto", **kw) -> BandwidthTrace:
    """Read any supported format; ``fmt="auto"`` detects it (see :func:`detect_format`)."""
    if fmt == "auto":
        fmt = detect_format(path)
    try:
        reader = _READERS[fmt]
    except KeyError:
        raise ValueError(f"unknown trace format {fmt!r}; known: {sorted(_READERS)} or 'auto'") from None
    return reader(path, **kw)
