"""Build phase of a federated scenario: the server and clients, the data set and its shards,
the model, and the run; every problem located at its key path before t = 0."""
from __future__ import annotations

from pathlib import Path

from ..engine.rng import generator
from ..learning import INSTALL_HINT, LearningUnavailable, require_torch
from ..learning import data as D
from .build import _devices
from .devices import ScheduleLog, Transfers, fail_transfer
from .fed_clients import build_clients

BASE = "training.federated"


def load_dataset(sim, spec, path: str):
    """The scenario's data set, or None after a recorded problem."""
    try:
        if spec.name == "digits":
            data = D.digits()
        else:
            data = D.read_file(Path(sim.file.path(spec.file)))
    except D.DatasetError as exc:
        sim.problem(f"{path}.{'file' if spec.name == 'file' else 'name'}", str(exc),
                    spec.file or spec.name)
        return None
    if spec.limit is not None and spec.limit < len(data):
        keep = generator(sim.seed, "learning:limit").permutation(len(data))[:spec.limit]
        data = data.subset(keep)
    return data


class FederatedSystem:
    """FedAvg / FedAce: `rounds` rounds of C-of-N client training."""

    name = "federated"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        self.run_ = None
        servers = _devices(sim, spec.server, f"{BASE}.server")
        if len(servers) > 1:
            sim.problem(f"{BASE}.server", f"must name one node, not a group of {len(servers)}",
                        spec.server)
        self.server = servers[0] if servers else None
        self.clients = build_clients(sim, spec, self.server, BASE)
        n = len(self.clients)
        if self.clients and spec.per_round > n:
            sim.problem(f"{BASE}.per_round", f"more than the {n} clients", spec.per_round)
        needs_forward = (spec.data_sampling.scheme == "importance"
                         or spec.selection.scheme == "importance")
        for g, group in enumerate(spec.clients):
            if needs_forward and group.forward is None:
                sim.problem(f"{BASE}.clients.{g}.forward", "importance sampling computes "
                            "losses on the clients: give the time of a loss forward pass", None)
        names = ([self.server.name] if self.server else []) + [c.name for c in self.clients]
        self.log = ScheduleLog(names, ["model"])
        self.lane = {nm: i for i, nm in enumerate(names)}
        self.tx = Transfers(sim.env, sim.network)
        if sim.network is not None:
            sim.network.on_fail = fail_transfer
        try:
            require_torch("a 'training.federated' scenario")
        except LearningUnavailable:
            sim.problem(BASE, "trains a real model and needs PyTorch, which is not installed: "
                        f"{INSTALL_HINT}", None)
            return
        learning = spec.learning
        data = load_dataset(sim, learning.dataset, f"{BASE}.learning.dataset")
        if data is None or not self.clients or self.server is None:
            return
        split = generator(sim.seed, "learning:split")
        train, test = D.holdout_split(data.y, learning.dataset.holdout, split)
        try:
            shards = D.partition(data.y[train], n, learning.partition.kind,
                                 learning.partition.alpha, learning.partition.min_samples,
                                 generator(sim.seed, "learning:partition"))
        except D.DatasetError as exc:
            sim.problem(f"{BASE}.learning.partition", str(exc), learning.partition.kind)
            return
        for c, s in zip(self.clients, shards):
            c.shard = train[s]
        from ..learning.torch_learner import Learner
        try:
            self.learner = Learner(learning, data, sim.seed)
        except D.DatasetError as exc:
            sim.problem(f"{BASE}.learning.model", str(exc), learning.model.name)
            return
        self.data = data
        from .federated import FederatedRun
        self.run_ = FederatedRun(sim, spec, self.server, self.clients, self.learner, data,
                                 test, self.tx, self.log, self.lane)

    def routes(self) -> list[tuple]:
        if self.server is None:
            return []
        out = []
        for c in self.clients:
            path = f"{BASE}.clients.{c.group}.nodes"
            out += [(self.server, c.device, path), (c.device, self.server, path)]
        return out

    def client_at(self, node_index: int):
        """The client on node ``node_index``, or None (a failure may target any node)."""
        for c in self.clients:
            if c.device.index == node_index:
                return c
        return None

    def process(self):
        yield from self.run_.run()
