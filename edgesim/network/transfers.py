"""The bridge between requests and the flow network: moving bytes between nodes as messages.

Every transfer is a message: it pays the scenario's per-message overhead (RPC cost) before its
bytes, plus header bytes, enter the network. `send_batch` lets a policy amortise one overhead
over up to `rpc_batch` small messages, as Distream batches its RPCs (its Table 1.6).
"""
from __future__ import annotations

import math
from array import array
from collections import deque
from typing import Callable, Optional, Sequence

from edgesim.engine.clock import COMPLETION, call_in
from edgesim.network.cells import CellManager
from edgesim.network.flows import Flow, FlowNetwork, _check_rate
from edgesim.network.topology import Topology


class Network:
    """Routes between node indices (cached), transfers that call back on delivery or failure."""

    def __init__(self, env, topology: Topology, flows: FlowNetwork, node_names: list[str],
                 alias: dict[str, str], cells: Optional[CellManager], *, window: float | None,
                 overhead: float, header: float, batch: int, record: bool,
                 max_in_flight: Optional[int] = None, batch_messages: bool = False) -> None:
        self.env = env
        self.topology = topology
        self.flows = flows
        self.names = node_names
        self.alias = alias
        self.cells = cells
        self.window = window
        self.overhead = overhead
        self.header = header
        self.batch = batch
        self.on_fail: Callable = lambda arg: None
        #: Set by edgesim.failures.loss: lose(flow) -> True drops a delivered message.
        self.lose: Optional[Callable] = None
        self._routes: dict[tuple[int, int], tuple[list[str], Optional[float]]] = {}
        self._paths: dict[tuple[int, int], tuple] = {}   # (src, dst) -> what _start needs
        self.transfers = 0
        self.bytes = 0.0
        self.failed = 0
        self.log = TransferLog() if record else None
        self.traced: dict[str, list] = {}     # channel -> trace followers, set by start_traces
        self.max_in_flight = max_in_flight
        self.batch_messages = batch_messages
        self._conns: dict[tuple[int, int], _Connection] = {}

    def route(self, src: int, dst: int) -> tuple[list[str], Optional[float]]:
        """The channels from node ``src`` to node ``dst`` and the flow's rate cap (window/RTT)."""
        key = (src, dst)
        hit = self._routes.get(key)
        if hit is None:
            raw = self.topology.route(self.names[src], self.names[dst])
            chans = [self.alias.get(c, c) for c in raw]
            cap = None
            if self.window is not None:
                rtt = 2.0 * self.topology.route_latency(self.names[src], self.names[dst])
                cap = self.window * 8.0 / rtt if rtt > 0 else None
            hit = self._routes[key] = (chans, cap)
        return hit

    def transfer(self, src: int, dst: int, nbytes: float, deliver: Callable, arg,
                 cap_bps: Optional[float] = None, sent: Optional[Callable] = None) -> None:
        """Move ``nbytes`` from node ``src`` to node ``dst`` as one message, then ``deliver(arg)``.
        ``cap_bps`` bounds this message's rate (the sender's own radio, say) on top of the
        route's window cap and the channels' fair shares. ``sent(arg)`` runs when its last bit
        has left (before the route's latency; at delivery on a connection with a window of
        messages, whose messages may be batched with others)."""
        if self.max_in_flight is None:
            self._send(src, dst, nbytes + self.header, ((deliver, arg),), cap=cap_bps,
                       sent=None if sent is None else (sent, arg))
            return
        if sent is not None:
            deliver = _both(deliver, sent)
        conn = self._conns.get((src, dst))
        if conn is None:
            conn = self._conns[(src, dst)] = _Connection()
        conn.waiting.append((nbytes, deliver, arg, cap_bps))
        self._pump(src, dst, conn)

    def transfer_stoppable(self, src: int, dst: int, nbytes: float, deliver: Callable,
                           arg) -> Flow:
        """:meth:`transfer` as one flow started now, returned so that the sender can
        :meth:`stop` it (no per-message overhead and no connection window: a stream the sender
        pauses and resumes, such as Mercury's resharding)."""
        self.transfers += 1
        self.bytes += nbytes + self.header
        route, names, chans, latency, cap, hits = self._path(src, dst)
        if hits:
            self.cells.start(hits)
        tag = (((deliver, arg),), src, dst, self.env._now, None)
        flow = self.flows._start(names, chans, latency,
                                 _check_rate("nbytes", nbytes + self.header, allow_zero=True),
                                 self._delivered, cap, self._failed, tag, None)
        if self.traced:
            for ch in route:
                for follower in self.traced.get(ch, ()):
                    follower.wake()
        return flow

    def stop(self, flow: Flow) -> float:
        """Stop a flow of :meth:`transfer_stoppable` now: the bytes it had not sent (never
        delivered; 0 when its last bit had left, and then it is delivered as usual)."""
        left = self.flows.stop(flow) / 8.0
        self.bytes -= left
        return left

    def _pump(self, src: int, dst: int, conn: "_Connection") -> None:
        """Start waiting messages while the connection has room, in order (batched if asked)."""
        while conn.waiting and conn.in_flight < self.max_in_flight:
            take = self.batch if self.batch_messages else 1
            items = [conn.waiting.popleft() for _ in range(min(take, len(conn.waiting)))]
            conn.in_flight += 1
            size = sum(it[0] for it in items) + self.header
            caps = [it[3] for it in items if it[3] is not None]
            self._send(src, dst, size, tuple((it[1], it[2]) for it in items), conn,
                       cap=min(caps) if caps else None)

    def send_batch(self, src: int, dst: int, items: Sequence[tuple[float, Callable, object]]) -> None:
        """Several messages to one destination, ``rpc_batch`` per RPC: one overhead and one
        header each; every item is delivered when its batch arrives."""
        for i in range(0, len(items), self.batch):
            chunk = items[i:i + self.batch]
            size = sum(n for n, _d, _a in chunk) + self.header
            self._send(src, dst, size, tuple((d, a) for _n, d, a in chunk))

    def _send(self, src: int, dst: int, size: float, targets: tuple, conn=None,
              cap: Optional[float] = None, sent: Optional[tuple] = None) -> None:
        self.transfers += 1
        self.bytes += size
        item = (src, dst, size, targets, conn, cap, sent)
        if self.overhead > 0.0:
            call_in(self.env, self.overhead, COMPLETION, self._start, item)
        else:
            self._start(item)

    def _path(self, src: int, dst: int) -> tuple:
        """The route from ``src`` to ``dst`` resolved once for the flow network: (route, its
        channels, its latency, its cap checked, its Wi-Fi (cell, station) hits)."""
        key = (src, dst)
        hit = self._paths.get(key)
        if hit is None:
            route, cap = self.route(src, dst)
            names, chans, latency = self.flows.path(route)
            if cap is not None:
                cap = None if cap == math.inf else _check_rate("cap_bps", cap, allow_zero=False)
            hits = self.cells.hits(route) if self.cells is not None else ()
            hit = self._paths[key] = (route, names, chans, latency, cap, hits)
        return hit

    def _start(self, item) -> None:
        src, dst, size, targets, conn, own, sent = item
        route, names, chans, latency, cap, hits = self._path(src, dst)
        if own is not None:
            own = None if own == math.inf else _check_rate("cap_bps", own, allow_zero=False)
            if own is not None:
                cap = own if cap is None else min(cap, own)
        if hits:
            self.cells.start(hits)
        tag = (targets, src, dst, self.env._now, conn)
        self.flows._start(names, chans, latency, _check_rate("nbytes", size, allow_zero=True),
                          self._delivered, cap, self._failed, tag, None if sent is None else
                          (lambda _flow, fn=sent[0], arg=sent[1]: fn(arg)))
        if self.traced:
            for ch in route:
                for follower in self.traced.get(ch, ()):
                    follower.wake()

    def _delivered(self, flow: Flow) -> None:
        if self.lose is not None and self.lose(flow):
            self._failed(flow)
            return
        targets, src, dst, t0, conn = flow.tag
        if self.log is not None:
            self.log.add(src, dst, flow.size, t0, self.env.now, 0)
        self._release(src, dst, conn)
        for deliver, arg in targets:
            deliver(arg)

    def _failed(self, flow: Flow) -> None:
        targets, src, dst, t0, conn = flow.tag
        self.failed += 1
        if self.log is not None:
            self.log.add(src, dst, flow.size, t0, self.env.now, 1)
        self._release(src, dst, conn)
        for _deliver, arg in targets:
            self.on_fail(arg)

    def _release(self, src: int, dst: int, conn) -> None:
        if conn is not None:
            conn.in_flight -= 1
            self._pump(src, dst, conn)


