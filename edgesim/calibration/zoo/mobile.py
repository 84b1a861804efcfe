"""MobileNetV1, MobileNetV3 (large / small), EfficientNet-B0, ShuffleNetV2 and MNASNet: the mobile
classifiers that edge deployments run, in the zoo's stage layout (see :mod:`edgesim.calibration.zoo`).

The layer tables follow the papers and torchvision's reference implementations, so parameter
counts match the published ones (tests/test_zoo.py checks them): MobileNetV1 4,231,976,
MobileNetV3-Large 5,483,032, MobileNetV3-Small 2,542,856, EfficientNet-B0 5,288,548,
ShuffleNetV2 1.0 2,278,604, MNASNet 1.0 4,383,312.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from edgesim.calibration.zoo.base import _Staged
from edgesim.calibration.zoo.mobilenet import make_divisible

__all__ = ["MobileNetV1", "MobileNetV3", "EfficientNet", "ShuffleNetV2", "MNASNet", "MBV3_LARGE",
           "MBV3_SMALL", "EFFNET_B0", "SHUFFLE_CHANNELS"]


def _cbn(inp: int, oup: int, k: int, s: int, groups: int = 1,
         act: Optional[type] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(inp, oup, k, s, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(oup)]
    if act is not None:
        layers.append(act(inplace=True) if act in (nn.ReLU, nn.Hardswish, nn.SiLU) else act())
    return nn.Sequential(*layers)


class MobileNetV1(_Staged):
    """MobileNetV1 (Howard et al. 2017): a 3x3 stem and 13 depthwise-separable blocks."""

    # (output channels, stride) of the 13 depthwise-separable blocks (paper Table 1)
    BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
              (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))

    def __init__(self, width: float = 1.0, num_classes: int = 1000):
        super().__init__()
        c = make_divisible(32 * width)
        layers: list[nn.Module] = [_cbn(3, c, 3, 2)]
        for out, s in self.BLOCKS:
            o = make_divisible(out * width)
            layers.append(nn.Sequential(_cbn(c, c, 3, s, groups=c), _cbn(c, o, 1, 1)))
            c = o
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(c, num_classes))
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]


class _SE(nn.Module):
    """Squeeze-and-excitation: global pool, 1x1 reduce, activation, 1x1 expand, gate."""

    def __init__(self, ch: int, squeeze: int, act: type = nn.ReLU, gate: type = nn.Hardsigmoid):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(ch, squeeze, 1)
        self.act = act(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, ch, 1)
        self.gate = gate()
        # the zoo's initialisation sets fc2's bias to this, so that the random-weight gate starts
        # near 1 (open) instead of 0.5 and deep stacks of SE blocks keep activations of order one
        self.gate_bias = 3.0 if gate is nn.Hardsigmoid else 4.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class _Block(nn.Module):
    """An inverted residual with optional SE (MobileNetV3 bneck, EfficientNet MBConv).

    ``branch_bn`` names the last BN of the residual branch for the zoo's initialisation (a gain of
    1/sqrt(blocks) keeps deep residual stacks of order one)."""

    def __init__(self, inp: int, exp: int, out: int, k: int, s: int, se: Optional[int],
                 act: type, gate: type):
        super().__init__()
        self.use_res = s == 1 and inp == out
        layers: list[nn.Module] = []
        if exp != inp:
            layers.append(_cbn(inp, exp, 1, 1, act=act))
        layers.append(_cbn(exp, exp, k, s, groups=exp, act=act))
        if se:
            layers.append(_SE(exp, se, nn.ReLU if gate is nn.Hardsigmoid else nn.SiLU, gate))
        proj = _cbn(exp, out, 1, 1, act=None)
        layers.append(proj)
        self.block = nn.Sequential(*layers)
        self.branch_bn = proj[1] if self.use_res else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res else y


# (kernel, expanded, out, SE, activation "RE"/"HS", stride): Howard et al. 2019, Tables 1 and 2
MBV3_LARGE = ((3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
              (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
              (3, 240, 80, False, "HS", 2), (3, 200, 80, False, "HS", 1),
              (3, 184, 80, False, "HS", 1), (3, 184, 80, False, "HS", 1),
              (3, 480, 112, True, "HS", 1), (3, 672, 112, True, "HS", 1),
              (5, 672, 160, True, "HS", 2), (5, 960, 160, True, "HS", 1),
              (5, 960, 160, True, "HS", 1))
MBV3_SMALL = ((3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
              (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
              (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
              (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1))


class MobileNetV3(_Staged):
    """MobileNetV3 large or small (torchvision layout: SE squeeze = make_divisible(exp / 4))."""

    def __init__(self, size: str = "large", num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        if size not in ("large", "small"):
            raise ValueError(f"MobileNetV3 size must be 'large' or 'small', not {size!r}")
        table = MBV3_LARGE if size == "large" else MBV3_SMALL
        layers: list[nn.Module] = [_cbn(3, 16, 3, 2, act=nn.Hardswish)]
        c = 16
        for k, exp, out, se, nl, s in table:
            act = nn.ReLU if nl == "RE" else nn.Hardswish
            layers.append(_Block(c, exp, out, k, s, make_divisible(exp / 4) if se else None, act,
                                 nn.Hardsigmoid))
            c = out
        last = 6 * c
        layers.append(_cbn(c, last, 1, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        hidden = 1280 if size == "large" else 1024
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(last, hidden),
                                  nn.Hardswish(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(hidden, num_classes))
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]


# (expansion, kernel, stride, out, repeats) of EfficientNet-B0 (Tan & Le 2019, Table 1)
EFFNET_B0 = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


class EfficientNet(_Staged):
    """EfficientNet-B0: MBConv blocks with SE (squeeze = input channels / 4) and SiLU."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = [_cbn(3, 32, 3, 2, act=nn.SiLU)]
        c = 32
        for e, k, s, out, n in EFFNET_B0:
            for i in range(n):
                layers.append(_Block(c, c * e, out, k, s if i == 0 else 1, max(1, c // 4),
                                     nn.SiLU, nn.Sigmoid))
                c = out
        layers.append(_cbn(c, 1280, 1, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(dropout),
                                  nn.Linear(1280, num_classes))
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]


# ---- ShuffleNetV2 and MNASNet (torchvision layouts: the torch2trt Jetson tables run them) --

SHUFFLE_CHANNELS: dict[float, tuple[int, ...]] = {
    0.5: (24, 48, 96, 192, 1024), 1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024), 2.0: (24, 244, 488, 976, 2048)}


