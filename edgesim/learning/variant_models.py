"""Small Variant Parallelism variants trained for real, and their class probabilities on a
held-out set (what `edgesim.systems.vp.predictions` stores and the ensemble's accuracy is
computed from).

A variant is the paper's Table I network (:class:`VariantNet`): MobileNetV2's body at the
family's width, a 1x1 conv with 64 x j filters, global max pooling and a 1x1-conv classifier,
fed the input resized to its resolution rho_i (:func:`edgesim.learning.variants.scaled`). One
change for small images, documented: the stem conv has stride 1 (CIFAR-style), so a 32-pixel
input ends at 2 x 2 instead of 1 x 1.

Training follows §IV-B as far as a CPU allows: Adam (beta 0.9, 0.999), a separate
cross-entropy per variant (variants are trained independently, on the same data), random
horizontal flips (the paper also uses rotation and MixUp, left out here), batch 128 and a
learning rate of 2e-3 for a few epochs instead of 135 (a CPU budget, not tuned). Every draw comes from numpy generators seeded from ``seed`` and the variant's index,
torch runs with one thread and deterministic kernels: one seed gives the same probabilities,
bit for bit.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgesim.learning.mobilenet_blocks import _conv_bn_relu6, _mobilenet_v2_body
from edgesim.learning.torch_learner import deterministic
from edgesim.learning.variants import VariantArch

__all__ = ["VariantNet", "train_variant", "predict"]


class VariantNet(nn.Module):
    """Table I: MobileNetV2 body (width d), conv 1x1 to 64 x j, global max pool, 1x1 conv to C;
    the input is resized to rho_i first (the variant's resolution)."""

    def __init__(self, arch: VariantArch, classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.resolution = arch.resolution
        layers, channels = _mobilenet_v2_body(arch.width, stem_stride=1, in_channels=in_channels)
        layers.append(_conv_bn_relu6(channels, arch.last_channels, kernel=1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(arch.last_channels, classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear",
                              align_corners=False, antialias=True)
        x = self.features(x)
        x = torch.amax(x, dim=(2, 3), keepdim=True)          # global max pool (Table I)
        return self.head(x).flatten(1)


def _images(x: np.ndarray) -> torch.Tensor:
    """(N, H, W) grey or (N, H, W, 3) / (N, 3, H, W) colour as an NCHW float tensor."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def train_variant(arch: VariantArch, x: np.ndarray, y: np.ndarray, classes: int, seed: int,
                  epochs: int = 10, batch: int = 128, lr: float = 2e-3) -> VariantNet:
    """One variant trained on (x, y) with Adam; examples normalised by the caller."""
    xs = _images(x)
    ys = torch.from_numpy(np.asarray(y, dtype=np.int64))
    rng = np.random.default_rng([seed, arch.index])
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(int(rng.integers(2**31)))
        net = VariantNet(arch, classes, in_channels=xs.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
        net.train()
        for _ in range(epochs):
            order = rng.permutation(len(ys))
            for start in range(0, len(order), batch):
                idx = torch.from_numpy(order[start:start + batch])
                xb = xs[idx]
                flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                loss = F.cross_entropy(net(xb), ys[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return net


def predict(net: VariantNet, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Class probabilities (softmax of the logits), (N, C) float32."""
    xs = _images(x)
    out: list[torch.Tensor] = []
    with deterministic(), torch.no_grad():
        net.eval()
        for start in range(0, len(xs), batch):
            out.append(torch.softmax(net(xs[start:start + batch]), dim=1))
    return torch.cat(out).numpy().astype(np.float32)


def train_family(archs: Sequence[VariantArch], x_train: np.ndarray, y_train: np.ndarray,
                 x_test: np.ndarray, classes: int, seed: int, epochs: int,
                 progress: Optional[Callable[[str], None]] = None) -> np.ndarray:
    """(V, N_test, C) probabilities of each variant, trained independently."""
    out = []
    for a in archs:
        out.append(predict(train_variant(a, x_train, y_train, classes, seed, epochs), x_test))
        if progress is not None:
            progress(f"{a.name} ({a.resolution} px, width {a.width}, {a.last_channels} last "
                     f"channels) trained")
    return np.stack(out)
