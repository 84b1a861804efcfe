"""Build phase of a federated scenario: the server and clients, the data set and its shards,
the model, and the run; every problem located at its key path before t = 0."""
from __future__ import annotations

import pandas as pd

from edgesim.training.build import node_devices
from edgesim.training.devices import ScheduleLog, Transfers, fail_transfer
from edgesim.systems.fedace.clients import build_clients
from edgesim.training.learning_build import load_dataset, make_learner, shards, split, torch_available
from edgesim.training.protocol import TrainingSystem
from edgesim.training.timed import resolve_timed

BASE = "training.federated"


def cuda_available() -> bool:
    import torch
    return bool(torch.cuda.is_available())


class FederatedSystem(TrainingSystem):
    """FedAvg / FedAce: `rounds` rounds of C-of-N client training."""

    name = "federated"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        self.run_ = None
        servers = node_devices(sim, spec.server, f"{BASE}.server")
        if len(servers) > 1:
            sim.problem(f"{BASE}.server", f"must name one node, not a group of {len(servers)}",
                        spec.server)
        self.server = servers[0] if servers else None
        self.timed = resolve_timed(sim, spec.timed, f"{BASE}.timed")
        self.clients = build_clients(sim, spec, self.server, BASE,
                                     self.timed.model if self.timed else None)
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
        if not torch_available(sim, BASE):
            return
        learning = spec.learning
        data = load_dataset(sim, learning.dataset, f"{BASE}.learning.dataset")
        if data is None or not self.clients or self.server is None:
            return
        train, test = split(sim, data, learning.dataset.holdout)
        parts = shards(sim, data, train, n, learning.partition, f"{BASE}.learning.partition")
        if parts is None:
            return
        for c, s in zip(self.clients, parts):
            c.shard = train[s]
        from edgesim.learning.torch_learner import Learner, resolve_device
        device = resolve_device(learning.device)
        if device == "cuda" and not cuda_available():
            sim.problem(f"{BASE}.learning.device", "PyTorch sees no CUDA GPU here (a CPU-only "
                        "build, or no driver); use 'cpu', or 'auto' for a GPU when there is "
                        "one", learning.device)
            return
        self.learner = make_learner(sim, lambda s, d, seed: Learner(s, d, seed, device),
                                    learning, data, f"{BASE}.learning.model")
        if self.learner is None:
            return
        self.data = data
        from edgesim.systems.fedace.rounds import FederatedRun
        self.run_ = FederatedRun(sim, spec, self.server, self.clients, self.learner, data,
                                 test, self.tx, self.log, self.lane,
                                 self.timed.params if self.timed else None)

    def routes(self) -> list[tuple]:
        if self.server is None:
            return []
        out = []
        for c in self.clients:
            path = f"{BASE}.clients.{c.group}.nodes"
            out += [(self.server, c.device, path), (c.device, self.server, path)]
        return out

    models_failures = True

    def failure_member(self, node_index: int):
        return self.client_at(node_index)

    def crash(self, member) -> None:
        self.run_.crash(member)

    def repair(self, member) -> None:
        self.run_.repair(member)

    def client_at(self, node_index: int):
        """The client on node ``node_index``, or None (a failure may target any node)."""
        for c in self.clients:
            if c.device.index == node_index:
                return c
        return None

    def process(self):
        yield from self.run_.run()

    # ------------------------------------------------------------------ results
    def summary(self, sim) -> dict:
        from edgesim.systems.fedace.summary import federated_summary
        return federated_summary(sim, self)

    def frames(self) -> dict:
        from edgesim.systems.fedace.frames import participation_frame, rounds_frame
        timed = self.timed.model if self.timed else self.spec.learning.model.name
        frames = {"rounds": rounds_frame(self.run_.rounds),
                  "participation": participation_frame(self.run_.participation)}
        # Bytes in these tables are the timed model's: each row says which model that is.
        for df in frames.values():
            df["timed_model"] = pd.Categorical([timed] * len(df))
        return frames

    def plots(self, directory, summary: dict) -> None:
        from edgesim.systems.fedace.plots import plot_accuracy
        plot_accuracy({summary["scenario"]: self.frames()["rounds"]},
                      directory / "accuracy.png", summary)

    def describe(self) -> str:
        return f"{len(self.clients)} clients, {self.spec.per_round} per round"


def report_rows(summary: dict) -> list[tuple[str, str]]:
    """The lines `edgesim run` prints for a federated summary."""
    body = summary["federated"]
    from edgesim.report import fmt
    rows = [("scheme", body["scheme"]),
            ("clients", f"{body['per_round']} of {body['clients']} per round, "
                        f"{body['rounds']} rounds"),
            ("accuracy", f"final {fmt(body['final_accuracy'], '%')}  best "
                         f"{fmt(body['best_accuracy'], '%')}")]
    if body["target_accuracy"] is not None:
        rows.append((f"to {body['target_accuracy']:.0%}",
                     "not reached" if body["rounds_to_target"] is None else
                     f"{body['rounds_to_target']} rounds, {fmt(body['time_to_target_s'], 's')}"))
    d = body["dropouts"]
    rows += [("round (mean)", fmt(body["mean_round_s"], "s")),
             ("bytes per round", f"{body['bytes_per_round'] / 1e6:,.4g} MB"),
             ("final model", f"{body['final_model_bytes'] / 1e3:,.4g} kB "
                             f"({body['final_model_fraction']:.1%} of dense)"),
             ("dropped updates", f"{d['late']} late, {d['crashed']} crashed, {d['lost']} lost")]
    return rows
