"""Wi-Fi cells inside the flow network.

Each associated station gets one *airtime channel* that both its uplink and downlink flows cross
(one medium: a station's sending and receiving contend for the same air). The capacity of each
station's channel is its share of the cell given the stations *currently contending* (those with
at least one flow transmitting), from `wifi.cell_shares`: equal airtime, or Bianchi's DCF capacity
split throughput-fair (the 802.11 performance anomaly). Whenever a station starts or stops
contending, every active station's share is recomputed and installed in one batch.
"""
from __future__ import annotations

from typing import Optional

from ..engine.clock import COMPLETION, call_in
from .flows import Flow, FlowNetwork
from .wifi import cell_shares


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
        self.scale: Optional[float] = None     # aggregate capacity from a trace, if any
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

    def __init__(self, env, flows: FlowNetwork, cells: list[Cell]) -> None:
        self.env = env
        self.flows = flows
        self.cells = cells
        self.by_channel: dict[str, tuple[Cell, str]] = {}
        for cell in cells:
            for station, ch in cell.channel.items():
                self.by_channel[ch] = (cell, station)
        self._pending: set = set()
        flows.on_detach = self._detached

    def add_channels(self) -> None:
        for cell in self.cells:
            for station, ch in cell.channel.items():
                self.flows.add_channel(ch, cell.solo_capacity(station), cell.latency)

    def starting(self, route: list[str]) -> None:
        """Before a flow starts on ``route``: count its stations in and re-share their cells."""
        changed = []
        for ch in route:
            hit = self.by_channel.get(ch)
            if hit is not None:
                cell, station = hit
                cell.active[station] = cell.active.get(station, 0) + 1
                if cell.active[station] == 1:
                    changed.append(cell)
        for cell in changed:
            self.apply(cell)

    def _detached(self, flow: Flow) -> None:
        # Called from inside the flow network's bookkeeping: defer the re-share to a zero-delay
        # completion so the network is never re-entered (no simulated time passes meanwhile).
        for ch in flow.route:
            hit = self.by_channel.get(ch)
            if hit is not None:
                cell, station = hit
                cell.active[station] -= 1
                if cell.active[station] == 0 and cell.name not in self._pending:
                    self._pending.add(cell.name)
                    call_in(self.env, 0.0, COMPLETION, self._reshare, cell)

    def _reshare(self, cell: Cell) -> None:
        self._pending.discard(cell.name)
        self.apply(cell)

    def apply(self, cell: Cell) -> None:
        shares = cell.shares()
        if shares:
            self.flows.set_capacities({cell.channel[s]: v for s, v in shares.items()})

    def set_scale(self, cell: Cell, capacity_bps: float) -> None:
        cell.scale = capacity_bps
        self.flows.set_capacities({cell.channel[s]: v for s, v in cell.shares().items()} or
                                  {ch: capacity_bps for ch in cell.channel.values()})
