"""The learning inside a Mercury run (`training.mercury.learning`): what the K devices really
train while :class:`.mercury.Mercury` charges the schedule's time.

Each device holds a shard of the data set, split into the D groups of §2.4.1. The schedule
tells this object when things happen, and it does them for real:

* a device **computes importance** of n samples (the sequential pipeline's group, or a batch
  of BACC's second thread): the next n samples of its data, round-robin, get their loss on
  the current model and the current step as their stamp;
* a device **starts a gradient computation** for iteration t: it draws its mini-batch, uniformly
  (``sgd``) or group-wise by importance (Eq. 2.4, 2.5, with the unbiasing weights);
* a device **picks its resharding samples** of round r (§2.4.2, :mod:`.reshard`): by
  importance, N_o M_i / sum M_j from each group i with p of Eq. 2.5, or uniformly; when they
  arrive at the partner they take the places of the partner's own picks of the round (in its
  shard, its groups and its importance), so the learning draws them from then on;
* the first device to **finish aggregating** iteration t applies the iteration: one SGD step
  on every device's weighted examples, the gradient averaged (data-parallel SGD is one step
  on the union of the K mini-batches), then, every ``eval_every`` iterations, measures
  held-out accuracy.

Every draw comes from a generator named by (device, iteration), and the losses are pure
functions of the weights, so one seed gives the same run bit for bit.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from edgesim.engine.rng import generator
from edgesim.learning.groupwise import minibatch

#: Schedules that sample mini-batches uniformly (SGD's random sampling).
UNIFORM = ("sgd", "tictac", "adacomm")


class MercuryLearning:
    """The model, the shards and their importance, advanced by the simulated schedule."""

    def __init__(self, seed: int, spec, schedule: str, learner, shards: list[np.ndarray],
                 test: np.ndarray) -> None:
        self.seed, self.spec, self.schedule = seed, spec, schedule
        self.ls = spec.learning
        self.learner, self.test = learner, test
        self.shards = shards
        D = spec.group.groups
        # Groups are contiguous slices of a device's (shuffled) shard, so round-robin
        # importance computation refreshes them one after another, as §2.4.1 describes.
        self.groups = [[idx for idx in np.array_split(np.arange(len(s)), D) if len(idx)]
                       for s in shards]
        self.importance = [np.ones(len(s)) for s in shards]
        self.stamp = [np.full(len(s), -1.0) for s in shards]
        self.cursor = [0] * len(shards)
        self.weights = learner.initial.copy()
        self.version = 0                     # iterations applied
        self.batches: dict[int, dict[int, tuple]] = {}
        self.rows: list[dict] = []
        self.target_iteration: Optional[int] = None
        self.target_time: Optional[float] = None
        self.computed = 0                    # importance values computed for real
        self.local: Optional[list[np.ndarray]] = None    # AdaComm: each device's own copy
        self._first: dict[int, dict[int, float]] = {}
        self._round_loss: dict[int, list[float]] = {}
        # resharding: each device's picked slots per round, slots waiting for their sample,
        # arrivals before the receiver picked its slots of the round
        self.rs_slots: dict[tuple[int, int], np.ndarray] = {}
        self.rs_pending = [set() for _ in shards]
        self.rs_early: dict[tuple[int, int], list] = {}
        self.rs_moved = 0

    @property
    def done(self) -> bool:
        return self.ls.stop_at_target and self.target_iteration is not None

    # ------------------------------------------------------------------ importance
    def compute_importance(self, k: int, t: int, n: int) -> None:
        """The next ``n`` samples of device k, round-robin, get their loss now."""
        size = len(self.shards[k])
        if n <= 0 or size == 0:
            return
        n = min(n, size)
        start = self.cursor[k]
        local = (start + np.arange(n)) % size
        self.cursor[k] = int((start + n) % size)
        self.importance[k][local] = self.learner.losses(self.weights, self.shards[k][local])
        self.stamp[k][local] = t
        self.computed += n

    # ------------------------------------------------------------------ resharding
    def reshard_pick(self, k: int, r: int, n: int, rule: str) -> tuple:
        """Device k's samples for resharding round r: (slots, sample ids, importance, step),
        slots in group order. ``rule`` 'importance': N_o M_i / sum M_j from each group i
        (largest remainders), without replacement with p of Eq. 2.5; 'random': uniform."""
        gen = generator(self.seed, f"mercury:reshard:{k}:{r}")
        pending = self.rs_pending[k]
        imp = self.importance[k]
        free = [g[~np.isin(g, list(pending))] if pending else g for g in self.groups[k]]
        if rule == "random":
            pool = np.concatenate(free)
            slots = np.sort(gen.choice(pool, size=min(n, len(pool)), replace=False))
        else:
            sizes = np.array([len(g) for g in self.groups[k]], dtype=float)
            share = n * sizes / sizes.sum()
            quota = np.floor(share).astype(int)
            order = np.argsort(-(share - quota), kind="stable")
            quota[order[:n - quota.sum()]] += 1
            picks = []
            for g, q in zip(free, quota):
                q = min(int(q), len(g))
                if q <= 0:
                    continue
                w = imp[g] + 1e-12
                picks.append(np.sort(gen.choice(g, size=q, replace=False, p=w / w.sum())))
            slots = np.concatenate(picks) if picks else np.zeros(0, dtype=int)
        self.rs_slots[(k, r)] = slots
        pending.update(int(x) for x in slots)
        payload = (slots, self.shards[k][slots].copy(), imp[slots].copy(),
                   self.stamp[k][slots].copy())
        for lo, hi, early in self.rs_early.pop((k, r), []):
            self.reshard_arrive(k, r, early, lo, hi)
        return payload

    def reshard_arrive(self, j: int, r: int, payload: tuple, lo: int, hi: int) -> None:
        """Samples lo..hi-1 of a round-r payload have reached device j: each takes the place of
        j's own pick of the same rank in round r."""
        target = self.rs_slots.get((j, r))
        if target is None:
            self.rs_early.setdefault((j, r), []).append((lo, hi, payload))
            return
        _, ids, imp, stamp = payload
        for i in range(lo, min(hi, len(target))):
            slot = int(target[i])
            self.shards[j][slot] = ids[i]
            if self.spec.reshard.importance == "carry":
                self.importance[j][slot], self.stamp[j][slot] = imp[i], stamp[i]
            else:
                group = next(g for g in self.groups[j] if slot in g)
                self.importance[j][slot] = self.importance[j][group].mean()
                self.stamp[j][slot] = -1.0
            self.rs_pending[j].discard(slot)
            self.rs_moved += 1

    # ------------------------------------------------------------------ a mini-batch
    def draw(self, k: int, t: int) -> None:
        """Device k's mini-batch of iteration t, drawn when its gradient computation starts."""
        gen = generator(self.seed, f"mercury:batch:{k}:{t}")
        shard, size = self.shards[k], self.spec.batch
        if self.schedule in UNIFORM:
            pos = self._uniform(gen, k)
            w = np.ones(len(pos))
        else:
            groups = self.groups[k]
            stamps = np.array([self.stamp[k][g].mean() for g in groups])
            local, w = minibatch(gen, groups, self.importance[k], stamps, self.ls.beta,
                                 self.ls.select, size)
            pos = shard[local]
        self.batches.setdefault(t, {})[k] = (pos, w)

    def _uniform(self, gen: np.random.Generator, k: int) -> np.ndarray:
        shard = self.shards[k]
        return shard[gen.choice(len(shard), size=min(self.spec.batch, len(shard)),
                                replace=False)]

    # ------------------------------------------------------------------ an iteration
    def apply(self, t: int, now: float) -> None:
        """Iteration t's averaged step (once, by whichever device finishes it first)."""
        if self.version > t:
            return
        parts = self.batches.pop(t)
        pos = np.concatenate([parts[k][0] for k in sorted(parts)])
        w = np.concatenate([parts[k][1] for k in sorted(parts)])
        self.weights, loss = self.learner.weighted_step(self.weights, pos, w, self.ls.lr)
        self._advanced(t, now, loss)

    # ------------------------------------------------------------------ local updates
    def local_step(self, k: int, r: int, s: int) -> None:
        """AdaComm: device k's local SGD step s of round r, on its own copy of the model."""
        if self.local is None:
            self.local = [self.weights.copy() for _ in self.shards]
        gen = generator(self.seed, f"mercury:local:{k}:{r}:{s}")
        pos = self._uniform(gen, k)
        self.local[k], loss = self.learner.weighted_step(self.local[k], pos,
                                                         np.ones(len(pos)), self.ls.lr)
        if s == 0:
            self._first.setdefault(r, {})[k] = loss
        self._round_loss.setdefault(r, []).append(loss)

    def first_loss(self, r: int) -> float:
        """Mean mini-batch loss of round r's first local steps: the training loss at the
        model averaged before it."""
        losses = self._first[r]
        return float(np.mean([losses[k] for k in sorted(losses)]))

    def average(self, r: int, now: float) -> None:
        """AdaComm: round r's model average (once, by whichever device finishes it first)."""
        if self.version > r:
            return
        self.weights = np.mean(np.stack(self.local), axis=0)
        self.local = [self.weights.copy() for _ in self.shards]
        self._advanced(r, now, float(np.mean(self._round_loss.pop(r))))

    def _advanced(self, t: int, now: float, loss: float) -> None:
        self.version = t + 1
        if (t + 1) % self.ls.eval_every == 0 or t + 1 == self.spec.iterations:
            tl, acc = self.learner.evaluate(self.weights, self.test)
            self.rows.append({"iteration": t + 1, "time": now, "train_loss": loss,
                              "loss": tl, "accuracy": acc})
            if self.target_iteration is None and acc >= self.ls.target_accuracy:
                self.target_iteration, self.target_time = t + 1, now

    def summary(self) -> dict:
        accs = [r["accuracy"] for r in self.rows]
        return {
            "model": self.ls.model.name, "parameters": self.learner.params,
            "examples_per_device": [len(s) for s in self.shards],
            "target_accuracy": self.ls.target_accuracy,
            "iterations_to_target": self.target_iteration,
            "time_to_target_s": self.target_time,
            "final_accuracy": accs[-1] if accs else None,
            "best_accuracy": max(accs) if accs else None,
            "iterations_run": self.version,
            "importance_computed": self.computed,
            "resharded_samples_moved": self.rs_moved,
            "accuracy_curve": [(r["iteration"], r["accuracy"]) for r in self.rows],
        }



