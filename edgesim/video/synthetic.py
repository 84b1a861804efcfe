"""Synthetic multi-camera ROI-count traces with Distream's workload dynamics (§1.2.2).

:func:`generate` is the model; its docstring says exactly what it does. :func:`summarize`
measures the properties the model is meant to have (per-camera means, peak and quiet load, the
lag at which neighbouring cameras are most correlated), and :func:`write` saves a trace with
its parameters in the header.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

__all__ = ["Profile", "PROFILES", "generate", "summarize", "lagged_correlation", "write", "with_overrides",
           "MAX_ROIS", "expected_occupancy", "skewed_busyness", "log_skew"]

MAX_ROIS = 30   # Distream §1.4: 0 to 30 ROIs per frame


@dataclass(frozen=True)
class Profile:
    """The knobs of one deployment type (see :func:`generate` for how each is used)."""

    name: str
    hourly: tuple[float, ...]      # 24 relative intensities, hour 0..23 (max 1)
    idle_fraction: float           # share of cameras that are almost idle
    idle_busyness: tuple[float, float]   # log-uniform range of an idle camera's busyness
    busy_busyness: tuple[float, float]   # log-uniform range of the other cameras'
    solo_occupancy: float          # mean objects in view from lone passers-by (busyness 1, peak hour)
    dwell_s: float                 # mean time an object stays in a camera's view
    dwell_cv: float                # its coefficient of variation (lognormal)
    crowd_rate: float              # crowds starting at each camera per second (peak hour)
    crowd_median: float            # crowd size: lognormal median...
    crowd_sigma: float             # ...and log standard deviation
    crowd_max: int                 # ...clipped to 2..crowd_max
    forward: float                 # probability that a crowd walks 0 -> N-1 (else N-1 -> 0)
    p_continue: float              # probability that a crowd goes on to the next camera
    member_continue: float         # probability that each member goes on with it
    travel_s: tuple[float, float]  # uniform range of the travel time between neighbours
    spread_s: tuple[float, float]  # uniform range of a crowd's initial spread (first to last)
    spread_growth_s: float         # standard deviation added to each member's offset per hop


# Campus: classes start at 8-9, lunch at 12-13, leaving at 16-17, a quiet night.
CAMPUS = Profile(
    name="campus",
    hourly=(0.030, 0.025, 0.020, 0.020, 0.020, 0.030, 0.060, 0.20, 0.60, 0.90, 0.70, 0.80,
            1.00, 0.90, 0.70, 0.80, 0.90, 0.70, 0.45, 0.35, 0.25, 0.15, 0.08, 0.05),
    idle_fraction=0.25, idle_busyness=(0.002, 0.02), busy_busyness=(0.1, 1.0),
    solo_occupancy=1.0, dwell_s=4.0, dwell_cv=0.5,
    crowd_rate=1 / 60, crowd_median=12.0, crowd_sigma=0.5, crowd_max=40,
    forward=0.85, p_continue=0.85, member_continue=0.92,
    travel_s=(3.0, 8.0), spread_s=(1.0, 3.0), spread_growth_s=0.3,
)

# Traffic: morning and evening rush hours; platoons released by signals travel down the road.
TRAFFIC = Profile(
    name="traffic",
    hourly=(0.025, 0.015, 0.010, 0.010, 0.015, 0.060, 0.35, 0.90, 1.00, 0.60, 0.50, 0.55,
            0.60, 0.55, 0.55, 0.65, 0.90, 1.00, 0.75, 0.45, 0.30, 0.20, 0.12, 0.06),
    idle_fraction=0.17, idle_busyness=(0.005, 0.03), busy_busyness=(0.4, 1.0),
    solo_occupancy=1.0, dwell_s=2.5, dwell_cv=0.4,
    crowd_rate=1 / 25, crowd_median=10.0, crowd_sigma=0.5, crowd_max=30,
    forward=0.9, p_continue=0.9, member_continue=0.9,
    travel_s=(4.0, 10.0), spread_s=(1.0, 4.0), spread_growth_s=0.4,
)

PROFILES = {p.name: p for p in (CAMPUS, TRAFFIC)}

# Objects already travelling when the trace starts: simulate this long before t = 0.
_LEAD_S = 120.0


def _daily(profile: Profile, t: np.ndarray, day_length: float, start_hour: float) -> np.ndarray:
    """Relative intensity at trace times ``t``: the hourly table, linearly interpolated."""
    hour = np.mod(start_hour + 24.0 * np.asarray(t, dtype=float) / day_length, 24.0)
    knots = np.asarray(profile.hourly + profile.hourly[:1], dtype=float)
    return np.interp(hour, np.arange(25.0), knots)


def _lognormal(rng: np.random.Generator, mean: float, cv: float, size) -> np.ndarray:
    s2 = math.log1p(cv * cv)
    return rng.lognormal(math.log(mean) - s2 / 2, math.sqrt(s2), size)


def _thinned(rng: np.random.Generator, rate: float, lo: float, hi: float, accept) -> np.ndarray:
    """Event times of a Poisson process of rate ``rate * accept(t)`` on [lo, hi) (accept <= 1)."""
    if rate <= 0 or hi <= lo:
        return np.empty(0)
    n = rng.poisson(rate * (hi - lo))
    t = np.sort(rng.uniform(lo, hi, n))
    return t[rng.uniform(size=n) < accept(t)]


def generate(cameras: int = 24, fps: float = 15.0, duration: float = 600.0, seed: int = 1,
             profile: Union[str, Profile] = "campus", day_length: Optional[float] = None,
             start_hour: float = 0.0, max_rois: int = MAX_ROIS, skew: Optional[float] = None,
             progress: Optional[Callable[[int, int, str], None]] = None):
    """ROIs per frame for ``cameras`` cameras: a pandas DataFrame ``frame, time_s, cam0, ...``.

    The model (every number below is a field of the :class:`Profile`, ``campus`` or
    ``traffic``):

    * **Layout.** Cameras ``0 .. N-1`` stand along one path (a campus walkway, a road), so
      camera k and k+1 are neighbours. Each camera k has a *busyness* ``b_k`` in (0, 1]:
      ``round(idle_fraction * N)`` randomly chosen cameras are almost idle (corridors, areas
      people rarely visit; ``b_k`` log-uniform in ``idle_busyness``), the others log-uniform in
      ``busy_busyness``. Each link k -> k+1 has a travel time ``tau_k`` uniform in ``travel_s``.
      With ``skew`` (>= 0) the busyness is set instead so that the cameras' *expected* mean
      ROIs per frame have a standard deviation of their logarithms of exactly ``skew``
      (:func:`skewed_busyness`: lognormal quantiles, then divided by each camera's expected
      occupancy per unit busyness, :func:`expected_occupancy`, which corrects for a camera's
      place on the path; the busiest camera gets ``b = 1``); no camera is idle. ``skew = 0``
      gives every camera the same expected load.
    * **Time of day.** ``d(t)`` interpolates the 24 ``hourly`` values linearly at hour
      ``start_hour + 24 t / day_length`` (mod 24). ``day_length`` defaults to ``duration``: the
      trace spans one day, compressed; objects still move at real speed (seconds).
    * **Lone passers-by.** At camera k, objects arrive as a Poisson process of rate
      ``solo_occupancy * b_k * d(t) / dwell_s`` (so at peak hour ``solo_occupancy * b_k``
      objects are in view on average) and each stays in view a lognormal time of mean
      ``dwell_s`` and coefficient of variation ``dwell_cv``.
    * **Crowds** (groups of people, platoons of cars) make the bursts and the correlation
      between neighbours. Crowds start at each camera as a Poisson process of rate
      ``crowd_rate * d(t)**2`` (crowds form where many people are about, so they are rarer
      than lone passers-by in quiet hours), with a lognormal size (median ``crowd_median``, log-sd
      ``crowd_sigma``, clipped to 2..``crowd_max``), a direction (towards N-1 with probability
      ``forward``, else towards 0) and a speed factor uniform in 0.8..1.25. Member i reaches the
      current camera at the crowd's time plus an offset (initially uniform over a spread drawn
      from ``spread_s``); it is seen there with probability ``b_k`` (busy places see the whole
      crowd, a corridor rarely anyone) and stays a dwell time as above. The crowd then moves on
      to the next camera with probability ``p_continue``, taking ``tau`` times its speed factor;
      each member goes along with probability ``member_continue`` and its offset gains
      Normal(0, ``spread_growth_s``) noise. So the same crowd passes camera k and, a few
      seconds later, camera k+1: the cross-correlation of neighbours peaks at a positive lag
      (mostly ``tau_k``).
    * **Counts.** An object is counted in frame f (time ``f / fps``) if it is in view at that
      instant; the ROIs of a frame are the objects in view, capped at ``max_rois`` (30, the
      most Distream saw). Objects that started up to 120 s before t = 0 are included, so the
      trace starts in steady state.

    Quiet hours give about 0.01 ROIs per frame at a busy camera and nearly none at an idle one;
    a passing crowd gives 10-30: peak and quiet load differ by more than 1000x.

    Randomness: ``numpy.random.SeedSequence(seed)`` spawns independent streams for the layout,
    for each camera's passers-by and for the crowds, so the layout depends only on the seed,
    the profile and the number of cameras, and each camera's passers-by only on the seed, its
    index and the time parameters. The same arguments give the same trace on any machine.

    The frame's ``attrs`` hold the parameters and the drawn layout (``busyness``,
    ``travel_s``, ``idle``).
    """
    import pandas as pd

    prof = PROFILES[profile] if isinstance(profile, str) else profile
    if cameras < 1:
        raise ValueError("cameras must be at least 1")
    if fps <= 0 or duration <= 0:
        raise ValueError("fps and duration must be positive")
    day = float(duration if day_length is None else day_length)
    if day <= 0:
        raise ValueError("day_length must be positive")
    if max_rois < 0:
        raise ValueError("max_rois must be non-negative")
    n_frames = int(math.floor(duration * fps + 1e-9))
    root = np.random.SeedSequence(seed)
    layout_ss, solo_ss, crowd_ss = root.spawn(3)
    layout = np.random.default_rng(layout_ss)

    n_idle = int(round(prof.idle_fraction * cameras)) if cameras > 1 else 0
    idle = np.zeros(cameras, dtype=bool)
    idle[layout.permutation(cameras)[:n_idle]] = True
    lo, hi = np.log(prof.idle_busyness)
    b_idle = np.exp(layout.uniform(lo, hi, cameras))
    lo, hi = np.log(prof.busy_busyness)
    b_busy = np.exp(layout.uniform(lo, hi, cameras))
    busy = np.where(idle, b_idle, b_busy)
    tau = layout.uniform(*prof.travel_s, max(cameras - 1, 0))
    if skew is not None:
        if not skew >= 0:
            raise ValueError("skew must be non-negative")
        occ = expected_occupancy(prof, cameras, fps, duration, day, start_hour)
        busy = skewed_busyness(float(skew), occ, layout.permutation(cameras))
        idle[:] = False

    def daily(t):
        return _daily(prof, t, day, start_hour)

    start, end = -_LEAD_S, float(duration)
    diff = np.zeros((cameras, n_frames + 1), dtype=np.int64)

    def add(cam: int, enter: np.ndarray, leave: np.ndarray) -> None:
        first = np.clip(np.ceil(enter * fps - 1e-9), 0, n_frames).astype(np.int64)
        stop = np.clip(np.ceil(leave * fps - 1e-9), 0, n_frames).astype(np.int64)
        keep = stop > first
        np.add.at(diff[cam], first[keep], 1)
        np.add.at(diff[cam], stop[keep], -1)

    # Lone passers-by: one stream per camera.
    # progress(done, total, what) never draws: the trace is the same with or without it.
    for k, ss in enumerate(solo_ss.spawn(cameras)):
        rng = np.random.default_rng(ss)
        rate = prof.solo_occupancy * busy[k] / prof.dwell_s
        t = _thinned(rng, rate, start, end, daily)
        add(k, t, t + _lognormal(rng, prof.dwell_s, prof.dwell_cv, len(t)))
        if progress is not None:
            progress(k + 1, cameras, "passers-by (cameras)")

    # Crowds: births at every camera, then a walk along the path.
    rng = np.random.default_rng(crowd_ss)
    births = [(t, k) for k in range(cameras)
              for t in _thinned(rng, prof.crowd_rate, start, end, lambda t: daily(t) ** 2)]
    births.sort()
    every = max(len(births) // 200, 1)
    for i, (t0, k) in enumerate(births):
        if progress is not None and i % every == 0:
            progress(i, len(births), "crowds")
        size = int(np.clip(round(rng.lognormal(math.log(prof.crowd_median), prof.crowd_sigma)),
                           2, prof.crowd_max))
        step = 1 if rng.uniform() < prof.forward else -1
        speed = rng.uniform(0.8, 1.25)
        offset = rng.uniform(0.0, rng.uniform(*prof.spread_s), size)
        alive = np.ones(size, dtype=bool)
        t, cam = float(t0), int(k)
        while t < end and alive.any():
            seen = alive & (rng.uniform(size=size) < busy[cam])
            enter = t + offset[seen]
            add(cam, enter, enter + _lognormal(rng, prof.dwell_s, prof.dwell_cv, int(seen.sum())))
            nxt = cam + step
            if not 0 <= nxt < cameras or rng.uniform() >= prof.p_continue:
                break
            t += tau[min(cam, nxt)] * speed
            alive &= rng.uniform(size=size) < prof.member_continue
            offset = np.maximum(offset + rng.normal(0.0, prof.spread_growth_s, size), 0.0)
            cam = nxt

    counts = np.minimum(np.cumsum(diff, axis=1)[:, :n_frames], max_rois)
    frame = np.arange(n_frames, dtype=np.int64)
    data = {"frame": frame, "time_s": frame / float(fps)}
    data.update({f"cam{k}": counts[k] for k in range(cameras)})
    df = pd.DataFrame(data)
    df.attrs.update({
        "generator": "edgesim.video.synthetic.generate",
        "profile": prof.name, "cameras": cameras, "fps": float(fps), "duration_s": float(duration),
        "seed": seed, "day_length_s": day, "start_hour": float(start_hour), "max_rois": max_rois,
        **({} if skew is None else {"skew": float(skew)}),
        "busyness": [round(float(x), 5) for x in busy],
        "idle": [int(i) for i in np.flatnonzero(idle)],
        "travel_s": [round(float(x), 3) for x in tau],
        "profile_params": asdict(prof) if isinstance(profile, Profile) else None,
    })
    return df


def expected_occupancy(profile: Union[str, Profile], cameras: int, fps: float, duration: float,
                       day_length: Optional[float] = None, start_hour: float = 0.0) -> np.ndarray:
    """Expected objects in view at each camera per unit busyness, before the ``max_rois`` cap.

    Lone passers-by give ``solo_occupancy * mean d``; crowds born at camera j (rate
    ``crowd_rate * mean d**2``, mean size E[S] of the clipped lognormal) reach camera k with
    probability ``p_continue**|k-j|`` in their direction, with ``member_continue**|k-j|`` of their
    members, each in view ``dwell_s`` on average: ``crowd_rate * mean d**2 * E[S] * dwell_s *
    sum_j P(j -> k)``. The means of ``d`` are over the trace's frame times; exact for a flat
    day, otherwise it neglects the day's change during a crowd's few-second hops. Camera k's
    expected mean ROIs per frame is ``busyness_k`` times this (without the cap).
    """
    from statistics import NormalDist

    prof = PROFILES[profile] if isinstance(profile, str) else profile
    day = float(duration if day_length is None else day_length)
    d = _daily(prof, np.arange(int(math.floor(duration * fps + 1e-9))) / float(fps), day,
               start_hour)
    unit = NormalDist(math.log(prof.crowd_median), prof.crowd_sigma)
    cdf = [unit.cdf(math.log(n + 0.5)) for n in range(2, prof.crowd_max)]   # P(round(L) <= n)
    probs = np.diff([0.0] + cdf + [1.0])                                       # sizes 2..crowd_max
    size = float(np.dot(np.arange(2, prof.crowd_max + 1), probs))
    q = prof.p_continue * prof.member_continue
    k = np.arange(cameras)
    hops = k[:, None] - k[None, :]                      # k - j: camera k from birth camera j
    reach = np.where(hops >= 0, prof.forward * q ** np.abs(hops), 0.0) + \
        np.where(hops <= 0, (1 - prof.forward) * q ** np.abs(hops), 0.0)
    crowd = prof.crowd_rate * float(np.mean(d ** 2)) * size * prof.dwell_s * reach.sum(axis=1)
    return prof.solo_occupancy * float(np.mean(d)) + crowd


def skewed_busyness(skew: float, occupancy: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Busyness giving expected per-camera means whose logarithms have standard deviation ``skew``.

    Target means ``exp(skew * z_k)``: ``z`` the standard normal quantiles at (i + 0.5) / N,
    standardised to mean 0 and (population) standard deviation 1 and dealt to the cameras in
    ``order``; divided by ``occupancy`` (:func:`expected_occupancy`) and scaled so the largest
    busyness is 1 (a busyness is the chance that a passing crowd member is seen).
    """
    from statistics import NormalDist

    n = len(occupancy)
    z = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    if n > 1:
        z = (z - z.mean()) / z.std()
    b = np.exp(skew * z[np.argsort(order)]) / np.asarray(occupancy)
    return b / b.max()


