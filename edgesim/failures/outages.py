"""Outages of links and Wi-Fi cells: down and up by schedule, by MTBF/MTTR, or by a trace.

While a target is down its channels carry nothing: flows on them either pause and resume when it
comes back, or fail (their requests end as 'failed'), per the failure's mode. The monitor view
shows the target as down, so policies can route around it.
"""
from __future__ import annotations

from edgesim.failures.timing import Episodes, fixed_windows


class Outage:
    def __init__(self, sim, index: int, spec, channels: list[str], mode: str,
                 windows: list) -> None:
        self.sim = sim
        self.spec = spec
        self.target = spec.target
        self.channels = channels
        self.mode = mode
        self.episodes = Episodes(sim, spec, windows, f"failure:{index}:{spec.target}",
                                 self._down, self._up)

    def start(self) -> None:
        self.episodes.start()

    def _down(self) -> None:
        flows = self.sim.network.flows
        for ch in self.channels:
            flows.channel_down(ch, self.mode)
        self.sim.view.links_up[self.target] = False

    def _up(self) -> None:
        flows = self.sim.network.flows
        for ch in self.channels:
            flows.channel_up(ch)
        self.sim.view.links_up[self.target] = True

    def summary(self, now: float) -> dict:
        return {"downs": self.episodes.count, "downtime_s": self.episodes.total(now)}


def build_outage(sim, index: int, spec, path: str):
    """The Outage of one `failures:` entry of kind 'outage', or None after a problem."""
    channels = sim.link_channels.get(spec.target)
    if channels is None:
        sim.problem(f"{path}.target", "not a link or cell of this scenario", spec.target,
                    sorted(sim.link_channels))
        return None
    windows = fixed_windows(sim, spec, path)
    if windows is None:
        return None
    return Outage(sim, index, spec, channels, spec.mode or sim.spec.network.on_outage, windows)
