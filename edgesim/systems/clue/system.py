"""Build phase of a CLUE scenario: the edge nodes, the MdS or aggregator, the data set split
into per-class request pools and held-out examples, the models (one common initialisation,
each fine-tuned on its node's first classes), and the run; every problem located at its key
path before t = 0."""
from __future__ import annotations

import numpy as np

from edgesim.engine.rng import generator
from edgesim.training.build import node_devices
from edgesim.training.devices import ScheduleLog, Transfers, fail_transfer
from edgesim.training.learning_build import load_dataset, split, torch_available
from edgesim.systems.clue.nodes import build_nodes
from edgesim.training.protocol import TrainingSystem
from edgesim.training.timed import resolve_timed

BASE = "training.clue"


class ClueSystem(TrainingSystem):
    """CLUE (pull), isolated learning, or FedAvg (push) on drifting request streams."""

    name = "clue"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        self.run_ = None
        self.recovery_levels = None         # set with the summary, which always comes first
        self.timed = resolve_timed(sim, spec.timed, f"{BASE}.timed")
        self.mds = self._one(sim, spec.mds, "mds") if spec.mode == "clue" else None
        self.aggregator = (self._one(sim, spec.aggregator, "aggregator")
                           if spec.mode == "federated" else None)
        # A hub the mode never uses is a mistake worth naming, not a key to ignore.
        for key, mode in (("mds", "clue"), ("aggregator", "federated")):
            if getattr(spec, key) is not None and spec.mode != mode:
                sim.problem(f"{BASE}.{key}", f"only mode {mode!r} uses it; mode is "
                            f"{spec.mode!r}", getattr(spec, key))
        self.recovery_hub = spec.recovery.aggregator or spec.aggregator or spec.mds
        if (spec.recovery.against == "federated" and spec.mode != "federated"
                and self.recovery_hub is None):
            sim.problem(f"{BASE}.recovery.aggregator", "recovery is measured against a FedAvg "
                        "run of this scenario: name the node it aggregates on (or set "
                        "`recovery.against: own`)", None)
        reserved = {d.index: key for key, d in (("metadata service", self.mds),
                                               ("aggregator", self.aggregator)) if d}
        self.tx = Transfers(sim.env, sim.network)
        if sim.network is not None:
            sim.network.on_fail = fail_transfer
        self.nodes = []
        if not torch_available(sim, BASE):
            return
        data = load_dataset(sim, spec.dataset, f"{BASE}.dataset")
        if data is None:
            return
        self.data = data
        train, test = split(sim, data, spec.dataset.holdout)
        pools = {c: train[data.y[train] == c] for c in range(data.classes)}
        self.nodes = build_nodes(sim, spec, BASE, data.classes, pools, reserved)
        for g, group in enumerate(spec.nodes):
            used = {c for p in group.phases for c in p.classes if c < data.classes}
            empty = sorted(c for c in used if len(pools[c]) == 0)
            if empty:
                sim.problem(f"{BASE}.nodes.{g}.phases", f"classes {empty} have no training "
                            "examples in the data set", empty)
        if sim.problems or not self.nodes:
            return
        from edgesim.learning.torch_learner import Learner
        self.learner = Learner(spec, data, sim.seed, spec.device)
        # Fine-tuning happens when the run starts, not here: `edgesim check` builds the system
        # to locate problems and should not spend the hours a large model's fine-tuning takes.
        self._pools, self._seed = pools, sim.seed
        names = [d.name for d in (self.mds, self.aggregator) if d] + [n.name for n in
                                                                       self.nodes]
        self.log = ScheduleLog(names, ["model"])
        self.lane = {nm: i for i, nm in enumerate(names)}
        test_by_class = {c: test[data.y[test] == c] for c in range(data.classes)}
        from edgesim.systems.clue.run import ClueRun
        self.run_ = ClueRun(sim, spec, self.nodes, self.mds, self.aggregator, self.learner,
                            data.y, test_by_class, self.tx, self.log, self.lane,
                            self.timed.params if self.timed else None)

    def _one(self, sim, ref: str, key: str):
        devs = node_devices(sim, ref, f"{BASE}.{key}")
        if len(devs) > 1:
            sim.problem(f"{BASE}.{key}", f"must name one node, not a group of {len(devs)}", ref)
        return devs[0] if devs else None

    def _pretrain(self, seed: int, pools: dict) -> None:
        """Every node starts from the one initialisation, fine-tuned on the classes of its first
        phase (so that parameters mean the same thing across nodes, which boosting needs)."""
        pre = self.spec.pretrain
        for node in self.nodes:
            classes = node.phases[0].classes
            gen = generator(seed, f"clue:{node.name}:pretrain")
            pool = np.concatenate([pools[c] for c in classes])
            pick = gen.choice(pool, size=min(pre.examples, len(pool)), replace=False)
            order = np.concatenate([pick[gen.permutation(len(pick))] for _ in range(pre.epochs)])
            if self.spec.optimizer == "adam":
                from edgesim.learning.torch_learner import AdamState
                a = self.spec.adam
                node.adam = AdamState(self.spec.local.lr, tuple(a.betas), a.eps)
            node.weights, _steps, _loss = self.learner.train(
                self.learner.initial, order, self.spec.local.lr, adam=node.adam)

    # ------------------------------------------------------------------ protocol
    def routes(self) -> list[tuple]:
        out = []
        path = f"{BASE}.nodes"
        for hub in (self.mds, self.aggregator):
            if hub is not None:
                for n in self.nodes:
                    out += [(n.device, hub, path), (hub, n.device, path)]
        if self.spec.mode == "clue":
            out += [(a.device, b.device, path) for a in self.nodes for b in self.nodes
                    if a is not b]
        return out

    def process(self):
        self._pretrain(self._seed, self._pools)        # before t = 0, not charged
        yield from self.run_.run()

    def summary(self, sim) -> dict:
        from edgesim.systems.clue.records import reference_levels, summary
        # Measured once (it may run the FedAvg reference) and kept for the recovery table.
        self.recovery_levels = reference_levels(sim, self)
        return summary(sim, self)

    def frames(self) -> dict:
        from edgesim.systems.clue.records import frames
        return frames(self.run_, self.recovery_levels)

    def plots(self, directory, summary: dict) -> None:
        from edgesim.systems.clue.plots import plot_bytes, plot_errors
        f = self.frames()
        plot_errors(f["batches"], f["detections"], f["recovery"], directory / "error.png",
                    summary)
        plot_bytes(f["transfers"], directory / "bytes.png", summary)

    def describe(self) -> str:
        return (f"mode {self.spec.mode}, {len(self.nodes)} edge nodes, "
                f"{self.spec.workload.batches} batches each")


