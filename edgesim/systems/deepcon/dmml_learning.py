"""DMML learned for real (`training.deepcon.learning`): the N heterogeneous models of a DMML
training are real classifiers, trained with Deep Mixup Mutual Learning while :class:`.dmml.Dmml`
charges the schedule's time and bytes.

* **Deep mixup labels** (Eq. 10): for an example (x, y) and another model M_k, the label is
  alpha x softmax(M_k(x)) + (1 - alpha) x onehot(y). Model n's loss (Eq. 11) is the mean over
  the other models k of the cross-entropy of M_n(x) against M_k's label. The "mixup" of DMML
  is this label mixing; the inputs are the data set's own (no input mixup: Alg. 1 feeds the
  same x to every model).
* **Who sees what** is the schedule's, on the simulated clock:

  - ``dmml`` (Alg. 1): every batch, every model's mixup label is computed from the models as
    they are (lines 6-9), then every model takes its step (lines 10-19): the freshest peers;
  - ``dmml-sp``: a task pulls the server's replicas, which change only when the round ends
    (every model pushed): the round's synchronous snapshot;
  - ``dmml-par`` (Alg. 2): a task trains its model from the replicas on the server at the
    moment its pull starts (line 30), the other models' versions as they were then, possibly
    stale by the time it pushes; its push (line 26) replaces that one replica.

* **Metrics** (§2.2) on the held-out split, whenever the models change (after every dmml-par
  push, every dmml-sp or dmml round): Acc per model (Eq. 1) and their mean, C (Eq. 2, all
  models predict the same class), CC (Eq. 3, all predict the true class) and <Acc-CC> (Eq. 5,
  the least accurate model's Acc minus CC).

Every model is pre-trained alone by cross-entropy before t = 0 (the paper's DMML starts from
pre-trained models), from an initialisation seeded by its name. A task's visiting order is a
generator named by (model, round, epoch); its result depends only on the pulled weights, the
round and the seed, so one scenario and seed is one run, bit for bit.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from edgesim.engine.rng import generator


# ---------------------------------------------------------------------- the paper's formulas
def consistency_metrics(preds: np.ndarray, y: np.ndarray) -> dict:
    """Acc (Eq. 1) of each model, C (Eq. 2), CC (Eq. 3) and <Acc-CC> (Eq. 5) from predicted
    classes ``preds`` (models, examples) and true labels ``y`` (examples,)."""
    preds, y = np.asarray(preds), np.asarray(y)
    correct = preds == y[None, :]
    acc = correct.mean(axis=1)
    agree = (preds == preds[:1]).all(axis=0)
    cc = float((agree & correct[0]).mean())
    return {"accuracy": [float(a) for a in acc], "mean_accuracy": float(acc.mean()),
            "min_accuracy": float(acc.min()), "consistency": float(agree.mean()), "cc": cc,
            "gap": float(acc.min()) - cc}


def mixup_labels(peer_probs: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Eq. 10 for every other model: (peers, examples, classes) softmax outputs and the true
    labels give alpha x output + (1 - alpha) x onehot(y), one label per peer and example."""
    peer_probs = np.asarray(peer_probs, dtype=np.float64)
    onehot = np.eye(peer_probs.shape[-1])[np.asarray(y)]
    return alpha * peer_probs + (1.0 - alpha) * onehot[None]


def met(row: dict, target) -> bool:
    """Whether a measurement meets a TargetSpec."""
    if target.consistency is not None:
        return row["consistency"] >= target.consistency
    if target.cc is not None:
        return row["cc"] >= target.cc
    return row["gap"] <= target.gap


# ---------------------------------------------------------------------- torch steps
def dmml_loss(logits, labels):
    """Eq. 11: the mean over the peers of the cross-entropy of ``logits`` (batch, classes)
    against each peer's mixup labels (peers, batch, classes), averaged over the batch."""
    import torch.nn.functional as F
    logp = F.log_softmax(logits, dim=1)
    return -(labels * logp.unsqueeze(0)).sum(dim=2).mean(dim=1).mean()


def _sgd(learner, lr: float):
    import torch
    local = learner.spec.local
    return torch.optim.SGD(learner.model.parameters(), lr=lr, momentum=local.momentum,
                           weight_decay=local.weight_decay)


