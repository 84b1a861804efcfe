"""The rounds of decentralized sub-model training on the simulated clock, with real learning.

A round is synchronous (the paper describes no asynchrony and every node must have trained
before its neighbours' structures are worth averaging):

1. every node trains its sub-model for `local.epochs` epochs over its own examples, holding its
   device's compute for the steps' time (the baseline model's step time x the sub-model's
   share of its FLOPs, both of the timed model when one is given);
2. every node sends each neighbour its shared layers and the branches they have in common (their
   sizes in the timed model's decomposition), all messages at once through the scenario's
   links and cells;
3. once every message has arrived, every node averages what it received with its own values
   (its compute held for the averaging FLOPs at its device's time per FLOP);
4. local accuracy (each sub-model on the held-out examples of its tasks) and global accuracy
   (the recomposed model on every held-out example) are measured; measuring costs no
   simulated time (it is the experimenter's view, not the system's work).

The learning itself is a pure function of (weights, tasks, examples, their order, learning
rate) and the orders come from generators named by (node, round), so one seed gives the same
rounds bit for bit whatever order same-time events ran in.
"""
from __future__ import annotations

import math
import time

import numpy as np
import simpy

from edgesim.engine.rng import generator
from edgesim.learning import consensus as C
from edgesim.systems.decentralized.cost import aggregation_flops
from edgesim.training.devices import URGENT
from edgesim.training.learning_build import round_lr


