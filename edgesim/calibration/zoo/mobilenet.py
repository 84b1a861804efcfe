"""MobileNetV2, the Variant Parallelism variants built on its backbone, and the class counts of
Distream's ROI classifiers (MobileNetV2 at width 0.5); see :mod:`edgesim.calibration.zoo`."""
from __future__ import annotations

from torch import nn

from edgesim.calibration.zoo.base import _Staged
# The building blocks live with the learning substrate, which trains small VP variants from
# them; the zoo times the full-size ones.
from edgesim.learning.mobilenet_blocks import (MOBILENET_V2_SETTING, InvertedResidual,
                                               _conv_bn_relu6, _mobilenet_v2_body, make_divisible)

__all__ = ["make_divisible", "InvertedResidual", "MOBILENET_V2_SETTING", "MobileNetV2", "VPVariant",
           "ROI_CLASSES"]


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
