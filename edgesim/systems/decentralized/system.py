"""Build phase of a `training.decentralized` scenario: the training nodes and their step-time
models, the collaboration graph, the task allocation, the data of each node and the branched
model; every problem located at its key path before t = 0."""
from __future__ import annotations

from typing import Optional

import networkx as nx
import numpy as np

from edgesim.engine.rng import generator
from edgesim.learning import consensus as C
from edgesim.learning import data as D
from edgesim.training.build import member_devices, service_models
from edgesim.training.devices import Device, ScheduleLog, Transfers
from edgesim.training.learning_build import load_dataset, make_learner, split, torch_available
from edgesim.training.protocol import TrainingSystem

BASE = "training.decentralized"


class Worker:
    """One training node: its device, step model, tasks, examples and current weights."""

    def __init__(self, k: int, device: Device, group: int) -> None:
        self.k = k
        self.device = device
        self.name = device.name
        self.group = group
        self.lane = k
        self.step = None
        self.tasks: list[int] = []
        self.data = np.zeros(0, dtype=np.int64)
        self.test = np.zeros(0, dtype=np.int64)
        self.weights: Optional[np.ndarray] = None
        self.ratio = 1.0
        self.stream = None


def _workers(sim, spec) -> list[Worker]:
    out: list[Worker] = []
    seen: dict[str, str] = {}
    for g, group in enumerate(spec.workers):
        path = f"{BASE}.workers.{g}"
        devs = member_devices(sim, group.nodes, path, seen, "training nodes")
        steps = service_models(sim, "decentral-step", group.step, devs, f"{path}.step",
                               spec.learning.local.batch) or {}
        for d in devs:
            w = Worker(len(out), d, g)
            w.step = steps.get(d.node.device)
            out.append(w)
    return out


def topology(sim, spec, names: list[str]) -> nx.Graph:
    """The collaboration graph over worker positions 0..n-1 (problems recorded)."""
    g = nx.Graph()
    g.add_nodes_from(range(len(names)))
    n, top = len(names), spec.topology
    if top == "ring":
        g.add_edges_from((k, (k + 1) % n) for k in range(n) if n > 1 and k != (k + 1) % n)
    elif top == "mesh":
        g.add_edges_from((a, b) for a in range(n) for b in range(a + 1, n))
    else:
        index = {nm: k for k, nm in enumerate(names)}
        for i, (a, b) in enumerate(top.edges):
            path = f"{BASE}.topology.edges.{i}"
            for end in (a, b):
                if end not in index:
                    sim.problem(path, "not a training node", end, names)
            if a == b:
                sim.problem(path, "a node cannot be its own neighbour", [a, b])
            elif a in index and b in index:
                g.add_edge(index[a], index[b])
    if n and not nx.is_connected(g):
        parts = sorted(sorted(c) for c in nx.connected_components(g))
        words = "; ".join("{" + ", ".join(names[k] for k in p) + "}" for p in parts)
        sim.problem(f"{BASE}.topology", f"not connected: {len(parts)} separate parts {words} "
                    "(every node must reach every other through exchanges)",
                    top if isinstance(top, str) else top.model_dump())
    return g


def allocation(sim, spec, names: list[str], classes: int) -> Optional[list[list[int]]]:
    """The tasks of each worker (None after a recorded problem)."""
    if spec.mode == "centralized":
        return [list(range(classes))]
    if spec.tasks is None:
        m, n = spec.tasks_per_node, spec.overlap
        if m > classes:
            sim.problem(f"{BASE}.tasks_per_node", f"more than the {classes} classes", m)
            return None
        if n >= m:
            sim.problem(f"{BASE}.overlap", f"must be less than tasks_per_node ({m})", n)
            return None
        return C.allocate(len(names), classes, m, n)
    ok = True
    for name in spec.tasks:
        if name not in names:
            sim.problem(f"{BASE}.tasks.{name}", "not a training node", name, names)
            ok = False
    out = []
    for name in names:
        t = spec.tasks.get(name)
        if t is None:
            sim.problem(f"{BASE}.tasks", f"no tasks for training node {name!r}", None)
            ok = False
            continue
        bad = [c for c in t if not 0 <= c < classes]
        if bad or not t:
            sim.problem(f"{BASE}.tasks.{name}", f"give classes between 0 and {classes - 1}",
                        t)
            ok = False
        out.append(sorted(set(t)))
    if ok:
        missing = sorted(set(range(classes)) - set().union(*map(set, out)))
        if missing:
            sim.problem(f"{BASE}.tasks", f"no node trains classes {missing}: the global "
                        "model would have no branch for them", None)
            ok = False
    return out if ok else None


