"""DEEPCON's three ways of training N models with Deep Mixup Mutual Learning (§3):

* ``dmml`` (Alg. 1): one worker trains all models together, batch by batch; a round costs the
  sum of the models' training steps (each model's forward pass serves as its own output and as
  the mixup label the others learn from, so nothing is computed twice). The replicas are pulled
  once at the start and pushed once at the end.
* ``dmml-sp`` (§5.4): synchronous rounds. Workers take the models in order, each as soon as it
  is free; a task pulls the replicas, trains its model for one round and pushes it; the next
  round starts when every model has been pushed.
* ``dmml-par`` (Alg. 2): asynchronous. Whenever a worker is idle it takes a model by
  :func:`edgesim.systems.deepcon.allocation.allocate`, pulls the latest replicas of all models
  (Alg. 2 line 30), trains one round and pushes its model (line 44), until every model has
  ``rounds`` rounds.

A dmml-sp or dmml-par task of model n computes, per step, the mixup labels of every other model
(Alg. 2 lines 34-37); those forward passes are charged when the models give a `label` time.

What a "round" is, ``round_count`` (the paper's figures fit more than one reading, see
docs/guides/deepcon.md):

* ``all-models`` (the default): round r is complete when every model has completed r rounds
  (its push included); every model is trained exactly R times ("all models get the same rounds
  of training", §3.3).
* ``tasks``: a round is N training tasks completed by the workers, whatever the models: Alg. 2
  loops "while not convergence" with no per-model target, so a fast model can run ahead of a
  slow one. Training stops after N x R tasks; dmml-par's idle workers still take the model with
  the fewest rounds among those not running, without the cap of R. dmml-sp and dmml train
  every model once per round, so their rounds are unchanged.
* ``mean-model``: every model is trained R times (as ``all-models``); round r's time is the
  mean over the models of the time each completed its r-th round.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import simpy

from edgesim.engine.clock import CONTROL, call_in
from edgesim.systems.deepcon.allocation import allocate
from edgesim.training.devices import URGENT, Device, ScheduleLog, Transfers


#: What a round is (DeepconSpec.round_count); the first is the default.
ROUND_COUNTS = ("all-models", "tasks", "mean-model")


@dataclass
class TrainModel:
    """A model as the schedules see it: bytes of a replica and how to draw its compute times."""

    index: int
    name: str
    nbytes: float
    batch: int
    steps: int
    step: dict            # device name -> ServiceModel of one training step
    label: Optional[dict]  # device name -> ServiceModel of one label forward step
    stream: object        # draws of this model's training steps
    label_stream: object  # draws of its label steps

    def train_time(self, device: str) -> float:
        model, stream, b = self.step[device], self.stream, self.batch
        return sum(model.sample(b, stream) for _ in range(self.steps))

    def label_time(self, device: str, batch: int, steps: int) -> float:
        """Forward steps of this model producing labels for another model's ``steps`` batches."""
        if self.label is None:
            return 0.0
        model, stream = self.label[device], self.label_stream
        return sum(model.sample(batch, stream) for _ in range(steps))


@dataclass
class TrainingRecord:
    """What one DMML training produced (times are absolute simulated times)."""

    start: float
    end: float = 0.0
    round_times: list = field(default_factory=list)   # round r's time (by round_count)
    tasks: int = 0
    model_times: list = field(default_factory=list)   # per model: its rounds' end times


