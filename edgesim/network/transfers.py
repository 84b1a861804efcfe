"""The bridge between requests and the flow network: moving a request's bytes between nodes."""
from __future__ import annotations

from typing import Callable

from .flows import Flow, FlowNetwork
from .topology import Topology


class Network:
    """Routes between node indices, cached, and transfers that call back on delivery."""

    def __init__(self, env, topology: Topology, node_names: list[str]) -> None:
        self.topology = topology
        self.flows = FlowNetwork(env)
        topology.build(self.flows)
        self.names = node_names
        self._routes: dict[tuple[int, int], list[str]] = {}
        self.transfers = 0
        self.bytes = 0.0

    def route(self, src: int, dst: int) -> list[str]:
        key = (src, dst)
        r = self._routes.get(key)
        if r is None:
            r = self._routes[key] = self.topology.route(self.names[src], self.names[dst])
        return r

    def transfer(self, src: int, dst: int, nbytes: float, deliver: Callable, arg) -> None:
        """Move ``nbytes`` from node ``src`` to node ``dst``, then call ``deliver(arg)``."""
        self.transfers += 1
        self.bytes += nbytes
        self.flows.start_flow(self.route(src, dst), nbytes, self._delivered, tag=(deliver, arg))

    @staticmethod
    def _delivered(flow: Flow) -> None:
        deliver, arg = flow.tag
        deliver(arg)
