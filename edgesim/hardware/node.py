"""A node: a server with c executors, a queue per model, and dynamic batching.

A batch of one model starts when an executor is free and either ``max_batch`` requests of that
model wait, or the oldest of them has waited ``max_wait``. With ``max_wait = 0`` a free executor
takes whatever is waiting (up to ``max_batch``) at once, which with ``max_batch = 1`` is the
classic c-server queue. Everything is callbacks on the SimPy heap, no process per request.
"""
from __future__ import annotations

import heapq
from collections import deque
from itertools import count
from typing import Callable, Collection, Optional

from edgesim.engine.clock import COMPLETION, CONTROL, call_at, call_in
from edgesim.engine.request import DROPPED, TIMED_OUT, Request
from edgesim.hardware.service import ServiceModel

_EPS = 1e-12


class Node:
    """One member of a node group: state, queues and time-weighted accounting."""

    def __init__(self, sim, index: int, name: str, group: str, role: str, device: str,
                 executors: int, discipline: str, capacity: Optional[int], max_batch: int,
                 max_wait: float, stream) -> None:
        self.sim = sim
        self.env = sim.env
        self.index = index
        self.name = name
        self.group = group
        self.role = role
        self.device = device
        self.executors = executors
        self.discipline = discipline
        self.capacity = capacity
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.stream = stream
        self.services: dict[str, ServiceModel] = {}
        self.queues: dict = {}          # model -> deque (fifo/lifo) or heap (priority)
        self.waiting = 0
        self.busy = 0
        self.up = True
        self._timer = None
        self._timer_at = float("inf")
        self._seq = count()
        # time-weighted accounting since the last sample
        self.t_last = 0.0
        self.area_q = 0.0
        self.area_busy = 0.0
        self.done = 0
        self.on_finish: Callable[[Request], None] = sim.advance
        # Failure hooks (edgesim.failures.nodes), inert unless a failure targets this node:
        self.admit: Optional[Callable[[Request], bool]] = None  # False: it disposed of req
        self.serving: Optional[dict] = None  # id(batch) -> (Call, item, end): in service
        self.slow = 1.0                     # service-time multiplier of active slow-downs
        self.held = 0                       # executors taken by the device's own jobs
        self.units_matter = False           # a source aggregates: batches fill by units
        # When each free executor became free, longest-idle first; kept only once an
        # idle-aware service model (calibration.served_model) asks for an idle gap.
        self._free_since: Optional[deque] = None

    # ---------------------------------------------------------------- accounting
    def accumulate(self, now: float) -> None:
        dt = now - self.t_last
        if dt > 0.0:
            self.area_q += self.waiting * dt
            self.area_busy += self.busy * dt
            self.t_last = now

    def take_sample(self, now: float) -> tuple[float, float, int]:
        """Areas and completions since the previous sample; resets them."""
        self.accumulate(now)
        out = (self.area_q, self.area_busy, self.done)
        self.area_q = self.area_busy = 0.0
        self.done = 0
        return out

    # ---------------------------------------------------------------- queueing
    def arrive(self, req: Request) -> None:
        now = self.env._now
        self.accumulate(now)
        if self.admit is not None and not self.admit(req):
            return
        if self.capacity is not None and self.waiting >= self.capacity:
            self.sim.finish(req, DROPPED)
            return
        req.enq = now
        q = self.queues.get(req.model)
        if q is None:
            q = self.queues[req.model] = [] if self.discipline == "priority" else deque()
        if self.discipline == "priority":
            heapq.heappush(q, (-req.prio, next(self._seq), req))
        else:
            q.append(req)
        self.waiting += 1
        if self.busy + self.held < self.executors:
            self._try_start(now)

    def take_queued(self, k: int, models: Optional[Collection[str]] = None,
                    accept: Optional[Callable[[Request], bool]] = None) -> list[Request]:
        """Remove up to ``k`` waiting (not yet started) requests from this node's queues and
        return them; the caller owns them from here (`Simulation.move_queued` sends them on).

        Only queues of ``models`` (all when None) and requests ``accept`` approves are taken.
        The requests this node would serve last go first (FIFO: the newest; LIFO: the oldest;
        priority: the lowest priority, newest within it), because they are the ones a queue
        delays most. The time each waited here counts as wait (``req.wait``), as if it had
        started here now: a later queue adds its own wait on top. A pending batch timer is
        left armed; finding nothing ready it does nothing."""
        if k <= 0 or not self.waiting:
            return []
        now = self.env._now
        self.accumulate(now)
        prio = self.discipline == "priority"
        ranked = []           # (key, model, request): a smaller key is served later
        for model, q in self.queues.items():
            if not q or (models is not None and model not in models):
                continue
            if prio:
                ranked.extend(((item[0] * -1, -item[1]), model, item[2]) for item in q)
            elif self.discipline == "lifo":
                ranked.extend(((req.enq, pos), model, req) for pos, req in enumerate(q))
            else:
                ranked.extend(((-req.enq, -pos), model, req) for pos, req in enumerate(q))
        ranked.sort(key=lambda t: t[0])
        taken: list[Request] = []
        by_model: dict = {}
        for _key, model, req in ranked:
            if len(taken) >= k:
                break
            if accept is not None and not accept(req):
                continue
            taken.append(req)
            by_model.setdefault(model, set()).add(id(req))
        for model, ids in by_model.items():
            q = self.queues[model]
            if prio:
                kept = [item for item in q if id(item[2]) not in ids]
                heapq.heapify(kept)
                self.queues[model] = kept
            else:
                self.queues[model] = deque(r for r in q if id(r) not in ids)
        for req in taken:
            req.wait += now - req.enq
        self.waiting -= len(taken)
        return taken

    def _head(self, q):
        """The request served next from this queue."""
        if self.discipline == "priority":
            return q[0][2]
        return q[-1] if self.discipline == "lifo" else q[0]

    def _oldest(self, q) -> float:
        """When the longest-waiting request of this queue joined it (the batch timer's origin)."""
        if self.discipline == "priority":
            return min(item[2].enq for item in q)
        return q[0].enq

    def _units(self, q) -> int:
        """Units waiting in this queue (requests of an aggregating source carry several)."""
        if self.discipline == "priority":
            return sum(item[2].units for item in q)
        return sum(r.units for r in q)

    def _pop(self, q) -> Request:
        if self.discipline == "priority":
            return heapq.heappop(q)[2]
        return q.pop() if self.discipline == "lifo" else q.popleft()

    def _pick(self, now: float):
        """The queue to serve next: ready queues only, oldest head first; and the next ready time."""
        best, best_key, wake = None, None, float("inf")
        prio = self.discipline == "priority"
        for model, q in self.queues.items():
            if not q:
                continue
            head = self._head(q)
            if len(q) >= self.max_batch or self.max_wait == 0.0 or (
                    self.units_matter and self._units(q) >= self.max_batch):
                ready_at = now
            else:
                ready_at = self._oldest(q) + self.max_wait
            if ready_at <= now + _EPS:
                key = (-head.prio, head.enq) if prio else head.enq
                if best is None or key < best_key:
                    best, best_key = model, key
            elif ready_at < wake:
                wake = ready_at
        return best, wake

    def _try_start(self, now: float) -> None:
        while self.busy + self.held < self.executors and self.waiting > 0 and self.up:
            model, wake = self._pick(now)
            if model is None:
                if wake < self._timer_at:
                    if self._timer is not None:
                        self._timer.cancel()
                    self._timer_at = wake
                    self._timer = call_at(self.env, wake, CONTROL, self._on_timer)
                return
            q = self.queues[model]
            batch = []
            n = 0                       # units in the batch (one per request unless aggregated)
            while q and n < self.max_batch:
                # an aggregated request (source 'aggregate') fills its units of the batch; it
                # is never split, so one larger than what is left waits for the next batch
                if n and self._head(q).units > self.max_batch - n:
                    break
                req = self._pop(q)
                self.waiting -= 1
                timeout = req.plan.timeout
                if timeout is not None and now - req.created > timeout:
                    self.sim.finish(req, TIMED_OUT)
                    continue
                batch.append(req)
                n += req.units
            if not batch:
                continue
            self.busy += 1
            m = self.services[model]
            if m.idle_aware:
                svc = m.sample_after(n, self.stream, self._idle_gap(now)) * self.slow
            else:
                svc = m.sample(n, self.stream) * self.slow
            for req in batch:
                req.wait += now - req.enq
                if req.started < 0.0:
                    req.started = now
            item = (batch, svc)
            ev = call_in(self.env, svc, COMPLETION, self._finish, item)
            if self.serving is not None:
                self.serving[id(batch)] = (ev, item, now + svc)

    def _idle_gap(self, now: float) -> float:
        """How long the executor that takes this batch has been idle (0: none is known idle).

        The free executor that has waited longest takes the work, as the testbed's dispatcher
        does; every executor counts as idle since time 0 at first.
        """
        free = self._free_since
        if free is None:
            free = self._free_since = deque([0.0] * self.executors, maxlen=self.executors)
        return now - free.popleft() if free else 0.0

    def _on_timer(self, _arg) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self.accumulate(self.env._now)
        self._try_start(self.env._now)

    def _finish(self, item) -> None:
        batch, svc = item
        now = self.env._now
        self.accumulate(now)
        if self.serving is not None:
            del self.serving[id(batch)]
        self.busy -= 1
        if self._free_since is not None:
            self._free_since.append(now)
        n = 0
        for req in batch:
            n += req.units
        self.done += n
        index = self.index
        advance = self.on_finish
        for req in batch:
            req.service += svc
            req.batch = n
            req.loc = index
            req.stage += 1
            advance(req)
        if self.waiting:
            self._try_start(now)
