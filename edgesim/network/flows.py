"""Flow-level network model: max-min fair bandwidth sharing (the SimGrid fluid model).

A transfer is a *flow* along a route of directed *channels*.  Instead of simulating packets, the
flows that share channels get the max-min fair allocation of the channels' capacities (computed
exactly by progressive filling), and a flow's bits drain at that rate until the allocation changes.

Why the implementation looks the way it does:

* **Recomputation is local.**  An allocation changes only when a flow starts or ends or a channel's
  capacity changes, and then only inside the *connected component* of the change: flows linked to
  it through chains of shared channels.  Max-min allocations of disjoint components are
  independent, so everything else keeps its rate, its bookkeeping and its scheduled completion.
* **One completion call per component.**  Each recomputed component becomes a ``_Group`` holding
  one ``call_at`` for the earliest finish time among its flows.  A group is always exactly a
  current connected component (a start merges whole components, an end or a failure splits one
  into pieces that each touch a channel of the removed flow, and every piece is rediscovered
  from those channels), so when a change re-forms a component, cancelling the calls of the groups
  its flows belonged to cancels no call still needed elsewhere.  A single global call would
  need a global priority queue of finish times re-keyed at every change; per-component calls let
  SimPy's heap do that work, and each recomputation pushes one entry, not one per flow.
* **Lazy bookkeeping.**  A flow stores ``remaining`` bits as of ``last_update`` and its ``rate``;
  both are rewritten only when its rate changes, so flows whose rate survives a recomputation
  are not touched (and their projected finish times do not accumulate rounding).
* **Same-time order.**  Completions, failures and deliveries are scheduled at ``COMPLETION``
  priority through :mod:`edgesim.engine.clock`, like every other completion in edgesim.

Units are SI throughout: sizes in bytes, rates and capacities in bits/s, times in seconds.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from operator import attrgetter
from typing import Callable, Iterable, Sequence

import simpy

from edgesim.engine.clock import COMPLETION, Call, call_at, call_in

__all__ = ["ChannelStats", "Flow", "FlowNetwork"]

#: A flow whose remaining bits are below this fraction of its size when its group's completion
#: fires is complete: lazy updates leave rounding residue that must not cost an extra event.
RESIDUE = 1e-9

# Flow states.
ACTIVE = "active"            # on its channels (transmitting, or paused at rate 0)
PROPAGATING = "propagating"  # last bit sent, waiting out the route's propagation latency
DONE = "done"                # on_done has been called
FAILED = "failed"            # removed by channel_down(mode="fail")


class Flow:
    """One transfer.  Read its attributes; only :class:`FlowNetwork` changes them.

    ``remaining`` (bits) is exact as of ``last_update``; use :meth:`FlowNetwork.remaining_bits`
    for the value now.  ``finish`` is the projected time of the last bit (``inf`` when paused).
    """

    __slots__ = ("id", "route", "size", "bits", "remaining", "rate", "cap", "start", "last_update",
                 "finish", "finished_at", "latency", "tag", "on_done", "on_fail", "state",
                 "_channels", "_group", "_mark", "_new")

    def __init__(self, fid: int, route: tuple[str, ...], size: float, cap: float | None,
                 start: float, latency: float, tag: object, on_done: Callable[[Flow], None],
                 on_fail: Callable[[Flow], None] | None, channels: list[_Channel]) -> None:
        self.id = fid
        self.route = route
        self.size = size                  # bytes
        self.bits = size * 8.0
        self.remaining = self.bits        # bits, as of last_update
        self.rate = 0.0                   # bits/s
        self.cap = cap                    # bits/s or None
        self.start = start
        self.last_update = start
        self.finish = math.inf
        self.finished_at: float | None = None   # time the last bit was sent, or of the failure
        self.latency = latency            # total propagation latency of the route
        self.tag = tag
        self.on_done = on_done
        self.on_fail = on_fail
        self.state = ACTIVE
        self._channels = channels
        self._group: _Group | None = None
        self._mark = 0
        self._new = 0.0

    def __repr__(self) -> str:
        return (f"Flow(id={self.id}, route={list(self.route)}, size={self.size}, "
                f"state={self.state}, rate={self.rate})")


class _Channel:
    """A directed channel; ``flows`` is keyed by flow id in start order (deterministic)."""

    __slots__ = ("name", "index", "capacity", "latency", "saved", "down", "flows", "load",
                 "t_last", "bytes", "busy", "_mark", "_rem", "_cnt")

    def __init__(self, name: str, index: int, capacity: float, latency: float, now: float) -> None:
        self.name = name
        self.index = index
        self.capacity = capacity
        self.latency = latency
        self.saved = capacity             # capacity to restore on channel_up
        self.down: str | None = None      # None, "pause" or "fail"
        self.flows: dict[int, Flow] = {}
        self.load = 0.0                   # sum of the rates of its flows, bits/s
        self.t_last = now                 # integrals below are exact up to t_last
        self.bytes = 0.0
        self.busy = 0.0
        self._mark = 0
        self._rem = 0.0
        self._cnt = 0


class _Group:
    """A connected component as of its last recomputation and its one completion call."""

    __slots__ = ("flows", "due", "call")

    def __init__(self, flows: list[Flow], due: float) -> None:
        self.flows = flows
        self.due = due
        self.call: Call | None = None


@dataclass(frozen=True)
class ChannelStats:
    """Counters of one channel, integrated up to the time they were taken."""

    name: str
    capacity_bps: float
    bytes_carried: float
    busy_time: float       # time with at least one flow transmitting (rate > 0)
    flows: int             # flows currently on the channel (paused ones included)


def _check_rate(what: str, value: float, allow_zero: bool) -> float:
    value = float(value)
    if not (math.isfinite(value) and (value >= 0.0 if allow_zero else value > 0.0)):
        raise ValueError(f"{what} must be finite and {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


class FlowNetwork:
    """Directed channels shared by flows under max-min fairness.

    ``recomputations`` counts recomputation events (a start, an end or a capacity change that
    affected at least one active flow); ``flows_touched`` the flows whose rates they recomputed.
    ``on_recompute``, when set, is called after each with those flows (a hook for tests).
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._channels: dict[str, _Channel] = {}
        self._next_id = 0
        self._stamp = 0          # BFS visit marker, so no sets of objects are needed
        self._active = 0
        self.recomputations = 0
        self.flows_touched = 0
        self.on_recompute: Callable[[Sequence[Flow]], None] | None = None
        #: Called with a flow as it leaves its channels (last bit sent, or failed); Wi-Fi
        #: cells use it to learn that a station stopped contending for the medium.
        self.on_detach: Callable[[Flow], None] | None = None

    # ------------------------------------------------------------------ channels
    def add_channel(self, name: str, capacity_bps: float, latency_s: float = 0.0) -> None:
        """Add a directed channel of ``capacity_bps`` bits/s and ``latency_s`` propagation delay."""
        if name in self._channels:
            raise ValueError(f"channel {name!r} already exists")
        cap = _check_rate(f"capacity of channel {name!r}", capacity_bps, allow_zero=True)
        lat = _check_rate(f"latency of channel {name!r}", latency_s, allow_zero=True)
        self._channels[name] = _Channel(name, len(self._channels), cap, lat, self.env.now)

    def _channel(self, name: str) -> _Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise KeyError(f"unknown channel {name!r}") from None

    def set_capacity(self, name: str, capacity_bps: float) -> None:
        """Change a channel's capacity now; flows on it are re-shared (0 pauses them).

        On a channel that is down this sets the capacity ``channel_up`` will restore.
        """
        ch = self._channel(name)
        cap = _check_rate(f"capacity of channel {name!r}", capacity_bps, allow_zero=True)
        ch.saved = cap
        if ch.down is None and cap != ch.capacity:
            ch.capacity = cap
            self._recompute((ch,))

    def set_capacities(self, capacities: dict[str, float]) -> None:
        """Change several channels at once with a single recomputation (a Wi-Fi cell whose
        stations' shares all change when one station starts or stops)."""
        changed: list[_Channel] = []
        for name, capacity_bps in capacities.items():
            ch = self._channel(name)
            cap = _check_rate(f"capacity of channel {name!r}", capacity_bps, allow_zero=True)
            ch.saved = cap
            if ch.down is None and cap != ch.capacity:
                ch.capacity = cap
                changed.append(ch)
        if changed:
            self._recompute(changed)

    def channel_down(self, name: str, mode: str = "pause") -> None:
        """Take a channel down.

        ``"pause"``: capacity 0; its flows wait (rate 0) and resume on :meth:`channel_up`.
        ``"fail"``: every flow crossing it is removed now and its ``on_fail(flow)`` called at
        ``COMPLETION`` priority now; flows started over it while it is down fail the same way.
        Bits already sent (flows in propagation) are unaffected.
        """
        if mode not in ("pause", "fail"):
            raise ValueError(f"mode must be 'pause' or 'fail', got {mode!r}")
        ch = self._channel(name)
        if ch.down == mode:
            return
        if ch.down is None:
            ch.saved = ch.capacity
        ch.down = mode
        ch.capacity = 0.0
        if mode == "fail" and ch.flows:
            now = self.env.now
            seeds: list[_Channel] = []
            for f in list(ch.flows.values()):
                seeds.extend(f._channels)
                self._detach(f, now)
                f.state = FAILED
                call_in(self.env, 0.0, COMPLETION, self._fail_cb, f)
            self._recompute(seeds)
        elif ch.flows:
            self._recompute((ch,))

    def channel_up(self, name: str) -> None:
        """Bring a channel back with the capacity it had (no-op when it is not down)."""
        ch = self._channel(name)
        if ch.down is None:
            return
        ch.down = None
        ch.capacity = ch.saved
        if ch.flows:
            self._recompute((ch,))

    # ------------------------------------------------------------------ flows
    def start_flow(self, route: Sequence[str], nbytes: float, on_done: Callable[[Flow], None],
                   cap_bps: float | None = None, on_fail: Callable[[Flow], None] | None = None,
                   tag: object = None) -> Flow:
        """Start sending ``nbytes`` along ``route`` (channel names, in order) now.

        ``on_done(flow)`` runs when the last bit has crossed the route plus the route's total
        latency; ``cap_bps`` bounds the flow's own rate (e.g. window/RTT).  A zero-byte flow is
        delivered after the latency alone (even over a paused channel: it has no bits to wait
        with), an empty route (same host) after delay 0.  Over a channel that is down in "fail"
        mode the flow fails at once (``on_fail`` at ``COMPLETION`` priority now).
        """
        size = _check_rate("nbytes", nbytes, allow_zero=True)
        cap = None if cap_bps is None or cap_bps == math.inf else _check_rate(
            "cap_bps", cap_bps, allow_zero=False)
        chans = [self._channel(n) for n in route]
        if len({c.index for c in chans}) != len(chans):
            raise ValueError(f"route {list(route)} uses a channel twice")
        now = self.env.now
        f = Flow(self._next_id, tuple(route), size, cap, now, sum(c.latency for c in chans), tag,
                 on_done, on_fail, chans)
        self._next_id += 1
        if any(c.down == "fail" for c in chans):
            f.state = FAILED
            f.finished_at = now
            call_in(self.env, 0.0, COMPLETION, self._fail_cb, f)
        elif size == 0.0 or not chans:
            # Nothing to transmit: it never occupies a channel, only propagates.
            f.remaining = 0.0
            f.state = PROPAGATING
            f.finished_at = now
            call_in(self.env, f.latency, COMPLETION, self._deliver, f)
        else:
            for c in chans:
                c.flows[f.id] = f
            self._active += 1
            self._recompute(chans)
        return f

    def rate(self, flow: Flow) -> float:
        """The flow's current rate in bits/s (0 when paused or no longer transmitting)."""
        return flow.rate if flow.state == ACTIVE else 0.0

    def remaining_bits(self, flow: Flow) -> float:
        """Bits of ``flow`` still to transmit, as of now."""
        if flow.state != ACTIVE:
            return flow.remaining
        left = flow.remaining - flow.rate * (self.env.now - flow.last_update)
        return left if left > 0.0 else 0.0

    def active_flows(self) -> int:
        """Flows currently on their channels (transmitting or paused)."""
        return self._active

    def stats(self, name: str) -> ChannelStats:
        """Bytes carried, busy time and current flows of a channel, integrated up to now."""
        ch = self._channel(name)
        dt = self.env.now - ch.t_last
        carried, busy = ch.bytes, ch.busy
        if dt > 0.0 and ch.load > 0.0:
            carried += ch.load * dt / 8.0
            busy += dt
        return ChannelStats(ch.name, ch.capacity, carried, busy, len(ch.flows))

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _accrue(ch: _Channel, now: float) -> None:
        """Integrate the channel's counters up to ``now`` at its current load."""
        dt = now - ch.t_last
        if dt > 0.0:
            if ch.load > 0.0:
                ch.bytes += ch.load * dt / 8.0
                ch.busy += dt
            ch.t_last = now

    def _detach(self, f: Flow, now: float) -> None:
        """Take an active flow off its channels (the caller recomputes from those channels)."""
        if f.rate > 0.0:
            left = f.remaining - f.rate * (now - f.last_update)
            f.remaining = left if left > 0.0 else 0.0
        f.last_update = now
        f.finished_at = now
        for c in f._channels:
            self._accrue(c, now)        # at the load that included this flow
            del c.flows[f.id]
        g = f._group
        if g is not None and g.call is not None:
            g.call.cancel()             # its other flows are re-grouped by the recomputation
            g.call = None
        f._group = None
        f.rate = 0.0
        f.finish = math.inf
        self._active -= 1
        if self.on_detach is not None:
            self.on_detach(f)

    def _deliver(self, f: Flow) -> None:
        f.state = DONE
        f.on_done(f)

    @staticmethod
    def _fail_cb(f: Flow) -> None:
        if f.on_fail is not None:
            f.on_fail(f)

    def _on_due(self, g: _Group) -> None:
        """A group's earliest finish time has come: complete every flow that is done."""
        g.call = None
        now = self.env.now
        due = g.due
        done: list[Flow] = []
        for f in g.flows:
            if f._group is not g:       # defensive: re-grouped flows belong to a newer call
                continue
            # finish <= due catches the flow(s) the call was scheduled for even when
            # now + (due - now) rounded away from due; the residue test catches near-ties.
            if f.finish <= due:
                done.append(f)
            elif f.rate > 0.0 and f.remaining - f.rate * (now - f.last_update) <= RESIDUE * f.bits:
                done.append(f)
        seeds: list[_Channel] = []
        for f in done:
            seeds.extend(f._channels)
            self._detach(f, now)
            f.remaining = 0.0
            f.state = PROPAGATING
            call_in(self.env, f.latency, COMPLETION, self._deliver, f)
        self._recompute(seeds)

    def _recompute(self, seeds: Iterable[_Channel]) -> None:
        """Re-share bandwidth in the components reachable from ``seeds`` and reschedule them."""
        env = self.env
        now = env.now
        self._stamp += 1
        stamp = self._stamp
        touched: list[Flow] = []
        for seed in seeds:
            if seed._mark == stamp:
                continue
            # Breadth-first search channel -> flows -> channels: one connected component.
            seed._mark = stamp
            chans = [seed]
            flows: list[Flow] = []
            i = 0
            while i < len(chans):
                for f in chans[i].flows.values():
                    if f._mark != stamp:
                        f._mark = stamp
                        flows.append(f)
                        for c in f._channels:
                            if c._mark != stamp:
                                c._mark = stamp
                                chans.append(c)
                i += 1
            if flows:
                flows.sort(key=_flow_id)
                self._allocate(flows, chans, now)
                touched.extend(flows)
            for c in chans:
                # _accrue inlined (hot loop): integrate at the old load, then install the new one
                dt = now - c.t_last
                if dt > 0.0:
                    if c.load > 0.0:
                        c.bytes += c.load * dt / 8.0
                        c.busy += dt
                    c.t_last = now
                load = 0.0
                for f in c.flows.values():
                    load += f.rate
                c.load = load
        if touched:
            self.recomputations += 1
            self.flows_touched += len(touched)
            if self.on_recompute is not None:
                self.on_recompute(touched)

    def _allocate(self, flows: list[Flow], chans: list[_Channel], now: float) -> None:
        """Max-min rates for one component, applied lazily, and its next-completion call."""
        _maxmin(flows, chans)
        due = math.inf
        for f in flows:
            g = f._group
            if g is not None and g.call is not None:
                g.call.cancel()
                g.call = None
            r = f._new
            if r != f.rate:
                if f.rate > 0.0:
                    left = f.remaining - f.rate * (now - f.last_update)
                    f.remaining = left if left > 0.0 else 0.0
                f.last_update = now
                f.rate = r
                f.finish = now + f.remaining / r if r > 0.0 else math.inf
            if f.finish < due:
                due = f.finish
        g = _Group(flows, due)
        for f in flows:
            f._group = g
        if due < math.inf:          # all paused: nothing to schedule until a capacity returns
            g.call = call_at(self.env, due, COMPLETION, self._on_due, g)


