"""DEEPCON's over-the-air loop (§4, Fig. 3 and 6): Deploy -> Validate -> Train -> Update.

* **Deploy**: the cloud (the DEEPCON server) sends every edge node its model; edge i runs model
  i mod N.
* **Validate**: every window of T seconds each edge samples the items that arrived with its
  sampler (:mod:`edgesim.systems.deepcon.asrs`, strata = the class its model predicts) and uploads the
  sample with its inference results; the cloud runs every model on the samples (validation
  compute) and estimates the <Acc-CC> gap of Eq. 5.
* **Train**: when the estimated gap exceeds the threshold (and no update is under way), the
  edges upload the window's full data if configured, and the GPU workers run one DMML training
  of ``rounds`` rounds (:mod:`edgesim.systems.deepcon.dmml`).
* **Update**: the cloud sends every edge its retrained model; once all are installed the gap
  starts again from ``gap.after_update``.

What the items are is not simulated, only what sampling needs. Each item gets a class (Zipf
with exponent ``skew``) and a *gap indicator*: whether the least accurate model is right while
the models do not all agree on the right answer. Eq. 5's gap, min Acc - CC, is the mean of that
indicator (an item where all models are right and agree has the least accurate model right),
so the cloud's estimate is the sample's mean of it (stratified, or the sample as it is:
``estimator``), and the full data's value is the mean over every item: the "gap shift" of
Fig. 7(a) is their difference. The indicator's probability is the true gap at that moment (an
input: ``gap.start``, ``drift``, ``after_update``), spread across classes so that rarer classes
are less consistent (``spread``). With ``class_shift`` the classes' popularity moves from
window to window (a non-stationary stream).

With ``learning`` (:mod:`edgesim.systems.deepcon.ota_learning`) the items are real examples and the
models real classifiers: the strata are the edge model's predictions, the gap indicator is
replaced by Eq. 5 on the models' real predictions (``gap`` is then not an input), the samples
uploaded are what an update trains on, and ``true_gap`` is the deployed models' gap on the
held-out split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from edgesim.systems.deepcon.asrs import StreamSampler, estimate
from edgesim.systems.deepcon.dmml import Dmml, TrainModel
from edgesim.training.devices import URGENT, Device, ScheduleLog, Transfers
from edgesim.systems.deepcon.ota_learning import eq5, eq5_estimate


@dataclass
class Window:
    index: int
    end: float
    items: int
    sampled: int
    sample_bytes: float
    full_bytes: float
    true_gap: float          # the gap at the window's end (the input process)
    data_gap: float          # the indicator's mean over every item of the window
    estimate: float          # the cloud's estimate from the samples
    triggered: bool = False


class OtaLoop:
    def __init__(self, env: simpy.Environment, spec, edges: list[Device], server: Device,
                 models: list[TrainModel], dmml: Dmml, transfers: Transfers, log: ScheduleLog,
                 lane: dict[str, int], streams, horizon: float, learning=None) -> None:
        self.env = env
        self.spec = spec
        self.edges = edges
        self.server = server
        self.models = models
        self.dmml = dmml
        self.tx = transfers
        self.log = log
        self.lane = lane
        self.horizon = horizon
        self.learning = learning      # an OtaLearning when the models are real
        c = spec.classes
        rank = np.arange(c, dtype=float)
        p = 1.0 / (rank + 1.0) ** spec.skew
        self.class_p = p / p.sum()
        # Rarer classes are less consistent: a multiplier from 1 - spread (the commonest) to
        # 1 + spread (the rarest), scaled so that the stream's mean gap is the input gap.
        spread = spec.gap.spread if spec.gap is not None else 0.0   # no gap input: learning
        self.class_raw = raw = 1.0 + spread * (2.0 * rank / (c - 1) - 1.0)
        self.class_m = raw / float((self.class_p * raw).sum())
        self.items_gen = [streams(f"ota:{e.name}:items").gen for e in edges]
        self.samplers = [StreamSampler(c, spec.sample_fraction,
                                       streams(f"ota:{e.name}:sample").uniform,
                                       stratified=spec.sampler == "asrs",
                                       min_per_stratum=spec.min_per_stratum) for e in edges]
        self.windows: list[Window] = []
        self.updates: list[dict] = []
        self.training = False
        self.gap_base = spec.gap.start if spec.gap is not None else 0.0
        self.gap_since = 0.0
        self.deployed_at = None

    def gap(self, t: float) -> float:
        return min(1.0, self.gap_base + self.spec.gap.drift * (t - self.gap_since))

    def model_of(self, e: int) -> TrainModel:
        return self.models[e % len(self.models)]

    # ------------------------------------------------------------------ processes
    def run(self):
        env, spec = self.env, self.spec
        if self.learning is not None:
            self.learning.deploy()
        yield from self._send_models("deploy")
        self.deployed_at = self.gap_since = env.now
        w = 0
        while True:
            end = self.deployed_at + (w + 1) * spec.window
            if end > self.horizon:
                return
            yield env.timeout(end - env.now)
            env.process(self._window(w))
            w += 1

    def _send_models(self, kind: str):
        env, t0 = self.env, self.env.now
        events = []
        for e, dev in enumerate(self.edges):
            m = self.model_of(e)
            events.append(self.tx.send(self.server.index, dev.index, m.nbytes, kind))
        yield simpy.AllOf(env, events)
        for e, dev in enumerate(self.edges):
            self.log.add(self.lane[dev.name], self.model_of(e).index, kind, t0, env.now, -1,
                         self.model_of(e).nbytes)

    def _window(self, w: int):
        env, spec = self.env, self.spec
        learn = self.learning
        g = self.gap(env.now) if learn is None else learn.heldout()["gap"]
        per_item = spec.item_bytes + spec.result_bytes
        class_p, class_m = self.class_p, self.class_m
        if spec.class_shift:
            # Non-stationary: class c has rank (c - w x shift) mod C this window; its
            # consistency multiplier stays with the class, renormalised to the window's mix
            # so that the stream's mean gap is still the input gap.
            class_p = np.roll(self.class_p, (w * spec.class_shift) % spec.classes)
            class_m = self.class_raw / float((class_p * self.class_raw).sum())
        uploads, parts = [], []
        for e, dev in enumerate(self.edges):
            gen = self.items_gen[e]
            mean = spec.rate * spec.window
            n = int(gen.poisson(mean)) if spec.arrivals == "poisson" else int(round(mean))
            strata = gen.choice(spec.classes, size=n, p=class_p)
            frames = None
            if learn is None:
                hits = (gen.random(n) < np.minimum(1.0, g * class_m[strata])).astype(float)
            else:
                # Real frames of the drawn classes; the sub-stream of an item is what the
                # edge's model predicts (Alg. 3 line 9), and every model's right answers
                # stand in for the indicator.
                frames = learn.frames(e, strata)
                strata = learn.pred[e % len(self.models)][frames]
                hits = learn.correct[:, frames]
            kept = self.samplers[e].sample(strata, mean)
            parts.append((n, strata, hits, kept, frames))
            uploads.append(self.tx.send(dev.index, self.server.index, len(kept) * per_item,
                                        "upload"))
        t0 = env.now
        yield simpy.AllOf(env, uploads)
        for e, dev in enumerate(self.edges):
            n, _s, _h, kept, frames = parts[e]
            self.log.add(self.lane[dev.name], self.model_of(e).index, "upload", t0, env.now, w,
                         len(kept) * per_item)
            if learn is not None:
                learn.upload(frames[kept])
        sampled = sum(len(p[3]) for p in parts)
        if spec.validate_time > 0 and sampled:
            with self.server.compute.request(priority=URGENT) as req:
                yield req
                t1 = env.now
                d = sampled * len(self.models) * spec.validate_time
                yield env.timeout(d)
                self.server.busy += d
                self.log.add(self.lane[self.server.name], None, "validate", t1, env.now, w)
        items = sum(p[0] for p in parts)
        stratified = spec.sampler == "asrs" and spec.estimator == "stratified"
        if learn is None:
            # Each edge's estimate, weighted by its share of the window's items.
            est = sum(p[0] / items * (estimate(p[2], p[1], p[3], stratified) or 0.0)
                      for p in parts if p[0]) if items else 0.0
            data_gap = float(sum(p[2].sum() for p in parts) / items) if items else 0.0
        else:
            est = eq5_estimate([p[:4] for p in parts], stratified) or 0.0
            data_gap = eq5(np.concatenate([p[2] for p in parts], axis=1))
            learn.window(w, env.now, [(e % len(self.models), p[4]) for e, p in enumerate(parts)])
        win = Window(w, env.now, items, sampled, sampled * per_item, items * per_item, g,
                     data_gap, est)
        self.windows.append(win)
        if est > spec.threshold and not self.training:
            win.triggered = True
            self.training = True
            # A full upload brings the cloud the window's frames it has not had yet.
            rest = ([np.delete(p[4], p[3]) for p in parts] if learn is not None
                    else [None] * len(parts))
            env.process(self._update(w, [p[0] for p in parts], rest))

    def _update(self, w: int, counts: list[int], rest: list):
        env, spec = self.env, self.spec
        rec = {"window": w, "triggered_s": env.now}
        if spec.full_upload:
            per_item = spec.item_bytes + spec.result_bytes
            t0 = env.now
            yield simpy.AllOf(env, [self.tx.send(dev.index, self.server.index, n * per_item,
                                                 "full-upload")
                                    for dev, n in zip(self.edges, counts)])
            for e, (dev, n) in enumerate(zip(self.edges, counts)):
                self.log.add(self.lane[dev.name], self.model_of(e).index, "full-upload", t0,
                             env.now, w, n * per_item)
            if self.learning is not None:
                for f in rest:
                    self.learning.upload(f, full=True)
        rec["uploaded_s"] = env.now
        if self.learning is not None:
            # The models are trained on what the cloud holds when the training starts; they
            # replace the deployed ones only once every edge has them (below).
            self.learning.train()
        trained = yield env.process(self.dmml.train(spec.rounds))
        rec["trained_s"] = trained.end
        yield from self._send_models("update")
        rec["updated_s"] = env.now
        if self.learning is not None:
            self.learning.install(env.now)
        else:
            self.gap_base, self.gap_since = spec.gap.after_update, env.now
        self.updates.append(rec)
        self.training = False