def _set_aside(sim, labels: np.ndarray, train: np.ndarray,
               count: int) -> tuple[np.ndarray, np.ndarray]:
    """(the rest, ``count`` examples of ``train`` set aside for pre-training, stratified)."""
    if count >= len(train):
        sim.problem(f"{BASE}.learning.pretrain.examples", f"must leave training examples "
                    f"for the nodes: the split has {len(train)}", count)
        return train, np.zeros(0, dtype=np.int64)
    rest, aside = D.holdout_split(labels[train], count / len(train),
                                  generator(sim.seed, "decentral:pretrain-set"))
    return train[rest], train[aside]


def costs(sim, spec, learner, classes: int):
    """The sizes that set FLOPs and bytes: the timed model's decomposition when `timed` is
    given, else the learned model's (None after a recorded problem)."""
    from edgesim.systems.decentralized import cost
    m = spec.learning.model
    if spec.timed is None:
        return cost.learned_decomposition(m.name, classes, learner.shared_params,
                                          learner.trunk_flops, learner.model.features, m.deep,
                                          m.branch_width)
    convs, _pixels, paper = cost.timed_layers(spec.timed.model)
    decoupled = spec.timed.decoupled or paper
    if decoupled >= len(convs):
        sim.problem(f"{BASE}.timed.decoupled", f"{spec.timed.model} has {len(convs)} conv "
                    "layers: leave at least one shared", decoupled)
        return None
    return cost.decompose(spec.timed.model, classes, spec.timed.keep, decoupled)


