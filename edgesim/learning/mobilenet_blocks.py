"""MobileNetV2's building blocks (Sandler et al. 2018): the rounding of channel counts, the
inverted residual bottleneck and the (t, c, n, s) body. Shared by the zoo's MobileNetV2 and VP
variants (timed, never trained) and :mod:`.variant_models` (small VP variants trained for real).
Imports torch: only learning and the zoo import this module."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

__all__ = ["make_divisible", "InvertedResidual", "MOBILENET_V2_SETTING"]


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

def make_divisible(v: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` without going more than 10% below it.

    The rounding rule of the MobileNet reference implementations (TF slim, Keras, torchvision).
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def _conv_bn_relu6(inp: int, oup: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1x1 expand (skipped when t = 1), 3x3 depthwise, 1x1 linear project."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(inp, hidden, kernel=1))
        layers += [
            _conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# (t, c, n, s): expansion, output channels, repeats, stride of the first repeat (MobileNetV2 Table 2).
MOBILENET_V2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _mobilenet_v2_body(width: float, round_nearest: int = 8, stem_stride: int = 2,
                       in_channels: int = 3) -> tuple[list[nn.Module], int]:
    """The stem conv and the 17 inverted residual blocks; returns (modules, output channels).
    ``stem_stride`` 1 keeps small (CIFAR-size) inputs from shrinking to one pixel too early."""
    input_channel = make_divisible(32 * width, round_nearest)
    layers: list[nn.Module] = [_conv_bn_relu6(in_channels, input_channel, stride=stem_stride)]
    for t, c, n, s in MOBILENET_V2_SETTING:
        output_channel = make_divisible(c * width, round_nearest)
        for i in range(n):
            layers.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
            input_channel = output_channel
    return layers, input_channel
