"""What a decentralized node computes and sends, in closed form (no torch): the parameters and
forward FLOPs per example of the shared layers, of one task's functionality structure and of
the dense original network, for the learned model or for the *timed* model the deployment runs
(the paper's VGG-16 or AlexNet on CIFAR).

The paper's decoupling (Sec. II-a, III-a): the shallow layers are shared; in each of the last
`decoupled` layers a task keeps a fraction `keep` of the neurons (filters), and with the
connections between neurons of different tasks removed, a task's structure is a chain: its
units of the first decoupled layer read every channel of the last shared layer, its units of
each later decoupled layer read only its own units of the layer before, and its units of the
last one feed its one logit. A sub-model of k tasks is the shared layers plus k structures.

FLOPs are 2 per multiply-add of the conv and linear layers (biases, ReLU and pooling are not
counted), as :mod:`edgesim.learning.branched` counts the learned model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Conv", "Decomposition", "TIMED_MODELS", "timed_layers", "decompose",
           "learned_decomposition", "aggregation_flops"]


@dataclass(frozen=True)
class Conv:
    """One conv layer: in and out channels, kernel side, and its output's pixels (H x W)."""

    cin: int
    cout: int
    k: int
    pixels: int

    def params(self, cin: int, cout: int) -> int:
        return cin * cout * self.k * self.k + cout

    def flops(self, cin: int, cout: int) -> float:
        return 2.0 * cin * cout * self.k * self.k * self.pixels


@dataclass(frozen=True)
class Decomposition:
    """Sizes of the shared layers, one task's structure and the dense network."""

    name: str
    classes: int
    shared_params: int
    shared_flops: float
    branch_params: int
    branch_flops: float
    dense_params: int
    dense_flops: float

    def sub_params(self, tasks: int) -> int:
        return self.shared_params + tasks * self.branch_params

    def sub_flops(self, tasks: int) -> float:
        return self.shared_flops + tasks * self.branch_flops

    def exchange_params(self, common: int) -> int:
        """Parameters one node sends a neighbour with ``common`` tasks in common."""
        return self.shared_params + common * self.branch_params

    def baseline(self, kind: str) -> tuple[int, float]:
        """(parameters, forward FLOPs) of the central baseline's model: the dense network, or
        every structure at once ('branched')."""
        if kind == "dense":
            return self.dense_params, self.dense_flops
        return self.sub_params(self.classes), self.sub_flops(self.classes)


def _vgg16_cifar() -> tuple[list[Conv], int]:
    """VGG-16's 13 3x3 convs (config D) on a 32x32 image, each block ending in a 2x2 max-pool,
    so the last block ends at 1x1 and one linear layer maps its 512 channels to the classes."""
    cfg = [(64, 32), (64, 32), (128, 16), (128, 16), (256, 8), (256, 8), (256, 8),
           (512, 4), (512, 4), (512, 4), (512, 2), (512, 2), (512, 2)]
    out, cin = [], 3
    for cout, side in cfg:
        out.append(Conv(cin, cout, 3, side * side))
        cin = cout
    return out, 1


def _alexnet_cifar() -> tuple[list[Conv], int]:
    """AlexNet for 32x32 CIFAR (the common adaptation: conv 11x11 stride 4 to 8x8, 2x2 pools
    after conv1, conv2 and conv5): 64, 192, 384, 256, 256 filters; one linear layer from the
    last 256 channels at 1x1 to the classes."""
    return [Conv(3, 64, 11, 64), Conv(64, 192, 5, 16), Conv(192, 384, 3, 4),
            Conv(384, 256, 3, 4), Conv(256, 256, 3, 4)], 1


#: Timed models: their conv layers, and the paper's number of decoupled layers (Sec. III-a).
TIMED_MODELS = {"vgg16_cifar": (_vgg16_cifar, 6), "alexnet_cifar": (_alexnet_cifar, 3)}


def timed_layers(name: str) -> tuple[list[Conv], int, int]:
    """(conv layers, pixels of the last conv's pooled output, the paper's decoupled count)."""
    make, decoupled = TIMED_MODELS[name]
    convs, pixels = make()
    return convs, pixels, decoupled


def kept(units: int, keep: float) -> int:
    """Units a task keeps of a layer of ``units``: the fraction rounded up (VGG-16's 10 % of
    512 is the paper's 52), at least 1."""
    return max(1, math.ceil(keep * units - 1e-9))


def decompose(name: str, classes: int, keep: float, decoupled: int) -> Decomposition:
    """The timed model ``name`` decoupled as the paper does, in closed form."""
    convs, pixels, _ = timed_layers(name)
    shared, deep = convs[:len(convs) - decoupled], convs[len(convs) - decoupled:]
    sp = sum(c.params(c.cin, c.cout) for c in shared)
    sf = sum(c.flops(c.cin, c.cout) for c in shared)
    bp, bf, cin = 0, 0.0, deep[0].cin
    for c in deep:                          # one task's chain of kept units
        w = kept(c.cout, keep)
        bp += c.params(cin, w)
        bf += c.flops(cin, w)
        cin = w
    bp += cin * pixels + 1                  # its one logit
    bf += 2.0 * cin * pixels
    last = deep[-1].cout * pixels
    dp = sp + sum(c.params(c.cin, c.cout) for c in deep) + last * classes + classes
    df = sf + sum(c.flops(c.cin, c.cout) for c in deep) + 2.0 * last * classes
    return Decomposition(name, classes, sp, sf, bp, bf, dp, df)


def learned_decomposition(name: str, classes: int, shared_params: int, shared_flops: float,
                          features: int, deep: int, width: int) -> Decomposition:
    """The learned model: shared layers ending in ``features`` units, a deep layer of ``deep``
    ReLU units and one logit per class (dense), of which a task keeps ``width`` units."""
    bp = features * width + width + width + 1
    bf = 2.0 * features * width + 2.0 * width
    dp = shared_params + features * deep + deep + deep * classes + classes
    df = shared_flops + 2.0 * features * deep + 2.0 * deep * classes
    return Decomposition(name, classes, shared_params, shared_flops, bp, bf, dp, df)


def aggregation_flops(dec: Decomposition, tasks: Sequence[Sequence[int]],
                      neighbours: Sequence[Sequence[int]], k: int) -> int:
    """Additions and divisions node ``k`` does averaging with its neighbours: for the shared
    layers and each of its structures held by m > 1 of it and its neighbours, m per value (as
    :func:`edgesim.learning.consensus.neighbour_average` counts)."""
    nbrs = list(neighbours[k])
    if not nbrs:
        return 0
    work = (1 + len(nbrs)) * dec.shared_params
    for c in tasks[k]:
        m = 1 + sum(1 for j in nbrs if c in tasks[j])
        if m > 1:
            work += m * dec.branch_params
    return work
