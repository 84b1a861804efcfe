"""Failures of nodes: crashes, slow-downs (stragglers), preemption by the device's own work
(cycle stealing), and independent per-request faults.

What each does to the requests on the node (docs/guides/failures.md has the same list):

* **crash**: the node is down for the episode, and so are its sensors: the sources whose
  origin it is make no arrivals while it is down (``sensor: attached``, the default; with
  ``sensor: separate`` a camera's sensor keeps producing and its requests fail on arrival or
  are placed elsewhere). Everything on it is lost at the crash: the
  batches in service, the requests waiting in its queues, and the batches a preemption had
  interrupted; each of those requests ends with outcome ``failed``. A request that reaches the
  node while it is down fails on arrival (the connection is refused). The monitor view shows the
  node down at once (``view.up``), as it shows a link down during an outage. At repair the node
  comes back empty and idle.
* **slowdown**: while the episode lasts, service times are multiplied by ``factor``, including
  the rest of every batch already in service (its remaining time is stretched at the start of
  the episode and shrunk back at its end). Overlapping slow-downs multiply.
* **preemption**: a job of the device's own, of higher priority than inference, takes one
  executor for the episode. If no executor is free it interrupts the batch that started last;
  with ``mode: pause`` (the default) that batch resumes where it stopped when the episode ends
  (the paused time counts as neither wait nor service), with ``mode: fail`` its requests fail.
  No new batch starts on an executor the device holds.
* **fault**: every request that reaches the node fails there with ``probability``, drawn
  independently per request (the worker was busy, crashed for it, or missed it); it spends no
  service time. This is the per-query failure probability p of the VP paper's availability
  argument.

All of a node's failures share one `NodeState`, installed on the node through its three hooks
(``admit``, ``serving``, ``slow``/``held``), so they compose: a crash during a preemption loses
the interrupted batch too.
"""
from __future__ import annotations

from typing import Optional

from edgesim.engine.clock import COMPLETION, call_in
from edgesim.engine.request import FAILED
from edgesim.failures.timing import Episodes, fixed_windows


class NodeState:
    """Failure state of one node, shared by every failure entry that targets it."""

    def __init__(self, sim, node) -> None:
        self.sim = sim
        self.node = node
        self.down = 0                  # crash episodes in progress
        self.factors: list[float] = []  # active slow-down factors
        self.suspended: dict = {}      # preemption token -> (item, work left at speed 1)
        self.faults: list = []         # NodeFault entries
        self.lost = 0                  # requests lost to crashes (in service, queued, arriving)
        self.sensors: list = []        # sources silenced while the node is down
        node.serving = {}
        node.admit = self.admit

    # ---------------------------------------------------------------- arrivals
    def admit(self, req) -> bool:
        """Whether a request that reaches the node joins its queue; False: it failed here."""
        if self.down:
            self.lost += 1
            self.sim.finish(req, FAILED)
            return False
        for fault in self.faults:
            fault.seen += 1
            if fault.stream.uniform() < fault.probability:
                fault.count += 1
                self.sim.finish(req, FAILED)
                return False
        return True

    # ---------------------------------------------------------------- crash
    def crash(self) -> None:
        self.down += 1
        if self.down > 1:
            return
        node, now = self.node, self.sim.env.now
        node.accumulate(now)
        node.up = False
        self.sim.view.up[node.index] = False
        lost = []
        for ev, item, _end in node.serving.values():
            ev.cancel()
            lost.extend(item[0])
        node.serving.clear()
        node.busy = 0
        for item, _work in self.suspended.values():
            lost.extend(item[0])
        self.suspended.clear()
        for q in node.queues.values():
            while q:
                lost.append(node._pop(q))
        node.waiting = 0
        if node._timer is not None:
            node._timer.cancel()
            node._timer, node._timer_at = None, float("inf")
        self.lost += len(lost)
        for req in lost:
            self.sim.finish(req, FAILED)

    def repair(self) -> None:
        self.down -= 1
        if self.down:
            return
        node = self.node
        node.up = True
        self.sim.view.up[node.index] = True
        node.accumulate(self.sim.env.now)

    # ---------------------------------------------------------------- slow-down
    def slow(self, factor: Optional[float], remove: Optional[float] = None) -> None:
        """Add a slow-down factor (or remove one) and stretch what is in service accordingly."""
        if factor is not None:
            self.factors.append(factor)
        if remove is not None:
            self.factors.remove(remove)
        node = self.node
        old = node.slow
        new = 1.0
        for f in self.factors:
            new *= f
        node.slow = new
        now = self.sim.env.now
        for key, (ev, item, end) in list(node.serving.items()):
            left = end - now
            stretched = left * new / old
            ev.cancel()
            batch, svc = item
            item = (batch, svc + stretched - left)
            node.serving[key] = (call_in(self.sim.env, stretched, COMPLETION, node._finish, item),
                                 item, now + stretched)

    # ---------------------------------------------------------------- preemption
    def preempt(self, member: "_Member", token: object, mode: str) -> None:
        node, now = self.node, self.sim.env.now
        node.accumulate(now)
        node.held += 1
        if node.busy + node.held <= node.executors or not node.serving:
            return
        key = next(reversed(node.serving))         # the batch that started last
        ev, item, end = node.serving.pop(key)
        ev.cancel()
        node.busy -= 1
        member.interrupted += 1
        if mode == "pause":
            self.suspended[token] = (item, (end - now) / node.slow)
            return
        for req in item[0]:
            self.sim.finish(req, FAILED)

    def release(self, token: object) -> None:
        node, now = self.node, self.sim.env.now
        node.accumulate(now)
        node.held -= 1
        held = self.suspended.pop(token, None)     # gone if a crash lost it meanwhile
        if held is not None and node.up:
            item, work = held
            left = work * node.slow
            node.busy += 1
            node.serving[id(item[0])] = (call_in(self.sim.env, left, COMPLETION, node._finish,
                                                 item), item, now + left)
        if node.up and node.waiting:
            node._try_start(now)


