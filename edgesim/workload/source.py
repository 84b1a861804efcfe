"""A source: one arrival process feeding one job type from one origin node."""
from __future__ import annotations

from edgesim.engine.clock import ARRIVAL, call_at
from edgesim.engine.request import Request

INF = float("inf")


class Source:
    def __init__(self, sim, index: int, name: str, group, process, origin: int, priority: int,
                 limit, member: int = 0, branch=None) -> None:
        self.sim = sim
        self.index = index
        self.name = name
        self.group = group              # JobGroup: one plan, or one per DAG execution path
        self.plan = group.plans[0] if group.plans else None
        self.branch = branch            # stream for DAG branch draws (kept apart from arrivals)
        self.process = process
        self.origin = origin
        self.priority = priority
        self.limit = limit
        self.member = member            # index within the source's group (cam3 -> 3)
        self.enter = group.enter or sim.advance     # who takes a new request
        self.generated = 0
        self.window = None              # set by aggregate(): arrivals travel as one event

    def aggregate(self, window: float, max_units: int) -> None:
        """Carry the arrivals of each window (up to ``max_units``) as one request event."""
        self.window = window
        self.max_units = max_units
        self._fire = self._fire_aggregated
        self._ahead = None          # the next arrival, read while closing the previous window

    def start(self) -> None:
        self._schedule(0.0, first=True)

    def _schedule(self, now: float, first: bool = False) -> None:
        if self.limit is not None and self.generated >= self.limit:
            return
        t = self.process.next_time(now)
        if t < INF:
            call_at(self.sim.env, t, ARRIVAL, self._fire)

    def silence_while_down(self, node) -> None:
        """The source's sensor is part of its origin ``node`` (a camera's): while the node is
        down, its arrivals do not happen. The arrival process goes on drawing, so every other
        draw, and this source's after the repair, is what it would have been."""
        self._down_node = node
        self.suppressed = 0
        if self.window is None:
            self._fire_live = self._fire
            self._fire = self._fire_unless_down
        else:
            self._emit_live = self._emit
            self._emit = self._emit_unless_down

    def _fire_unless_down(self, arg) -> None:
        if self._down_node.up:
            self._fire_live(arg)
            return
        self.suppressed += 1
        self._schedule(self.sim.env._now)

    def _emit_unless_down(self, units) -> None:
        if self._down_node.up:
            self._emit_live(units)
            return
        self.suppressed += units
        self._schedule_next(self.sim.env._now)

    def _fire(self, _arg) -> None:
        sim = self.sim
        now = sim.env._now
        self.generated += 1
        plan = self.plan if self.branch is None else self.group.pick(self.branch.uniform())
        req = Request(sim.next_id, self.index, plan, now, self.origin, self.priority,
                      now < sim.warmup)
        sim.next_id += 1
        sim.request_started(req)
        self._schedule(now)
        self.enter(req)

    def _fire_aggregated(self, _arg) -> None:
        """The first arrival of a window: gather the rest of it (up to ``max_units``) and emit
        one request of ``units`` arrivals at their mean arrival time (at once for ``window:
        0``)."""
        now = self.sim.env._now
        end = now + self.window
        units, last, total = 1, now, 0.0
        process = self.process
        while units < self.max_units:
            t = process.next_time(last)
            if t > end + 1e-12:
                self._ahead = t
                break
            units += 1
            total += t - now
            last = t
        else:
            self._ahead = None
        self._last = last
        # The event enters the system at its units' mean arrival time (the arrival process is
        # exogenous, so the window's later arrivals are known now): its latency is then the
        # mean of its units', and no unit is held until the window closes.
        if total > 0.0:
            call_at(self.sim.env, now + total / units, ARRIVAL, self._emit, units)
        else:
            self._emit(units)

    def _emit(self, units) -> None:
        sim = self.sim
        now = created = sim.env._now
        self.generated += 1
        plan = self.plan if self.branch is None else self.group.pick(self.branch.uniform())
        req = Request(sim.next_id, self.index, plan, created, self.origin, self.priority,
                      created < sim.warmup)
        req.units = units
        sim.next_id += 1
        sim.request_started(req)
        self._schedule_next(now)
        self.enter(req)

    def _schedule_next(self, now: float) -> None:
        """After an aggregated event: the first arrival of the next window."""
        if self.limit is None or self.generated < self.limit:
            t = self._ahead if self._ahead is not None else self.process.next_time(self._last)
            self._ahead = None
            if t < INF:
                call_at(self.sim.env, max(t, now), ARRIVAL, self._fire)
