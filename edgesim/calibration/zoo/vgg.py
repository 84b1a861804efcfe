"""VGG-11/13/16/19 with an ImageNet or a CIFAR classifier head."""
from __future__ import annotations

from typing import Any

from torch import nn

from edgesim.calibration.zoo.base import _Staged

__all__ = ["VGG_CFG", "VGG"]


# ---- VGG -----------------------------------------------------------------------------------

VGG_CFG: dict[int, tuple[Any, ...]] = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}


class VGG(_Staged):
    """VGG; stages: one per conv unit (conv [+BN] + ReLU, with the following max pool folded in),
    ``features.0`` .., then the classifier's fully connected layers ``classifier.0`` .."""

    def __init__(self, depth: int = 13, batch_norm: bool = False, num_classes: int = 1000,
                 head: str = "imagenet", dropout: float = 0.5):
        super().__init__()
        if depth not in VGG_CFG:
            raise ValueError(f"VGG depth must be one of {sorted(VGG_CFG)}, not {depth}")
        if head not in ("imagenet", "cifar"):
            raise ValueError(f"head must be 'imagenet' or 'cifar', not {head!r}")
        units: list[list[nn.Module]] = []
        in_ch = 3
        for v in VGG_CFG[depth]:
            if v == "M":
                units[-1].append(nn.MaxPool2d(2, 2))
                continue
            unit: list[nn.Module] = [nn.Conv2d(in_ch, v, 3, padding=1)]
            if batch_norm:
                unit.append(nn.BatchNorm2d(v))
            unit.append(nn.ReLU(inplace=True))
            units.append(unit)
            in_ch = v
        self.features = nn.Sequential(*[nn.Sequential(*u) for u in units])
        if head == "imagenet":
            pool, hidden = 7, 4096
        else:
            pool, hidden = 1, 512
        self.classifier = nn.Sequential(
            nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(1), nn.Linear(512 * pool * pool, hidden),
                          nn.ReLU(inplace=True), nn.Dropout(dropout)),
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)),
            nn.Linear(hidden, num_classes),
        )
        self._stage_names = ([f"features.{i}" for i in range(len(self.features))]
                             + [f"classifier.{i}" for i in range(len(self.classifier))])