class DmmlLearning:
    """The N real models: the server's replicas (every version kept), the tasks and the
    held-out measurements."""

    def __init__(self, seed: int, ls, schedule: str, rounds: int, names: list[str],
                 learners: list, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                 pretrain: np.ndarray) -> None:
        self.seed, self.ls, self.schedule, self.rounds = seed, ls, schedule, rounds
        self.names, self.learners = names, learners
        self.y, self.train_set, self.test, self.pretrain_set = labels, train, test, pretrain
        self.classes = learners[0].classes
        self.history: list[list[np.ndarray]] = [[lr.initial] for lr in learners]
        self._preds: dict = {}
        self.pending: dict[int, np.ndarray] = {}
        self.tasks: list[dict] = []
        self.rows: list[dict] = []
        for m in range(len(learners)):
            self.history[m][0] = self._pretrained(m)
        self.measure(0.0, "pretrained", 0)

    # ------------------------------------------------------------------ state
    @property
    def versions(self) -> tuple[int, ...]:
        """The version of each model's replica on the server (0: pre-trained)."""
        return tuple(len(h) - 1 for h in self.history)

    def weights(self, m: int, version: Optional[int] = None) -> np.ndarray:
        h = self.history[m]
        return h[-1] if version is None else h[version]

    def _pretrained(self, m: int) -> np.ndarray:
        learner, ls = self.learners[m], self.ls
        w = learner.initial
        for ep in range(ls.pretrain_epochs):
            gen = generator(self.seed, f"dmml:learn:pretrain:{self.names[m]}:{ep}")
            order = self.pretrain_set[gen.permutation(len(self.pretrain_set))]
            w, _steps, _loss = learner.train(w, order, ls.pretrain_lr)
        return w

    def _lr(self, round_: int) -> float:
        from edgesim.training.learning_build import round_lr
        return round_lr(self.ls.local, min(round_ - 1, self.rounds), self.rounds)

    def _order(self, key: str) -> np.ndarray:
        gen = generator(self.seed, f"dmml:learn:order:{key}")
        return self.train_set[gen.permutation(len(self.train_set))]

    # ------------------------------------------------------------------ DMML-SP / -Par
    def task_weights(self, m: int, pulled: Sequence[int], round_: int) -> np.ndarray:
        """Model ``m`` after one round (Alg. 2 lines 29-43) from the replica versions
        ``pulled``: its own pulled weights trained against the mixup labels of the other
        pulled models. A pure function of (m, pulled, round_, seed)."""
        import torch
        from edgesim.learning.torch_learner import deterministic
        peers = [k for k in range(len(self.learners)) if k != m]
        # The peers' outputs over the training split (their weights do not change in a task).
        probs = np.zeros((len(peers), len(self.y), self.classes))
        for i, k in enumerate(peers):
            probs[i, self.train_set] = self.learners[k].probs(self.weights(k, pulled[k]),
                                                              self.train_set)
        learner, local = self.learners[m], self.ls.local
        with deterministic(learner.device.type):
            learner.load(self.weights(m, pulled[m]))
            opt = _sgd(learner, self._lr(round_))
            learner.model.train()
            for ep in range(local.epochs):
                order = self._order(f"{self.names[m]}:{round_}:{ep}")
                for s in range(0, len(order), local.batch):
                    b = order[s:s + local.batch]
                    labels = torch.from_numpy(mixup_labels(probs[:, b], self.y[b],
                                                           self.ls.alpha)).float()
                    opt.zero_grad(set_to_none=True)
                    dmml_loss(learner.model(learner.x[torch.from_numpy(b)]),
                              labels.to(learner.device)).backward()
                    opt.step()
            return learner.get()

    def pulled(self) -> tuple[int, ...]:
        """What a task's pull gets now: the server's replica versions."""
        return self.versions

    def pushed(self, m: int, pulled: Sequence[int], round_: int, pull_at: float,
               now: float) -> None:
        """A task of model ``m`` has pushed: dmml-par replaces its replica now (and measures);
        dmml-sp keeps it until the round ends."""
        w = self.task_weights(m, pulled, round_)
        self.tasks.append({"model": self.names[m], "round": round_, "pull_s": pull_at,
                           "push_s": now, "pulled": list(pulled)})
        if self.schedule == "dmml-par":
            self.history[m].append(w)
            self.tasks[-1]["version"] = len(self.history[m]) - 1
            self.measure(now, "task", min(self.versions))
        else:
            self.pending[m] = w

    def round_done(self, round_: int, now: float) -> None:
        """dmml-sp: every model is back; the server replaces the replicas together."""
        for m in sorted(self.pending):
            self.history[m].append(self.pending[m])
        self.pending = {}
        self.measure(now, "round", round_)

    # ------------------------------------------------------------------ DMML (Alg. 1)
    def serial_round(self, round_: int, now: float) -> None:
        """One round of Alg. 1: every batch, all models' mixup labels from the models as they
        are, then every model's step against the others' labels."""
        import torch
        import torch.nn.functional as F
        from edgesim.learning.torch_learner import deterministic
        n, local, alpha = len(self.learners), self.ls.local, self.ls.alpha
        with deterministic(self.learners[0].device.type):
            opts = []
            for m, learner in enumerate(self.learners):
                learner.load(self.weights(m))
                learner.model.train()
                opts.append(_sgd(learner, self._lr(round_)))
            for ep in range(local.epochs):
                order = self._order(f"serial:{round_}:{ep}")
                for s in range(0, len(order), local.batch):
                    b = order[s:s + local.batch]
                    bt = torch.from_numpy(b)
                    with torch.no_grad():          # lines 6-9: every model's label first
                        probs = np.stack([F.softmax(lr.model(lr.x[bt]), dim=1).cpu().numpy()
                                          for lr in self.learners]).astype(np.float64)
                    for m, learner in enumerate(self.learners):     # lines 10-19
                        peers = [k for k in range(n) if k != m]
                        labels = torch.from_numpy(mixup_labels(probs[peers], self.y[b],
                                                               alpha)).float()
                        opts[m].zero_grad(set_to_none=True)
                        dmml_loss(learner.model(learner.x[bt]),
                                  labels.to(learner.device)).backward()
                        opts[m].step()
            for m, learner in enumerate(self.learners):
                self.history[m].append(learner.get())
        self.measure(now, "round", round_)

    # ------------------------------------------------------------------ measurements
    def predictions(self, m: int, version: int) -> np.ndarray:
        key = (m, version)
        if key not in self._preds:
            self._preds[key] = self.learners[m].probs(self.weights(m, version),
                                                      self.test).argmax(axis=1)
        return self._preds[key]

    def measure(self, now: float, event: str, round_: int) -> None:
        v = self.versions
        preds = np.stack([self.predictions(m, v[m]) for m in range(len(self.learners))])
        row = consistency_metrics(preds, self.y[self.test])
        acc = row.pop("accuracy")
        self.rows.append({"time_s": now, "event": event, "round": round_,
                          "tasks": len(self.tasks)} | row
                         | {f"acc:{name}": a for name, a in zip(self.names, acc)})

    def summary(self) -> dict:
        first, last = self.rows[0], self.rows[-1]
        keys = ("mean_accuracy", "min_accuracy", "consistency", "cc", "gap")
        out = {
            "models": {name: {"model": lr.spec.model.name, "parameters": lr.params}
                       for name, lr in zip(self.names, self.learners)},
            "alpha": self.ls.alpha, "train_examples": int(len(self.train_set)),
            "test_examples": int(len(self.test)),
            "pretrain_examples": int(len(self.pretrain_set)),
            "measurements": len(self.rows),
            "initial": {k: first[k] for k in keys}
            | {"accuracy": {n: first[f"acc:{n}"] for n in self.names}},
            "final": {k: last[k] for k in keys}
            | {"accuracy": {n: last[f"acc:{n}"] for n in self.names}},
        }
        target = self.ls.target
        if target is not None:
            out["target"] = time_to_target(self.rows, target)
        return out


