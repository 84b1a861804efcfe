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
    (+BN+ReLU6), global *max* pooling and a 1x1 conv classifier head (with bias). Generated
    from the paper's family rule, :mod:`edgesim.learning.variants`: ``vp_v<i>``: width 0.35
    (MobileNetV2's reduced 2.85x), ``j = 3 + i``, input ``rho_i`` = 96, 128, 160, 192, 224,
    256, 320 for i = 1..7 (Table II), 101 classes (Food-101, the dataset of the paper's latency
    table VII). ``vp_im<i>`` (the ImageNet variants): width 0.5, ``j = min(7 + 2i, 20)``,
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

# Every public attribute of the former single-file module stays reachable here (``zoo.torch``,
# ``zoo.FlopCounterMode`` ... included, the names marked F401), so code written against it keeps
# working unchanged.
import difflib  # noqa: F401
import functools  # noqa: F401
import math  # noqa: F401
import re  # noqa: F401
from dataclasses import dataclass, field, replace  # noqa: F401
from typing import Any, Callable, Optional, Sequence  # noqa: F401

import torch  # noqa: F401
from torch import nn  # noqa: F401
from torch.utils.flop_counter import FlopCounterMode  # noqa: F401

from edgesim.calibration.zoo.analysis import describe, split_points
from edgesim.calibration.zoo.mobilenet import (MOBILENET_V2_SETTING, ROI_CLASSES, InvertedResidual,  # noqa: F401
                        MobileNetV2, VPVariant, make_divisible)
from edgesim.calibration.zoo.registry import (DEFAULT_SEED, VP_RESOLUTIONS, ModelSpec, available, build,  # noqa: F401
                       example_input, resolve, spec)
from edgesim.calibration.zoo.resnet import RESNET_LAYERS, BasicBlock, Bottleneck, CifarResNet, ResNet  # noqa: F401
from edgesim.calibration.zoo.sequence import StackedLSTM, TextCNN
from edgesim.calibration.zoo.vgg import VGG, VGG_CFG  # noqa: F401

__all__ = [
    "ModelSpec", "available", "spec", "resolve", "build", "example_input", "describe",
    "split_points", "make_divisible", "DEFAULT_SEED",
    "MobileNetV2", "VPVariant", "ResNet", "CifarResNet", "VGG", "StackedLSTM", "TextCNN",
]
