"""Message loss on links and Wi-Fi cells: each message crossing the target is lost with a
fixed probability, drawn independently per message and per crossing.

A lost message has used its share of the channels (its bits were sent) and is then dropped at
delivery, as a message that exhausted its retransmissions would be: the transfer fails and so
does its request (outcome ``failed``), like a flow on a link that fails in an outage. A route
that crosses the same cell twice (station -> AP -> station) draws twice, once per transmission.
"""
from __future__ import annotations

from typing import Optional


class Loss:
    """One `failures:` entry of kind 'loss'."""

    def __init__(self, sim, index: int, spec, channels: list[str]) -> None:
        self.spec = spec
        self.channels = frozenset(channels)
        self.probability = spec.probability
        self.stream = sim.streams(f"failure:{index}:{spec.target}")
        self.crossings = 0
        self.lost = 0

    def drops(self, route) -> bool:
        """Whether a message that crossed ``route`` is lost here (draws once per crossing)."""
        lost = False
        for ch in route:
            if ch in self.channels:
                self.crossings += 1
                if self.stream.uniform() < self.probability:
                    lost = True
        if lost:
            self.lost += 1
        return lost

    def summary(self, now: float) -> dict:
        return {"kind": "loss", "target": self.spec.target, "crossings": self.crossings,
                "lost_messages": self.lost}


def build_loss(sim, index: int, spec, path: str) -> Optional[Loss]:
    channels = sim.link_channels.get(spec.target)
    if channels is None:
        sim.problem(f"{path}.target", "not a link or cell of this scenario", spec.target,
                    sorted(sim.link_channels))
        return None
    return Loss(sim, index, spec, channels)


def install(network, losses: list[Loss]) -> None:
    """Make the network consult every loss entry when a message is delivered."""
    if not losses:
        return

    def lose(flow) -> bool:
        route = flow.route
        dropped = False
        for loss in losses:          # every entry draws, so each one's stream stays aligned
            if loss.drops(route):
                dropped = True
        return dropped

    network.lose = lose
