"""Importance-aware data resharding (§2.4.2) and BACC's breakpoint-resume (§2.4.3).

**Rounds.** Every ``reshard.every`` iterations every device starts a resharding round r: it
picks ``reshard.samples`` of its samples (with learning, by the rule below; without, only
their count matters) and sends them, ``samples x sample_bytes`` bytes, to its partner of the
round, device (k + s) mod K with s = 1 + r mod (K - 1), so that every device sends as many
samples as it receives and, over K - 1 rounds, exchanges with every other device. The i-th
sample a device receives in round r takes the place of the i-th sample it picked itself in
round r: group sizes and local data sizes never change (§2.4.2: "without change in group size
or local dataset size"). A sample moves when its last byte has arrived.

**Which samples** (``reshard.select``): ``importance`` (§2.4.2, the default) takes
N_o M_i / sum M_j samples from each group i (largest remainders), within a group without
replacement with probability proportional to the sample's importance (Eq. 2.5);
``random`` is the importance-agnostic resharding of Fig. 2.16: N_o samples uniformly. Slots
still waiting for the sample of an earlier round are not picked again.

**Breakpoint-resume** (``reshard.pause``, ``reshard.breakpoint``): under BACC a second thread
sends the round while its device computes. ``byte`` (the default): when gradient aggregation
begins at either end of the transfer (``pause_at: sender``: at the sender) the flow is
stopped where it is, the bytes already sent
stay sent, and when both ends have finished aggregating the rest is sent from that byte on, so
resharding never shares the network with aggregation. ``message``: the older reading, the
round goes out in ``chunk``-byte messages, each holding the sender's interface at a lower
priority; it pauses between messages, and a message in flight when aggregation begins delays
it. ``pause: false`` sends regardless of aggregation (the bandwidth-agnostic variant).
Rounds a device has not finished sending when the next is due wait behind it, in order.
"""
from __future__ import annotations

from collections import deque
from typing import Optional

import simpy

from edgesim.network.flows import STOPPED
from edgesim.training.devices import BACKGROUND, URGENT


class Round:
    """One device's part of one resharding round: what it sends, to whom, how far it got."""

    __slots__ = ("r", "src", "dst", "total", "sent", "delivered", "payload")

    def __init__(self, r: int, src: int, dst: int, total: float, payload) -> None:
        self.r, self.src, self.dst = r, src, dst
        self.total = total            # bytes of the round
        self.sent = 0.0               # bytes that have left the sender
        self.delivered = 0            # samples that have arrived
        self.payload = payload        # the learning's picked samples (None without learning)


