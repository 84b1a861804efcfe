"""A source: one arrival process feeding one job type from one origin node."""
from __future__ import annotations

from ..engine.clock import ARRIVAL, call_at
from ..engine.request import Request

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

    def start(self) -> None:
        self._schedule(0.0, first=True)

    def _schedule(self, now: float, first: bool = False) -> None:
        if self.limit is not None and self.generated >= self.limit:
            return
        t = self.process.next_time(now)
        if t < INF:
            call_at(self.sim.env, t, ARRIVAL, self._fire)

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
