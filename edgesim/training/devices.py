"""Training devices, byte transfers and the schedule log.

A device's compute (a GPU) and its network interface are two separate SimPy resources, so a
schedule that overlaps computation with communication does so by holding both at once, and one
that overlaps two uses of the same resource (importance computation and the next gradient
computation; resharding and gradient aggregation) queues for it: the overlap is contention in
the simulation, not arithmetic. Both are priority resources: a lower `priority` number is served
first, and a holder is never interrupted (work yields only between its pieces).

Bytes travel through the scenario's flow network (:class:`edgesim.network.transfers.Network`),
sharing links and Wi-Fi cells with every other transfer; without links or cells they arrive at
once, as everywhere in edgesim.
"""
from __future__ import annotations

from array import array
from typing import Optional

import simpy

from edgesim.engine.clock import COMPLETION, call_in

#: Request priorities on a device's resources (smaller is served first).
URGENT = 0          # the training loop's own work: gradient computation, aggregation
BACKGROUND = 1      # work that fills gaps: importance computation, resharding


class Device:
    """One node in a training system: its compute resource and its network interface."""

    __slots__ = ("node", "index", "name", "compute", "nic", "busy")

    def __init__(self, env: simpy.Environment, node) -> None:
        self.node = node
        self.index = node.index
        self.name = node.name
        self.compute = simpy.PriorityResource(env, capacity=1)
        self.nic = simpy.PriorityResource(env, capacity=1)
        self.busy = 0.0         # seconds the compute resource was held


def hold_compute(env: simpy.Environment, dev: Device, seconds: float, log: "ScheduleLog",
                 lane: int, kind: str, round_: int):
    """Hold ``dev``'s compute for ``seconds`` at the training loop's priority, logged."""
    with dev.compute.request(priority=URGENT) as req:
        yield req
        t0 = env.now
        yield env.timeout(seconds)
        dev.busy += seconds
        log.add(lane, 0, kind, t0, env.now, round_)


class Transfers:
    """Sends bytes between nodes as SimPy events, counting them by kind."""

    def __init__(self, env: simpy.Environment, network) -> None:
        self.env = env
        self.network = network
        self.bytes: dict[str, float] = {}
        self.messages = 0

    def send(self, src: int, dst: int, nbytes: float, kind: str,
             cap_bps: Optional[float] = None) -> simpy.Event:
        """An event that succeeds when ``nbytes`` have reached node ``dst`` from node ``src``
        (fails with :class:`TransferLost` when the network loses the message). ``cap_bps``
        bounds the message's rate; without a network it then takes ``nbytes`` at that rate."""
        ev = self.env.event()
        self.bytes[kind] = self.bytes.get(kind, 0.0) + nbytes
        self.messages += 1
        if src == dst:
            ev.succeed()
        elif self.network is None:
            if cap_bps is None or nbytes <= 0:
                ev.succeed()
            else:
                call_in(self.env, nbytes * 8.0 / cap_bps, COMPLETION, _succeed, ev)
        else:
            self.network.transfer(src, dst, nbytes, _succeed, ev, cap_bps=cap_bps)
        return ev

    def send_departing(self, src: int, dst: int, nbytes: float,
                       kind: str) -> tuple[simpy.Event, simpy.Event]:
        """(departed, delivered): :meth:`send`, plus an event for the last bit leaving ``src``
        (before the route's latency), for a sender that transmits one message at a time."""
        departed = self.env.event()
        ev = self.env.event()
        self.bytes[kind] = self.bytes.get(kind, 0.0) + nbytes
        self.messages += 1
        if src == dst or self.network is None:
            departed.succeed()
            ev.succeed()
        else:
            self.network.transfer(src, dst, nbytes, _succeed, ev, sent=_departed(departed))
        return departed, ev

    def total(self) -> float:
        return sum(self.bytes.values())


def _succeed(ev: simpy.Event) -> None:
    ev.succeed()


def _departed(departed: simpy.Event):
    return lambda _delivered_event: departed.succeed()


class TransferLost(Exception):
    """A message the network lost (a `loss` failure, or a link down in 'fail' mode)."""


def fail_transfer(ev) -> None:
    """The network's on_fail hook for training transfers: the waiting process learns of it."""
    if isinstance(ev, simpy.Event) and not ev.triggered:
        ev.fail(TransferLost())
        # A process that stopped waiting (a straggler cut off, a crashed client) no longer
        # handles it; a waiting one still gets the exception.
        ev.defused = True


#: Kinds of work in the schedule log, and the resource each holds.
COMPUTE_KINDS = ("train", "compute", "importance", "sum", "validate", "infer", "sensitivity",
                 "average")
NETWORK_KINDS = ("pull", "push", "aggregate", "reshard", "deploy", "upload", "full-upload",
                 "update", "metadata", "help", "knowledge", "exchange")


class ScheduleLog:
    """One row per piece of work: who did what, on which resource, from when to when."""

    KINDS = COMPUTE_KINDS + NETWORK_KINDS
    RESOURCES = ("compute", "network")

    def __init__(self, workers: list[str], models: list[str]) -> None:
        self.workers = list(workers)
        self.models = list(models)
        self._w, self._m, self._k, self._r = array("i"), array("i"), array("i"), array("i")
        self._round, self._start, self._end = array("i"), array("d"), array("d")
        self._bytes = array("d")

    def add(self, worker: int, model: Optional[int], kind: str, start: float, end: float,
            round_: int = -1, nbytes: float = 0.0) -> None:
        """``worker`` and ``model`` are positions in the lists given at construction."""
        self._w.append(worker)
        self._m.append(-1 if model is None else model)
        k = self.KINDS.index(kind)
        self._k.append(k)
        self._r.append(0 if k < len(COMPUTE_KINDS) else 1)
        self._round.append(round_)
        self._start.append(start)
        self._end.append(end)
        self._bytes.append(nbytes)

    def __len__(self) -> int:
        return len(self._w)

    def frame(self):
        import numpy as np
        import pandas as pd
        n = len(self._w)

        def ints(a):
            return np.frombuffer(a, dtype=np.int32).copy() if n else np.zeros(0, np.int32)

        def flts(a):
            return np.frombuffer(a, dtype=float).copy() if n else np.zeros(0)

        models = ints(self._m)
        df = pd.DataFrame({
            "worker": pd.Categorical.from_codes(ints(self._w), self.workers),
            # -1 codes are missing values: work that belongs to no model (aggregation, uploads)
            "model": pd.Categorical.from_codes(models, self.models),
            "kind": pd.Categorical.from_codes(ints(self._k), list(self.KINDS)),
            "resource": pd.Categorical.from_codes(ints(self._r), list(self.RESOURCES)),
            "round": ints(self._round),
            "start": flts(self._start),
            "end": flts(self._end),
            "bytes": flts(self._bytes),
        })
        df["duration"] = df["end"] - df["start"]
        return df.sort_values(["start", "worker", "kind"], kind="stable").reset_index(drop=True)
