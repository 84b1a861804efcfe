"""The project's own PyTorch model zoo (no torchvision): architectures the simulated systems run.

Every model here exists so that the calibration code can time real kernels and count FLOPs and
bytes; the weights are random (deterministic, seeded), never trained.

Models, by family (``available()`` lists the canonical names):

``mobilenet_v2``
    MobileNetV2 (Sandler et al. 2018) with a width multiplier and an input resolution: inverted
    residual blocks, the (t, c, n, s) table of the paper, channels rounded by ``make_divisible``
    to multiples of 8, last 1x1 conv with ``1280 * max(1, width)`` filters, average pool,
    dropout, linear classifier. Width 1.0 at 224 is exactly the reference network (3,504,872
    parameters with 1000 classes, ~300M MACs).
``vp``
    The variants of Variant Parallelism (VP paper, Table I and Table II): the MobileNetV2 backbone
    at width 0.35 up to the 320-channel bottleneck, then a 1x1 conv with ``64 * j`` filters
    (+BN+ReLU6), global *max* pooling and a 1x1 conv classifier head (with bias). ``vp_v<i>``:
    width 0.35, ``j = 3 + i``, input ``rho_i`` = 96, 128, 160, 192, 224, 256, 320 for i = 1..7,
    101 classes (Food-101, the dataset of the paper's latency table VII).
    ``vp_im<i>`` (the ImageNet variants of the same table): width 0.5, ``j = min(7 + 2i, 20)``,
    1000 classes, the same resolutions.
``resnet``
    ResNet-18/50 (ImageNet, torchvision layout, stride on the 3x3 conv of a bottleneck: "v1.5").
``resnet_cifar``
    ResNet-20/56 (He et al. 2016 sec. 4.2): 3 stages of basic blocks, 16/32/64 channels, 32x32
    input, option-A (parameter-free, zero-padded) shortcuts; ``shortcut="B"`` gives 1x1-conv ones.
``vgg``
    VGG-13 (configuration B), optional batch norm. ``head="imagenet"``: adaptive 7x7 average pool
    and 4096-4096-C classifier (133,047,848 parameters without BN); ``head="cifar"``: 512-512-C
    classifier after a 1x1 adaptive pool (the common CIFAR layout, e.g. DEEPCON's VGG13).
``roi``
    Distream's per-ROI attribute classifiers (Distream sec. 1.4: "an efficient DNN model based on
    MobileNetV2 for each classifier"): MobileNetV2 at width 0.5 and 112x112 input, parameterised
    by the class count only.
``lstm``
    A stacked (default two-layer) LSTM regressor; defaults are Distream's workload predictor
    (two layers of 256, input = the workloads of its 24 cameras, output = the next-second workload
    of each camera).
``textcnn``
    TextCNN (Kim 2014): embedding, parallel 1-D convolutions with kernel sizes 3, 4, 5 (100 filters
    each), max-over-time pooling, dropout, linear. Defaults follow DEEPCON's IMDB setup (100-d GloVe
    embeddings, 2 classes).

Names: a canonical name (``"resnet18"``) or a parameterised one: ``"<base>_x<width>"`` for
families with a width multiplier (``"mobilenet_v2_x0.75"``; DEEPCON's ``"mobilenet_v2_x0_5"``
spelling is accepted too) and ``"<name>@<size>"`` for the input resolution of image models or the
sequence length of sequence models (``"mobilenet_v2_x0.75@160"``, ``"lstm2@64"``).

Every model is a sequence of top-level *stages* (``model.stages()``); its ``forward`` applies them
in order, so the activation after each stage is a candidate split point (:func:`split_points`).

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts matrix multiplies
and convolutions only, 2 FLOPs per multiply-accumulate (BN, activations, pooling and the adds of
residuals are not counted). :func:`describe` and :func:`split_points` run on the ``meta`` device,
so they cost no compute and work at full size for every model.
"""
from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "ModelSpec", "available", "spec", "resolve", "build", "example_input", "describe",
    "split_points", "make_divisible", "DEFAULT_SEED",
    "MobileNetV2", "VPVariant", "ResNet", "CifarResNet", "VGG", "StackedLSTM", "TextCNN",
]

DEFAULT_SEED = 0


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


