"""The multi-parameter-server all-reduce of Mercury's Fig. 2.1: every device is the server of
1/K of each piece it reduces (a whole gradient, one layer's gradient, a model to average).

Device k reduces a piece by sending its shard j to device j for every j != k; server j sums
the K shards once they are all in (optionally spending compute on the sum) and sends the sum
back to every other device; k holds the reduced piece once every summed shard is back.

With ``priority`` the sends are ordered (TicTac): the sender holds its network interface for
the piece's sends, at that priority, until their last bits have left, so pieces leave one
after another in priority order instead of sharing the link. Without it the sends start at once and share the network, as the
other schedules' aggregation does (the caller holds the interface for the whole reduction).
"""
from __future__ import annotations

from typing import Hashable, Optional

import simpy

from edgesim.training.devices import Device, ScheduleLog, Transfers, hold_compute


class MultiPS:
    """Reductions in flight, keyed by (device, piece)."""

    def __init__(self, env: simpy.Environment, devices: list[Device], tx: Transfers,
                 log: ScheduleLog, lane: dict[str, int]) -> None:
        self.env, self.devices, self.tx = env, devices, tx
        self.log, self.lane = log, lane
        self.K = len(devices)
        self._in: dict[tuple, int] = {}
        self._back: dict[tuple, int] = {}
        self._own: dict[tuple, bool] = {}
        self._done: dict[tuple, simpy.Event] = {}
        self._meta: dict[Hashable, tuple] = {}

    def others(self, k: int) -> list[int]:
        return [j for j in range(self.K) if j != k]

    def reduce(self, k: int, key: Hashable, shard: float, round_: int,
               sum_time: float = 0.0, priority: Optional[int] = None) -> simpy.Event:
        """Device k contributes to piece ``key`` (``shard`` bytes per server); the event
        succeeds when k holds every summed shard of it. Every device reducing ``key`` must
        pass the same shard, sum_time and priority."""
        self._meta[key] = (shard, round_, sum_time, priority)
        if priority is None:
            for j in self.others(k):
                self.env.process(self._push(k, j, key))
        else:
            self.env.process(self._push_ordered(k, key))
        self._contribute(k, key)        # k's own shard of its own piece is already there
        return self._event(k, key)

    # ------------------------------------------------------------------ to the servers
    def _push(self, k: int, j: int, key: Hashable):
        shard = self._meta[key][0]
        yield self.tx.send(self.devices[k].index, self.devices[j].index, shard, "gradient")
        self._contribute(j, key)

    def _push_ordered(self, k: int, key: Hashable):
        yield from self._ordered(k, key, self.others(k), self._contribute, "push")

    def _contribute(self, j: int, key: Hashable) -> None:
        node = (j, key)
        self._in[node] = self._in.get(node, 0) + 1
        if self._in[node] == self.K:
            del self._in[node]
            self.env.process(self._serve(j, key))

    # ------------------------------------------------------------------ back from them
    def _serve(self, j: int, key: Hashable):
        """Server j has all K shards of ``key``: sum them, send the sum to the others."""
        env, dev = self.env, self.devices[j]
        shard, round_, sum_time, priority = self._meta[key]
        if sum_time > 0:
            yield from hold_compute(env, dev, sum_time, self.log, self.lane[dev.name], "sum",
                                    round_)
        self._own[(j, key)] = True
        self._check(j, key)
        if priority is None:
            for i in self.others(j):
                env.process(self._send_back(j, i, key))
        else:
            env.process(self._send_back_ordered(j, key))

    def _send_back(self, j: int, i: int, key: Hashable):
        shard = self._meta[key][0]
        yield self.tx.send(self.devices[j].index, self.devices[i].index, shard, "gradient")
        self._returned(i, key)

    def _send_back_ordered(self, j: int, key: Hashable):
        yield from self._ordered(j, key, self.others(j), self._returned, "pull")

    def _ordered(self, src: int, key: Hashable, dsts: list[int], then, kind: str):
        """Send ``key``'s shard from src to every dst, holding src's interface at the piece's
        priority until the last bit has left (the next piece then starts while this one is
        still propagating); ``then(dst, key)`` as each arrives."""
        shard, round_, _, priority = self._meta[key]
        dev = self.devices[src]
        with dev.nic.request(priority=priority) as req:
            yield req
            t0 = self.env.now
            gone = []
            for dst in dsts:
                departed, arrived = self.tx.send_departing(dev.index, self.devices[dst].index,
                                                           shard, "gradient")
                arrived.callbacks.append(
                    lambda done, dst=dst: then(dst, key) if done.ok else None)
                gone.append(departed)
            yield simpy.AllOf(self.env, gone)
            self.log.add(self.lane[dev.name], 0, kind, t0, self.env.now, round_,
                         shard * len(dsts))

    def _returned(self, i: int, key: Hashable) -> None:
        node = (i, key)
        self._back[node] = self._back.get(node, 0) + 1
        self._check(i, key)

    def _event(self, k: int, key: Hashable) -> simpy.Event:
        ev = self._done.get((k, key))
        if ev is None:
            ev = self._done[(k, key)] = self.env.event()
        return ev

    def _check(self, k: int, key: Hashable) -> None:
        node = (k, key)
        if self._own.get(node) and self._back.get(node, 0) == self.K - 1:
            self._event(k, key).succeed()
            for d in (self._own, self._back, self._done):
                d.pop(node, None)
