"""The larger models of federated-learning papers, beside torch_learner's logreg, mlp and cnn:

* ``fedavg-cnn``: the CNN of FedAvg (McMahan et al., "Communication-Efficient Learning of
  Deep Networks from Decentralized Data", AISTATS 2017, §3): two 5x5 convolutions of 32 and
  64 channels, each followed by 2x2 max pooling, a fully connected layer of 512 ReLU units
  (``hidden``), then the softmax output. On 28x28 MNIST it has the paper's 1,663,370
  parameters; ``hidden: [2048]`` with 62 classes is LEAF's FEMNIST CNN (6,603,710).
* ``resnet18``: ResNet-18 (He et al. 2016) in its CIFAR form (3x3 stem, no max pool, four
  stages of two basic blocks, 64-128-256-512 channels, global average pool), with GroupNorm
  in place of BatchNorm as federated-learning papers use it (Hsieh et al., "The Non-IID Data
  Quagmire of Decentralized Machine Learning", ICML 2020): batch statistics are meaningless
  across skewed clients, and GroupNorm keeps no running state, so a model stays the flat
  vector of its parameters.
* ``vgg11``: VGG configuration A (Simonyan & Zisserman 2015) in its CIFAR form: eight 3x3
  convolutions with five 2x2 max pools, no normalisation, and a small head (``hidden``,
  [512]) instead of two 4096-unit layers.
* ``lstm``: the character LSTM of FedAvg's and LEAF's Shakespeare task (Caldas et al.,
  "LEAF: A Benchmark for Federated Settings", 2018): an ``embedding``-wide (8) embedding of
  integer tokens, two LSTM layers of 256 units (``hidden``), and a linear layer on the last
  step's output. Sequences are stored as floats (x of shape (n, T), integers 0..vocab-1).

Every model is an ``nn.Sequential`` of layers whose first restores the example from its
flattened form, with no buffers, no randomness and no in-place update of its input, so that
``torch.func.functional_call`` + ``vmap`` train many clients at once (:mod:`.vectorised`).
The LSTM is written out as gate matmuls rather than ``nn.LSTM`` for the same reason: the
fused kernel has no batching rule over stacked weights.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgesim.learning.data import DatasetError

NAMES = ("fedavg-cnn", "resnet18", "vgg11", "lstm")
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def _image(name: str, shape: tuple) -> tuple[int, int, int]:
    """(channels, height, width) of image examples, or a DatasetError naming the shapes."""
    if len(shape) == 2:
        return 1, int(shape[0]), int(shape[1])
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    raise DatasetError(f"model '{name}' needs images of shape (H, W) or (C, H, W), got "
                       f"{tuple(shape)}; 'logreg' or 'mlp' take any shape, 'lstm' takes "
                       f"sequences (T,)")


def _pools_fit(name: str, shape: tuple, h: int, w: int, pools: int) -> None:
    if h >> pools < 1 or w >> pools < 1:
        raise DatasetError(f"model '{name}': its {pools} 2x2 max-pooling layers need images of "
                           f"at least {1 << pools}x{1 << pools} pixels, got {tuple(shape)}; "
                           f"'cnn' (fewer `channels`) or 'resnet18' fit smaller images")


def _head(width: int, hidden: list[int]) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return layers, width


def fedavg_cnn(spec, shape: tuple) -> tuple[list[nn.Module], int]:
    chans, h, w = _image(spec.name, shape)
    _pools_fit(spec.name, shape, h, w, 2)
    # 'same' padding, as the paper's TensorFlow model: 28x28 -> 14x14 -> 7x7.
    layers: list[nn.Module] = [nn.Unflatten(1, (chans, h, w)),
                               nn.Conv2d(chans, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Flatten()]
    head, width = _head(64 * (h // 4) * (w // 4), spec.hidden)
    return layers + head, width


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm, and the identity (or a strided 1x1 projection when
    the shape changes) added before the last ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.GroupNorm(groups, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class GlobalAvgPool(nn.Module):
    """Mean over the spatial axes. ``AdaptiveAvgPool2d`` would do the same, but its CUDA
    backward has no deterministic kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


def resnet18(spec, shape: tuple) -> tuple[list[nn.Module], int]:
    chans, h, w = _image(spec.name, shape)
    g = spec.groups
    layers: list[nn.Module] = [nn.Unflatten(1, (chans, h, w)),
                               nn.Conv2d(chans, 64, 3, padding=1, bias=False),
                               nn.GroupNorm(g, 64), nn.ReLU()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride, g), BasicBlock(cout, cout, 1, g)]
        cin = cout
    return layers + [GlobalAvgPool()], cin