class _Staged(nn.Module):
    """A model whose forward pass is its stages applied in order (``self._stage_names``)."""

    _stage_names: list[str]

    def stages(self) -> list[tuple[str, nn.Module]]:
        """The top-level stages, ``(dotted name, module)``, in execution order."""
        return [(n, self.get_submodule(n)) for n in self._stage_names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self._stage_names:
            x = self.get_submodule(name)(x)
        return x


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
    """ImageNet ResNet; stages: ``stem`` (conv7x7, BN, ReLU, max pool), each residual block
    (``layer1.0`` ...), ``head`` (average pool, linear)."""

    def __init__(self, depth: int = 18, num_classes: int = 1000):
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"ImageNet ResNet depth must be one of {sorted(RESNET_LAYERS)}, not {depth}")
        block, counts = RESNET_LAYERS[depth]
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
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


# ---- sequence models -----------------------------------------------------------------------

class _LSTMLayer(nn.Module):
    """One LSTM layer (batch first) returning only its output sequence, so it can be a stage."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class _LastStep(nn.Module):
    def __init__(self, hidden_size: int, out_features: int):
        super().__init__()
        self.fc = nn.Linear(hidden_size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, -1])


class StackedLSTM(_Staged):
    """Stacked LSTM regressor/classifier: ``(N, seq_len, input_size)`` -> ``(N, num_outputs)`` from
    the last time step. Stages: ``lstm1`` .. ``lstm<num_layers>``, ``head``. Same parameters as one
    ``nn.LSTM(num_layers=...)``; kept as separate layers so the model can be split between them."""

    def __init__(self, input_size: int = 24, hidden_size: int = 256, num_layers: int = 2,
                 num_outputs: int = 24):
        super().__init__()
        names = []
        for i in range(1, num_layers + 1):
            setattr(self, f"lstm{i}", _LSTMLayer(input_size if i == 1 else hidden_size, hidden_size))
            names.append(f"lstm{i}")
        self.head = _LastStep(hidden_size, num_outputs)
        self._stage_names = names + ["head"]


class _ParallelConvMaxPool(nn.Module):
    """TextCNN's parallel 1-D convolutions (+ReLU) with max-over-time pooling, concatenated."""

    def __init__(self, embed_dim: int, kernel_sizes: Sequence[int], num_filters: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)                        # (N, L, D) -> (N, D, L)
        return torch.cat([torch.relu(c(x)).amax(dim=2) for c in self.convs], dim=1)


