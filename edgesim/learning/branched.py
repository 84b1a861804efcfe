"""The branched model of decentralized sub-model training: shared layers (a small feature
extractor) and one functionality structure (branch) per class, each a hidden layer of
``branch_width`` ReLU units feeding that class's single logit. Imports torch; only a
`training.decentralized` system loads it, when it is built.

A sub-model is the shared layers plus the branches of its tasks: it computes only those
branches (its forward FLOPs grow with its task count) and its cross-entropy is over its own
classes. The flat vector is ``[shared | branch 0 | ... | branch C-1]`` (the order of
``parameters()``), the :class:`.consensus.Layout` the exchanges and recomposition use. Every
call runs inside :func:`.torch_learner.deterministic`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgesim.learning.consensus import Layout
from edgesim.learning.data import Dataset
from edgesim.learning.torch_learner import deterministic, feature_layers, flat_weights, load_flat


def _trunk(spec, shape: tuple) -> tuple[nn.Sequential, int]:
    """The shared layers of a ModelSpec-like spec (an MLP's or CNN's hidden layers), and the
    width of their output."""
    layers, width = feature_layers(spec, shape)
    return nn.Sequential(*layers), width


class Branched(nn.Module):
    """Shared trunk + one branch per class; ``forward(x, tasks)`` gives the tasks' logits."""

    def __init__(self, spec, shape: tuple, classes: int) -> None:
        super().__init__()
        self.trunk, self.features = _trunk(spec, shape)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(self.features, spec.branch_width), nn.ReLU(),
                          nn.Linear(spec.branch_width, 1)) for _ in range(classes))

    def task_parameters(self, tasks: Sequence[int]) -> list:
        """The parameters a sub-model of ``tasks`` trains: the trunk and those branches."""
        out = list(self.trunk.parameters())
        for t in tasks:
            out += list(self.branches[t].parameters())
        return out

    def forward(self, x: torch.Tensor, tasks: Sequence[int]) -> torch.Tensor:
        z = self.trunk(x)
        # The tasks' branches side by side, as one batched matmul (one kernel, not one each).
        w1 = torch.stack([self.branches[t][0].weight for t in tasks])     # (k, width, d)
        b1 = torch.stack([self.branches[t][0].bias for t in tasks])       # (k, width)
        w2 = torch.stack([self.branches[t][2].weight[0] for t in tasks])  # (k, width)
        b2 = torch.cat([self.branches[t][2].bias for t in tasks])         # (k,)
        h = F.relu(torch.einsum("bd,kwd->bkw", z, w1) + b1)
        return torch.einsum("bkw,kw->bk", h, w2) + b2


class BranchedLearner:
    """One branched architecture on one data set; stateless between calls (weights come in and
    go out as flat float32 vectors)."""

    def __init__(self, spec, data: Dataset, seed: int) -> None:
        self.spec = spec
        self.classes = data.classes
        shape = data.x.shape[1:]
        self.x = torch.from_numpy(np.ascontiguousarray(data.x.reshape(len(data.x), -1)))
        self.y = torch.from_numpy(data.y)
        with torch.random.fork_rng(devices=[]), deterministic():
            torch.manual_seed(seed)
            self.model = self.module(spec.model, shape, data.classes)
        params = list(self.model.parameters())
        self.sizes = [p.numel() for p in params]
        self.params = int(sum(self.sizes))
        starts = np.cumsum([0] + self.sizes)
        self.slices = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]
        self.shared_params = int(sum(p.numel() for p in self.model.trunk.parameters()))
        self.layout = self._layout(data.classes)
        self.initial = self.get()
        self.trunk_flops = self._trunk_flops(shape)
        w = spec.model.branch_width
        self.branch_flops = 2.0 * self.model.features * w + 2.0 * w

    module = Branched

    def _layout(self, classes: int) -> Layout:
        branch = sum(p.numel() for p in self.model.branches[0].parameters())
        layout = Layout(self.shared_params, int(branch), classes)
        assert layout.size == self.params
        return layout

    # ------------------------------------------------------------------ weights
    def get(self) -> np.ndarray:
        return flat_weights(self.model)

    def load(self, flat: np.ndarray) -> None:
        load_flat(self.model, self.slices, flat)

    # ------------------------------------------------------------------ learning
    def _targets(self, tasks: Sequence[int], idx: torch.Tensor) -> torch.Tensor:
        remap = torch.full((self.classes,), -1, dtype=torch.int64)
        remap[torch.as_tensor(list(tasks))] = torch.arange(len(tasks))
        return remap[self.y[idx]]

    def train(self, flat: np.ndarray, tasks: Sequence[int], order: np.ndarray,
              lr: float) -> tuple[np.ndarray, int, float]:
        """SGD of the sub-model with ``tasks`` over the examples ``order`` (all of them of
        those classes) from ``flat``; the other branches are untouched. (weights, steps, mean
        training loss)."""
        local = self.spec.local
        tasks = list(tasks)
        with deterministic():
            self.load(flat)
            params = self.model.task_parameters(tasks)
            opt = torch.optim.SGD(params, lr=lr, momentum=local.momentum,
                                  weight_decay=local.weight_decay)
            idx = torch.from_numpy(np.asarray(order, dtype=np.int64))
            total, steps = 0.0, 0
            self.model.train()
            for start in range(0, len(idx), local.batch):
                b = idx[start:start + local.batch]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(self.model(self.x[b], tasks), self._targets(tasks, b))
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
                steps += 1
            return self.get(), steps, total / max(len(idx), 1)

    def evaluate(self, flat: np.ndarray, tasks: Sequence[int],
                 positions: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) of the sub-model with ``tasks`` on ``positions`` (examples of
        those classes); all classes' tasks evaluate the recomposed global model."""
        tasks = list(tasks)
        if len(positions) == 0:
            return math.nan, math.nan
        with deterministic(), torch.no_grad():
            self.load(flat)
            self.model.eval()
            b = torch.from_numpy(np.asarray(positions, dtype=np.int64))
            logits = self.model(self.x[b], tasks)
            target = self._targets(tasks, b)
            loss = float(F.cross_entropy(logits, target))
            acc = float((logits.argmax(1) == target).double().mean())
            return loss, acc

    # ------------------------------------------------------------------ cost
    def flops_per_example(self, tasks: int) -> float:
        """Forward FLOPs of one example through a sub-model of ``tasks`` branches (2 per
        multiply-add of the linear and conv layers, as :class:`.torch_learner.Learner`)."""
        return self.trunk_flops + tasks * self.branch_flops

    def _trunk_flops(self, shape: tuple) -> float:
        total = 0.0
        x = torch.zeros((1, int(np.prod(shape))))
        with torch.no_grad():
            for layer in self.model.trunk:
                y = layer(x)
                if isinstance(layer, nn.Linear):
                    total += 2.0 * layer.in_features * layer.out_features
                elif isinstance(layer, nn.Conv2d):
                    total += 2.0 * math.prod(layer.kernel_size) * layer.in_channels * y[0].numel()
                x = y
        return total


