"""SqueezeNet 1.0 / 1.1, DenseNet-121/169/201/161 and the SSD detector on a MobileNetV1 backbone
(the published edge benchmarks' ``mobilenet_ssd``), in the zoo's stage layout.

Layer tables follow torchvision (SqueezeNet, DenseNet: 1,248,424 / 1,235,496 / 7,978,856
parameters) and chuanqi305's Caffe MobileNet-SSD (VOC, 21 classes, 300x300), the model of ncnn's
``mobilenet_ssd`` benchmark.
"""
from __future__ import annotations

import torch
from torch import nn

from edgesim.calibration.zoo.base import _Staged
from edgesim.calibration.zoo.mobile import MobileNetV1

__all__ = ["SqueezeNet", "DenseNet", "DENSENET_CFG", "SSDMobileNet"]


class _Fire(nn.Module):
    def __init__(self, inp: int, squeeze: int, e1: int, e3: int):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(inp, squeeze, 1), nn.ReLU(inplace=True))
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, e1, 1), nn.ReLU(inplace=True))
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


class SqueezeNet(_Staged):
    """SqueezeNet 1.0 (Iandola et al. 2016) or 1.1 (the 2.4x cheaper revision)."""

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        if version == "1_0":
            layers = [nn.Sequential(nn.Conv2d(3, 96, 7, 2), nn.ReLU(inplace=True), pool()),
                      _Fire(96, 16, 64, 64), _Fire(128, 16, 64, 64),
                      nn.Sequential(_Fire(128, 32, 128, 128), pool()),
                      _Fire(256, 32, 128, 128), _Fire(256, 48, 192, 192), _Fire(384, 48, 192, 192),
                      nn.Sequential(_Fire(384, 64, 256, 256), pool()), _Fire(512, 64, 256, 256)]
        elif version == "1_1":
            layers = [nn.Sequential(nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), pool()),
                      _Fire(64, 16, 64, 64), nn.Sequential(_Fire(128, 16, 64, 64), pool()),
                      _Fire(128, 32, 128, 128), nn.Sequential(_Fire(256, 32, 128, 128), pool()),
                      _Fire(256, 48, 192, 192), _Fire(384, 48, 192, 192), _Fire(384, 64, 256, 256),
                      _Fire(512, 64, 256, 256)]
        else:
            raise ValueError(f"SqueezeNet version must be '1_0' or '1_1', not {version!r}")
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Conv2d(512, num_classes, 1),
                                  nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self._stage_names = [f"features.{i}" for i in range(len(self.features))] + ["head"]


# depth -> (growth rate, block sizes, initial features), Huang et al. 2017 Table 1
DENSENET_CFG: dict[int, tuple[int, tuple[int, ...], int]] = {
    121: (32, (6, 12, 24, 16), 64), 169: (32, (6, 12, 32, 32), 64),
    201: (32, (6, 12, 48, 32), 64), 161: (48, (6, 12, 36, 24), 96)}


class _DenseLayer(nn.Module):
    def __init__(self, inp: int, growth: int, bn_size: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(inp), nn.ReLU(inplace=True),
                                  nn.Conv2d(inp, bn_size * growth, 1, bias=False),
                                  nn.BatchNorm2d(bn_size * growth), nn.ReLU(inplace=True),
                                  nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


class DenseNet(_Staged):
    """DenseNet-BC (torchvision layout); stages: stem, each dense block, each transition, head."""

    def __init__(self, depth: int = 121, num_classes: int = 1000):
        super().__init__()
        if depth not in DENSENET_CFG:
            raise ValueError(f"DenseNet depth must be one of {sorted(DENSENET_CFG)}, not {depth}")
        growth, blocks, c = DENSENET_CFG[depth]
        self.stem = nn.Sequential(nn.Conv2d(3, c, 7, 2, 3, bias=False), nn.BatchNorm2d(c),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        names = ["stem"]
        for i, n in enumerate(blocks):
            layers = []
            for _ in range(n):
                layers.append(_DenseLayer(c, growth))
                c += growth
            setattr(self, f"block{i + 1}", nn.Sequential(*layers))
            names.append(f"block{i + 1}")
            if i < len(blocks) - 1:
                setattr(self, f"trans{i + 1}", nn.Sequential(
                    nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False),
                    nn.AvgPool2d(2, 2)))
                names.append(f"trans{i + 1}")
                c //= 2
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(1), nn.Linear(c, num_classes))
        self._stage_names = names + ["head"]


class _Heads(nn.Module):
    """The SSD box and class predictors on every feature map, flattened and concatenated."""

    def __init__(self, chans: tuple[int, ...], anchors: tuple[int, ...], num_classes: int):
        super().__init__()
        self.loc = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(chans, anchors))
        self.cls = nn.ModuleList(nn.Conv2d(c, a * num_classes, 3, padding=1)
                                 for c, a in zip(chans, anchors))


class SSDMobileNet(_Staged):
    """SSD (Liu et al. 2016) on MobileNetV1: 6 feature maps (19, 10, 5, 3, 2, 1 at 300x300),
    3 + 5 x 6 anchors per location; output: box offsets and class scores of every anchor,
    flattened (decoding and NMS run outside the network). Stages: the backbone up to conv5
    (``low_a``), up to conv11 (``low_b``, the first feature map), and the rest (``rest``: after
    conv11 several feature maps feed the heads, so there is no single activation to cut at)."""

    def __init__(self, num_classes: int = 21):
        super().__init__()
        units = list(MobileNetV1().features)        # stem + 13 depthwise-separable units
        self.low_a = nn.Sequential(*units[:6])
        self.low_b = nn.Sequential(*units[6:12])    # conv11: 512 channels, stride 16
        self.high = nn.Sequential(*units[12:])      # conv13: 1024 channels, stride 32
        extra = ((1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 64, 128))
        self.extras = nn.ModuleList(
            nn.Sequential(nn.Conv2d(i, m, 1), nn.ReLU(inplace=True),
                          nn.Conv2d(m, o, 3, 2, 1), nn.ReLU(inplace=True)) for i, m, o in extra)
        self.heads = _Heads((512, 1024, 512, 256, 256, 128), (3, 6, 6, 6, 6, 6), num_classes)
        self._stage_names = ["low_a", "low_b"]

    def stages(self) -> list[tuple[str, nn.Module]]:
        return [("low_a", self.low_a), ("low_b", self.low_b), ("rest", _Rest(self))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Rest(self)(self.low_b(self.low_a(x)))


class _Rest(nn.Module):
    """Everything of the SSD after conv11, given conv11's output (its last stage)."""

    def __init__(self, ssd: SSDMobileNet):
        super().__init__()
        self.__dict__["_ssd"] = ssd                 # not a registered submodule: no double count

    def forward(self, low: torch.Tensor) -> torch.Tensor:
        s = self._ssd
        feats = [low, s.high(low)]
        for e in s.extras:
            feats.append(e(feats[-1]))
        out = []
        for f, loc, cls in zip(feats, s.heads.loc, s.heads.cls):
            out.append(loc(f).flatten(1))
            out.append(cls(f).flatten(1))
        return torch.cat(out, 1)