def report_rows(summary: dict) -> list[tuple[str, str]]:
    """The lines `edgesim run` prints for a CLUE summary."""
    body = summary["clue"]
    from edgesim.report import fmt
    eq = body["eq3"]
    b = body["bytes"]
    return [
        ("mode", f"{body['mode']}: {body['nodes']} nodes x {body['batches_per_node']} batches"),
        ("error (mean, all batches)", fmt(body["mean_error"], "%")),
        ("drifts recovered", f"{body['recovered']} of {body['scheduled_drifts']}, mean "
                             f"{fmt(body['mean_batches_to_recover'])} batches "
                             f"({fmt(body['mean_seconds_to_recover'], 's')})"),
        ("detections / helped", f"{body['detections']} / {body['helped']}"),
        ("bytes", f"MU_out {b['MU_out'] / 1e6:,.4g} MB, MU_in {b['MU_in'] / 1e6:,.4g} MB, "
                  f"MdS_out {b['MdS_out'] / 1e3:,.4g} kB, KT_in {b['KT_in'] / 1e6:,.4g} MB"),
        (f"Eq. {eq['equation']}", f"{eq['formula_bytes'] / 1e6:,.6g} MB "
                                  f"(counted {eq['counted_bytes'] / 1e6:,.6g} MB)"),
    ]
