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

import csv
import datetime as _dt
import math
import re
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from edgesim.metrics.atomic import write_text_atomic

import numpy as np

from edgesim.network.mahimahi import read_mahimahi
from edgesim.network.trace_types import BandwidthTrace, PathLike, TraceFormatError, _lines

__all__ = [
    "BandwidthTrace", "TraceFormatError", "FORMATS", "detect_format", "read_trace", "read_mahimahi",
    "read_mbps", "read_csv_bps", "read_5gophers", "read_canonical", "write_canonical",
]

FORMATS = ("canonical", "5gophers", "mahimahi", "csv-bps", "mbps")
CANONICAL_MAGIC = "edgesim-bandwidth-trace"
CANONICAL_VERSION = "1"
CANONICAL_HEADER = "time_s,bandwidth_bps"
MAHIMAHI_BIN_S = 0.1  # the binned mode's former default; mahimahi now reads at 1 ms unless asked


# --- reading helpers ---------------------------------------------------------------------------
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


def _check_not_truncated(ts: List[float], duration: str, path: PathLike, fmt: str) -> None:
    """Regularly sampled rows that stop well before the header's duration: a cut file, whose
    last value would otherwise be held to the end (41 of ~100 rows once ran without a word).
    A step function written by hand (a few rows, irregular steps) is not judged."""
    try:
        span = float(duration)
    except ValueError:
        return      # reported with the other header problems below
    if len(ts) < 10:
        return
    steps = sorted(b - a for a, b in zip(ts, ts[1:]))
    step = steps[len(steps) // 2]
    if ts[-1] + 2 * step < span:
        raise TraceFormatError(
            f"the rows stop at t = {ts[-1]:g} s but the header says duration_s: {duration}; "
            f"at its {step:g} s step about {round(span / step)} rows were expected and "
            f"{len(ts)} were found: the file looks truncated (regenerate it, or correct "
            "duration_s if the last value is meant to hold)", path, fmt=fmt)


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
    _check_not_truncated(ts, meta["duration_s"], path, fmt)
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