class DecentralizedSystem(TrainingSystem):
    """Sub-model training with neighbour averaging, or the full model on one node."""

    name = "decentralized"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        self.run_ = None
        workers = _workers(sim, spec)
        if spec.mode == "centralized" and workers:
            pick = spec.central or workers[0].name
            chosen = [w for w in workers if w.name == pick]
            if not chosen:
                sim.problem(f"{BASE}.central", "not a training node", pick,
                            [w.name for w in workers])
            workers = chosen[:1]
            for k, w in enumerate(workers):
                w.k = w.lane = k
        self.nodes = workers
        names = [w.name for w in workers]
        self.graph = topology(sim, spec, names) if spec.mode == "decentralized" else \
            nx.empty_graph(len(names))
        self.neighbours = [sorted(self.graph.neighbors(k)) for k in range(len(names))]
        self.log = ScheduleLog(names, ["sub-model"])
        self.tx = Transfers(sim.env, sim.network)
        if not torch_available(sim, BASE):
            return
        learning = spec.learning
        data = load_dataset(sim, learning.dataset, f"{BASE}.learning.dataset")
        if data is None or not workers:
            return
        tasks = allocation(sim, spec, names, data.classes)
        if tasks is None:
            return
        train, self.test = split(sim, data, learning.dataset.holdout)
        self.pretrain_set = np.zeros(0, dtype=np.int64)
        if learning.pretrain is not None:
            train, self.pretrain_set = _set_aside(sim, data.y, train, learning.pretrain.examples)
        shards = C.node_data(data.y, train, tasks, learning.data,
                             generator(sim.seed, "decentral:data"))
        for w, t, s in zip(workers, tasks, shards):
            w.tasks, w.data = t, s
            if len(s) == 0:
                sim.problem(f"{BASE}.tasks", f"training node {w.name!r} has no training "
                            f"examples of its classes {t}", None)
        bad = C.disconnected_tasks(tasks, self.neighbours, data.classes)
        if bad and spec.mode == "decentralized":
            sim.warnings.append(f"{BASE}: the nodes training classes {bad} are not neighbours "
                                "of one another: those branches only meet in the "
                                "recomposed model")
        from edgesim.learning.branched import BranchedLearner, DenseLearner
        self.learner = make_learner(sim, BranchedLearner, learning, data,
                                    f"{BASE}.learning.model")
        self.dense = None
        if spec.baseline == "dense":
            self._check_dense(sim, learning)
            self.dense = make_learner(sim, DenseLearner, learning, data,
                                      f"{BASE}.learning.model")
        if self.learner is None or sim.problems:
            return
        self.data = data
        self.cost = costs(sim, spec, self.learner, data.classes)
        if sim.problems:
            return
        self.kept: list[list[int]] = []
        if learning.pretrain is not None:
            self._pretrain(sim, learning.pretrain, data.classes)
        if spec.mode == "centralized" and self.dense is not None:
            self.learner = self.dense           # the central node trains the dense network
        from edgesim.systems.decentralized.run import DecentralRun
        self.run_ = DecentralRun(sim, self)

    def _check_dense(self, sim, learning) -> None:
        m = learning.model
        if learning.pretrain is None:
            sim.problem(f"{BASE}.baseline", "'dense' decouples a pre-trained network: give "
                        "learning.pretrain, or use baseline 'branched'", "dense")
        if m.branch_width > m.deep:
            sim.problem(f"{BASE}.learning.model.branch_width", f"a class cannot keep more "
                        f"than the deep layer's {m.deep} units", m.branch_width)

    def _pretrain(self, sim, spec, classes: int) -> None:
        """The baseline's model trained on the set-aside examples; with baseline dense it is
        then decoupled into the branches every node starts from."""
        gen = generator(sim.seed, "decentral:pretrain")
        order = np.concatenate([self.pretrain_set[gen.permutation(len(self.pretrain_set))]
                                for _ in range(spec.epochs)])
        first = self.dense or self.learner
        first.initial, _steps, _loss = first.train(
            first.initial, list(range(classes)), order, self.spec.learning.local.lr)
        if self.dense is not None:
            self.learner.initial, self.kept = self.dense.decouple(
                self.dense.initial, self.pretrain_set, self.learner)

    def routes(self) -> list[tuple]:
        path = f"{BASE}.topology"
        return [(self.nodes[a].device, self.nodes[b].device, path)
                for a, nbrs in enumerate(self.neighbours) for b in nbrs]

    def process(self):
        yield from self.run_.run()

    # ------------------------------------------------------------------ results
    def summary(self, sim) -> dict:
        from edgesim.systems.decentralized.summary import decentral_summary
        return decentral_summary(sim, self)

    def frames(self) -> dict:
        from edgesim.systems.decentralized.frames import frames
        learned = self.spec.learning.model.name
        timed = self.spec.timed.model if self.spec.timed is not None else learned
        return frames(self.run_, timed, learned)

    def plots(self, directory, summary: dict) -> None:
        from edgesim.systems.decentralized.plots import plot_all
        plot_all(self, directory, summary)

    def describe(self) -> str:
        if self.spec.mode == "centralized":
            return (f"centralized ({self.spec.baseline}) on "
                    f"{self.nodes[0].name if self.nodes else '?'}")
        top = self.spec.topology if isinstance(self.spec.topology, str) else "graph"
        return (f"{len(self.nodes)} nodes, {top} of {self.graph.number_of_edges()} links, "
                f"tasks {[w.tasks for w in self.nodes]}")


def report_rows(summary: dict) -> list[tuple[str, str]]:
    """The lines `edgesim run` prints for a decentralized run (``summary``: its summary.json)."""
    from edgesim.systems.decentralized.summary import report_rows as rows
    return rows(summary["decentralized"])