def log_skew(means) -> float:
    """The skew of per-camera means as ``generate(skew=...)`` sets it: the population standard
    deviation of their logarithms (inf when a camera has no ROI at all)."""
    m = np.asarray(list(means), dtype=float)
    return math.inf if np.any(m <= 0) else float(np.log(m).std())


def camera_columns(df) -> list[str]:
    return [c for c in df.columns if c.startswith("cam") and c[3:].isdigit()]


def lagged_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of ``x[t]`` with ``y[t + lag]`` for lag in -max_lag..max_lag.

    A positive peak lag means ``y`` repeats what ``x`` did that many samples later.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    lags = np.arange(-max_lag, max_lag + 1)
    out = np.full(len(lags), np.nan)
    for i, lag in enumerate(lags):
        a, b = (x[:len(x) - lag], y[lag:]) if lag >= 0 else (x[-lag:], y[:len(y) + lag])
        if len(a) > 2 and a.std() > 0 and b.std() > 0:
            out[i] = float(np.corrcoef(a, b)[0, 1])
    return lags, out


def summarize(df, fps: Optional[float] = None, day_length: Optional[float] = None,
              start_hour: Optional[float] = None, max_lag_s: float = 20.0) -> dict:
    """The properties of a multi-camera trace that §1.2.2 describes.

    * ``mean``: ROIs per frame of each camera (they differ; some are almost idle);
    * ``peak``: the largest 1-second mean of ROIs per frame, over cameras and time (a burst);
    * ``quiet``: the mean ROIs per frame of the cameras during the quietest of Distream's six
      4-hour periods of the day (00-04, 04-08, ...), when the trace's day is known, else the
      mean over the quietest tenth of 10-second windows; ``peak_quiet_ratio`` = peak / quiet;
    * ``neighbour_lag_s``: for each pair (k, k+1), the lag (s) in -max_lag_s..max_lag_s at which
      the correlation of camera k's counts with camera k+1's later counts is highest (None when
      a camera has no ROI at all).

    ``fps``, ``day_length`` and ``start_hour`` default to the frame's ``attrs`` (set by
    :func:`generate`), else to the spacing of ``time_s``.
    """
    cams = camera_columns(df)
    counts = df[cams].to_numpy(dtype=float)
    attrs = dict(getattr(df, "attrs", {}) or {})
    if fps is None:
        fps = attrs.get("fps") or 1.0 / float(np.median(np.diff(df["time_s"].to_numpy())))
    day_length = day_length if day_length is not None else attrs.get("day_length_s")
    start_hour = start_hour if start_hour is not None else attrs.get("start_hour", 0.0)
    n = len(counts)
    w = max(1, int(round(fps)))
    m = n // w
    per_second = counts[:m * w].reshape(m, w, -1).mean(axis=1) if m else counts
    peak = float(per_second.max()) if per_second.size else 0.0
    if day_length:
        t = df["time_s"].to_numpy(dtype=float)
        period = (np.mod(start_hour + 24.0 * t / float(day_length), 24.0) // 4).astype(int)
        means = {p: float(counts[period == p].mean()) for p in np.unique(period)}
        quiet_period = min(means, key=means.get)
        quiet = means[quiet_period]
        quiet_label = f"{4 * quiet_period:02d}:00-{4 * quiet_period + 4:02d}:00"
    else:
        w10 = max(1, int(round(10 * fps)))
        m10 = n // w10
        windows = counts[:m10 * w10].reshape(m10, w10, -1).mean(axis=(1, 2)) if m10 else \
            counts.mean(axis=1)
        k = max(1, len(windows) // 10)
        quiet = float(np.sort(windows)[:k].mean())
        quiet_label = "quietest tenth of 10 s windows"
    max_lag = int(round(max_lag_s * fps))
    lags_s: list[Optional[float]] = []
    for k in range(len(cams) - 1):
        lags, r = lagged_correlation(counts[:, k], counts[:, k + 1], max_lag)
        lags_s.append(None if np.all(np.isnan(r)) else float(lags[np.nanargmax(r)] / fps))
    return {
        "cameras": len(cams), "frames": n, "fps": float(fps),
        "mean": {c: float(v) for c, v in zip(cams, counts.mean(axis=0))},
        "max": {c: int(v) for c, v in zip(cams, counts.max(axis=0))},
        "peak": peak, "quiet": quiet, "quiet_period": quiet_label,
        "peak_quiet_ratio": peak / quiet if quiet > 0 else math.inf,
        "neighbour_lag_s": lags_s,
    }


def write(df, path: Union[str, Path], command: Optional[str] = None) -> Path:
    """Write a generated trace: parameters, layout and the model's name in the header."""
    from edgesim.video import write_trace

    a = dict(df.attrs)
    head = {
        "kind": "synthetic: multi-camera ROI counts per frame (no real footage)",
        "generator": f"{a.get('generator', 'edgesim.video.synthetic.generate')} (model: its "
                     "docstring and docs/guides/camera-traces.md)",
    }
    for key in ("profile", "cameras", "fps", "duration_s", "seed", "day_length_s", "start_hour",
                "max_rois", "skew"):
        if key in a:
            head[key] = a[key]
    if a.get("profile_params"):
        head["profile_params"] = " ".join(f"{k}={v}" for k, v in a["profile_params"].items())
    for key in ("busyness", "idle", "travel_s"):
        if key in a:
            head[key] = " ".join(str(x) for x in a[key]) or "-"
    if command:
        head["command"] = command
    head["columns"] = ("frame: index from 0; time_s: frame / fps; camK: ROIs in camera K's "
                       "frame (read with column: \"@member\")")
    return write_trace(df, path, head, float_format={"time_s": ".4f"})


def with_overrides(profile: Union[str, Profile], **changes) -> Profile:
    """A copy of a profile with some fields changed (``with_overrides('campus', forward=1.0)``)."""
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    return replace(prof, **changes)
