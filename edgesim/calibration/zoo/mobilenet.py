"""MobileNetV2, the Variant Parallelism variants built on its backbone, and the class counts of
Distream's ROI classifiers (MobileNetV2 at width 0.5); see :mod:`edgesim.calibration.zoo`."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from edgesim.calibration.zoo.base import _Staged

__all__ = ["make_divisible", "InvertedResidual", "MOBILENET_V2_SETTING", "MobileNetV2", "VPVariant",
           "ROI_CLASSES"]


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


def _mobilenet_v2_body(width: float, round_nearest: int = 8) -> tuple[list[nn.Module], int]:
    """The stem conv and the 17 inverted residual blocks; returns (modules, output channels)."""
    input_channel = make_divisible(32 * width, round_nearest)
    layers: list[nn.Module] = [_conv_bn_relu6(3, input_channel, stride=2)]
    for t, c, n, s in MOBILENET_V2_SETTING:
        output_channel = make_divisible(c * width, round_nearest)
        for i in range(n):
            layers.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
            input_channel = output_channel
    return layers, input_channel


class MobileNetV2(_Staged):
    """MobileNetV2; stages: ``features.0`` (stem) .. ``features.18`` (last 1x1 conv), ``head``."""

    def __init__(self, width: float = 1.0, num_classes: int = 1000, dropout: float = 0.2,
                 round_nearest: int = 8):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, not {width}")
        layers, channels = _mobilenet_v2_body(width, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width), round_nearest)
        layers.append(_conv_bn_relu6(channels, self.last_channel, kernel=1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(dropout),
            nn.Linear(self.last_channel, num_classes),
        )
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]


class VPVariant(_Staged):
    """A Variant Parallelism variant (VP paper, Table I).

    Interpretation of Table I (documented here because the table gives base widths only):
    the bottleneck rows are MobileNetV2's, scaled by the width factor with ``make_divisible(., 8)``
    exactly as MobileNetV2 scales them (Keras' ``alpha``; 0.35 gives 16-8-8-16-24-32-56-112
    channels); the stem conv is ``make_divisible(32 * width)``. The "conv2d 1x1, 64 x j" row is a
    Conv-BN-ReLU6 without bias like the other MobileNetV2 convs; "globalmaxpool" is
    ``AdaptiveMaxPool2d(1)``; the classifier is a 1x1 conv *with* bias, flattened to ``(N, C)``.
    The Top-k "compression" row is not part of the network (it is the system's output encoding).
    With these choices Table II is reproduced: V_im1..V_im7 (width 0.5, 1000 classes) have
    1.15M..1.97M parameters and 17M..197M MACs, exactly as listed; V1..V7 have 9.6M..111M MACs
    (Table II: 10M..112M) and, with C = 101 (Food-101, the dataset of Table VII's latencies, hence
    the default), 305K..388K parameters, or 317K..401K counted as Keras counts them (BN moving
    statistics included), against Table II's 320K..410K.

    Stages: ``features.0`` .. ``features.17`` (backbone), ``features.18`` (the 64 x j conv), ``head``.
    """

    def __init__(self, width: float = 0.35, last_channels: int = 256, num_classes: int = 101,
                 round_nearest: int = 8):
        super().__init__()
        layers, channels = _mobilenet_v2_body(width, round_nearest)
        layers.append(_conv_bn_relu6(channels, last_channels, kernel=1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveMaxPool2d(1), nn.Conv2d(last_channels, num_classes, 1, bias=True), nn.Flatten(1),
        )
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]


# Distream's attribute-recognition DAG (Fig. 1.1): object type, then vehicle colour/type/make or person
# behaviour/gender. The paper does not give class counts; these are assumptions (override num_classes):
# object: vehicle/person/other; colour: the 8 colours of common vehicle-colour datasets; type: 6 body
# types (BIT-Vehicle); make: 163 makes (CompCars); behaviour: 5 actions; gender: 2.
ROI_CLASSES: dict[str, tuple[int, str]] = {
    "object": (3, "object type (vehicle / person / other)"),
    "color": (8, "vehicle colour"),
    "type": (6, "vehicle body type"),
    "make": (163, "vehicle make"),
    "behavior": (5, "person behaviour"),
    "gender": (2, "person gender"),
}