class _ShuffleUnit(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int):
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(_cbn(inp, inp, 3, stride, groups=inp, act=None),
                                         _cbn(inp, bf, 1, 1))
        b_in = inp if stride > 1 else bf
        self.branch2 = nn.Sequential(_cbn(b_in, bf, 1, 1), _cbn(bf, bf, 3, stride, groups=bf, act=None),
                                     _cbn(bf, bf, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        n, c, h, w = out.shape                          # channel shuffle, 2 groups
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class ShuffleNetV2(_Staged):
    """ShuffleNetV2 (Ma et al. 2018) at width 0.5, 1.0, 1.5 or 2.0 (torchvision layout)."""

    def __init__(self, width: float = 1.0, num_classes: int = 1000):
        super().__init__()
        if float(width) not in SHUFFLE_CHANNELS:
            raise ValueError(f"ShuffleNetV2 width must be one of {sorted(SHUFFLE_CHANNELS)}, "
                             f"not {width}")
        ch = SHUFFLE_CHANNELS[float(width)]
        layers: list[nn.Module] = [nn.Sequential(_cbn(3, ch[0], 3, 2), nn.MaxPool2d(3, 2, 1))]
        c = ch[0]
        for repeats, out in zip((4, 8, 4), ch[1:4]):
            for i in range(repeats):
                layers.append(_ShuffleUnit(c, out, 2 if i == 0 else 1))
                c = out
        layers.append(_cbn(c, ch[4], 1, 1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(ch[4], num_classes))
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]


class MNASNet(_Staged):
    """MNASNet-B1 (Tan et al. 2019) with depth multiplier ``width`` (torchvision layout)."""

    # (kernel, stride, expansion, repeats) of the six stacks; channels 24, 40, 80, 96, 192, 320
    STACKS = ((3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1))

    def __init__(self, width: float = 1.0, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        d = [make_divisible(c * width) for c in (32, 16, 24, 40, 80, 96, 192, 320)]
        layers: list[nn.Module] = [nn.Sequential(_cbn(3, d[0], 3, 2),
                                                 _cbn(d[0], d[0], 3, 1, groups=d[0]),
                                                 _cbn(d[0], d[1], 1, 1, act=None))]
        c = d[1]
        for (k, s, e, n), out in zip(self.STACKS, d[2:]):
            for i in range(n):
                layers.append(_Block(c, c * e, out, k, s if i == 0 else 1, None, nn.ReLU, nn.Sigmoid))
                c = out
        layers.append(_cbn(c, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(dropout),
                                  nn.Linear(1280, num_classes))
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]
