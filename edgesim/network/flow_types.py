"""The records of the flow-level network (split out of :mod:`edgesim.network.flows`, which
re-exports them): a flow, a channel with its incremental bookkeeping, a group of flows due
together, a channel's counters, and the rate check every entry point shares."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from edgesim.engine.clock import Call

__all__ = ["ACTIVE", "PROPAGATING", "DONE", "FAILED", "STOPPED", "Flow", "ChannelStats", "_Channel",
           "_Group", "_check_rate"]

# Flow states.
ACTIVE = "active"            # on its channels (transmitting, or paused at rate 0)
PROPAGATING = "propagating"  # last bit sent, waiting out the route's propagation latency
DONE = "done"                # on_done has been called
FAILED = "failed"            # removed by channel_down(mode="fail")
STOPPED = "stopped"          # taken off its channels by FlowNetwork.stop before its last bit


class Flow:
    """One transfer.  Read its attributes; only :class:`FlowNetwork` changes them.

    ``remaining`` (bits) is exact as of ``last_update``; use :meth:`FlowNetwork.remaining_bits`
    for the value now.  ``finish`` is the projected time of the last bit (``inf`` when paused).
    ``rate`` and ``finish`` are as of the last settling (:meth:`FlowNetwork.rate` settles now).
    """

    __slots__ = ("id", "route", "size", "bits", "remaining", "rate", "cap", "start", "last_update",
                 "finish", "finished_at", "latency", "tag", "on_done", "on_fail", "on_sent",
                 "state", "_channels", "_group", "_bneck", "_mark", "_new", "_newb")

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
        self.on_sent: Callable[[Flow], None] | None = None   # when the last bit leaves
        self.state = ACTIVE
        self._channels = channels
        self._group: _Group | None = None
        self._bneck: _Channel | None = None   # where max-min froze it (None: its cap, or new)
        self._mark = 0
        self._new = 0.0
        self._newb: _Channel | None = None

    def __repr__(self) -> str:
        return (f"Flow(id={self.id}, route={list(self.route)}, size={self.size}, "
                f"state={self.state}, rate={self.rate})")


class _Channel:
    """A directed channel; ``flows`` is keyed by flow id in start order (deterministic)."""

    __slots__ = ("name", "index", "capacity", "latency", "saved", "down", "flows", "load",
                 "t_last", "bytes", "busy", "_mark", "_rem", "_cnt", "_sf", "_sold", "_delta",
                 "_frz", "_tk", "_nbk", "_dirty", "_touch", "_tpos", "cell")

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
        # _mark, _rem .. _tk: scratch of edgesim.network.maxmin
        self._mark = self._cnt = self._frz = self._tk = 0
        self._rem = self._sold = self._delta = 0.0
        self._sf: Iterable[Flow] = ()
        self._nbk = 0                     # flows whose _bneck is this channel
        self._dirty = False               # changed this instant, not yet settled
        self._touch = 0                   # number of the last change that touched it
        self._tpos = 0                    # its position among that change's seeds
        self.cell: object = None          # (Cell, station) of a Wi-Fi airtime channel


class _Group:
    """Flows solved together and their one completion call; ``live``: members still in it."""

    __slots__ = ("flows", "due", "call", "live")

    def __init__(self, flows: list[Flow], due: float) -> None:
        self.flows = flows
        self.due = due
        self.call: Call | None = None
        self.live = len(flows)


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
