"""The monitor view: what policies know about the nodes, as of the last report."""
from __future__ import annotations

from typing import Sequence


class MonitorView:
    """Per-node queue length, busy executors and liveness, indexed by node index, and which
    links and cells are up.

    Refreshed by the simulation every report interval (only when the policy asks for it);
    ``version`` counts refreshes and ``time`` is when the current snapshot was taken.
    """

    def __init__(self, nodes: Sequence, links: Sequence[str] = ()) -> None:
        self._nodes = nodes
        #: Links and Wi-Fi cells by scenario name; outages flip them at once (a failure is
        #: noticed by the next report in a real system, but a down link is also observable
        #: by its senders immediately).
        self.links_up = {name: True for name in links}
        self.queue = [0] * len(nodes)
        self.busy = [0] * len(nodes)
        self.up = [True] * len(nodes)
        self.executors = [n.executors for n in nodes]
        self.time = 0.0
        self.version = 0

    def refresh(self, now: float) -> None:
        for i, n in enumerate(self._nodes):
            self.queue[i] = n.waiting
            self.busy[i] = n.busy
            self.up[i] = n.up
        self.time = now
        self.version += 1
