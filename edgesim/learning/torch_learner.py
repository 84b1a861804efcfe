"""The real learning: a small PyTorch classifier trained, evaluated and scored for loss on
examples of one data set. The only module of :mod:`edgesim.learning` that imports torch.

Models travel as flat float32 numpy vectors (the bytes a system puts on the wire), so the
systems that use a :class:`Learner` never touch torch. Every call runs with one thread and
torch's deterministic algorithms, and the examples' visiting order comes from the caller's
seeded numpy generator: one scenario seed gives the same weights, bit for bit.

The model and the data set live on ``device`` ('cpu', the default, or 'cuda'); weights cross
to and from it as the same flat vectors. On the CPU nothing differs from a CPU-only build. On
a GPU the deterministic flag is kept but only warns where an op has no deterministic kernel,
and cuBLAS is given the fixed workspace its deterministic mode needs: one seed gives one
result on one GPU model and software stack, within float32 rounding of the CPU's.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgesim.learning import models
from edgesim.learning.data import Dataset, DatasetError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> str:
    """'cpu' or 'cuda' for a LearningSpec's ``device`` ('auto': cuda when torch sees a GPU)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    return name


@contextlib.contextmanager
def deterministic(device: str = "cpu") -> Iterator[None]:
    """One intra-op thread and deterministic kernels while learning (a reduction split over a
    different number of threads can round differently); the caller's settings come back.
    On 'cuda' an op without a deterministic kernel warns instead of stopping the run (its
    result is then reproducible only up to float32 rounding), and TensorFloat-32 is off:
    cuDNN allows it for convolutions by default, which rounds inputs to 10-bit mantissas."""
    threads = torch.get_num_threads()
    was = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cuda = device == "cuda"
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.set_num_threads(1)
    _set_deterministic(True, cuda)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        if cuda:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        _set_deterministic(was, was_warn)
        torch.set_num_threads(threads)


def _set_deterministic(mode: bool, warn_only: bool = False) -> None:
    """torch.use_deterministic_algorithms without its one extra step, setting TorchInductor's
    flag: that imports the compiler stack (2-3 s, 800 modules) for a flag eager mode never
    reads. The kernel flag is the same call the public function makes."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


def flat_weights(model: nn.Module) -> np.ndarray:
    """A model's parameters as one float32 vector, in ``parameters()`` order."""
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()]
                         ).cpu().numpy().astype(np.float32, copy=True)


def load_flat(model: nn.Module, slices: list[slice], flat: np.ndarray) -> None:
    """Copy ``flat`` into the model's parameters (``slices``: each parameter's part)."""
    t = torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32))
    device = next(model.parameters()).device
    if device.type != "cpu":
        t = t.to(device)        # one transfer, not one per parameter
    with torch.no_grad():
        for sl, p in zip(slices, model.parameters()):
            p.copy_(t[sl].view_as(p))


