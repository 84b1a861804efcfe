"""Flow-level network model: max-min fair bandwidth sharing (the SimGrid fluid model).

A transfer is a *flow* along a route of directed *channels*.  Instead of simulating packets, the
flows that share channels get the max-min fair allocation of the channels' capacities (computed
exactly by progressive filling), and a flow's bits drain at that rate until the allocation changes.

Why the implementation looks the way it does:

* **Re-sharing is coalesced per simulated instant.**  A start, an end or a capacity change only
  marks the channels it touched; one ``SETTLE`` call at the current time, after every other
  same-time priority (``SAMPLE`` included), re-shares once for all that changed in the instant.
  Frames arrive in bursts and a Wi-Fi station's start re-shares its cell first, so re-sharing at
  every change did the same work several times per instant, all but the last for a zero-length
  interval.  Waiting loses nothing: bits drain only while time passes, so unsettled rates are
  still right for everything up to now (``remaining_bits`` and ``stats`` need no settling);
  :meth:`FlowNetwork.rate` and :meth:`FlowNetwork.flush` settle at once for readers of new rates.
* **Callers batch their own changes into the settling.**  :meth:`FlowNetwork.at_settle` runs
  a callback first when the instant settles: a Wi-Fi cell installs its stations' new shares
  there once, whatever number of stations started or stopped in the instant (a capacity read
  through :meth:`FlowNetwork.stats` runs the pending callbacks first).
* **Re-sharing is local.**  Only the *connected components* of the changes (flows linked through
  chains of shared channels) are recomputed: allocations of disjoint components are independent,
  so everything else keeps its rate, its bookkeeping and its scheduled completion.
* **Or incremental** (``mode="incremental"``): only flows whose bottleneck a change can move get
  new rates (:func:`edgesim.network.maxmin.local`), so a capacity change on a link that is
  nobody's bottleneck (a Mahimahi trace steps every millisecond) costs no re-solve; past a work
  budget it falls back to components.  Its rates equal theirs up to float rounding (sums in
  another order), not bit for bit, so exact ties can break the other way and whole simulations
  drift from the default's: why it is not the default.
* **One completion call per group.**  The flows one re-share solved together (a component, or
  a piece of the incremental set) form a ``_Group`` with one ``call_at`` for their earliest
  finish; a flow re-solved later moves to a new group, and a fired group re-arms for the members
  it still has.  Per-flow calls cost an event per rate change (half a million cancelled events
  for 1000 flows).  Groups are made in the order re-sharing at every change made them
  (``maxmin._in_order``), so tied completions run in the same order as before coalescing.
* **Lazy bookkeeping.**  A flow stores ``remaining`` bits as of ``last_update`` and its ``rate``;
  both are rewritten only when its rate changes, so flows whose rate survives a re-share are not
  touched (and their projected finish times do not accumulate rounding).  A channel's ``load``
  is kept as rates change and re-summed where that is cheap.  A component of one flow is
  solved without the heap (:func:`edgesim.network.maxmin.solo`, same result).
* **Routes are resolved once.**  :meth:`FlowNetwork.path` checks a route and looks up its
  channels and latency; :class:`edgesim.network.transfers.Network` keeps that per node pair
  and starts its flows through ``_start``, without the per-flow lookups and checks.
* **Same-time order.**  Completions, failures and deliveries are scheduled at ``COMPLETION``
  priority through :mod:`edgesim.engine.clock`, like every other completion in edgesim.
* **Reference modes** for tests and ``benchmarks/network_flows.py``: ``"eager"`` recomputes the
  components at every change (the model before coalescing), ``"full"`` every channel.

Units are SI throughout: sizes in bytes, rates and capacities in bits/s, times in seconds.
"""
from __future__ import annotations

import math
from operator import attrgetter
from typing import Callable, Iterable, Sequence

import simpy

from edgesim.engine.clock import COMPLETION, SAMPLE, Call, call_at, call_in

