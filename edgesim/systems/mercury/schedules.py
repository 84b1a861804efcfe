"""Mercury (the dissertation's chapter 2): K devices train one model by synchronous
data-parallel SGD in a multi-parameter-server layout, every device the server of 1/K of the
parameters (Fig. 2.1). One iteration on device k:

1. gradient computation, T_cp (compute resource);
2. gradient aggregation, T_cm (network interface): k sends shard j of its gradient to device j
   for every j != k; server j sums the K shards once they are all in (optionally spending
   `aggregate_time` of compute) and sends the sum back to every other device; k's iteration
   ends when it holds every summed shard.

The schedules differ in what else happens (§2.3-2.4):

* ``sgd``: nothing else (random sampling, the baseline of Eq. 2.3);
* ``sequential`` (Fig. 2.9a): every ``reshard.every`` iterations the device first sends its
  resharding samples to its partner of the round (:mod:`.reshard`), then computes the
  importance of one group, then 1 and 2;
* ``bacc`` (Fig. 2.9b): a second thread computes the importance of the group on the compute
  resource while the first thread aggregates (it asks for the resource at a lower priority, one
  forward batch at a time, so it yields to the next gradient computation between batches), and
  sends resharding samples while the first thread computes: resharding stops at the byte it
  has reached when aggregation begins and resumes from it when aggregation ends
  (breakpoint-resume, :mod:`.reshard`). A group the second thread has not finished when the
  next one is due is abandoned (its remaining samples keep their older importance).

Group size: the sequential pipeline splits a device's data into D equal groups and recomputes
one per iteration (§2.4.1). BACC in ``adaptive`` mode (§2.4.3) instead sizes each group to as
many importance batches as fit in the device's last measured aggregation time (its first
iteration uses ``group.initial``), at most the device's whole local data; in ``fixed`` mode
(bandwidth-agnostic) it keeps the D groups.
"""
from __future__ import annotations

import math
from typing import Optional

import simpy

from edgesim.training.allreduce import MultiPS
from edgesim.training.devices import BACKGROUND, URGENT, Device, ScheduleLog, Transfers
from edgesim.systems.mercury.reshard import Resharder


