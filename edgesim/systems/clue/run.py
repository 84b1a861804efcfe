"""CLUE and its baselines on the simulated clock, with real learning.

Each edge node is a SimPy process that serves its request batches in order: it predicts a
batch (the *operator*: its target model alone, or the average of the target's and its helper
models' class probabilities), records the error, then retrains the target model on the batch
(local SGD, for real). Both hold the node's compute for the time its device takes. Around that
loop, by mode:

* ``clue``: class-prior reports to the MdS every ``metadata_every`` batches; on a drift
  detection a help call to the MdS, which answers with the most similar nodes by the priors it
  last received; each helper computes sensitivities for the requested classes (on its
  reservoir, holding its compute; or looked up in its continuous map), sends the top-Z %
  parameters, and the target adds a frozen boosted helper model to its pool. Helper models are
  discarded dynamically (the target alone back to its pre-drift error) or statically;
* ``isolated``: detections are recorded; nobody is asked;
* ``federated``: every ``push.every`` batches the round's n' participants upload their models,
  the aggregator averages them and pushes the average to every node, which adopts it before
  its next batch.

The learning happens at the simulated moment its result is needed, on the state the node has
then (a helper's sensitivities use the helper's model at the time it is asked), and the SimPy
event order is deterministic, so one seed gives the same run, bit for bit.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Optional

import numpy as np
import simpy

from edgesim.engine.rng import generator
from edgesim.learning import knowledge as K
from edgesim.training.devices import URGENT
from edgesim.systems.clue.nodes import HelperModel

#: Operations counted for Eq. 3a/3b, and the schedule-log kind of each.
OPS = {"MU_out": "push", "MU_in": "pull", "MdS_out": "metadata", "KT_in": "knowledge",
       "control": "help"}


class ClueRun:
    """The request streams of every edge node, and the collaboration around them."""

    def __init__(self, sim, spec, nodes, mds, aggregator, learner, labels, test_by_class,
                 tx, log, lane, wire_params: Optional[int] = None) -> None:
        self.sim, self.env, self.spec = sim, sim.env, spec
        self.nodes, self.mds, self.aggregator = nodes, mds, aggregator
        self.learner, self.labels, self.test_by_class = learner, labels, test_by_class
        self.tx, self.log, self.lane = tx, log, lane
        self.P = learner.params
        # The timed model's size: what every byte count on the wire is of.
        self.P_wire = wire_params if wire_params is not None else self.P
        self.C = learner.classes
        self.batch_rows: list[dict] = []
        self.transfers: list[dict] = []
        self.detections: list[dict] = []
        self.rounds: list[dict] = []
        self.priors: dict[int, np.ndarray] = {}        # what the MdS last received
        self.md_bytes = K.metadata_bytes(self.C, spec.help.metadata_bytes)
        self.kt_count = max(1, int(round(spec.help.significant * self.P_wire)))
        self.kt_bytes = K.transfer_bytes(self.kt_count, self.P_wire, spec.dtype_bytes,
                                         spec.help.encoding)
        self.model_bytes = float(self.P_wire * spec.dtype_bytes)
        self.infer_streams = {n.index: sim.streams(f"clue:{n.name}:infer") for n in nodes}
        self.step_streams = {n.index: sim.streams(f"clue:{n.name}:step") for n in nodes}
        self.uploads: dict[int, dict[int, simpy.Event]] = {}
        self.background: list = []          # report, help and upload processes
        self.participants: list[list[int]] = []
        if spec.mode == "federated":
            self._plan_rounds()

    # ------------------------------------------------------------------ the run
    def run(self):
        env = self.env
        procs = [env.process(self._serve(n)) for n in self.nodes]
        procs += [env.process(self._aggregate(r)) for r in range(len(self.participants))]
        yield simpy.AllOf(env, procs)
        # Messages still on the wire when the last batch is served (its reports, a help call)
        # arrive before the run ends, so every byte sent is a byte counted.
        while any(p.is_alive for p in self.background):
            yield simpy.AllOf(env, [p for p in self.background if p.is_alive])

    def _send(self, src, dst, nbytes: float, op: str, node: str, batch: int):
        """Move ``nbytes`` from device ``src`` to ``dst`` through the network, counted under
        operation ``op`` and recorded."""
        t = self.env.now
        yield self.tx.send(src.index, dst.index, nbytes, op)
        self.log.add(self.lane[src.name], None, OPS[op], t, self.env.now, batch, nbytes)
        self.transfers.append({"op": op, "src": src.name, "dst": dst.name, "node": node,
                               "batch": batch, "start": t, "end": self.env.now,
                               "bytes": nbytes})

    def _spawn(self, gen) -> None:
        self.background = [p for p in self.background if p.is_alive]
        self.background.append(self.env.process(gen))

    def _steps_time(self, node, steps: int) -> float:
        stream = self.step_streams[node.index]
        return sum(node.step.sample(self.spec.local.batch, stream) for _ in range(steps))

    # ------------------------------------------------------------------ one node
    def _operator(self, node, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(operator probabilities, target-alone probabilities) on examples ``pos``."""
        own = self.learner.probs(node.weights, pos)
        if not node.pool:
            return own, own
        outs = [own] + [self.learner.probs(h.weights, pos) for h in node.pool]
        return np.mean(outs, axis=0), own

    def _serve(self, node):
        env, spec, w = self.env, self.spec, self.spec.workload
        lane = self.lane[node.name]
        local = spec.local
        for b in range(w.batches):
            arrival = b * w.interval
            if env.now < arrival:
                yield env.timeout(arrival - env.now)
            if node.pending is not None:            # a pushed global model (federated)
                node.weights, node.pending = node.pending, None
            pos = node.draw(b, w.batch)
            y = self.labels[pos]
            start = env.now
            with node.device.compute.request(priority=URGENT) as req:
                yield req
                t = env.now
                yield env.timeout(node.infer.sample(w.batch, self.infer_streams[node.index]))
                self.log.add(lane, None, "infer", t, env.now, b)
                out, own = self._operator(node, pos)
                served = env.now
                pred = out.argmax(1)
                err = float(np.mean(pred != y))
                own_err = float(np.mean(own.argmax(1) != y))
                for h in node.pool:
                    sel = np.isin(y, h.classes)
                    if sel.any():
                        hp = self.learner.probs(h.weights, pos[sel]).argmax(1)
                        h.hits.append(float(np.mean(hp == y[sel])))
                t = env.now
                gen = generator(self.sim.seed, f"clue:{node.name}:order:{b}")
                order = np.concatenate([pos[gen.permutation(len(pos))]
                                        for _ in range(local.epochs)])
                steps = math.ceil(len(order) / local.batch)
                yield env.timeout(self._steps_time(node, steps))
                node.weights, _, loss = self.learner.train(node.weights, order, local.lr,
                                                           adam=node.adam)
                self.log.add(lane, None, "train", t, env.now, b)
                if spec.mode == "clue" and spec.help.selection == "continuous":
                    t = env.now
                    passes = self.C * math.ceil(w.batch / local.batch)
                    yield env.timeout(self._steps_time(node, passes))
                    sens = np.stack([self.learner.sensitivity(node.weights, pos, [c])
                                     for c in range(self.C)])
                    node.sensitivity_map = (sens if node.sensitivity_map is None
                                            else node.sensitivity_map + sens)
                    self.log.add(lane, None, "sensitivity", t, env.now, b)
            node.reservoir.append(pos)
            node.recent.append(pos)
            node.history.append(y)
            node.errors.append(err)
            node.own_errors.append(own_err)
            node.batch = b + 1
            test_err = self._evaluate(node, b) if (b + 1) % spec.eval_every == 0 else math.nan
            drift = node.detector.add(err)
            pool_before = len(node.pool)
            self._discard(node, b)
            self.batch_rows.append({
                "node": node.name, "batch": b, "arrival": arrival, "start": start,
                "served": served, "end": env.now, "phase": spec_phase(node, b),
                "error": err, "own_error": own_err, "rolling_error": node.detector.rolling(),
                "test_error": test_err, "train_loss": loss, "helpers": pool_before,
                "drift_detected": drift})
            if spec.mode == "clue" and (b + 1) % spec.help.metadata_every == 0:
                self._spawn(self._report(node, b))
            if spec.mode == "federated" and (b + 1) % spec.push.every == 0:
                r = (b + 1) // spec.push.every - 1
                if r < len(self.participants) and node.index in self.participants[r]:
                    self._spawn(self._upload(node, r, node.weights, b))
            if drift:
                self._detected(node, b)

    def _evaluate(self, node, b: int) -> float:
        """Operator error on held-out examples of the classes the node serves now."""
        classes = node.phase_at(b).classes
        pos = np.concatenate([self.test_by_class[c] for c in classes])
        if len(pos) == 0:
            return math.nan
        out, _own = self._operator(node, pos)
        return float(np.mean(out.argmax(1) != self.labels[pos]))

    # ------------------------------------------------------------------ drift and help
    def _detected(self, node, b: int) -> None:
        W = self.spec.drift.window
        errs = node.errors
        window = errs[-W:]
        before = node.own_errors[max(0, len(errs) - 2 * W):max(0, len(errs) - W)]
        rec = {"drift": len(self.detections), "node": node.name, "batch": b,
               "time": self.env.now, "rolling_error": float(np.mean(window)),
               "reference_error": float(np.mean(before)) if before else 0.0,
               "classes": self._requested(node), "helpers": [], "similarity": [],
               "asked": math.nan, "answered": math.nan, "helped": math.nan,
               "helped_batch": -1, "kt_bytes": 0.0, "outcome": "detected"}
        self.detections.append(rec)
        if self.spec.mode != "clue":
            rec["outcome"] = "no help (" + self.spec.mode + ")"
            return
        if node.helping:
            rec["outcome"] = "help in flight"
            return
        self._spawn(self._help(node, rec))

    def _requested(self, node) -> list[int]:
        """The classes a target asks help for: those of its window with a high error (all of
        the window's when none stands out)."""
        labels = self.labels[np.concatenate(list(node.recent))]
        present = sorted(set(int(c) for c in labels))
        if self.spec.help.requested == "window":
            return present
        errs = self._class_errors(node)
        bad = [c for c in present if errs.get(c, 0.0) > self.spec.drift.threshold]
        return bad or present

    def _class_errors(self, node) -> dict[int, float]:
        """Per-class operator error over the window's batches, on the current operator (what
        a node's monitoring reports)."""
        pos = np.concatenate(list(node.recent))
        out, _own = self._operator(node, pos)
        y = self.labels[pos]
        wrong = out.argmax(1) != y
        return {int(c): float(wrong[y == c].mean()) for c in np.unique(y)}

    def _help(self, node, rec: dict):
        env, hs = self.env, self.spec.help
        node.helping = True
        try:
            prior = K.class_prior(self.labels[np.concatenate(list(node.recent))], self.C)
            rec["asked"] = env.now
            yield from self._send(node.device, self.mds, hs.control_bytes, "control",
                                  node.name, rec["batch"])
            ranked = K.rank_helpers(node.index, prior, self.priors, hs.helpers)
            yield from self._send(self.mds, node.device, hs.control_bytes, "control",
                                  node.name, rec["batch"])
            rec["answered"] = env.now
            rec["helpers"] = [self.nodes[h].name for h, _s in ranked]
            rec["similarity"] = [s for _h, s in ranked]
            if not ranked:
                rec["outcome"] = "no helper known"
                return
            fetches = [env.process(self._fetch(node, self.nodes[h], rec)) for h, _s in ranked]
            yield simpy.AllOf(env, fetches)
            rec["outcome"] = "helped"
        finally:
            node.helping = False

    def _fetch(self, target, helper, rec: dict):
        """One helper's part: the request, its significant parameters, the transfer, and the
        boosted helper model on the target."""
        env, spec, hs = self.env, self.spec, self.spec.help
        classes = rec["classes"]
        yield from self._send(target.device, helper.device, hs.control_bytes, "control",
                              target.name, rec["batch"])
        if hs.selection == "continuous" and helper.sensitivity_map is not None:
            sens = helper.sensitivity_map[classes].mean(axis=0)
            values = helper.weights
        else:
            with helper.device.compute.request(priority=URGENT) as req:
                yield req
                t = env.now
                stored = list(helper.reservoir)
                passes = len(stored) * len(classes) * math.ceil(spec.workload.batch
                                                                / spec.local.batch)
                yield env.timeout(self._steps_time(helper, passes))
                values = helper.weights
                sens = (self.learner.sensitivity(values, np.concatenate(stored), classes)
                        if stored else np.zeros(self.P))
                self.log.add(self.lane[helper.name], None, "sensitivity", t, env.now,
                             rec["batch"])
        mask = K.significant(sens, hs.significant)
        yield from self._send(helper.device, target.device, self.kt_bytes, "KT_in",
                              target.name, rec["batch"])
        rec["kt_bytes"] += self.kt_bytes
        model = K.boosted(target.weights, values, mask)
        self._add_helper(target, HelperModel(model, list(classes), rec["drift"], helper.name,
                                             target.batch, deque(maxlen=hs.compare)))
        rec["helped"] = env.now
        rec["helped_batch"] = target.batch

    def _add_helper(self, node, h: HelperModel) -> None:
        hs = self.spec.help
        node.pool.append(h)
        if len(node.pool) > hs.pool:
            # The pool is full: the helper worst on its own classes over the last L batches
            # goes (one with no batches of its classes yet counts as perfect).
            worst = min(node.pool[:-1], key=lambda m: np.mean(m.hits) if m.hits else 1.0)
            node.pool.remove(worst)
            self._discarded(node, worst, "pool")

    def _discard(self, node, b: int) -> None:
        hs, W = self.spec.help, self.spec.drift.window
        for h in list(node.pool):
            age = node.batch - h.created
            if hs.discard == "static":
                done = age >= hs.discard_after
            else:
                ref = self.detections[h.drift]["reference_error"]
                own = node.own_errors[-W:]
                done = age >= W and float(np.mean(own)) <= ref + hs.tolerance
            if done:
                node.pool.remove(h)
                self._discarded(node, h, hs.discard)

    def _discarded(self, node, h: HelperModel, why: str) -> None:
        rec = self.detections[h.drift]
        rec.setdefault("discarded_batch", node.batch - 1)
        rec.setdefault("discarded_by", why)

    def _report(self, node, b: int):
        prior = K.class_prior(np.concatenate(list(node.history)), self.C)
        yield from self._send(node.device, self.mds, self.md_bytes, "MdS_out", node.name, b)
        self.priors[node.index] = prior

    # ------------------------------------------------------------------ federated push
    def _plan_rounds(self) -> None:
        spec = self.spec
        n = len(self.nodes)
        k = min(spec.push.participants or n, n)
        for r in range(spec.workload.batches // spec.push.every):
            gen = generator(self.sim.seed, f"clue:push:{r}")
            self.participants.append(sorted(int(i) for i in gen.choice(n, size=k,
                                                                      replace=False)))
            self.uploads[r] = {i: self.env.event() for i in self.participants[r]}

    def _upload(self, node, r: int, weights: np.ndarray, b: int):
        yield from self._send(node.device, self.aggregator, self.model_bytes, "MU_out",
                              node.name, b)
        self.uploads[r][node.index].succeed(weights)

    def _aggregate(self, r: int):
        env = self.env
        events = self.uploads[r]
        got = yield simpy.AllOf(env, list(events.values()))
        start = env.now
        models = [got[events[i]] for i in sorted(events)]
        if self.spec.push.aggregate_time > 0:
            yield env.timeout(self.spec.push.aggregate_time)
        avg = np.mean(np.stack(models), axis=0).astype(np.float32)
        pushes = [env.process(self._push(n, r, avg)) for n in self.nodes]
        yield simpy.AllOf(env, pushes)
        self.rounds.append({"round": r, "participants": [self.nodes[i].name for i in events],
                            "aggregated": start, "end": env.now,
                            "bytes_out": len(models) * self.model_bytes,
                            "bytes_in": len(self.nodes) * self.model_bytes})

    def _push(self, node, r: int, avg: np.ndarray):
        yield from self._send(self.aggregator, node.device, self.model_bytes, "MU_in",
                              node.name, r)
        node.pending = avg


def spec_phase(node, b: int) -> int:
    """Index of the phase of ``node``'s schedule that batch ``b`` falls in."""
    k = 0
    for i, p in enumerate(node.phases):
        if p.start <= b:
            k = i
    return k


__all__ = ["ClueRun", "OPS"]