def build_learning(sim, spec, devices: list, base: str) -> Optional[MercuryLearning]:
    """The learning of a Mercury scenario with `learning:`, or None after a recorded problem.
    The model trained is the model on the wire and the data is the data sampled, so `params`
    and `samples` must be the model's and the training split's."""
    from types import SimpleNamespace

    from edgesim.scenario.learning_schema import LocalSpec
    from edgesim.training.learning_build import load_dataset, make_learner, shards, split, torch_available
    ls = spec.learning
    path = f"{base}.learning"
    if not torch_available(sim, path) or not devices:
        return None
    data = load_dataset(sim, ls.dataset, f"{path}.dataset")
    if data is None:
        return None
    train, test = split(sim, data, ls.dataset.holdout)
    parts = shards(sim, data, train, len(devices), ls.partition, f"{path}.partition")
    if parts is None:
        return None
    from edgesim.learning.torch_learner import Learner
    shape = SimpleNamespace(model=ls.model, local=LocalSpec(batch=spec.batch, lr=ls.lr))
    learner = make_learner(sim, lambda s, d, seed: Learner(s, d, seed, device=ls.device),
                           shape, data, f"{path}.model")
    if learner is None:
        return None
    if spec.samples != len(train):
        sim.problem(f"{base}.samples", f"with learning, the samples are the data set's "
                    f"training split: {len(train)}", spec.samples)
    if ls.select > spec.group.groups:
        sim.problem(f"{path}.select", f"picks more groups than the D = {spec.group.groups}",
                    ls.select)
    if sim.problems:
        return None
    return MercuryLearning(sim.seed, spec, spec.schedule, learner,
                           [train[s] for s in parts], test)