class Mercury:
    def __init__(self, env: simpy.Environment, devices: list[Device], spec, schedule: str,
                 step: dict, forward: dict, streams: list, transfers: Transfers,
                 log: ScheduleLog, lane: dict[str, int], learning=None) -> None:
        self.env = env
        self.learning = learning      # a MercuryLearning when the run trains for real
        self.devices = devices
        self.spec = spec
        self.schedule = schedule
        self.step = step              # device name -> ServiceModel of a gradient computation
        self.forward = forward        # device name -> ServiceModel of an importance batch
        self.streams = streams        # per device: (step stream, importance stream)
        self.tx = transfers
        self.log = log
        self.lane = lane
        k = len(devices)
        self.K = k
        self.grad_bytes = spec.params * spec.dtype_bytes
        self.shard = self.grad_bytes / k
        self.local = spec.samples // k
        g = spec.group
        self.imp_batches_max = math.ceil(self.local / g.batch)
        self.fixed_group = math.ceil(self.local / g.groups)      # §2.4.1: D equal groups
        # per-device state
        self.est_cm: list[Optional[float]] = [None] * k     # last measured aggregation time
        self.imp_backlog = [0] * k          # importance samples of the current group left (bacc)
        self.imp_done = 0                   # importance samples computed, all devices
        self.imp_dropped = 0                # samples of groups abandoned unfinished (bacc)
        self._wake_imp = [env.event() for _ in range(k)]
        self.iteration = [0] * k            # the iteration each device is in
        # measurements
        self.ends: list[list[float]] = []   # per iteration, per device: aggregation end
        self.t_cp: list[float] = []
        self.t_cm: list[float] = []
        self.t_is = [0.0] * k               # importance compute time, per device
        self.groups: list[int] = []         # group sizes chosen
        self.reshard_asked = 0.0
        self.reshard_sent = 0.0
        self.ps = MultiPS(env, devices, transfers, log, lane)
        self.rs = Resharder(self)

    # ------------------------------------------------------------------ the run
    def run(self):
        """A SimPy process: every device's iterations (plus BACC's second threads)."""
        env = self.env
        if self.schedule == "bacc":
            for k in range(self.K):
                env.process(self._importance_thread(k))
                if self.spec.reshard.samples > 0:
                    env.process(self.rs.thread(k))
        yield simpy.AllOf(env, [env.process(self._loop(k)) for k in range(self.K)])

    def _loop(self, k: int):
        env, dev, spec = self.env, self.devices[k], self.spec
        step, step_stream = self.step[dev.node.device], self.streams[k][0]
        learn = self.learning
        for t in range(spec.iterations):
            # Every device checks after its own aggregation of t-1, which ends after the first
            # device's, which applied t-1 and measured the target: all stop at the same t.
            if learn is not None and learn.done:
                break
            self.iteration[k] = t
            rnd = self.rs.start(k, t) if self.schedule in ("sequential", "bacc") else None
            if self.schedule == "sequential":
                if rnd is not None:
                    yield from self.rs.inline(k, t, rnd)
                g = self._group_size(k)
                self.groups.append(g)
                if g:
                    yield from self._importance_inline(k, t, g)
            elif rnd is not None:
                self.rs.queue_round(k, rnd)
            with dev.compute.request(priority=URGENT) as req:
                yield req
                t0 = env.now
                if learn is not None:
                    learn.draw(k, t)
                d = step.sample(spec.batch, step_stream)
                yield env.timeout(d)
                dev.busy += d
                self.t_cp.append(d)
                self.log.add(self.lane[dev.name], 0, "compute", t0, env.now, t)
            if self.schedule == "bacc":
                # Thread 1 yields the compute resource to thread 2 for the group's importance.
                # A group still unfinished from the last iteration is abandoned: its samples keep
                # their older importance, and stale work never piles up.
                g = self._group_size(k)
                self.groups.append(g)
                self.imp_dropped += self.imp_backlog[k]
                self.imp_backlog[k] = g
                self._wake(self._wake_imp, k)
            yield from self._exchange(k, t, None if learn is None else learn.apply)

    def _exchange(self, k: int, t: int, then):
        """Iteration t's all-reduce from device k, holding its interface; ``then(t, now)``
        (the learning's update) once k holds the result."""
        env, dev = self.env, self.devices[k]
        bacc = self.schedule == "bacc"
        if bacc:
            self.rs.aggregation(k, True)      # breakpoint: resharding at k stops here
        with dev.nic.request(priority=URGENT) as req:
            yield req
            t0 = env.now
            yield from self._aggregate(k, t)
            if bacc:
                self.rs.aggregation(k, False)     # ... and resumes
            self.est_cm[k] = env.now - t0
            self.t_cm.append(env.now - t0)
            if then is not None:
                then(t, env.now)
            self.log.add(self.lane[dev.name], 0, "aggregate", t0, env.now, t,
                         2 * self.shard * (self.K - 1))
        self._ended(k, t)

    def _ended(self, k: int, t: int) -> None:
        while len(self.ends) <= t:
            self.ends.append([0.0] * self.K)
        self.ends[t][k] = self.env.now

    # ------------------------------------------------------------------ group size
    def _group_size(self, k: int) -> int:
        g = self.spec.group
        dev = self.devices[k]
        if g.mode == "fixed" or self.schedule == "sequential":
            return self.fixed_group
        if self.est_cm[k] is None:
            return min(g.initial, self.local)
        per_batch = self.forward[dev.node.device].mean(g.batch)
        n = min(int(self.est_cm[k] // per_batch), self.imp_batches_max)
        return min(n * g.batch, self.local)

    # ------------------------------------------------------------------ importance
    def _importance_batch(self, k: int) -> float:
        dev = self.devices[k]
        return self.forward[dev.node.device].sample(self.spec.group.batch, self.streams[k][1])

    def _importance_inline(self, k: int, t: int, g: int):
        env, dev = self.env, self.devices[k]
        with dev.compute.request(priority=URGENT) as req:
            yield req
            t0 = env.now
            # A group's last batch may be partial; it is charged as a whole batch.
            d = sum(self._importance_batch(k) for _ in range(math.ceil(g / self.spec.group.batch)))
            yield env.timeout(d)
            dev.busy += d
            self.t_is[k] += d
            self.imp_done += g
            if self.learning is not None:
                self.learning.compute_importance(k, t, g)
            self.log.add(self.lane[dev.name], 0, "importance", t0, env.now, t)

    def _importance_thread(self, k: int):
        env, dev = self.env, self.devices[k]
        while True:
            if self.imp_backlog[k] <= 0:
                yield self._wake_imp[k]
                continue
            with dev.compute.request(priority=BACKGROUND) as req:
                yield req
                t0 = env.now
                d = self._importance_batch(k)
                yield env.timeout(d)
                dev.busy += d
                self.t_is[k] += d
                n = min(self.imp_backlog[k], self.spec.group.batch)
                self.imp_backlog[k] -= n
                self.imp_done += n
                if self.learning is not None:
                    self.learning.compute_importance(k, self.iteration[k], n)
                self.log.add(self.lane[dev.name], 0, "importance", t0, env.now, -1)

    @staticmethod
    def _wake(events: list, k: int) -> None:
        ev = events[k]
        if not ev.triggered:
            ev.succeed()
        events[k] = ev.env.event()

    # ------------------------------------------------------------------ aggregation
    def _aggregate(self, k: int, t: int):
        yield self.ps.reduce(k, t, self.shard, t, self.spec.aggregate_time)

    # ------------------------------------------------------------------ results
    def iteration_times(self) -> list[float]:
        """Duration of each iteration: from the previous one's end (the last device to finish
        aggregating) to this one's."""
        out, prev = [], 0.0
        for row in self.ends:
            end = max(row)
            out.append(end - prev)
            prev = end
        return out