class _Connection:
    """Messages from one node to another that wait for room on the connection, in order."""

    __slots__ = ("waiting", "in_flight")

    def __init__(self) -> None:
        self.waiting: deque = deque()
        self.in_flight = 0


class TransferLog:
    """Optional per-transfer records (off by default, for speed)."""

    def __init__(self) -> None:
        self.src, self.dst = array("i"), array("i")
        self.nbytes, self.start, self.end = array("d"), array("d"), array("d")
        self.failed = array("b")

    def add(self, src: int, dst: int, nbytes: float, start: float, end: float, failed: int) -> None:
        self.src.append(src)
        self.dst.append(dst)
        self.nbytes.append(nbytes)
        self.start.append(start)
        self.end.append(end)
        self.failed.append(failed)

    def frame(self, names: list[str]):
        import numpy as np
        import pandas as pd
        n = len(self.src)
        codes = (lambda a: np.frombuffer(a, dtype=np.int32) if n else np.zeros(0, np.int32))
        flt = (lambda a: np.frombuffer(a, dtype=float) if n else np.zeros(0))
        return pd.DataFrame({
            "src": pd.Categorical.from_codes(codes(self.src), names),
            "dst": pd.Categorical.from_codes(codes(self.dst), names),
            "bytes": flt(self.nbytes), "start": flt(self.start), "end": flt(self.end),
            "duration": flt(self.end) - flt(self.start),
            "outcome": np.where((np.frombuffer(self.failed, dtype=np.int8) if n else
                                 np.zeros(0, np.int8)) == 1, "failed", "delivered"),
        })


def _both(deliver: Callable, sent: Callable) -> Callable:
    """On a windowed connection a message's departure is not tracked: both at delivery."""
    def call(arg) -> None:
        sent(arg)
        deliver(arg)
    return call
