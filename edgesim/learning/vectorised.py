"""Many clients' local SGD in one batched pass: :meth:`.torch_learner.Learner.train_many`.

K clients start from the same weights, each with its own example order. Their parameters are
stacked along a new leading axis and every SGD step runs once for all of them:
``torch.func.vmap`` over ``grad_and_value(functional_call(model, ...))`` turns each layer's
matmul or convolution into one batched kernel, and the optimiser's update is one elementwise
op over the stack. A round of many small clients then costs about one client's Python and
kernel-launch overhead instead of K (the cost that dominates small models on a CPU, and every
model on a GPU).

Exactness. Each client takes exactly the steps :meth:`Learner.train` takes: the same batches
(``local.batch`` examples, the last one shorter), in the same order, and no padding enters any
client's loss. The j-th full batches of all clients that have one are one pass (clients are
stacked by their number of full batches, so those are a prefix of the stack); then every
short last batch of one size is one pass, whichever step it is for each client (:class:`_Plan`).
The update repeats ``torch.optim.SGD``'s single-tensor arithmetic op for op (weight decay
added to the gradient, the momentum buffer cloned on a client's first step, then
``buf * m + g``, then ``p - lr * buf``), and the mask multiplies after every step, as in
``train``. The loss is F.cross_entropy's mean written as log_softmax, gather and mean (ops
with C++ batching rules; vmap would run nll_loss through a Python decomposition): the same
gradient, bit for bit.

On the CPU, models of linear layers (logreg, mlp, the LSTM) give weights bit-identical to
``train``: a batched matmul runs the same kernel per client as the single one. Models with
convolutions do not: vmap runs a convolution as one grouped convolution, and GroupNorm over
the merged batch, whose kernels round a few float32 ulps differently, and where a ReLU's or
max-pool's input lies within that rounding of its kink, that unit's gradient differs
outright. Measured: at most ~1e-7 of the largest weight for the small CNNs on the digits
(tests/test_vectorised.py asserts 1e-6 there), but up to 2e-4 after one step of ResNet-18
on 32x32 images. Both are valid SGD trajectories; they are not the same one. So that a
client's result still depends on nothing but its own inputs, a pass of one client through
a model with convolutions is computed as a pass of two (itself twice): kernels for one
group and for two or more may differ, for two and more they agreed in every case tried
(2 to 64 clients of the small CNN, 2 to 4 of ResNet-18), so a client's weights do not depend
on how many others trained beside it. The reported mean loss is computed as
``F.cross_entropy``'s CPU kernel computes it (:func:`nll_mean`), so it is bit-identical too
where the weights are.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch.func import functional_call, grad_and_value, vmap
from torch.nn import functional as F

# nll_loss's CPU kernel (aten/src/ATen/native/LossNLL.cpp) sums a batch's losses in a cascade
# of 8 partial sums, each fed every 16th carry of the one below, then adds them bottom-up.
_LEVELS, _POWER = 8, 4


def nll_mean(per: np.ndarray) -> np.ndarray:
    """The mean of each row of per-example losses (k, n), rounded as ``F.cross_entropy``'s
    mean reduction rounds it on the CPU (float32 cascade sum, then / n)."""
    k, n = per.shape
    per = per.astype(np.float32, copy=False)
    sums = np.zeros((_LEVELS, k), dtype=np.float32)
    mask = (1 << _POWER) - 1
    for b in range(n):
        sums[0] += per[:, b]
        for j in range(_LEVELS - 1):
            if b & (mask << (j * _POWER)):
                break
            sums[j + 1] += sums[j]
            sums[j] = 0.0
    total = np.zeros(k, dtype=np.float32)
    for j in range(_LEVELS):
        total += sums[j]
    return total / np.float32(n)


class _Plan:
    """Which clients step together. A client's order is ``full`` batches of ``local.batch``
    examples, then (when the length does not divide) one ``last`` shorter batch. Clients
    are stacked by ``full``, descending, so that the j-th full batches of all clients that
    have one are a prefix of the stack (one pass each); then every short last batch of the
    same size is one pass, whichever step it is for each client (the clients' states are
    separate, so only the order of each client's own steps matters)."""

    def __init__(self, lengths: list[int], batch: int) -> None:
        self.full = [n // batch for n in lengths]
        last = [n % batch for n in lengths]
        self.steps = [f + (1 if r else 0) for f, r in zip(self.full, last)]
        self.rank = sorted(range(len(lengths)), key=lambda k: (-self.full[k], k))
        self.prefix = [sum(1 for f in self.full if f > j) for j in range(max(self.full))]
        tails: dict[tuple[int, bool], list[int]] = {}
        for i, k in enumerate(self.rank):
            if last[k]:
                # A client whose only step this is starts its momentum buffer here.
                tails.setdefault((last[k], self.full[k] == 0), []).append(i)
        self.tails = sorted(tails.items(), key=lambda t: (-t[0][0], t[0][1]))


class Vectorised:
    """The batched step of one Learner's model (built once: building the transform costs
    about what a small step costs)."""

    def __init__(self, learner) -> None:
        self.learner = learner
        model = learner.model
        # See the module's docstring: only convolutions round differently for one client.
        self.pair = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())

        names = [n for n, _ in model.named_parameters()]

        def loss(params: tuple, x: torch.Tensor, y: torch.Tensor):
            logits = functional_call(model, dict(zip(names, params)), (x,))
            # F.cross_entropy's mean written out of ops that have C++ batching rules (vmap
            # runs nll_loss through a Python decomposition, 4x slower for a small model): the
            # same gradient, -1/n at each target through log_softmax's backward.
            picked = F.log_softmax(logits, dim=-1).gather(-1, y.unsqueeze(-1))
            return -picked.mean(), logits.detach()

        self.grad = vmap(grad_and_value(loss, has_aux=True))

    def train_many(self, flat: np.ndarray, orders: list[np.ndarray], lr: float,
                   mask: Optional[np.ndarray]) -> list[tuple[np.ndarray, int, float]]:
        L = self.learner
        B = L.spec.local.batch
        K = len(orders)
        if K == 0:
            return []
        if K == 1 and not self.pair:
            # The same bits as a pass of one (tested), without vmap's overhead.
            return [L.train(flat, orders[0], lr, mask)]
        plan = _Plan([len(o) for o in orders], B)
        pos = np.zeros((K, max(1, max(len(o) for o in orders))), dtype=np.int64)
        for i, k in enumerate(plan.rank):
            pos[i, :len(orders[k])] = orders[k]
        L.load(flat)
        self.names = [n for n, _ in L.model.named_parameters()]
        stack = {n: p.detach().unsqueeze(0).repeat(K, *([1] * p.dim()))
                 for n, p in L.model.named_parameters()}
        bufs = ({n: torch.empty_like(v) for n, v in stack.items()}
                if L.spec.local.momentum else None)
        self.masks = None
        if mask is not None:
            m = torch.from_numpy(mask.astype(np.float32)).to(L.device)
            self.masks = {n: m[sl].view(s) for n, sl, s in zip(self.names, L.layers, L.shapes)}
        totals = np.zeros(K)
        L.model.train()
        for j, m in enumerate(plan.prefix):
            idx = torch.from_numpy(pos[:m, j * B:(j + 1) * B]).to(L.device)
            means = self._step({n: v[:m] for n, v in stack.items()},
                               None if bufs is None else {n: v[:m] for n, v in bufs.items()},
                               idx, j == 0, lr)
            totals[:m] += means * B
        for (size, first), rows in plan.tails:
            at = np.asarray(rows)
            full = np.asarray([plan.full[plan.rank[i]] for i in rows])
            idx = torch.from_numpy(pos[at[:, None], full[:, None] * B + np.arange(size)])
            sel = torch.from_numpy(at).to(L.device)
            views = {n: v.index_select(0, sel) for n, v in stack.items()}
            bv = None if bufs is None else {n: v.index_select(0, sel) for n, v in bufs.items()}
            means = self._step(views, bv, idx.to(L.device), first, lr)
            for n in self.names:
                stack[n].index_copy_(0, sel, views[n])
                if bv is not None:
                    bufs[n].index_copy_(0, sel, bv[n])
            totals[at] += means * size
        out = torch.cat([stack[n].reshape(K, -1) for n in self.names], dim=1)
        weights = out.cpu().numpy().astype(np.float32, copy=False)
        result: list = [None] * K
        for i, k in enumerate(plan.rank):
            result[k] = (weights[i].copy(), plan.steps[k], totals[i] / max(len(orders[k]), 1))
        return result

    def _step(self, params: dict, bufs: Optional[dict], idx: torch.Tensor, first: bool,
              lr: float) -> np.ndarray:
        """One SGD step of the k clients whose stacked parameters are ``params`` (updated in
        place) on the examples ``idx`` (k, batch); each client's mean loss, as float64."""
        L = self.learner
        k = idx.shape[0]
        pair = self.pair and k == 1
        twice = (lambda t: torch.cat([t, t])) if pair else (lambda t: t)
        grads, (_, logits) = self.grad(tuple(twice(params[n]) for n in self.names),
                                       twice(L.x[idx]), twice(L.y[idx]))
        for n, g in zip(self.names, grads):
            self._update(params[n], g[:k], None if bufs is None else bufs[n], first, lr)
            if self.masks is not None:
                params[n].mul_(self.masks[n])
        # Each example's loss as Learner.train's cross_entropy computes it, then its mean as
        # that kernel sums; float32 means widened exactly, as float(loss) widens them in train.
        per = F.cross_entropy(logits[:k].flatten(0, 1), L.y[idx].flatten(), reduction="none")
        return nll_mean(per.view(idx.shape).cpu().numpy()).astype(np.float64)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, buf: Optional[torch.Tensor],
                first: bool, lr: float) -> None:
        """torch.optim.SGD's single-tensor step (dampening 0, no Nesterov) on stacked
        clients, in place."""
        local = self.learner.spec.local
        if local.weight_decay != 0:
            grad = grad.add(p, alpha=local.weight_decay)
        if buf is not None:
            if first:
                buf.copy_(grad)
            else:
                buf.mul_(local.momentum).add_(grad, alpha=1 - 0.0)
            grad = buf
        p.add_(grad, alpha=-lr)
