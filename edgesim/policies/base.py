"""What a policy is: a named, typed-config object that chooses where each stage runs.

Policies decide; they never move bytes or advance time themselves. They see the system through
a `MonitorView` that is refreshed every ``policy.report_interval`` (50 ms by default), so their
information is as stale as in a real deployment. Plain functions suffice for stateless rules;
periodic controllers (Distream's every gamma seconds) are started from ``start()``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Sequence

from pydantic import ConfigDict

from edgesim.scenario.strict import SaneNumbers

if TYPE_CHECKING:  # pragma: no cover
    from edgesim.engine.monitor import MonitorView
    from edgesim.engine.request import Request
    from edgesim.hardware.node import Node


class PolicyConfig(SaneNumbers):
    """Base of every policy's params model: unknown keys are errors, like everywhere else."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Policy:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type[PolicyConfig]] = PolicyConfig
    #: Whether the simulation must refresh the monitor view for this policy.
    uses_monitor: ClassVar[bool] = False

    def __init__(self, config: PolicyConfig, ctx: "PolicyContext") -> None:
        self.config = config
        self.ctx = ctx

    def place(self, req: "Request", stage: int, candidates: Sequence["Node"]) -> "Node":
        """The node among ``candidates`` (never empty) where stage ``stage`` of ``req`` runs."""
        raise NotImplementedError

    def start(self) -> None:
        """Called once at t = 0, after every component is built; start controllers here."""


class PolicyContext:
    """What a policy may use: the nodes, its own random stream, the monitor view, the clock."""

    def __init__(self, env, nodes: Sequence["Node"], stream, view: "MonitorView",
                 scenario, sources: Sequence = (), network=None, streams=None,
                 move_queued=None) -> None:
        self.env = env
        self.nodes = nodes
        #: The workload's sources by index (``req.src``); ``.member`` is a source's index
        #: within its group (camera i of a group-wide source), ``.origin`` its node index.
        self.sources = sources
        #: The Network (None without links): policies send their own control messages with
        #: ``network.send_batch(src, dst, [(nbytes, deliver, arg), ...])`` (batched RPCs).
        self.network = network
        #: Named random streams, for a policy that needs more than one (``streams("x")``).
        self.streams = streams
        #: Move waiting requests between nodes (``move_queued(src, dst, k, accept=None)``,
        #: `Simulation.move_queued`): for balancers that migrate pending work; None outside a
        #: simulation.
        self.move_queued = move_queued
        self.stream = stream
        self.view = view
        self.scenario = scenario


class LeastLoadedPicker:
    """Picks the candidate with the fewest (queued + in service) requests per executor in the
    monitor view, counting what it sent itself since the last report so a burst does not all go
    to the node that looked idlest; ties go to the first candidate."""

    def __init__(self, view: "MonitorView", count_own: bool = True) -> None:
        self.view = view
        self.count_own = count_own
        self._sent: dict[int, int] = {}
        self._version = -1

    def pick(self, candidates: Sequence["Node"]) -> "Node":
        view = self.view
        if view.version != self._version:
            self._version = view.version
            self._sent.clear()
        best, best_load = candidates[0], float("inf")
        for node in candidates:
            i = node.index
            load = view.queue[i] + view.busy[i]
            if self.count_own:
                load += self._sent.get(i, 0)
            load /= node.executors
            if view.up[i] and load < best_load:
                best, best_load = node, load
        self._sent[best.index] = self._sent.get(best.index, 0) + 1
        return best