class Dmml:
    """Runs DMML trainings on a set of workers against a server (one at a time)."""

    def __init__(self, env: simpy.Environment, models: list[TrainModel], workers: list[Device],
                 server: Device, transfers: Transfers, log: ScheduleLog, lane: dict[str, int],
                 schedule: str, affinity: bool = True, round_count: str = "all-models",
                 learning=None) -> None:
        self.env = env
        self.models = models
        self.workers = workers
        self.server = server
        self.tx = transfers
        self.log = log
        self.lane = lane            # device name -> its row in the schedule log
        self.schedule = schedule
        self.affinity = affinity
        if round_count not in ROUND_COUNTS:
            raise ValueError(f"round_count {round_count!r}: one of {', '.join(ROUND_COUNTS)}")
        self.round_count = round_count
        self.records: list[TrainingRecord] = []
        # With `learning` (dmml_learning.DmmlLearning) the models are trained for real: a task
        # trains against the replica versions on the server when its pull starts.
        self.learning = learning

    # ------------------------------------------------------------------ common pieces
    def train(self, rounds: int):
        """A SimPy process: one training of ``rounds`` rounds; its value is the record."""
        rec = TrainingRecord(start=self.env.now,
                             model_times=[[] for _ in self.models])
        self.records.append(rec)
        run = {"dmml": self._serial, "dmml-sp": self._sp, "dmml-par": self._par}[self.schedule]
        yield from run(rounds, rec)
        rec.end = self.env.now
        return rec

    def _completed(self, rec: TrainingRecord, rounds: list[int], m: int) -> None:
        """Model ``m`` has just completed a round (``rounds`` already counts it)."""
        now = self.env.now
        rec.tasks += 1
        rec.model_times[m].append(now)
        if self.round_count == "tasks":
            n = len(self.models)
            while rec.tasks >= (len(rec.round_times) + 1) * n:
                rec.round_times.append(now)
        elif self.round_count == "mean-model":
            while min(rounds) > len(rec.round_times):
                r = len(rec.round_times)
                rec.round_times.append(math.fsum(t[r] for t in rec.model_times)
                                       / len(self.models))
        else:
            while min(rounds) > len(rec.round_times):
                rec.round_times.append(now)

    def _pull_all(self, dev: Device, model: Optional[int], round_: int):
        """Pull the latest replica of every model from the server (Alg. 2 line 30)."""
        t0, env = self.env.now, self.env
        nbytes = sum(m.nbytes for m in self.models)
        yield simpy.AllOf(env, [self.tx.send(self.server.index, dev.index, m.nbytes, "pull")
                                for m in self.models])
        self.log.add(self.lane[dev.name], model, "pull", t0, env.now, round_, nbytes)

    def _push(self, dev: Device, models: list[TrainModel], round_: int):
        t0, env = self.env.now, self.env
        yield simpy.AllOf(env, [self.tx.send(dev.index, self.server.index, m.nbytes, "push")
                                for m in models])
        self.log.add(self.lane[dev.name], models[0].index if len(models) == 1 else None,
                     "push", t0, env.now, round_, sum(m.nbytes for m in models))

    def _compute(self, dev: Device, model: TrainModel, round_: int, labels: bool):
        """Hold the worker's compute resource for one round of ``model``."""
        env = self.env
        with dev.compute.request(priority=URGENT) as req:
            yield req
            t0 = env.now
            d = model.train_time(dev.node.device)
            if labels:
                d += sum(other.label_time(dev.node.device, model.batch, model.steps)
                         for other in self.models if other is not model)
            yield env.timeout(d)
            dev.busy += d
            self.log.add(self.lane[dev.name], model.index, "train", t0, env.now, round_)

    def _task(self, dev: Device, model: TrainModel, round_: int):
        """Pull, train one round, push: one dmml-sp or dmml-par task."""
        pull_at, pulled = self.env.now, self.learning.pulled() if self.learning else None
        yield from self._pull_all(dev, model.index, round_)
        yield from self._compute(dev, model, round_, labels=True)
        yield from self._push(dev, [model], round_)
        if self.learning is not None:
            self.learning.pushed(model.index, pulled, round_, pull_at, self.env.now)

    # ------------------------------------------------------------------ schedules
    def _serial(self, rounds: int, rec: TrainingRecord):
        dev = self.workers[0]
        counts = [0] * len(self.models)
        yield from self._pull_all(dev, None, 1)
        for r in range(1, rounds + 1):
            # Alg. 1 interleaves the models batch by batch; the log shows each model's share
            # of the round as one block, which has the same total.
            for m in self.models:
                yield from self._compute(dev, m, r, labels=False)
                counts[m.index] += 1
                self._completed(rec, counts, m.index)
            if self.learning is not None:
                self.learning.serial_round(r, self.env.now)
        yield from self._push(dev, self.models, rounds)

    def _sp(self, rounds: int, rec: TrainingRecord):
        env = self.env
        counts = [0] * len(self.models)
        for r in range(1, rounds + 1):
            queue = list(self.models)

            def lane(dev: Device, queue=queue, r=r):
                while queue:
                    m = queue.pop(0)
                    yield from self._task(dev, m, r)
                    counts[m.index] += 1
                    self._completed(rec, counts, m.index)

            # Workers start in order at the round's start and take the next model when free;
            # the server's replicas are replaced together once every model is back.
            yield simpy.AllOf(env, [env.process(lane(w)) for w in self.workers])
            if self.learning is not None:
                self.learning.round_done(r, env.now)

    def _par(self, rounds: int, rec: TrainingRecord):
        env = self.env
        n = len(self.models)
        counts = [0] * n
        running = [False] * n
        idle = [True] * len(self.workers)
        last: list[Optional[int]] = [None] * len(self.workers)
        done = env.event()
        state = {"queued": False, "started": 0}
        by_tasks = self.round_count == "tasks"
        # 'tasks': N x R tasks in all, no model capped at R; otherwise every model R rounds.
        cap = math.inf if by_tasks else rounds
        total = n * rounds

        def finished(w: int, m: int) -> None:
            counts[m] += 1
            running[m] = False
            idle[w] = True
            last[w] = m
            self._completed(rec, counts, m)
            complete = rec.tasks >= total if by_tasks else min(counts) >= rounds
            if complete and not any(running):
                done.succeed()
            else:
                request_dispatch()

        def run(w: int, m: int):
            yield from self._task(self.workers[w], self.models[m], counts[m] + 1)
            finished(w, m)

        def dispatch(_arg=None) -> None:
            # Alg. 2 lines 6-21: every idle worker takes a model (allocation.allocate).
            state["queued"] = False
            free = [w for w in range(len(self.workers)) if idle[w]]
            pairs = allocate(free, counts, running, cap, last, self.affinity)
            if by_tasks:
                # The last tasks go to the first idle workers in worker order.
                pairs = pairs[:max(0, total - state["started"])]
            for w, m in pairs:
                state["started"] += 1
                idle[w] = False
                running[m] = True
                env.process(run(w, m))

        def request_dispatch() -> None:
            # After every same-time completion (CONTROL runs after them), so that workers
            # freed at one instant are offered models in worker order, as Alg. 2 walks them.
            if not state["queued"]:
                state["queued"] = True
                call_in(env, 0.0, CONTROL, dispatch)

        dispatch()
        yield done