# ---------------------------------------------------------------------- the dense original
class Dense(nn.Module):
    """The original network the paper decouples: the same trunk, one dense deep layer of
    ``spec.deep`` ReLU units, and every class's logit; ``forward(x, tasks)`` gives the tasks'
    logits (the central baseline asks for all of them)."""

    def __init__(self, spec, shape: tuple, classes: int) -> None:
        super().__init__()
        self.trunk, self.features = _trunk(spec, shape)
        self.deep = nn.Linear(self.features, spec.deep)
        self.head = nn.Linear(spec.deep, classes)

    def task_parameters(self, tasks: Sequence[int]) -> list:
        return list(self.parameters())

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.deep(self.trunk(x)))

    def forward(self, x: torch.Tensor, tasks: Sequence[int]) -> torch.Tensor:
        return self.head(self.hidden(x))[:, list(tasks)]


class DenseLearner(BranchedLearner):
    """The dense network on one data set; ``flops_per_example`` is the whole network's
    whatever the task count; ``decouple`` gives the branched model the nodes start from."""

    module = Dense

    def _layout(self, classes: int) -> None:
        return None                         # one dense vector: no per-class slices

    def flops_per_example(self, tasks: int) -> float:
        m = self.model
        return self.trunk_flops + 2.0 * m.features * m.deep.out_features \
            + 2.0 * m.deep.out_features * self.classes

    def decouple(self, flat: np.ndarray, positions: np.ndarray,
                 branched: BranchedLearner) -> tuple[np.ndarray, list[list[int]]]:
        """The dense weights ``flat`` decoupled into ``branched``'s flat vector: the trunk as
        it is, and for each class c the ``branch_width`` deep units of largest importance for
        c (their mean contribution to c's logit over the examples of c in ``positions``:
        mean ReLU activation x the unit's weight into c's logit; ties to the lower unit), with
        their input weights and biases, their weights into c's logit and c's bias. With every
        unit kept it is the dense network. Returns (branched weights, kept units per class)."""
        w = branched.spec.model.branch_width
        kept: list[list[int]] = []
        with deterministic(), torch.no_grad():
            self.load(flat)
            branched.load(branched.initial)
            d, b = self.model, branched.model
            d.eval()
            idx = torch.from_numpy(np.asarray(positions, dtype=np.int64))
            h, y = d.hidden(self.x[idx]), self.y[idx]
            for pb, pd in zip(b.trunk.parameters(), d.trunk.parameters()):
                pb.copy_(pd)
            for c in range(self.classes):
                rows = h[y == c]
                act = rows.mean(0) if len(rows) else torch.ones(h.shape[1])
                score = (act * d.head.weight[c]).double().numpy()
                units = np.sort(np.argsort(-score, kind="stable")[:w])
                u = torch.from_numpy(units)
                br = b.branches[c]
                br[0].weight.copy_(d.deep.weight[u])
                br[0].bias.copy_(d.deep.bias[u])
                br[2].weight.copy_(d.head.weight[c, u][None])
                br[2].bias.copy_(d.head.bias[c:c + 1])
                kept.append(units.tolist())
            return branched.get(), kept
