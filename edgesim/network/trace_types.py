"""The bandwidth trace itself, its read error and the line reader every format shares.

Split out of :mod:`edgesim.network.traces`, which re-exports these names: the mahimahi reader
(:mod:`edgesim.network.mahimahi`) builds on them and :mod:`edgesim.network.traces` registers that
reader, so they sit below both.
"""
from __future__ import annotations

import bisect
import math
import os
from array import array
from types import MappingProxyType
from typing import Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["BandwidthTrace", "TraceFormatError", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]
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


def _lines(path: PathLike, fmt: str) -> Iterator[Tuple[int, str]]:
    """(1-based line number, text) of every non-blank line."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for no, text in enumerate(fh, 1):
                if text.strip():
                    yield no, text.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path, fmt=fmt) from None
