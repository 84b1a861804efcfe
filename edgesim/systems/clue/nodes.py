"""The edge nodes of a CLUE scenario: device, compute-time models, drift schedule, the request
stream they draw, and the learning state they carry (model, helper pool, reservoir, detector).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgesim.engine.rng import generator
from edgesim.learning.knowledge import RollingError
from edgesim.training.devices import Device


@dataclass(eq=False)          # pool membership is identity, not equal weights
class HelperModel:
    """A frozen boosted helper model in a target's pool."""

    weights: np.ndarray
    classes: list[int]
    drift: int                      # index of the drift it answers
    helper: str                     # the node it came from
    created: int                    # the target's batch count when it joined the pool
    hits: deque = field(default_factory=deque)   # its accuracy on its classes, last L batches


class ClassStreams:
    """The examples of each class a node draws its requests from: every class's training
    examples in a node-specific order, cycled, so an example comes back only after all the
    others of its class have been seen (a stream, not a bag)."""

    def __init__(self, pools: dict[int, np.ndarray], gen: np.random.Generator) -> None:
        self.pools = {c: gen.permutation(p) for c, p in sorted(pools.items())}
        self.next = {c: 0 for c in self.pools}

    def take(self, c: int, count: int) -> np.ndarray:
        pool, out = self.pools[c], []
        while count > 0:
            i = self.next[c]
            n = min(count, len(pool) - i)
            out.append(pool[i:i + n])
            self.next[c] = (i + n) % len(pool)
            count -= n
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


class EdgeNode:
    """One edge node serving a drifting request stream."""

    def __init__(self, index: int, device: Device, group: int, spec, classes: int) -> None:
        self.index, self.device, self.group, self.spec = index, device, group, spec
        self.name = device.name
        self.classes = classes
        self.infer = self.step = None
        self.phases = spec.phases
        self.streams: Optional[ClassStreams] = None
        self.mix_gen: Optional[np.random.Generator] = None
        self.mix: dict[int, np.ndarray] = {}      # id(phase) -> class probabilities
        self.adam = None                        # optimizer adam: the node's AdamState
        self.weights: Optional[np.ndarray] = None
        self.pool: list[HelperModel] = []
        self.reservoir: deque = deque()
        self.sensitivity_map: Optional[np.ndarray] = None      # continuous: classes x params
        self.detector: Optional[RollingError] = None
        self.recent: deque = deque()            # example positions of the last W batches
        self.history: deque = deque()           # labels of the last prior_window batches
        self.errors: list[float] = []          # operator error of every batch
        self.own_errors: list[float] = []      # the target model alone
        self.pending: Optional[np.ndarray] = None   # federated: a global model that arrived
        self.helping = False                   # a help call is in flight
        self.batch = 0                         # batches served

    def set_mix(self, new_weight: float) -> None:
        """Each phase's class probabilities: its `weights`, else 1 for a class the previous
        phase served and `new_weight` for one it did not (the first phase: all 1)."""
        self.mix, before = {}, None
        for p in self.phases:
            if p.weights is not None:
                w = np.asarray(p.weights, dtype=float)
            else:
                w = np.asarray([1.0 if before is None or c in before.classes else new_weight
                                for c in p.classes])
            self.mix[id(p)] = w / w.sum()
            before = p

    def phase_at(self, b: int):
        current = self.phases[0]
        for p in self.phases:
            if p.start <= b:
                current = p
        return current

    def draw(self, b: int, size: int) -> np.ndarray:
        """The example positions of request batch ``b``: class counts drawn from the phase's
        mix, examples from each class's stream."""
        p = self.phase_at(b)
        counts = self.mix_gen.multinomial(size, self.mix[id(p)])
        parts = [self.streams.take(c, int(k)) for c, k in zip(p.classes, counts) if k]
        batch = np.concatenate(parts)
        return batch[self.mix_gen.permutation(len(batch))]


def build_nodes(sim, spec, base: str, classes: int, pools: dict[int, np.ndarray],
                reserved: dict[int, str]) -> list[EdgeNode]:
    """Every edge node of every group, with its compute models and request stream; problems
    located at their key paths."""
    from edgesim.training.build import member_devices, service_models
    out: list[EdgeNode] = []
    seen: dict[str, str] = {}
    for g, group in enumerate(spec.nodes):
        path = f"{base}.nodes.{g}"
        for k, p in enumerate(group.phases):
            bad = [c for c in p.classes if c >= classes]
            if bad:
                sim.problem(f"{path}.phases.{k}.classes", f"labels {bad} are not classes of "
                            f"the data set (0..{classes - 1})", p.classes)
        devs = member_devices(sim, group.nodes, path, seen, "edge nodes", reserved)
        infer = service_models(sim, "clue-infer", group.infer, devs, f"{path}.infer",
                               spec.workload.batch)
        step = service_models(sim, "clue-step", group.step, devs, f"{path}.step",
                              spec.local.batch)
        for d in devs:
            node = EdgeNode(len(out), d, g, group, classes)
            node.infer = (infer or {}).get(d.node.device)
            node.step = (step or {}).get(d.node.device)
            node.streams = ClassStreams(pools, generator(sim.seed, f"clue:{d.name}:examples"))
            node.mix_gen = generator(sim.seed, f"clue:{d.name}:mix")
            node.set_mix(spec.workload.new_weight)
            node.recent = deque(maxlen=spec.drift.window)
            node.history = deque(maxlen=spec.help.prior_window)
            node.reservoir = deque(maxlen=spec.help.reservoir)
            holdoff = spec.drift.holdoff if spec.drift.holdoff is not None else spec.drift.window
            node.detector = RollingError(spec.drift.window, spec.drift.threshold, holdoff)
            out.append(node)
    if len(out) < 2 and spec.mode != "isolated":
        sim.problem(f"{base}.nodes", f"mode {spec.mode!r} needs at least 2 edge nodes, got "
                    f"{len(out)}", len(out))
    return out