_flow_id = attrgetter("id")


def _maxmin(flows: list[Flow], chans: list[_Channel]) -> None:
    """Exact progressive filling; sets ``f._new`` for every flow of the component.

    The next bottleneck is the smallest of (channel remaining capacity / unfrozen flows on it)
    and the unfrozen flows' own caps.  Freezing flows at the bottleneck's share never lowers
    another channel's share (the share removed is at most its own), so a heap with stale keys
    is exact: a popped channel entry whose share has since grown is pushed back with the new
    share.  Cost O(E log C) for E flow-channel incidences, instead of O(C) per bottleneck level.
    Heap keys end in channel index / flow id, so ties resolve deterministically.
    """
    heap: list[tuple[float, int, int, object]] = []
    for c in chans:
        n = len(c.flows)
        c._rem = c.capacity
        c._cnt = n
        if n:
            heap.append((c.capacity / n, 0, c.index, c))
    for f in flows:
        f._new = -1.0                       # unfrozen
        if f.cap is not None:
            heap.append((f.cap, 1, f.id, f))
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        share, kind, key, obj = pop(heap)
        if kind:                            # a flow's own cap is its private bottleneck
            f = obj  # type: ignore[assignment]
            if f._new < 0.0:
                f._new = share
                for c in f._channels:
                    c._rem -= share
                    c._cnt -= 1
            continue
        c = obj  # type: ignore[assignment]
        n = c._cnt
        if n == 0:
            continue
        cur = c._rem / n if c._rem > 0.0 else 0.0   # rounding can leave -epsilon: clamp
        if cur > share:
            push(heap, (cur, 0, key, c))
            continue
        for f in c.flows.values():
            if f._new < 0.0:
                f._new = cur
                for c2 in f._channels:
                    c2._rem -= cur
                    c2._cnt -= 1