def feature_layers(spec, shape: tuple, classes: int = 0) -> tuple[list[nn.Module], int]:
    """The layers of a ModelSpec before its output layer (for 'logreg', none but a flatten),
    and the width of their output. Examples arrive flattened, for every model; the larger
    models (:data:`.models.NAMES`) are built by :mod:`.models`."""
    if spec.name in models.NAMES:
        return models.feature_layers(spec, shape, classes)
    if spec.name == "logreg":
        return [nn.Flatten()], int(np.prod(shape))
    if spec.name == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(np.prod(shape))
        for h in spec.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        return layers, width
    if spec.name == "cnn":
        if len(shape) == 2:
            chans, (h, w) = 1, shape
        elif len(shape) == 3:
            chans, h, w = shape
        else:
            raise DatasetError(f"model 'cnn' needs images of shape (H, W) or (C, H, W), got "
                               f"{tuple(shape)}")
        # The first layer restores the image from the flattened example.
        layers = [nn.Unflatten(1, (chans, h, w))]
        for c in spec.channels:
            if h < 2 or w < 2:
                raise DatasetError(f"model 'cnn': {len(spec.channels)} pooling layers shrink "
                                   f"{tuple(shape)} below 1 pixel; use fewer channels entries")
            layers += [nn.Conv2d(chans, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            chans, h, w = c, h // 2, w // 2
        return layers + [nn.Flatten()], chans * h * w
    raise ValueError(f"unknown model {spec.name!r}")


def build_model(spec, shape: tuple, classes: int) -> nn.Module:
    """The classifier of a ModelSpec for examples of ``shape`` (without the batch axis)."""
    layers, width = feature_layers(spec, shape, classes)
    return nn.Sequential(*layers, nn.Linear(width, classes))


@dataclass
class AdamState:
    """Adam's moments for one model, carried between calls to ``Learner.train`` (a node that
    retrains on every request batch keeps its optimiser, as a deployed one would): the step
    count and both moment estimates as flat float32 vectors in ``parameters()`` order. The
    update is ``torch.optim.Adam``'s (Kingma and Ba 2015, bias-corrected)."""

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    step: int = 0
    m: Optional[np.ndarray] = None
    v: Optional[np.ndarray] = None

    def copy(self) -> "AdamState":
        return AdamState(self.lr, self.betas, self.eps, self.step,
                         None if self.m is None else self.m.copy(),
                         None if self.v is None else self.v.copy())


class Learner:
    """One model architecture on one data set; stateless between calls (weights come in and go
    out as flat vectors)."""

    def __init__(self, spec, data: Dataset, seed: int, device: str = "cpu") -> None:
        self.spec = spec
        self.classes = data.classes
        self.device = torch.device(resolve_device(device))
        if self.device.type == "cuda":
            # cuBLAS is deterministic only with a fixed workspace, read when its first
            # handle is made (torch checks this variable under deterministic mode).
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        shape = data.x.shape[1:]
        models.check_data(spec.model, data.x, data.classes)
        x = data.x.reshape(len(data.x), -1)
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        self.y = torch.from_numpy(data.y).to(self.device)
        # Built on the CPU from the seed, then moved: the same initial weights on any device.
        with torch.random.fork_rng(devices=[]), deterministic():
            torch.manual_seed(seed)
            self.model = build_model(spec.model, shape, data.classes)
        self.model.to(self.device)
        params = list(self.model.parameters())
        self.shapes = [p.shape for p in params]
        self.sizes = [p.numel() for p in params]
        self.params = int(sum(self.sizes))
        starts = np.cumsum([0] + self.sizes)
        self.layers = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]
        # Weights of linear and convolution layers may be pruned; biases (1-D) never.
        self.prunable = np.zeros(self.params, dtype=bool)
        for sl, p in zip(self.layers, params):
            if p.dim() > 1:
                self.prunable[sl] = True
        self.initial = self.get()
        self.input_shape = shape
        self.flops_per_example = self._flops(shape)
        self._vectorised = None

    # ------------------------------------------------------------------ weights
    def get(self) -> np.ndarray:
        return flat_weights(self.model)

    def load(self, flat: np.ndarray) -> None:
        load_flat(self.model, self.layers, flat)

    # ------------------------------------------------------------------ learning
    def train(self, flat: np.ndarray, order: np.ndarray, lr: float,
              mask: Optional[np.ndarray] = None,
              adam: Optional[AdamState] = None) -> tuple[np.ndarray, int, float]:
        """SGD over the examples ``order`` (data-set positions, visited in that order, batches
        of ``local.batch``) from the weights ``flat``; pruned weights (``mask`` False) stay
        zero. With ``adam``, Adam from that state (its ``lr``; ``lr`` is ignored), which is
        updated in place. (new weights, steps, mean training loss)."""
        local = self.spec.local
        with deterministic(self.device.type):
            self.load(flat)
            if adam is None:
                opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=local.momentum,
                                      weight_decay=local.weight_decay)
            else:
                opt = self._adam(adam)
            masks = None
            if mask is not None:
                m = torch.from_numpy(mask.astype(np.float32)).to(self.device)
                masks = [m[sl].view(s) for sl, s in zip(self.layers, self.shapes)]
            idx = torch.from_numpy(np.asarray(order, dtype=np.int64)).to(self.device)
            total, steps = 0.0, 0
            self.model.train()
            for start in range(0, len(idx), local.batch):
                b = idx[start:start + local.batch]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(self.model(self.x[b]), self.y[b])
                loss.backward()
                opt.step()
                if masks is not None:
                    with torch.no_grad():
                        for p, mk in zip(self.model.parameters(), masks):
                            p.mul_(mk)
                total += float(loss.detach()) * len(b)
                steps += 1
            if adam is not None:
                self._keep_adam(opt, adam)
            return self.get(), steps, total / max(len(idx), 1)

    def _adam(self, state: AdamState):
        """torch's Adam over the model, its moments loaded from ``state``."""
        params = list(self.model.parameters())
        opt = torch.optim.Adam(params, lr=state.lr, betas=state.betas, eps=state.eps,
                               foreach=False)
        if state.step:
            m = torch.from_numpy(state.m).to(self.device)
            v = torch.from_numpy(state.v).to(self.device)
            for p, sl in zip(params, self.layers):
                opt.state[p] = {"step": torch.tensor(float(state.step)),
                                "exp_avg": m[sl].view_as(p).clone(),
                                "exp_avg_sq": v[sl].view_as(p).clone()}
        return opt

    def _keep_adam(self, opt, state: AdamState) -> None:
        """Write the optimiser's moments back into ``state`` (a parameter without a gradient
        yet keeps zero moments)."""
        params = list(self.model.parameters())
        st = [opt.state.get(p) for p in params]
        if not any(st):
            return
        state.step = max(int(s["step"]) for s in st if s)
        state.m, state.v = (torch.cat([(s[key] if s else torch.zeros_like(p)).reshape(-1)
                                       for s, p in zip(st, params)]).cpu().numpy().copy()
                            for key in ("exp_avg", "exp_avg_sq"))

    def train_many(self, flat: np.ndarray, orders: list[np.ndarray], lr: float,
                   mask: Optional[np.ndarray] = None) -> list[tuple[np.ndarray, int, float]]:
        """``[self.train(flat, order, lr, mask) for order in orders]``, all clients' steps
        batched into one pass per step (:mod:`.vectorised`, which states how exact it is:
        bit-identical on the CPU for linear layers, within float32 rounding with convolutions,
        and each client's result independent of the others)."""
        with deterministic(self.device.type):
            if self._vectorised is None:
                from edgesim.learning.vectorised import Vectorised
                self._vectorised = Vectorised(self)
            return self._vectorised.train_many(flat, orders, lr, mask)

    def weighted_step(self, flat: np.ndarray, positions: np.ndarray, weights: np.ndarray,
                      lr: float) -> tuple[np.ndarray, float]:
        """One SGD step on the mean of ``weights`` x per-example loss over ``positions`` (one
        synchronous data-parallel iteration: every device's importance-weighted examples,
        the gradient averaged). (new weights, unweighted mean loss)."""
        local = self.spec.local
        with deterministic(self.device.type):
            self.load(flat)
            opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.0,
                                  weight_decay=local.weight_decay)
            self.model.train()
            b = torch.from_numpy(np.asarray(positions, dtype=np.int64)).to(self.device)
            w = torch.from_numpy(np.asarray(weights, dtype=np.float32)).to(self.device)
            opt.zero_grad(set_to_none=True)
            per = F.cross_entropy(self.model(self.x[b]), self.y[b], reduction="none")
            (per * w).mean().backward()
            opt.step()
            return self.get(), float(per.detach().mean())

    def losses(self, flat: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Per-example cross-entropy of the weights ``flat`` on the given examples."""
        with deterministic(self.device.type), torch.no_grad():
            self.load(flat)
            self.model.eval()
            b = torch.from_numpy(np.asarray(positions, dtype=np.int64)).to(self.device)
            out = F.cross_entropy(self.model(self.x[b]), self.y[b], reduction="none")
            return out.cpu().numpy().astype(np.float64)

    def evaluate(self, flat: np.ndarray, positions: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) on the given examples."""
        with deterministic(self.device.type), torch.no_grad():
            self.load(flat)
            self.model.eval()
            b = torch.from_numpy(np.asarray(positions, dtype=np.int64)).to(self.device)
            logits = self.model(self.x[b])
            loss = float(F.cross_entropy(logits, self.y[b]))
            acc = float((logits.argmax(1) == self.y[b]).double().mean())
            return loss, acc

    def probs(self, flat: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax outputs) of the weights ``flat`` on the given
        examples, shape (examples, classes)."""
        with deterministic(self.device.type), torch.no_grad():
            self.load(flat)
            self.model.eval()
            b = torch.from_numpy(np.asarray(positions, dtype=np.int64)).to(self.device)
            return F.softmax(self.model(self.x[b]), dim=1).cpu().numpy().astype(np.float64)

    def sensitivity(self, flat: np.ndarray, positions: np.ndarray,
                    classes: list[int]) -> np.ndarray:
        """|sen(W_j, C_i)| of CLUE's Eq. 1, averaged over ``classes``: the magnitude of the
        gradient of class i's output (its softmax confidence) with respect to every parameter,
        the outputs of all the given examples summed (the gradient is linear, §5.2.1)."""
        with deterministic(self.device.type):
            self.load(flat)
            self.model.eval()
            b = torch.from_numpy(np.asarray(positions, dtype=np.int64)).to(self.device)
            params = list(self.model.parameters())
            total = np.zeros(self.params, dtype=np.float64)
            for c in classes:
                out = F.softmax(self.model(self.x[b]), dim=1)[:, c].sum()
                grads = torch.autograd.grad(out, params)
                total += torch.cat([g.reshape(-1) for g in grads]).abs().cpu().numpy()
            return total / max(len(classes), 1)

    # ------------------------------------------------------------------ cost
    def layer_costs(self) -> list[tuple[int, float]]:
        """(parameters, forward FLOPs of one example) of each layer that has parameters, in
        forward order: what a layer-wise schedule (TicTac) sends and computes."""
        return [(n, f) for n, f in self._layers_walk() if n]

    def _flops(self, shape: tuple) -> float:
        """Forward FLOPs of one example (2 per multiply-add of linear and conv layers), for the
        guide's derivation of step times."""
        return sum(f for _, f in self._layers_walk())

    def _layers_walk(self) -> list[tuple[int, float]]:
        """(parameters, FLOPs of its multiply-adds) of every leaf layer, in the order one
        example goes through them (blocks such as a ResNet's are walked inside)."""
        out: list[tuple[int, float]] = []

        def record(module, inputs, output) -> None:
            out.append((int(sum(p.numel() for p in module.parameters())),
                        models.flops(module, inputs, output)))
        hooks = [m.register_forward_hook(record) for m in self.model.modules()
                 if not list(m.children())]
        x = torch.zeros((1, int(np.prod(self.input_shape))), device=self.device)
        try:
            with torch.no_grad():
                self.model(x)
        finally:
            for h in hooks:
                h.remove()
        return out