def time_to_target(rows: list[dict], target) -> dict:
    """When the measurements ``rows`` (in time order) first meet ``target`` (``time_s``), and
    from when on they all do (``sustained_time_s``): a schedule measured more often (dmml-par,
    after every push) gets more chances to cross a target by a passing fluctuation, so the
    sustained time is the one to compare schedules on."""
    which = next(k for k in ("consistency", "cc", "gap") if getattr(target, k) is not None)
    ok = [met(r, target) for r in rows]
    hit = ok.index(True) if True in ok else None
    last_miss = max((i for i, v in enumerate(ok) if not v), default=-1)
    held = last_miss + 1 if last_miss + 1 < len(rows) else None
    return {"metric": which, "value": getattr(target, which), "reached": hit is not None,
            "time_s": rows[hit]["time_s"] if hit is not None else None,
            "round": rows[hit]["round"] if hit is not None else None,
            "tasks": rows[hit]["tasks"] if hit is not None else None,
            "sustained_time_s": rows[held]["time_s"] if held is not None else None}


def build_dmml_learning(sim, spec, base: str) -> Optional[DmmlLearning]:
    """The learning of a DMML training with `learning:` (``spec`` the DeepconSpec at
    ``base``), or None after a recorded problem."""
    from types import SimpleNamespace

    from edgesim.training.learning_build import load_dataset, make_learner, split, torch_available
    ls = spec.learning
    path = f"{base}.learning"
    if not torch_available(sim, path):
        return None
    if list(ls.models) != list(spec.models):
        sim.problem(f"{path}.models", "must name the models of training.deepcon.models, in "
                    f"their order: {', '.join(spec.models)}", ", ".join(ls.models))
        return None
    data = load_dataset(sim, ls.dataset, f"{path}.dataset")
    if data is None:
        return None
    train, test = split(sim, data, ls.dataset.holdout)
    pretrain = train
    if ls.pretrain is not None:
        if ls.pretrain > len(train):
            sim.problem(f"{path}.pretrain", f"more than the {len(train)} examples of the "
                        "training split", ls.pretrain)
            return None
        gen = generator(sim.seed, "dmml:learn:pretrain-set")
        pretrain = np.sort(train[gen.choice(len(train), size=ls.pretrain, replace=False)])
    from edgesim.learning.torch_learner import Learner
    learners = []
    for name, model in ls.models.items():
        # Each model from its own initialisation, a seed of its own name.
        own = int(generator(sim.seed, f"dmml:learn:init:{name}").integers(2 ** 31))
        shape = SimpleNamespace(model=model, local=ls.local)
        learner = make_learner(sim, lambda s, d, _seed, own=own: Learner(s, d, own), shape,
                               data, f"{path}.models.{name}")
        if learner is None:
            return None
        learners.append(learner)
    return DmmlLearning(sim.seed, ls, spec.schedule, spec.rounds, list(ls.models), learners,
                        data.y, train, test, pretrain)