class NodeFault:
    """A per-request fault probability on one node."""

    def __init__(self, probability: float, stream) -> None:
        self.probability = probability
        self.stream = stream
        self.seen = 0
        self.count = 0


class _Member:
    """One member node's episodes of an episodic failure entry."""

    def __init__(self, failure: "NodeFailure", state: NodeState, windows: list,
                 stream_name: str) -> None:
        self.failure = failure
        self.state = state
        self.interrupted = 0
        self.tokens: list = []         # one per preemption episode in progress (they may nest)
        self.episodes = Episodes(failure.sim, failure.spec, windows, stream_name, self._on,
                                 self._off)

    def _on(self) -> None:
        kind, spec = self.failure.spec.kind, self.failure.spec
        if kind == "crash":
            self.state.crash()
        elif kind == "slowdown":
            self.state.slow(spec.factor)
        else:
            token = object()
            self.tokens.append(token)
            self.state.preempt(self, token, spec.mode or "pause")

    def _off(self) -> None:
        kind, spec = self.failure.spec.kind, self.failure.spec
        if kind == "crash":
            self.state.repair()
        elif kind == "slowdown":
            self.state.slow(None, remove=spec.factor)
        else:
            self.state.release(self.tokens.pop())


class NodeFailure:
    """One `failures:` entry on a node or group: each member fails independently."""

    def __init__(self, sim, index: int, spec, nodes: list, windows: list,
                 states: dict[int, NodeState]) -> None:
        self.sim = sim
        self.spec = spec
        self.members: dict[str, object] = {}
        for node in nodes:
            state = states.get(node.index)
            if state is None:
                state = states[node.index] = NodeState(sim, node)
            stream = f"failure:{index}:{node.name}"
            if spec.kind == "fault":
                fault = NodeFault(spec.probability, sim.streams(stream))
                state.faults.append(fault)
                self.members[node.name] = fault
            else:
                self.members[node.name] = _Member(self, state, windows, stream)

    def start(self) -> None:
        for m in self.members.values():
            if isinstance(m, _Member):
                m.episodes.start()

    def summary(self, now: float) -> dict:
        out: dict = {"kind": self.spec.kind, "target": self.spec.target, "nodes": {}}
        for name, m in self.members.items():
            if isinstance(m, NodeFault):
                out["nodes"][name] = {"requests": m.seen, "faults": m.count,
                                      "fault_rate": m.count / m.seen if m.seen else None}
                continue
            row = {"episodes": m.episodes.count, "time_s": m.episodes.total(now),
                   "share": m.episodes.total(now) / now if now > 0 else None}
            if self.spec.kind == "preemption":
                row["interrupted_batches"] = m.interrupted
            if self.spec.kind == "crash":
                row["lost_requests"] = m.state.lost    # by every crash entry on this node
                # arrivals its own sensors did not make while it was down (all its entries)
                row["arrivals_suppressed"] = sum(src.suppressed for src in m.state.sensors)
            out["nodes"][name] = row
        return out


def build_node_failure(sim, index: int, spec, path: str,
                       states: dict[int, NodeState]) -> Optional[NodeFailure]:
    """The NodeFailure of one `failures:` entry on a node or group, or None after a problem.
    ``states`` holds the NodeState of every node some failure targets (shared by entries)."""
    from edgesim.engine.build import expand
    nodes = expand(sim, spec.target, f"{path}.target")
    if not nodes:
        return None
    windows = fixed_windows(sim, spec, path) if spec.kind != "fault" else []
    if windows is None:
        return None
    failure = NodeFailure(sim, index, spec, nodes, windows, states)
    if spec.kind == "crash" and spec.sensor != "separate":
        for node in nodes:
            state = states[node.index]
            for src in sim.sources:
                if src.origin == node.index and src not in state.sensors:
                    src.silence_while_down(node)
                    state.sensors.append(src)
    return failure
