"""Names to models: the families, the registered names, name parsing and building.

:func:`spec` and :func:`resolve` turn a canonical or parameterised name into a :class:`ModelSpec`;
:func:`build` and :func:`example_input` make the (deterministically initialised) model and a
matching input batch.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
from torch import nn

from edgesim.calibration.zoo.classic import DenseNet, SqueezeNet, SSDMobileNet
from edgesim.calibration.zoo.federated import FedAvgCNN, FemnistCNN
from edgesim.calibration.zoo.mobile import EfficientNet, MNASNet, MobileNetV1, MobileNetV3, ShuffleNetV2
from edgesim.calibration.zoo.mobilenet import ROI_CLASSES, InvertedResidual, MobileNetV2, VPVariant
from edgesim.calibration.zoo.resnet import BasicBlock, Bottleneck, CifarResNet, ResNet
from edgesim.calibration.zoo.sequence import StackedLSTM, TextCNN
from edgesim.calibration.zoo.transformer import BertEncoder
from edgesim.calibration.zoo.vgg import VGG
from edgesim.learning import variants as _vp

__all__ = ["ModelSpec", "available", "spec", "resolve", "build", "example_input", "DEFAULT_SEED",
           "VP_RESOLUTIONS"]

DEFAULT_SEED = 0


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
    "resnet": _Family(ResNet, dict(depth=18, num_classes=1000, stem="imagenet", resolution=224),
                      "resolution", _image_shape),
    "fedavg_cnn": _Family(FedAvgCNN, dict(in_channels=1, num_classes=10, resolution=28), "resolution",
                          lambda kw: (kw["in_channels"], kw["resolution"], kw["resolution"])),
    "femnist_cnn": _Family(FemnistCNN, dict(in_channels=1, num_classes=62, resolution=28), "resolution",
                           lambda kw: (kw["in_channels"], kw["resolution"], kw["resolution"])),
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
    # the families of published edge benchmarks (see zoo/mobile.py, classic.py, transformer.py)
    "mobilenet_v1": _Family(MobileNetV1, dict(width=1.0, num_classes=1000, resolution=224),
                            "resolution", _image_shape),
    "mobilenet_v3": _Family(MobileNetV3, dict(size="large", num_classes=1000, dropout=0.2,
                                              resolution=224), "resolution", _image_shape),
    "efficientnet": _Family(EfficientNet, dict(num_classes=1000, dropout=0.2, resolution=224),
                            "resolution", _image_shape),
    "squeezenet": _Family(SqueezeNet, dict(version="1_0", num_classes=1000, dropout=0.5,
                                           resolution=224), "resolution", _image_shape),
    "densenet": _Family(DenseNet, dict(depth=121, num_classes=1000, resolution=224), "resolution",
                        _image_shape),
    "shufflenet_v2": _Family(ShuffleNetV2, dict(width=1.0, num_classes=1000, resolution=224),
                             "resolution", _image_shape),
    "mnasnet": _Family(MNASNet, dict(width=1.0, num_classes=1000, dropout=0.2, resolution=224),
                       "resolution", _image_shape),
    "ssd": _Family(SSDMobileNet, dict(num_classes=21, resolution=300), "resolution", _image_shape),
    "bert": _Family(BertEncoder, dict(vocab_size=30522, hidden=768, layers=12, heads=12, ffn=3072,
                                      max_positions=512, num_classes=2, seq_len=128),
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

# The VP paper's class-parallel baseline (sensAI): each of 5 devices runs MobileNetV2 pruned to
# its share of Food-101's classes (ceil(101 / 5) = 21). sensAI prunes class-aware; uniform width
# 0.45 is the 0.05-grid width whose MACs gain over MobileNetV2 (3.43x) is nearest Table VII's
# 3.5x for sensAI (its parameter gain, 3.9x, falls short of the table's 5x). Times the CP
# baseline of scenarios/vp/smart-home.yaml (python -m edgesim.systems.vp.split --cp).
_register("sensai_part", "mobilenet_v2",
          "sensAI-like class-parallel sub-model (VP paper's CP baseline): MobileNetV2 width 0.45 "
          "@224, 21 classes (Food-101 over 5 devices); MACs 3.43x fewer (Table VII: 3.5x)",
          width=0.45, num_classes=21)

# VP variants from the paper's family rule (edgesim.learning.variants: width 0.35 or 0.5,
# Table II's resolutions, Table I's j), not from a hand list.
VP_RESOLUTIONS: tuple[int, ...] = _vp.RESOLUTIONS
# family -> (name in the description, classes, dataset note): V_i are timed on Food-101
# (Table VII), V_im,i on ImageNet.
_VP_FAMILIES = {"v": ("VP variant V", 101, "101 classes (Food-101) (VP paper Tables I/II/VII)"),
                "im": ("VP ImageNet variant V_im", 1000, "1000 classes (VP paper Tables I/II)")}
for _fam, (_label, _classes, _note) in _VP_FAMILIES.items():
    for _v in _vp.family(_fam):
        _register(_v.name, "vp",
                  f"{_label}{_v.index}: MobileNetV2-{_v.width} backbone, last conv "
                  f"64x{_v.last_channels // 64}={_v.last_channels}, global max pool, "
                  f"1x1-conv head, {_v.resolution}x{_v.resolution} input, {_note}",
                  width=_v.width, last_channels=_v.last_channels, num_classes=_classes,
                  resolution=_v.resolution)

_register("resnet18", "resnet", "ResNet-18, ImageNet 224 (He et al. 2016; torchvision layout)", depth=18)
_register("resnet50", "resnet", "ResNet-50, ImageNet 224 (He et al. 2016; torchvision v1.5 layout)", depth=50)
_register("resnet18_cifar", "resnet",
          "ResNet-18 for CIFAR 32x32: 3x3 stem, no max pool, 10 classes (Mercury's and FedAce's "
          "Fed-CIFAR10 model; FedAce's GroupNorm has the same parameters as this BatchNorm)",
          depth=18, num_classes=10, stem="cifar", resolution=32)
_register("fedavg_cnn", "fedavg_cnn",
          "FedAvg paper CNN (McMahan et al. 2017): 5x5 conv 32 + pool, 5x5 conv 64 + pool, FC 512, "
          "28x28 grey, 10 classes (1,663,370 parameters as the paper states)")
_register("fedavg_cnn_femnist", "fedavg_cnn",
          "FedAvg paper CNN with 62 classes (FEMNIST, LEAF's baseline CNN)", num_classes=62)
_register("femnist_cnn", "femnist_cnn",
          "FEMNIST CNN of FedML (CNN_DropOut): 3x3 conv 32, 3x3 conv 64, pool, FC 128, 62 classes "
          "(FedAce's FEMNIST model: two conv and two linear layers)")
_register("resnet20", "resnet_cifar",
          "ResNet-20, CIFAR-10 32x32, option-A shortcuts (He et al. 2016 sec. 4.2)",
          depth=20)
_register("resnet56", "resnet_cifar",
          "ResNet-56, CIFAR-10 32x32, option-A shortcuts (He et al. 2016 sec. 4.2)",
          depth=56)
_register("vgg13", "vgg", "VGG-13 (config B), ImageNet 224, no batch norm (Simonyan & Zisserman 2015)")
for _d in (34, 101, 152):
    _register(f"resnet{_d}", "resnet", f"ResNet-{_d}, ImageNet 224 (He et al. 2016; torchvision layout)",
              depth=_d)
for _d in (11, 16, 19):
    _register(f"vgg{_d}", "vgg", f"VGG-{_d}, ImageNet 224, no batch norm (Simonyan & Zisserman 2015)",
              depth=_d)
for _d in (11, 13, 16, 19):
    _register(f"vgg{_d}_bn", "vgg", f"VGG-{_d} with batch norm, ImageNet 224 (torchvision vgg{_d}_bn)",
              depth=_d, batch_norm=True)
_register("mobilenet_v1", "mobilenet_v1", "MobileNetV1 1.0 @224, ImageNet (Howard et al. 2017)")
_register("mobilenet_v3_large", "mobilenet_v3", "MobileNetV3-Large @224, ImageNet (Howard et al. 2019)")
_register("mobilenet_v3_small", "mobilenet_v3", "MobileNetV3-Small @224, ImageNet (Howard et al. 2019)",
          size="small")
_register("efficientnet_b0", "efficientnet", "EfficientNet-B0 @224, ImageNet (Tan & Le 2019)")
_register("squeezenet1_0", "squeezenet", "SqueezeNet 1.0 @224, ImageNet (Iandola et al. 2016)")
_register("squeezenet1_1", "squeezenet", "SqueezeNet 1.1 @224, ImageNet (torchvision squeezenet1_1)",
          version="1_1")
for _d in (121, 169, 201, 161):
    _register(f"densenet{_d}", "densenet", f"DenseNet-{_d} @224, ImageNet (Huang et al. 2017)", depth=_d)
_register("shufflenet_v2", "shufflenet_v2", "ShuffleNetV2 1.0 @224, ImageNet (Ma et al. 2018)")
for _w in (0.5, 1.5, 2.0):
    _register(f"shufflenet_v2_x{_w:g}", "shufflenet_v2", f"ShuffleNetV2 {_w:g} @224, ImageNet", width=_w)
_register("mnasnet", "mnasnet", "MNASNet-B1 1.0 @224, ImageNet (Tan et al. 2019; torchvision mnasnet1_0)")
for _w in (0.5, 0.75, 1.3):
    _register(f"mnasnet_x{_w:g}", "mnasnet", f"MNASNet-B1 depth {_w:g} @224, ImageNet (torchvision "
              f"mnasnet{str(_w).replace('.', '_')})", width=_w)
_register("ssd_mobilenet_v1", "ssd", "SSD300 on MobileNetV1, VOC 21 classes (MobileNet-SSD; Liu et al. "
          "2016); raw box and class outputs, no NMS")
_register("bert_base", "bert", "BERT-base (Devlin et al. 2019): 12 layers, hidden 768, sequence 128, "
          "2-class head")
_register("vgg13_cifar", "vgg",
          "VGG-13 with batch norm, CIFAR-10 32x32, 512-512-C classifier (DEEPCON's VGG13)",
          batch_norm=True, num_classes=10, head="cifar", resolution=32)

for _k, (_c, _what) in ROI_CLASSES.items():
    _register(f"roi_{_k}", "roi",
              f"Distream ROI classifier: {_what}, {_c} classes; MobileNetV2 width 0.5 @112x112 "
              f"(class count assumed)", num_classes=_c)

_register("lstm2", "lstm", "two-layer LSTM, 256 hidden (Distream's workload predictor: 24 cameras in, "
          "next-second workload per camera out; sequence length 30 assumed)")
_register("textcnn", "textcnn", "TextCNN (Kim 2014): 100-d embeddings (GloVe as in DEEPCON), kernels 3/4/5 "
          "x 100 filters, max-over-time, linear; IMDB-like 2 classes, 20k vocabulary and 256 tokens assumed")

del _fam, _label, _classes, _note, _v, _k, _c, _what, _d, _w


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
# Building and inputs (sizes and costs: analysis.py)
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
        elif getattr(m, "branch_bn", None) is not None:      # zoo/mobile.py blocks
            out.append(m.branch_bn)
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
        elif isinstance(m, nn.LayerNorm):                    # an identity, like the BN layers
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        else:
            continue
        done.update(id(p) for p in m.parameters(recurse=False))
    branch_bns = _residual_branch_bns(model)
    with torch.no_grad():
        for bn in branch_bns:
            bn.weight.fill_(1.0 / math.sqrt(len(branch_bns)))
        for m in model.modules():                # squeeze-and-excitation gates start open
            if getattr(m, "gate_bias", None) is not None:
                m.fc2.bias.fill_(m.gate_bias)
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