class Resharder:
    """The resharding of a :class:`.schedules.Mercury` run: rounds, transfers, the pauses."""

    def __init__(self, runner) -> None:
        self.run = runner
        self.env = runner.env
        self.spec = runner.spec.reshard
        self.K = runner.K
        self.queue = [deque() for _ in range(self.K)]
        self.aggregating = [False] * self.K
        self._wake = [self.env.event() for _ in range(self.K)]
        self.rounds: list[Round] = []        # every round started, in order
        self.stops = 0                       # transfers stopped by aggregation (byte mode)

    def partner(self, k: int, r: int) -> int:
        return (k + 1 + r % (self.K - 1)) % self.K

    def start(self, k: int, t: int) -> Optional[Round]:
        """Device k's round of iteration t (None when iteration t has none)."""
        n = self.spec.samples
        if n <= 0 or t % self.spec.every:
            return None
        r = t // self.spec.every
        learn = self.run.learning
        payload = learn.reshard_pick(k, r, n, self.spec.select) if learn is not None else None
        count = n if payload is None else len(payload[0])
        rnd = Round(r, k, self.partner(k, r), count * self.spec.sample_bytes, payload)
        self.rounds.append(rnd)
        self.run.reshard_asked += rnd.total
        return rnd

    # ------------------------------------------------------------------ delivery
    def _arrived(self, rnd: Round, nbytes: float) -> None:
        """``nbytes`` of the round have reached its partner: whole samples move."""
        rnd.sent = min(rnd.total, rnd.sent + nbytes)
        done = int(rnd.sent / self.spec.sample_bytes + 1e-9)
        if rnd.sent >= rnd.total - 1e-6:
            done = len(rnd.payload[0]) if rnd.payload is not None else done
        if rnd.payload is not None and done > rnd.delivered:
            self.run.learning.reshard_arrive(rnd.dst, rnd.r, rnd.payload, rnd.delivered, done)
        rnd.delivered = max(rnd.delivered, done)

    # ------------------------------------------------------------------ sequential
    def inline(self, k: int, t: int, rnd: Round):
        """The sequential pipeline: the round first, holding the interface."""
        env, dev = self.env, self.run.devices[k]
        with dev.nic.request(priority=URGENT) as req:
            yield req
            t0 = env.now
            yield self.run.tx.send(dev.index, self.run.devices[rnd.dst].index, rnd.total,
                                   "reshard")
            self._arrived(rnd, rnd.total)
            self.run.reshard_sent += rnd.total
            self.run.log.add(self.run.lane[dev.name], 0, "reshard", t0, env.now, t, rnd.total)

    # ------------------------------------------------------------------ bacc's thread
    def queue_round(self, k: int, rnd: Round) -> None:
        self.queue[k].append(rnd)
        self._poke(k)

    def aggregation(self, k: int, busy: bool) -> None:
        """Device k's gradient aggregation begins (``busy``) or ends."""
        self.aggregating[k] = busy
        for j in range(self.K):
            self._poke(j)

    def _poke(self, k: int) -> None:
        ev = self._wake[k]
        if not ev.triggered:
            ev.succeed()
        self._wake[k] = self.env.event()

    def _blocked(self, rnd: Round) -> bool:
        return self.spec.pause and (self.aggregating[rnd.src] or (
            self.spec.pause_at == "ends" and self.aggregating[rnd.dst]))

    def thread(self, k: int):
        """BACC's second thread, network side: device k's rounds, one after another."""
        spec = self.spec
        while True:
            if not self.queue[k]:
                yield self._wake[k]
                continue
            rnd = self.queue[k][0]
            if rnd.sent >= rnd.total - 1e-6:
                self._arrived(rnd, 0.0)
                self.queue[k].popleft()
                continue
            if spec.breakpoint == "message" or not spec.pause:
                yield from self._message(k, rnd)
                continue
            if self._blocked(rnd):
                yield self._wake[k]
                continue
            yield from self._stream(k, rnd)

    def _message(self, k: int, rnd: Round):
        """One ``chunk`` of the round, holding the interface at background priority."""
        env, dev = self.env, self.run.devices[k]
        size = min(self.spec.chunk, rnd.total - rnd.sent)
        req = dev.nic.request(priority=BACKGROUND) if self.spec.pause else None
        if req is not None:
            yield req
        t0 = env.now
        yield self.run.tx.send(dev.index, self.run.devices[rnd.dst].index, size, "reshard")
        if req is not None:
            dev.nic.release(req)
        self.run.reshard_sent += size
        self._arrived(rnd, size)
        self.run.log.add(self.run.lane[dev.name], 0, "reshard", t0, env.now, rnd.r, size)

    def _stream(self, k: int, rnd: Round):
        """The rest of the round as one flow, stopped where it is when aggregation begins at
        either end (it resumes from that byte on the next pass)."""
        env, dev = self.env, self.run.devices[k]
        left = rnd.total - rnd.sent
        t0 = env.now
        net = self.run.tx.network
        if net is None:
            self._piece(k, rnd, t0, left)
            return
        done = env.event()
        flow = net.transfer_stoppable(dev.index, self.run.devices[rnd.dst].index, left,
                                      _succeed, done)
        while not done.triggered:
            yield done | self._wake[k]
            if not done.triggered and self._blocked(rnd) and flow.state != STOPPED:
                unsent = min(net.stop(flow), left)
                if flow.state == STOPPED:
                    self.stops += 1
                    self._piece(k, rnd, t0, left - unsent)
                    return
        self._piece(k, rnd, t0, left)

    def _piece(self, k: int, rnd: Round, t0: float, nbytes: float) -> None:
        """A piece of a stream has gone: counted (only bytes that left count, so a stream
        still running when the run ends is not), moved, logged."""
        tx = self.run.tx
        tx.bytes["reshard"] = tx.bytes.get("reshard", 0.0) + nbytes
        self.run.reshard_sent += nbytes
        self._arrived(rnd, nbytes)
        self.run.log.add(self.run.lane[self.run.devices[k].name], 0, "reshard", t0,
                         self.env.now, rnd.r, nbytes)


def _succeed(ev: simpy.Event) -> None:
    ev.succeed()