class DecentralRun:
    """The rounds of one decentralized (or centralized) training."""

    def __init__(self, sim, system) -> None:
        self.sim, self.env, self.sys = sim, sim.env, system
        self.spec = system.spec
        self.learner = system.learner
        self.layout = system.learner.layout
        self.nodes = system.nodes                 # Worker objects in training order
        self.neighbours = system.neighbours
        self.test = system.test
        self.cost = system.cost
        central = self.spec.mode == "centralized"
        _params, full = self.cost.baseline(self.spec.baseline)
        self.full_flops = full
        for w in self.nodes:
            w.ratio = 1.0 if central else self.cost.sub_flops(len(w.tasks)) / full
            w.weights = self.learner.initial.copy()
            w.test = self.test[np.isin(system.data.y[self.test], w.tasks)]
            w.stream = sim.streams(f"decentral:{w.name}:compute")
        self.rounds: list[dict] = []
        self.node_rows: list[dict] = []
        self.link_rows: list[dict] = []
        self.global_weights = self.learner.initial.copy()
        # The start's accuracy (the decoupled model, or the central node's pre-trained one).
        self.initial_accuracy = self.learner.evaluate(self.learner.initial,
                                                      range(self.learner.classes), self.test)[1]

    # ------------------------------------------------------------------ the rounds
    def run(self):
        for r in range(self.spec.rounds):
            yield from self._round(r)

    def _lr(self, r: int) -> float:
        return round_lr(self.spec.learning.local, r, self.spec.rounds)

    def _batches(self, count: int) -> list[int]:
        bsz = self.spec.learning.local.batch
        full, rem = divmod(count, bsz)
        return ([bsz] * full + ([rem] if rem else [])) * self.spec.learning.local.epochs

    def _round(self, r: int):
        env = self.env
        t0, wall0 = env.now, time.perf_counter()
        rows = {w.name: {"round": r, "node": w.name, "device": w.device.node.device,
                         "tasks": ",".join(map(str, w.tasks)), "examples": len(w.data),
                         "bytes_sent": 0.0, "bytes_received": 0.0,
                         "aggregation_flops": 0.0, "aggregation_s": 0.0} for w in self.nodes}
        yield simpy.AllOf(env, [env.process(self._train(w, r, rows[w.name]))
                                for w in self.nodes])
        t_train = env.now
        learn0 = time.perf_counter()
        lr = self._lr(r)
        for w in self.nodes:                        # the real training, in node order
            gen = generator(self.sim.seed, f"decentral:order:{w.name}:{r}")
            order = np.concatenate([w.data[gen.permutation(len(w.data))]
                                    for _ in range(self.spec.learning.local.epochs)])
            w.weights, _steps, rows[w.name]["train_loss"] = self.learner.train(
                w.weights, w.tasks, order, lr)
        learn_s = time.perf_counter() - learn0
        links: dict = {}
        if any(self.neighbours):
            links = yield from self._exchange(r, rows)
        t_exchange = env.now
        if any(self.neighbours):
            yield from self._average(r, rows)
        learn0 = time.perf_counter()
        self._evaluate(r, rows)
        learn_s += time.perf_counter() - learn0
        self._record(r, t0, t_train, t_exchange, rows, links, wall0, learn_s)

    # ------------------------------------------------------------------ the phases
    def _train(self, w, r: int, row: dict):
        env = self.env
        batches = self._batches(len(w.data))
        with w.device.compute.request(priority=URGENT) as req:
            yield req
            t = env.now
            dt = sum(w.step.sample(b, w.stream) for b in batches) * w.ratio
            yield env.timeout(dt)
            w.device.busy += dt
        self.sys.log.add(w.lane, 0, "train", t, env.now, r)
        examples = len(w.data) * self.spec.learning.local.epochs
        # Forward + backward = 3 forward passes of the sub-model per example.
        row.update(steps=len(batches), train_flops=3.0 * examples * self.full_flops * w.ratio,
                   compute_s=dt)

    def _exchange(self, r: int, rows: dict):
        env, b = self.env, self.spec.dtype_bytes
        sends, links = [], {}
        for w in self.nodes:
            for j in self.neighbours[w.k]:
                v = self.nodes[j]
                nbytes = float(self.cost.exchange_params(len(C.common(w.tasks, v.tasks))) * b)
                rows[w.name]["bytes_sent"] += nbytes
                rows[v.name]["bytes_received"] += nbytes
                key = (min(w.k, j), max(w.k, j))
                links.setdefault(key, [0.0, 0.0])[0 if w.k < j else 1] += nbytes
                sends.append(env.process(self._send(w, v, nbytes, r)))
        yield simpy.AllOf(env, sends)
        return links

    def _send(self, w, v, nbytes: float, r: int):
        t = self.env.now
        yield self.sys.tx.send(w.device.index, v.device.index, nbytes, "exchange")
        self.sys.log.add(w.lane, 0, "exchange", t, self.env.now, r, nbytes)

    def _average(self, r: int, rows: dict):
        env = self.env
        tasks = [w.tasks for w in self.nodes]
        new, _learned = C.neighbour_average([w.weights for w in self.nodes], tasks,
                                            self.neighbours, self.layout)
        flops = [aggregation_flops(self.cost, tasks, self.neighbours, k)
                 for k in range(len(self.nodes))]
        procs = [env.process(self._charge_average(w, f, r, rows[w.name]))
                 for w, f in zip(self.nodes, flops)]
        yield simpy.AllOf(env, procs)
        for w, v in zip(self.nodes, new):
            w.weights = v

    def _charge_average(self, w, flops: int, r: int, row: dict):
        env, bsz = self.env, self.spec.learning.local.batch
        with w.device.compute.request(priority=URGENT) as req:
            yield req
            t = env.now
            # The device's time per FLOP, from the same step model as its training.
            per_flop = w.step.sample(bsz, w.stream) / (3.0 * bsz * self.full_flops)
            dt = flops * per_flop
            yield env.timeout(dt)
            w.device.busy += dt
        self.sys.log.add(w.lane, 0, "average", t, env.now, r)
        row.update(aggregation_flops=float(flops), aggregation_s=dt)

    def _evaluate(self, r: int, rows: dict) -> None:
        every = self.spec.learning.eval_every
        last = r == self.spec.rounds - 1
        evaluate = (r + 1) % every == 0 or last
        for w in self.nodes:
            acc = math.nan
            if evaluate:
                _loss, acc = self.learner.evaluate(w.weights, w.tasks, w.test)
            rows[w.name]["local_accuracy"] = acc
        if self.layout is None:                  # the dense network on the central node
            self.global_weights = self.nodes[0].weights
        else:
            self.global_weights = C.recompose([w.weights for w in self.nodes],
                                              [w.tasks for w in self.nodes], self.layout,
                                              self.learner.initial)
        self.g_loss = self.g_acc = math.nan
        if evaluate:
            self.g_loss, self.g_acc = self.learner.evaluate(
                self.global_weights, range(self.learner.classes), self.test)

    # ------------------------------------------------------------------ records
    def _record(self, r, t0, t_train, t_exchange, rows, links, wall0, learn_s) -> None:
        env = self.env
        node_rows = [rows[w.name] for w in self.nodes]
        prev = {w.name: 0.0 for w in self.nodes}
        if self.node_rows:
            for row in self.node_rows[-len(self.nodes):]:
                prev[row["node"]] = row["cumulative_flops"]
        for row in node_rows:
            row["cumulative_flops"] = (prev[row["node"]] + row["train_flops"]
                                       + row["aggregation_flops"])
        self.node_rows += node_rows
        for (a, b), (ab, ba) in sorted(links.items()):
            wa, wb = self.nodes[a], self.nodes[b]
            self.link_rows.append({"round": r, "a": wa.name, "b": wb.name, "bytes_ab": ab,
                                   "bytes_ba": ba, "bytes": ab + ba,
                                   "common_tasks": len(C.common(wa.tasks, wb.tasks))})
        local = [x["local_accuracy"] for x in node_rows]
        evaluated = not math.isnan(self.g_acc)
        cum = [x["cumulative_flops"] for x in node_rows]
        row = {
            "round": r, "start": t0, "end": env.now, "duration": env.now - t0,
            "train_end": t_train, "exchange_end": t_exchange,
            "wall_s": time.perf_counter() - wall0, "learn_wall_s": learn_s,
            "compute_max_s": max(x["compute_s"] for x in node_rows),
            "compute_mean_s": float(np.mean([x["compute_s"] for x in node_rows])),
            "exchange_s": t_exchange - t_train,
            "aggregation_max_s": max(x["aggregation_s"] for x in node_rows),
            "aggregation_flops": sum(x["aggregation_flops"] for x in node_rows),
            "train_flops": sum(x["train_flops"] for x in node_rows),
            "train_flops_max": max(x["train_flops"] for x in node_rows),
            "cumulative_flops_max": max(cum), "cumulative_flops": sum(cum),
            "bytes": sum(x["bytes_sent"] for x in node_rows),
            "local_accuracy_mean": float(np.mean(local)) if evaluated else math.nan,
            "local_accuracy_min": float(np.min(local)) if evaluated else math.nan,
            "global_accuracy": self.g_acc, "global_loss": self.g_loss,
            "train_loss": float(np.mean([x["train_loss"] for x in node_rows])),
        }
        self.rounds.append(row)