def vgg11(spec, shape: tuple) -> tuple[list[nn.Module], int]:
    chans, h, w = _image(spec.name, shape)
    _pools_fit(spec.name, shape, h, w, VGG11.count("M"))
    layers: list[nn.Module] = [nn.Unflatten(1, (chans, h, w))]
    for v in VGG11:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        else:
            layers += [nn.Conv2d(chans, int(v), 3, padding=1), nn.ReLU()]
            chans = int(v)
    head, width = _head(chans * h * w, spec.hidden)
    return layers + [nn.Flatten()] + head, width


class Tokens(nn.Module):
    """The embedding of integer tokens stored as floats (examples travel as float32)."""

    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x.long())


class LSTMLayer(nn.Module):
    """One LSTM layer over (batch, T, inputs), all T outputs. One bias per gate (as LEAF's
    TensorFlow cell; torch's two biases only add a redundant copy), initialised like
    ``nn.LSTM``: uniform(-1/sqrt(hidden), 1/sqrt(hidden))."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden, inputs))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden, hidden))
        self.bias = nn.Parameter(torch.empty(4 * hidden))
        k = 1.0 / math.sqrt(hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The input projection of every step in one matmul; only h @ W_hh is sequential.
        gates_x = F.linear(x, self.weight_ih, self.bias)
        h = x.new_zeros(x.shape[0], self.hidden)
        c = h
        out = []
        for t in range(x.shape[1]):
            i, f, g, o = (gates_x[:, t] + F.linear(h, self.weight_hh)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(h)
        return torch.stack(out, dim=1)


class LastStep(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


def _sequences(shape: tuple) -> None:
    if len(shape) != 1:
        raise DatasetError(f"model 'lstm' needs integer sequences, x of shape (n, T), got "
                           f"examples of shape {tuple(shape)}; image models: 'cnn', "
                           f"'fedavg-cnn', 'resnet18', 'vgg11'")


def lstm(spec, shape: tuple, classes: int) -> tuple[list[nn.Module], int]:
    _sequences(shape)
    layers: list[nn.Module] = [Tokens(vocab(spec, classes), spec.embedding)]
    width = spec.embedding
    for h in spec.hidden:
        layers.append(LSTMLayer(width, h))
        width = h
    return layers + [LastStep()], width


def vocab(spec, classes: int) -> int:
    """Tokens the embedding knows: ``vocab``, or the classes (next-character prediction,
    where inputs and labels share one alphabet)."""
    return spec.vocab if spec.vocab is not None else classes


def feature_layers(spec, shape: tuple, classes: int) -> tuple[list[nn.Module], int]:
    """The layers of one of :data:`NAMES` before its output layer, and their output width."""
    if spec.name == "fedavg-cnn":
        return fedavg_cnn(spec, shape)
    if spec.name == "resnet18":
        return resnet18(spec, shape)
    if spec.name == "vgg11":
        return vgg11(spec, shape)
    if spec.name == "lstm":
        return lstm(spec, shape, classes)
    raise ValueError(f"unknown model {spec.name!r}")


def check_data(spec, x: np.ndarray, classes: int) -> None:
    """A DatasetError when the examples cannot feed the model (an LSTM's tokens must be
    integers below its vocabulary), so that a bad value is a located problem, not an index
    error in the middle of a round."""
    if spec.name != "lstm":
        return
    _sequences(x.shape[1:])
    v = vocab(spec, classes)
    bad = (x != np.floor(x)) | (x < 0) | (x >= v)
    if bad.any():
        first = float(x.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise DatasetError(f"model 'lstm' reads x as integer tokens 0..{v - 1} (vocab "
                           f"{'= classes' if spec.vocab is None else 'key'}), found {first:g}; "
                           f"set `vocab` or store token ids")


def flops(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> float:
    """Forward FLOPs of one example through a leaf layer (2 per multiply-add of linear, conv
    and LSTM layers; the rest is not counted, as for the small models)."""
    if isinstance(module, nn.Linear):
        return 2.0 * module.in_features * module.out_features * (output[0].numel()
                                                                 / module.out_features)
    if isinstance(module, nn.Conv2d):
        return (2.0 * math.prod(module.kernel_size) * module.in_channels / module.groups
                * output[0].numel())
    if isinstance(module, LSTMLayer):
        steps = output.shape[1]
        return 2.0 * 4 * module.hidden * (module.weight_ih.shape[1] + module.hidden) * steps
    return 0.0
