"""ResNets: ImageNet ResNet-18/34/50/101/152 and the CIFAR ResNet-(6n+2) of He et al. sec. 4.2."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from edgesim.calibration.zoo.base import _Staged

__all__ = ["BasicBlock", "Bottleneck", "RESNET_LAYERS", "ResNet", "CifarResNet"]


# ---- ResNets -------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


RESNET_LAYERS: dict[int, tuple[type, tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(_Staged):
    """ImageNet ResNet; stages: ``stem`` (conv7x7, BN, ReLU, max pool; or, ``stem='cifar'``,
    conv3x3 stride 1, BN, ReLU), each residual block (``layer1.0`` ...), ``head`` (average pool,
    linear)."""

    def __init__(self, depth: int = 18, num_classes: int = 1000, stem: str = "imagenet"):
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"ImageNet ResNet depth must be one of {sorted(RESNET_LAYERS)}, not {depth}")
        block, counts = RESNET_LAYERS[depth]
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        elif stem == "cifar":
            # 32x32 inputs (Mercury, FedAce, most FL papers): a 3x3 stride-1 stem, no max pool.
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                      nn.ReLU(inplace=True))
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', not {stem!r}")
        inplanes = 64
        names = ["stem"]
        for li, (planes, n) in enumerate(zip((64, 128, 256, 512), counts), start=1):
            blocks = []
            for i in range(n):
                stride = 2 if (i == 0 and li > 1) else 1
                downsample = None
                if stride != 1 or inplanes != planes * block.expansion:
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                blocks.append(block(inplanes, planes, stride, downsample))
                inplanes = planes * block.expansion
            setattr(self, f"layer{li}", nn.Sequential(*blocks))
            names += [f"layer{li}.{i}" for i in range(n)]
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(inplanes, num_classes))
        self._stage_names = names + ["head"]


class _PadShortcut(nn.Module):
    """Option-A shortcut of He et al. (CIFAR): subsample by 2 and zero-pad the new channels."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class CifarResNet(_Staged):
    """CIFAR ResNet-(6n+2); stages: ``stem``, each basic block (``layer1.0`` ...), ``head``."""

    def __init__(self, depth: int = 20, num_classes: int = 10, shortcut: str = "A"):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), not {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' (zero padding) or 'B' (1x1 conv), not {shortcut!r}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU(inplace=True))
        inplanes = 16
        names = ["stem"]
        for li, planes in enumerate((16, 32, 64), start=1):
            blocks = []
            for i in range(n):
                stride = 2 if (i == 0 and li > 1) else 1
                downsample: Optional[nn.Module] = None
                if stride != 1 or inplanes != planes:
                    downsample = (_PadShortcut(planes) if shortcut == "A" else nn.Sequential(
                        nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)))
                blocks.append(BasicBlock(inplanes, planes, stride, downsample))
                inplanes = planes
            setattr(self, f"layer{li}", nn.Sequential(*blocks))
            names += [f"layer{li}.{i}" for i in range(n)]
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(64, num_classes))
        self._stage_names = names + ["head"]
