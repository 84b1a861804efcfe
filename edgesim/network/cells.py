"""Wi-Fi cells inside the flow network.

Each associated station gets one *airtime channel* that both its uplink and downlink flows cross
(one medium: a station's sending and receiving contend for the same air). The capacity of each
station's channel is its share of the cell given the stations *currently contending* (those with
at least one flow transmitting), from `wifi.cell_shares`: equal airtime, or Bianchi's DCF capacity
split throughput-fair (the 802.11 performance anomaly). Whenever a station starts or stops
contending, every active station's share is recomputed and installed in one batch, once per
simulated instant: the cell asks the flow network to call it when the instant settles
(:meth:`FlowNetwork.at_settle`, before the re-share), so a batch of results fanned out to many
stations, or a frame whose flows end together, costs one recomputation of the shares, not one
per station. Rates only change at settling, so they are those of re-sharing at every change;
a capacity read earlier in the instant (a link sample) runs the pending calls first.

That happens at nearly every flow start and end of a lightly loaded cell (a camera's frame goes
out, its station contends, the frame is sent, it stops), so the manager keeps it cheap: each
cell remembers the capacities it installed for each contending set (``Cell.memo``, cleared
when a trace rescales the cell), a cell that nobody contends for any more needs nothing (its
channels carry no flow), and the flow network hands it the (cell, station) of each airtime
channel (``_Channel.cell``) rather than a name to look up.
"""
from __future__ import annotations

from typing import Optional

from edgesim.network.flows import Flow, FlowNetwork, _check_rate
from edgesim.network.wifi import cell_shares


class Cell:
    def __init__(self, name: str, ap: str, stations: dict[str, float], standard: str,
                 mode: str, payload: float, latency: float = 0.0) -> None:
        self.name = name
        self.latency = latency
        self.ap = ap
        self.rates = stations                  # station node name -> PHY rate (bit/s)
        self.standard = standard
        self.mode = mode
        self.payload = payload
        self.channel = {s: f"wifi:{name}:{s}" for s in stations}
        self.active: dict[str, int] = {}       # station -> flows transmitting through it
        self.contending: set[str] = set()      # the stations whose count is > 0
        #: contending stations (sorted) -> (their airtime channels, the capacities to install)
        self.memo: dict[tuple[str, ...], tuple[list, list[float]]] = {}
        self.scale: Optional[float] = None     # aggregate capacity from a trace, if any
        self.pending = False                   # its re-share waits for the instant to settle
        self.up = True

    def shares(self) -> dict[str, float]:
        """Capacity of each station's airtime channel for the current contending set."""
        contending = sorted(s for s, n in self.active.items() if n > 0)
        if not contending or not self.up:
            return {}
        values = cell_shares([self.rates[s] for s in contending], self.mode, self.standard,
                             self.payload)
        if self.scale is not None:
            total = sum(values)
            values = [v * self.scale / total for v in values] if total > 0 else values
        return dict(zip(contending, values))

    def solo_capacity(self, station: str) -> float:
        """What a station gets alone: the channel's capacity while nobody else contends."""
        value = cell_shares([self.rates[station]], self.mode, self.standard, self.payload)[0]
        return self.scale if self.scale is not None else value


class CellManager:
    """Keeps every cell's station channels at their shares as flows start and end."""

    #: Contending sets a cell remembers before it forgets them all (a large, busy cell).
    MEMO = 4096

    def __init__(self, env, flows: FlowNetwork, cells: list[Cell]) -> None:
        self.env = env
        self.flows = flows
        self.cells = cells
        self.by_channel: dict[str, tuple[Cell, str]] = {}
        for cell in cells:
            for station, ch in cell.channel.items():
                self.by_channel[ch] = (cell, station)
        flows.on_detach = self._detached

    def add_channels(self) -> None:
        for cell in self.cells:
            for station, ch in cell.channel.items():
                self.flows.add_channel(ch, cell.solo_capacity(station), cell.latency)
                self.flows._channels[ch].cell = (cell, station)

    def hits(self, route) -> tuple[tuple[Cell, str], ...]:
        """The (cell, station) of each airtime channel on ``route`` (channel names), in order."""
        by = self.by_channel
        return tuple(by[ch] for ch in route if ch in by)

    def starting(self, route: list[str]) -> None:
        """Before a flow starts on ``route``: count its stations in and re-share their cells."""
        self.start(self.hits(route))

    def start(self, hits: tuple[tuple[Cell, str], ...]) -> None:
        """:meth:`starting` for the route's :meth:`hits`."""
        for cell, station in hits:
            n = cell.active.get(station, 0) + 1
            cell.active[station] = n
            if n == 1:
                cell.contending.add(station)
                if not cell.pending:
                    cell.pending = True
                    self.flows.at_settle(self._reshare, cell)

    def _detached(self, flow: Flow) -> None:
        # Called from inside the flow network's bookkeeping: the re-share waits for the
        # instant to settle, so the network is never re-entered.
        for ch in flow._channels:
            hit = ch.cell
            if hit is not None:
                cell, station = hit
                n = cell.active[station] - 1
                cell.active[station] = n
                if n == 0:
                    cell.contending.discard(station)
                    # nobody left contending: no channel of the cell carries a flow, so no
                    # capacity needs changing (an idle channel keeps its last one)
                    if cell.contending and not cell.pending:
                        cell.pending = True
                        self.flows.at_settle(self._reshare, cell)

    def _reshare(self, cell: Cell) -> None:
        cell.pending = False
        self.apply(cell)

    def apply(self, cell: Cell) -> None:
        """Install the shares of the cell's contending stations (nothing when none contends:
        idle channels keep their last capacity)."""
        if not cell.contending or not cell.up:
            return
        key = tuple(sorted(cell.contending))
        hit = cell.memo.get(key)
        if hit is None:
            shares = cell.shares()
            chans = self.flows._channels
            hit = ([chans[cell.channel[s]] for s in shares],
                   [_check_rate(f"capacity of channel {cell.channel[s]!r}", v, allow_zero=True)
                    for s, v in shares.items()])
            if len(cell.memo) >= self.MEMO:
                cell.memo.clear()
            cell.memo[key] = hit
        self.flows._set_capacities(*hit)

    def set_scale(self, cell: Cell, capacity_bps: float) -> None:
        cell.scale = capacity_bps
        cell.memo.clear()
        self.flows.set_capacities({cell.channel[s]: v for s, v in cell.shares().items()} or
                                  {ch: capacity_bps for ch in cell.channel.values()})