from edgesim.network.flow_types import (ACTIVE, DONE, FAILED, PROPAGATING, STOPPED,  # noqa: F401
                                        ChannelStats, Flow, _Channel, _check_rate, _Group)
from edgesim.network.maxmin import components, local

__all__ = ["ChannelStats", "Flow", "FlowNetwork", "MODES", "SETTLE"]

#: Same-time priority of the coalesced re-share: after every priority of
#: :mod:`edgesim.engine.clock`, so it sees every change of the instant.
SETTLE = SAMPLE + 1

#: ``FlowNetwork`` modes, the default first (see the module docstring).
MODES = ("coalesced", "incremental", "eager", "full")

#: Channels with at most this many flows get their load re-summed (exact) rather than adjusted.
RESUM = 16

#: The incremental solve gives up once its rounds have cost this fraction of one pass over
#: every active flow-channel incidence (about what a component recomputation costs when one
#: component holds most flows, as with random pairs in a tree).
BUDGET = 0.1

#: A flow whose remaining bits are below this fraction of its size when the completion call
#: fires is complete too: lazy updates leave rounding residue that must not cost an extra event.
RESIDUE = 1e-9

class FlowNetwork:
    """Directed channels shared by flows under max-min fairness.

    ``recomputations`` counts re-shares that re-solved at least one flow (per settled instant;
    per change in ``"eager"`` and ``"full"`` modes), ``flows_touched`` the flows re-solved,
    ``fallbacks`` the incremental re-shares that recomputed components instead.  ``on_recompute``,
    when set, is called after each re-share with those flows (a hook for tests; every rate is
    settled then).  ``mode`` is one of :data:`MODES`.
    """

    def __init__(self, env: simpy.Environment, mode: str = "coalesced") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.env = env
        self.mode = mode
        self._coalesce = mode in ("incremental", "coalesced")
        self._channels: dict[str, _Channel] = {}
        self._next_id = 0
        self._active = 0
        self._incid = 0                       # flow-channel incidences of the active flows
        self._dirty: list[_Channel] = []      # channels changed this instant, in change order
        self._fresh: list[Flow] = []          # flows started this instant (incremental mode)
        self._local = mode == "incremental"
        self._settle: Call | None = None      # the pending SETTLE call, if any
        self._orphans: list[_Group] = []      # fired groups with members left, to re-arm
        self._changes = 0                     # changes so far (they order groups: maxmin)
        self._failing = 0                     # channels down in "fail" mode
        self._hooks: list[tuple[Callable, object]] = []   # run first when the instant settles
        self.recomputations = 0
        self.flows_touched = 0
        self.fallbacks = 0
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
        self.set_capacities({name: capacity_bps})

    def set_capacities(self, capacities: dict[str, float]) -> None:
        """Change several channels at once with a single re-share (a Wi-Fi cell whose
        stations' shares all change when one station starts or stops)."""
        chans = [self._channel(name) for name in capacities]
        caps = [_check_rate(f"capacity of channel {name!r}", capacity_bps, allow_zero=True)
                for name, capacity_bps in capacities.items()]
        self._set_capacities(chans, caps)

    def _set_capacities(self, chans: Sequence[_Channel], caps: Sequence[float]) -> None:
        """:meth:`set_capacities` for channels and capacities already checked (the Wi-Fi
        cells' hot path: a cell's shares change whenever a station starts or stops)."""
        changed: list[_Channel] = []
        for ch, cap in zip(chans, caps):
            ch.saved = cap
            if ch.down is None and cap != ch.capacity:
                ch.capacity = cap
                if ch.flows:
                    changed.append(ch)
        if changed:
            self._changed(changed)

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
        self._failing += (mode == "fail") - (ch.down == "fail")
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
            self._changed(seeds)
        elif ch.flows:
            self._changed((ch,))

    def channel_up(self, name: str) -> None:
        """Bring a channel back with the capacity it had (no-op when it is not down)."""
        ch = self._channel(name)
        if ch.down is None:
            return
        self._failing -= ch.down == "fail"
        ch.down = None
        ch.capacity = ch.saved
        if ch.flows:
            self._changed((ch,))

    # ------------------------------------------------------------------ flows
    def start_flow(self, route: Sequence[str], nbytes: float, on_done: Callable[[Flow], None],
                   cap_bps: float | None = None, on_fail: Callable[[Flow], None] | None = None,
                   tag: object = None,
                   on_sent: Callable[[Flow], None] | None = None) -> Flow:
        """Start sending ``nbytes`` along ``route`` (channel names, in order) now.

        ``on_done(flow)`` runs when the last bit has crossed the route plus the route's total
        latency; ``cap_bps`` bounds the flow's own rate (e.g. window/RTT).  A zero-byte flow is
        delivered after the latency alone (even over a paused channel: it has no bits to wait
        with), an empty route (same host) after delay 0.  Over a channel that is down in "fail"
        mode the flow fails at once (``on_fail`` at ``COMPLETION`` priority now).
        ``on_sent(flow)`` runs when the last bit has left, before the latency (a sender that
        transmits one message at a time starts the next then, not at delivery).
        """
        size = _check_rate("nbytes", nbytes, allow_zero=True)
        cap = None if cap_bps is None or cap_bps == math.inf else _check_rate(
            "cap_bps", cap_bps, allow_zero=False)
        route, chans, latency = self.path(route)
        return self._start(route, chans, latency, size, on_done, cap, on_fail, tag, on_sent)

    def path(self, route: Sequence[str]) -> tuple[tuple[str, ...], list[_Channel], float]:
        """``route`` checked and resolved once, for :meth:`_start`: (the route as a tuple, its
        channels, its total propagation latency)."""
        chans = [self._channel(n) for n in route]
        if len({c.index for c in chans}) != len(chans):
            raise ValueError(f"route {list(route)} uses a channel twice")
        return tuple(route), chans, sum(c.latency for c in chans)

    def _start(self, route: tuple[str, ...], chans: list[_Channel], latency: float, size: float,
               on_done: Callable[[Flow], None], cap: float | None,
               on_fail: Callable[[Flow], None] | None, tag: object,
               on_sent: Callable[[Flow], None] | None) -> Flow:
        """:meth:`start_flow` with the route resolved by :meth:`path` and ``size`` and ``cap``
        checked (``cap``: None or finite)."""
        now = self.env._now
        f = Flow(self._next_id, route, size, cap, now, latency, tag, on_done, on_fail, chans)
        f.on_sent = on_sent
        self._next_id += 1
        if self._failing and any(c.down == "fail" for c in chans):
            f.state = FAILED
            f.finished_at = now
            call_in(self.env, 0.0, COMPLETION, self._fail_cb, f)
        elif size == 0.0 or not chans:
            # Nothing to transmit: it never occupies a channel, only propagates.
            f.remaining = 0.0
            f.state = PROPAGATING
            f.finished_at = now
            call_in(self.env, f.latency, COMPLETION, self._deliver, f)
            if on_sent is not None:
                call_in(self.env, 0.0, COMPLETION, on_sent, f)
        else:
            for c in chans:
                c.flows[f.id] = f
            self._active += 1
            self._incid += len(chans)
            if self._local:
                self._fresh.append(f)
            self._changed(chans)
        return f

    def at_settle(self, fn: Callable[[object], None], arg: object = None) -> None:
        """Run ``fn(arg)`` when this instant settles, before its re-share (its capacity changes
        join it), or earlier when a reader needs capacities: :meth:`stats`, :meth:`flush`.
        Wi-Fi cells install their stations' shares there, once per instant."""
        self._hooks.append((fn, arg))
        if self._settle is None:
            self._settle = call_in(self.env, 0.0, SETTLE, self._settle_now)

    def _run_hooks(self) -> None:
        while self._hooks:
            hooks, self._hooks = self._hooks, []
            for fn, arg in hooks:
                fn(arg)

    def flush(self) -> None:
        """Settle the changes of the current instant now rather than at its end (no-op when
        none is pending).  :meth:`rate` does this by itself."""
        if self._settle is not None:
            self._settle.cancel()
            self._settle_now()

    def rate(self, flow: Flow) -> float:
        """The flow's current rate in bits/s (0 when paused or no longer transmitting)."""
        if self._settle is not None:
            self.flush()
        return flow.rate if flow.state == ACTIVE else 0.0

    def stop(self, flow: Flow) -> float:
        """Take an active flow off its channels now, unfinished, and return the bits it had
        not sent (0 for a flow whose last bit has left: it is delivered as usual). A stopped
        flow is never delivered and never fails; a sender resumes it with a new flow of the
        bits returned (breakpoint-resume)."""
        if flow.state != ACTIVE:
            return 0.0
        self.flush()
        if flow.state != ACTIVE:
            return 0.0
        seeds = list(flow._channels)
        self._detach(flow, self.env.now)
        flow.state = STOPPED
        self._changed(seeds)
        return flow.remaining

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
        """Bytes carried, busy time and current flows of a channel, integrated up to now
        (an unsettled ``load`` is the one that held up to now: no settling needed)."""
        ch = self._channel(name)
        if self._hooks:
            self._run_hooks()           # capacities as of now (rates settle at SETTLE)
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
        """Take an active flow off its channels (the caller re-shares from those channels)."""
        if f.rate > 0.0:
            left = f.remaining - f.rate * (now - f.last_update)
            f.remaining = left if left > 0.0 else 0.0
        f.last_update = now
        f.finished_at = now
        r = f.rate
        net = self._local
        for c in f._channels:
            self._accrue(c, now)        # at the load that included this flow
            del c.flows[f.id]
            if not c.flows:
                c.load = 0.0            # no re-share will reach it
            elif net:
                # kept net of removed flows: the incremental solve reads what others use (the
                # component modes re-sum every load they reach)
                if len(c.flows) <= RESUM:
                    load = 0.0
                    for g in c.flows.values():
                        load += g.rate
                    c.load = load
                else:
                    c.load -= r
        g = f._group
        if g is not None:
            f._group = None
            g.live -= 1
            if g.live == 0 and g.call is not None:   # a group left empty needs no call
                g.call.cancel()
                g.call = None
        if f._bneck is not None:
            f._bneck._nbk -= 1
            f._bneck = None
        f.rate = 0.0
        f.finish = math.inf
        self._active -= 1
        self._incid -= len(f._channels)
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
        """A group's earliest finish time has come: complete every member that is done.

        Rates may be unsettled (a change earlier in the instant): they still held up to now,
        which is all the projected finish times need."""
        g.call = None
        now = self.env.now
        due = g.due
        done: list[Flow] = []
        for f in g.flows:
            if f._group is not g:       # re-solved since: a newer group has it
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
            if f.on_sent is not None:
                f.on_sent(f)
        if g.live:
            # Re-armed after the re-share, which may re-solve (and so regroup) them all.
            self._orphans.append(g)
        self._changed(seeds)

    def _adopt(self) -> None:
        """Re-arm the fired groups that still have members (at their earliest finish)."""
        orphans, self._orphans = self._orphans, []
        for g in orphans:
            if g.live and g.call is None:
                g.flows = [f for f in g.flows if f._group is g]
                g.due = min(f.finish for f in g.flows)
                if g.due < math.inf:
                    g.call = call_at(self.env, g.due, COMPLETION, self._on_due, g)

    def _changed(self, seeds: Sequence[_Channel]) -> None:
        """Rates around ``seeds`` must be re-shared: at the end of the instant (coalescing
        modes) or now (the ``"eager"`` and ``"full"`` references).  Channels left without
        flows need nothing (``_detach`` already zeroed their load)."""
        self._changes += 1
        n = self._changes
        pos = 0
        live: list[_Channel] = []
        for c in seeds:
            if c.flows and c._touch != n:
                c._touch = n
                c._tpos = pos
                pos += 1
                live.append(c)
        if not live:
            if self._orphans and self._settle is None:
                self._adopt()
        elif not self._coalesce:
            self._resolve(live, self._take_fresh())
        else:
            for c in live:
                if not c._dirty:
                    c._dirty = True
                    self._dirty.append(c)
            if self._settle is None:
                self._settle = call_in(self.env, 0.0, SETTLE, self._settle_now)

    def _take_fresh(self) -> list[Flow]:
        if not self._fresh:
            return self._fresh
        fresh, self._fresh = self._fresh, []
        return [f for f in fresh if f.state == ACTIVE]

    def _settle_now(self, _arg: object = None) -> None:
        if self._hooks:
            self._run_hooks()           # _settle still set: their changes join this settling
        self._settle = None
        dirty, self._dirty = self._dirty, []
        for c in dirty:
            c._dirty = False
        self._resolve(dirty, self._take_fresh())

    def _resolve(self, seeds: list[_Channel], fresh: list[Flow]) -> None:
        """Re-share after changes at ``seeds``: locally when that stays small, else by
        components (the reference modes choose their own way); then re-arm fired groups."""
        if self._local:
            got = local(seeds, fresh, int(self._incid * BUDGET) + 64)
            if got is None:
                self.fallbacks += 1
                self._recompute(seeds)
            else:
                self._apply(got[0], got[2], False, got[1])
        else:
            self._recompute(self._channels.values() if self.mode == "full" else seeds)
        if self._orphans:
            self._adopt()

    def _recompute(self, seeds: Iterable[_Channel]) -> None:
        """Recompute the whole components reachable from ``seeds``, one group each."""
        flows, ends, chans = components(seeds)
        self._apply(flows, chans, True, ends)

    def _apply(self, flows: list[Flow], chans: list[_Channel], resum: bool,
               ends: list[int]) -> None:
        """Install re-solved rates lazily, group ``flows[previous end:end]`` for each of
        ``ends`` under one completion call, and bring the channels' loads up to date
        (re-summed, or adjusted by ``_delta``)."""
        env = self.env
        now = env.now
        k = 0
        for end in ends:
            due = math.inf
            members = flows[k:end] if k or end != len(flows) else flows
            k = end
            if not members:
                continue
            g = _Group(members, due)
            for f in members:
                b = f._newb
                if b is not f._bneck:
                    if f._bneck is not None:
                        f._bneck._nbk -= 1
                    if b is not None:
                        b._nbk += 1
                    f._bneck = b
                old = f._group             # leave the old group (as in _detach)
                if old is not None:
                    old.live -= 1
                    if old.live == 0 and old.call is not None:
                        old.call.cancel()
                        old.call = None
                f._group = g
                r = f._new
                if r != f.rate:
                    if f.rate > 0.0:
                        left = f.remaining - f.rate * (now - f.last_update)
                        f.remaining = left if left > 0.0 else 0.0
                    f.last_update = now
                    f.rate = r
                    if r > 0.0:
                        f.finish = now + f.remaining / r
                    else:
                        # Paused with only rounding left (a trace step ending on its last
                        # bit): it has been sent, not paused until the capacity returns.
                        f.finish = now if f.remaining <= RESIDUE * f.bits else math.inf
                if f.finish < due:
                    due = f.finish
            g.due = due
            if due < math.inf:      # all paused: nothing to schedule until a capacity returns
                g.call = call_at(env, due, COMPLETION, self._on_due, g)
        for c in chans:
            if not resum and c._delta == 0.0:
                continue
            # _accrue inlined (hot loop): integrate at the old load, then install the new one
            dt = now - c.t_last
            if dt > 0.0:
                if c.load > 0.0:
                    c.bytes += c.load * dt / 8.0
                    c.busy += dt
                c.t_last = now
            if resum or len(c.flows) <= RESUM:
                load = 0.0
                for f in c.flows.values():
                    load += f.rate
                c.load = load
            else:
                c.load += c._delta
        if flows:
            self.recomputations += 1
            self.flows_touched += len(flows)
            if self.on_recompute is not None:
                self.on_recompute(flows)


_flow_id = attrgetter("id")
