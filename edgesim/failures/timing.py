"""When failure episodes start and end: a schedule, a trace file, or alternating up and down
times drawn around MTBF and MTTR (exponential, Weibull, lognormal or deterministic).

Shared by every episodic failure (link and cell outages, node crashes, slow-downs and
preemption), so they all read their timing the same way. Drawn times come from one named
stream per failure and target member, so adding a failure elsewhere does not move them.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from edgesim.engine.clock import COMPLETION, call_at
from edgesim.workload.tracefile import read_column

Windows = list[tuple[float, float]]


def draw(stream, dist: str, mean: float, shape: float, cv: float) -> float:
    """One positive time with the given mean from ``dist`` (all through the stream's buffered
    exponentials and normals, so a run stays reproducible draw for draw).

    weibull: X = lambda E^(1/k) with E standard exponential and lambda = mean / Gamma(1 + 1/k);
    lognormal: X = exp(mu + sigma Z) with sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2.
    """
    if dist == "exponential":
        return stream.exp(mean)
    if dist == "deterministic":
        return mean
    if dist == "weibull":
        return mean / math.gamma(1.0 + 1.0 / shape) * stream.exp(1.0) ** (1.0 / shape)
    if dist == "lognormal":
        s2 = math.log1p(cv * cv)
        return math.exp(math.log(mean) - 0.5 * s2 + math.sqrt(s2) * stream.normal())
    raise ValueError(f"unknown distribution {dist!r}")


def fixed_windows(sim, spec, path: str) -> Optional[Windows]:
    """The [down, up) windows of a schedule or a trace; [] for drawn times; None after a
    problem was recorded."""
    if spec.schedule is not None:
        return [tuple(w) for w in spec.schedule]
    if spec.trace is not None:
        f = sim.file.path(spec.trace)
        if not f.exists():
            sim.problem(f"{path}.trace", f"file not found: {f}", spec.trace)
            return None
        try:
            down, up = read_column(f, 0), read_column(f, 1)
        except ValueError as exc:
            sim.problem(f"{path}.trace", str(exc), spec.trace)
            return None
        bad = [i for i, (d, u) in enumerate(zip(down, up)) if not (u > d)]
        if bad:
            sim.problem(f"{path}.trace", f"row {bad[0] + 1}: an episode must end after it "
                        "starts", spec.trace)
            return None
        return list(zip(down.tolist(), up.tolist()))
    return []


class Episodes:
    """Calls ``on_down()`` when an episode starts and ``on_up()`` when it ends, for one target
    (member). ``count`` and ``length`` (total seconds in episodes, up to now) are kept here."""

    def __init__(self, sim, spec, windows: Windows, stream_name: str,
                 on_down: Callable[[], None], on_up: Callable[[], None]) -> None:
        self.sim = sim
        self.spec = spec
        self.windows = windows
        # Only drawn times need a stream; asking for one otherwise would reserve a name.
        self.stream = sim.streams(stream_name) if spec.mtbf is not None else None
        self.on_down = on_down
        self.on_up = on_up
        self.count = 0
        self.length = 0.0
        self._since: Optional[float] = None

    def start(self) -> None:
        env = self.sim.env
        if self.stream is not None:
            call_at(env, self._up_time(), COMPLETION, self._down_random)
            return
        for down, up in self.windows:
            call_at(env, down, COMPLETION, self._down)
            call_at(env, up, COMPLETION, self._up)

    def _up_time(self) -> float:
        s = self.spec
        return self.sim.env.now + draw(self.stream, s.up_dist, s.mtbf, s.shape, s.cv)

    def _down_time(self) -> float:
        s = self.spec
        return self.sim.env.now + draw(self.stream, s.down_dist, s.mttr, s.shape, s.cv)

    def _down_random(self, _arg) -> None:
        self._down(None)
        call_at(self.sim.env, self._down_time(), COMPLETION, self._up_random)

    def _up_random(self, _arg) -> None:
        self._up(None)
        call_at(self.sim.env, self._up_time(), COMPLETION, self._down_random)

    def _down(self, _arg) -> None:
        self.count += 1
        self._since = self.sim.env.now
        self.on_down()

    def _up(self, _arg) -> None:
        if self._since is not None:
            self.length += self.sim.env.now - self._since
            self._since = None
        self.on_up()

    def total(self, now: float) -> float:
        """Seconds spent in episodes up to ``now`` (an episode still running counts so far)."""
        return self.length + (now - self._since if self._since is not None else 0.0)