class TextCNN(_Staged):
    """TextCNN (Kim 2014): ``(N, seq_len)`` int64 token ids -> ``(N, num_classes)`` logits.
    Stages: ``embedding``, ``convs`` (parallel convs + max-over-time), ``head`` (dropout, linear)."""

    def __init__(self, vocab_size: int = 20000, embed_dim: int = 100, kernel_sizes: Sequence[int] = (3, 4, 5),
                 num_filters: int = 100, num_classes: int = 2, dropout: float = 0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.convs = _ParallelConvMaxPool(embed_dim, tuple(kernel_sizes), num_filters)
        self.head = nn.Sequential(nn.Dropout(dropout),
                                  nn.Linear(num_filters * len(kernel_sizes), num_classes))
        self._stage_names = ["embedding", "convs", "head"]


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """What :func:`build` makes for a name.

    ``input_shape`` is per sample: ``(3, H, W)`` for images, ``(seq_len, features)`` for the LSTM,
    ``(seq_len,)`` token ids for TextCNN. ``kwargs`` are the family's constructor arguments plus its
    size key (``resolution`` or ``seq_len``); any of them can be overridden in :func:`build`.
    """
    name: str
    family: str
    input_shape: tuple[int, ...]
    input_dtype: str
    description: str
    kwargs: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class _Family:
    ctor: Callable[..., nn.Module]
    defaults: dict           # every accepted key, with its default
    size_key: str            # "resolution" or "seq_len": the "@N" of a name; not a constructor argument
    input_shape: Callable[[dict], tuple[int, ...]]
    input_dtype: str = "float32"


def _image_shape(kw: dict) -> tuple[int, ...]:
    return (3, kw["resolution"], kw["resolution"])


_FAMILIES: dict[str, _Family] = {
    "mobilenet_v2": _Family(MobileNetV2, dict(width=1.0, num_classes=1000, dropout=0.2, resolution=224),
                            "resolution", _image_shape),
    "vp": _Family(VPVariant, dict(width=0.35, last_channels=256, num_classes=101, resolution=96),
                  "resolution", _image_shape),
    "resnet": _Family(ResNet, dict(depth=18, num_classes=1000, resolution=224), "resolution", _image_shape),
    "resnet_cifar": _Family(CifarResNet, dict(depth=20, num_classes=10, shortcut="A", resolution=32),
                            "resolution", _image_shape),
    "vgg": _Family(VGG, dict(depth=13, batch_norm=False, num_classes=1000, head="imagenet", dropout=0.5,
                             resolution=224), "resolution", _image_shape),
    "roi": _Family(MobileNetV2, dict(width=0.5, num_classes=2, dropout=0.2, resolution=112),
                   "resolution", _image_shape),
    "lstm": _Family(StackedLSTM,
                    dict(input_size=24, hidden_size=256, num_layers=2, num_outputs=24, seq_len=30),
                    "seq_len", lambda kw: (kw["seq_len"], kw["input_size"])),
    "textcnn": _Family(TextCNN, dict(vocab_size=20000, embed_dim=100, kernel_sizes=(3, 4, 5), num_filters=100,
                                     num_classes=2, dropout=0.5, seq_len=256),
                       "seq_len", lambda kw: (kw["seq_len"],), "int64"),
}

_REGISTRY: dict[str, tuple[str, dict, str]] = {}   # name -> (family, kwargs, description)


def _register(name: str, family: str, description: str, **kwargs: Any) -> None:
    fam = _FAMILIES[family]
    unknown = set(kwargs) - set(fam.defaults)
    assert not unknown, (name, unknown)
    _REGISTRY[name] = (family, {**fam.defaults, **kwargs}, description)


_register("mobilenet_v2", "mobilenet_v2", "MobileNetV2 1.0 @224, ImageNet (Sandler et al. 2018)")
_register("mobilenet_v2_x0.5", "mobilenet_v2", "MobileNetV2 width 0.5 @224 (DEEPCON's MobileNetv2_x0_5)",
          width=0.5)
_register("mobilenet_v2_x1.4", "mobilenet_v2", "MobileNetV2 width 1.4 @224 (DEEPCON's MobileNetv2_x1_4)",
          width=1.4)

# VP paper Table II: V1..V7 take 96, 128, 160, 192, 224, 256, 320 pixel inputs (Table I's rho_i);
# "j = 3 + i when width-factor = 0.35 and j = min(7 + 2i, 20) when width-factor = 0.5 (ImageNet)".
VP_RESOLUTIONS: tuple[int, ...] = (96, 128, 160, 192, 224, 256, 320)
for _i, _rho in enumerate(VP_RESOLUTIONS, start=1):
    _register(f"vp_v{_i}", "vp",
              f"VP variant V{_i}: MobileNetV2-0.35 backbone, last conv 64x{3 + _i}={64 * (3 + _i)}, "
              f"global max pool, "
              f"1x1-conv head, {_rho}x{_rho} input, 101 classes (Food-101) (VP paper Tables I/II/VII)",
              width=0.35, last_channels=64 * (3 + _i), num_classes=101, resolution=_rho)
for _i, _rho in enumerate(VP_RESOLUTIONS, start=1):
    _j = min(7 + 2 * _i, 20)
    _register(f"vp_im{_i}", "vp",
              f"VP ImageNet variant V_im{_i}: MobileNetV2-0.5 backbone, last conv 64x{_j}={64 * _j}, "
              f"global max pool, "
              f"1x1-conv head, {_rho}x{_rho} input, 1000 classes (VP paper Tables I/II)",
              width=0.5, last_channels=64 * _j, num_classes=1000, resolution=_rho)

_register("resnet18", "resnet", "ResNet-18, ImageNet 224 (He et al. 2016; torchvision layout)", depth=18)
_register("resnet50", "resnet", "ResNet-50, ImageNet 224 (He et al. 2016; torchvision v1.5 layout)", depth=50)
_register("resnet20", "resnet_cifar",
          "ResNet-20, CIFAR-10 32x32, option-A shortcuts (He et al. 2016 sec. 4.2)",
          depth=20)
_register("resnet56", "resnet_cifar",
          "ResNet-56, CIFAR-10 32x32, option-A shortcuts (He et al. 2016 sec. 4.2)",
          depth=56)
_register("vgg13", "vgg", "VGG-13 (config B), ImageNet 224, no batch norm (Simonyan & Zisserman 2015)")
_register("vgg13_cifar", "vgg",
          "VGG-13 with batch norm, CIFAR-10 32x32, 512-512-C classifier (DEEPCON's VGG13)",
          batch_norm=True, num_classes=10, head="cifar", resolution=32)

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
for _k, (_c, _what) in ROI_CLASSES.items():
    _register(f"roi_{_k}", "roi",
              f"Distream ROI classifier: {_what}, {_c} classes; MobileNetV2 width 0.5 @112x112 "
              f"(class count assumed)", num_classes=_c)

_register("lstm2", "lstm", "two-layer LSTM, 256 hidden (Distream's workload predictor: 24 cameras in, "
          "next-second workload per camera out; sequence length 30 assumed)")
_register("textcnn", "textcnn", "TextCNN (Kim 2014): 100-d embeddings (GloVe as in DEEPCON), kernels 3/4/5 "
          "x 100 filters, max-over-time, linear; IMDB-like 2 classes, 20k vocabulary and 256 tokens assumed")

del _i, _rho, _j, _k, _c, _what


def available() -> list[str]:
    """The canonical model names, in registration order."""
    return list(_REGISTRY)


_WIDTH_RE = re.compile(r"(?P<base>.+)_x(?P<width>\d+(?:\.\d+)?)")


def _unknown(name: str) -> KeyError:
    close = difflib.get_close_matches(str(name), available(), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return KeyError(
        f"unknown model {name!r}.{hint} Available: {', '.join(available())} "
        f"(also '<base>_x<width>' for width-scalable families and '<name>@<size>' for the input "
        f"resolution / sequence length, e.g. 'mobilenet_v2_x0.75@160')")


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for a canonical or parameterised name (a fresh copy).

    ``ModelSpec.name`` is the canonical spelling: defaults are dropped and registered names are
    preferred (``"mobilenet_v2_x1.0@224"`` -> ``"mobilenet_v2"``, ``"mobilenet_v2_x0_5"`` ->
    ``"mobilenet_v2_x0.5"``, ``"mobilenet_v2_x0.750@160"`` -> ``"mobilenet_v2_x0.75@160"``).

    Raises ``KeyError`` (listing the available names, with a did-you-mean) for an unknown name and
    ``ValueError`` for a malformed size or width.
    """
    if not isinstance(name, str):
        raise _unknown(name)
    text = name.strip()
    base, size = text, None
    if "@" in text:
        base, _, size_text = text.rpartition("@")
        if not re.fullmatch(r"\d+", size_text) or int(size_text) <= 0:
            raise ValueError(f"model name {name!r}: the part after '@' must be a positive integer "
                             f"(input resolution or sequence length), not {size_text!r}")
        size = int(size_text)
    base = re.sub(r"_x(\d+)_(\d+)$", r"_x\1.\2", base)          # DEEPCON spelling: mobilenet_v2_x0_5
    overrides: dict[str, Any] = {}
    if base in _REGISTRY:
        canonical = base
    else:
        m = _WIDTH_RE.fullmatch(base)
        if (not m or m.group("base") not in _REGISTRY or "width" not in _REGISTRY[m.group("base")][1]
                or _WIDTH_RE.fullmatch(m.group("base"))):   # no second width on "mobilenet_v2_x0.5"
            raise _unknown(name)
        width = float(m.group("width"))
        if width <= 0:
            raise ValueError(f"model name {name!r}: width must be positive")
        root = m.group("base")
        canonical = f"{root}_x{width:g}"
        if width == _REGISTRY[root][1]["width"]:        # "mobilenet_v2_x1.0" is "mobilenet_v2"
            canonical = root
        elif canonical not in _REGISTRY:                # "mobilenet_v2_x0.50" is "mobilenet_v2_x0.5"
            canonical = root
            overrides["width"] = width
    family, kwargs, description = _REGISTRY[canonical]
    if "width" in overrides:
        canonical = f"{canonical}_x{overrides['width']:g}"
        description = f"{description}; width {overrides['width']:g}"
    fam = _FAMILIES[family]
    if size is not None and size != kwargs[fam.size_key]:   # "resnet18@224" is "resnet18"
        overrides[fam.size_key] = size
        canonical = f"{canonical}@{size}"
        description = f"{description}; {fam.size_key} {size}"
    kwargs = {**kwargs, **overrides}
    return ModelSpec(canonical, family, tuple(fam.input_shape(kwargs)), fam.input_dtype, description,
                     dict(kwargs))


def resolve(name: str, **overrides: Any) -> ModelSpec:
    """:func:`spec` with keyword overrides applied (``num_classes=``, ``resolution=``, ``width=`` ...)."""
    s = spec(name)
    if not overrides:
        return s
    fam = _FAMILIES[s.family]
    unknown = sorted(set(overrides) - set(fam.defaults))
    if unknown:
        raise TypeError(f"model {s.name!r} (family {s.family!r}) takes no option(s) {', '.join(unknown)}; "
                        f"it accepts: {', '.join(sorted(fam.defaults))}")
    kwargs = {**s.kwargs, **overrides}
    shown = ", ".join(f"{k}={v!r}" for k, v in sorted(overrides.items()))
    return replace(s, input_shape=tuple(fam.input_shape(kwargs)), kwargs=kwargs,
                   description=f"{s.description}; overrides: {shown}")


# --------------------------------------------------------------------------------------------
# Building, inputs, description
# --------------------------------------------------------------------------------------------

def _residual_branch_bns(model: nn.Module) -> list[nn.Module]:
    """The last BN of every residual branch (the one whose output is added to the shortcut)."""
    out: list[nn.Module] = []
    for m in model.modules():
        if isinstance(m, BasicBlock):
            out.append(m.bn2)
        elif isinstance(m, Bottleneck):
            out.append(m.bn3)
        elif isinstance(m, InvertedResidual) and m.use_res_connect:
            out.append(m.conv[-1])
    return out


def _init_weights(model: nn.Module, gen: torch.Generator) -> None:
    """Deterministic initialisation of every parameter and buffer from ``gen`` (module order).

    The weights are random but *scaled* so that the eval-mode activations stay of order one through
    the whole network (the BN layers hold their initial running statistics, so they are identities):
    convolutions get Kaiming-normal weights by fan-in, linear layers ``U(-1/sqrt(fan_in), +)``, and
    the last BN of each residual branch a gain of ``1/sqrt(number of residual blocks)``, so deep
    residual stacks neither explode nor, as fan-out initialisation does for MobileNetV2, vanish into
    denormal floats (which would make CPU kernels slow and timings wrong).
    """
    done: set[int] = set()
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=gen)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()
            done.update(id(b) for b in m.buffers(recurse=False))
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.in_features)
            nn.init.uniform_(m.weight, -bound, bound, generator=gen)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            bound = 1.0 / math.sqrt(m.hidden_size)
            for p in m.parameters(recurse=False):
                nn.init.uniform_(p, -bound, bound, generator=gen)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 1.0, generator=gen)
        else:
            continue
        done.update(id(p) for p in m.parameters(recurse=False))
    branch_bns = _residual_branch_bns(model)
    with torch.no_grad():
        for bn in branch_bns:
            bn.weight.fill_(1.0 / math.sqrt(len(branch_bns)))
        for p in model.parameters():
            if id(p) not in done:                  # a module type not handled above
                nn.init.normal_(p, 0.0, 0.02, generator=gen)
        for b in model.buffers():
            if id(b) not in done:
                b.zero_()


def _constructor_kwargs(s: ModelSpec) -> dict:
    fam = _FAMILIES[s.family]
    return {k: v for k, v in s.kwargs.items() if k != fam.size_key}


def build(name: str, *, device: Any = None, seed: int = DEFAULT_SEED, **overrides: Any) -> nn.Module:
    """Build a model in ``eval()`` mode with deterministic weights.

    The module is constructed on the ``meta`` device (no default initialisation, no use of the
    global RNG) and then materialised on CPU and initialised from a ``torch.Generator`` seeded with
    ``seed``: the same name, overrides and seed give bit-identical weights. ``device="meta"``
    skips materialisation (shapes only, no memory). Other devices: initialised on CPU, then moved.
    ``overrides`` replace entries of ``spec(name).kwargs`` (e.g. ``num_classes=10``); the resolved
    spec is attached as ``model.zoo_spec``.
    """
    s = resolve(name, **overrides)
    fam = _FAMILIES[s.family]
    with torch.device("meta"):
        model = fam.ctor(**_constructor_kwargs(s))
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type != "meta":
        model = model.to_empty(device="cpu")
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed))
        _init_weights(model, gen)
        if dev.type != "cpu":
            model = model.to(dev)
    model.eval()
    model.zoo_spec = s
    return model


def example_input(name: str, batch: int, *, device: Any = None, seed: int = DEFAULT_SEED,
                  **overrides: Any) -> torch.Tensor:
    """A deterministic input batch ``(batch, *input_shape)``: standard-normal floats, or token ids
    uniform in ``[0, vocab_size)`` for int64 inputs. On ``device="meta"`` only the shape is real."""
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, not {batch}")
    s = resolve(name, **overrides)
    shape = (int(batch), *s.input_shape)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    dtype = getattr(torch, s.input_dtype)
    if dev.type == "meta":
        return torch.empty(shape, dtype=dtype, device=dev)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    if s.input_dtype == "int64":
        x = torch.randint(0, int(s.kwargs.get("vocab_size", 2)), shape, generator=gen, dtype=torch.int64)
    else:
        x = torch.randn(shape, generator=gen, dtype=dtype)
    return x.to(dev)


def _nbytes(t: torch.Tensor) -> int:
    return int(t.numel() * t.element_size())


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(e) for e in v)
    hash(v)
    return v


@functools.lru_cache(maxsize=512)
def _profile_cached(name: str, batch: int, overrides: tuple) -> tuple[dict, tuple]:
    return _profile(name, batch, dict(overrides))


def _profile(name: str, batch: int, overrides: dict) -> tuple[dict, tuple]:
    """One stage-by-stage forward pass on the ``meta`` device: (describe dict, split point tuple)."""
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, not {batch}")
    s = resolve(name, **overrides)
    model = build(name, device="meta", **overrides)
    x = example_input(name, batch, device="meta", **overrides)
    input_bytes, input_shape = _nbytes(x), tuple(x.shape)
    points = []
    total = 0
    with torch.no_grad():
        for i, (stage_name, module) in enumerate(model.stages()):
            with FlopCounterMode(display=False) as counter:
                x = module(x)
            f = int(counter.get_total_flops())
            total += f
            points.append({"index": i, "after": stage_name, "act_bytes": _nbytes(x), "flops_before": total,
                           "flops": f, "shape": tuple(x.shape)})
    info = {
        "name": s.name,
        "flops": total,
        "macs": total // 2,
        "params": sum(p.numel() for p in model.parameters()),
        "param_bytes": sum(_nbytes(p) for p in model.parameters()),
        "buffer_bytes": sum(_nbytes(b) for b in model.buffers()),
        "input_bytes": input_bytes,
        "out_bytes": _nbytes(x),
        "input_shape": input_shape,
        "output_shape": tuple(x.shape),
    }
    return info, tuple(points)


def _profiled(name: str, batch: int, overrides: dict) -> tuple[dict, tuple]:
    try:
        key = tuple(sorted((k, _hashable(v)) for k, v in overrides.items()))
    except TypeError:                                  # an unhashable override: no caching
        return _profile(name, batch, overrides)
    return _profile_cached(name, int(batch), key)


def describe(name: str, batch: int = 1, **overrides: Any) -> dict:
    """Size and cost of one forward pass at ``batch``, computed on the ``meta`` device (cached).

    Returns ``flops`` (FlopCounterMode: 2 per multiply-accumulate of convs and matmuls, LSTM gates
    included), ``macs`` (= flops // 2), ``params``, ``param_bytes``, ``buffer_bytes`` (BN running
    statistics), ``input_bytes``, ``out_bytes`` (the output tensor for this batch), ``input_shape``
    and ``output_shape`` (with the batch dimension), and the resolved ``name``.

    (On the meta device ``aten::lstm`` decomposes into matmuls that the counter sees; on a real CPU
    it runs as one fused kernel that FlopCounterMode would count as 0 FLOPs.)
    """
    return dict(_profiled(name, batch, overrides)[0])


def split_points(name: str, batch: int = 1, **overrides: Any) -> list[dict]:
    """Candidate split points: the activation after each top-level stage of the model.

    One entry per stage, in execution order: ``index`` (0-based), ``after`` (the stage's dotted
    name), ``act_bytes`` (bytes of the activation leaving that stage for this batch: what a
    model-parallel split there must transmit), ``flops_before`` (forward FLOPs of all stages up to
    and including this one, i.e. computed before the cut), ``flops`` (this stage alone) and
    ``shape``. The last entry is the model output (``act_bytes == out_bytes``, ``flops_before ==``
    the total). Computed on the ``meta`` device (cached).
    """
    return [dict(p) for p in _profiled(name, batch, overrides)[1]]
