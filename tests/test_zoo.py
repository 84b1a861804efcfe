"""The calibration model zoo: names, shapes, published parameter/MAC counts, split points, determinism.

Real forward passes run at reduced sizes (the ``resolution`` / ``seq_len`` override) to stay fast;
the canonical sizes are checked on the ``meta`` device, where nothing is computed.
"""
from __future__ import annotations

import functools
import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from edgesim.calibration import zoo  # noqa: E402

REQUIRED = [
    "mobilenet_v2", "mobilenet_v2_x0.5", "mobilenet_v2_x1.4",
    *[f"vp_v{i}" for i in range(1, 8)],
    "resnet18", "resnet50", "resnet20", "resnet56", "vgg13", "vgg13_cifar",
    "roi_object", "roi_color", "roi_type", "roi_make", "roi_behavior", "roi_gender",
    "lstm2", "textcnn",
]
ALL = zoo.available()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a small shared machine a thread pool spin-waits and is ~100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.lru_cache(maxsize=None)
def described(name: str, batch: int = 1) -> dict:
    return zoo.describe(name, batch)


@functools.lru_cache(maxsize=None)
def splits(name: str, batch: int = 1) -> tuple:
    return tuple(zoo.split_points(name, batch))


def small(name: str) -> dict:
    """An override that makes a real forward pass cheap."""
    s = zoo.spec(name)
    if "resolution" in s.kwargs:
        return {"resolution": min(s.kwargs["resolution"], 32)}
    return {"seq_len": 16}


def n_outputs(s: zoo.ModelSpec) -> int:
    if s.family == "ssd":           # box offsets and class scores of every anchor, flattened
        return zoo.describe(s.name, **{k: v for k, v in s.kwargs.items()
                                       if k == "resolution" and v != 300})["output_shape"][1]
    return s.kwargs["num_outputs"] if s.family == "lstm" else s.kwargs["num_classes"]


# ---- package and names ---------------------------------------------------------------------

def test_calibration_package_does_not_import_torch():
    code = "import sys, edgesim.calibration; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_available_has_the_required_names():
    assert set(REQUIRED) <= set(ALL)
    assert len(ALL) == len(set(ALL))
    assert {f"vp_im{i}" for i in range(1, 8)} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_spec_is_consistent(name):
    s = zoo.spec(name)
    assert s.name == name
    assert s.input_dtype in ("float32", "int64")
    assert all(isinstance(d, int) and d > 0 for d in s.input_shape)
    if s.family in ("textcnn", "bert"):
        assert s.input_dtype == "int64" and s.input_shape == (s.kwargs["seq_len"],)
    elif s.family == "lstm":
        assert s.input_shape == (s.kwargs["seq_len"], s.kwargs["input_size"])
    else:
        assert s.input_shape == (s.kwargs.get("in_channels", 3), s.kwargs["resolution"],
                                 s.kwargs["resolution"])
    s.kwargs["mutated"] = True                       # a copy: the registry is unaffected
    assert "mutated" not in zoo.spec(name).kwargs


def test_canonical_input_shapes():
    assert zoo.spec("mobilenet_v2").input_shape == (3, 224, 224)
    assert zoo.spec("resnet20").input_shape == (3, 32, 32)
    assert zoo.spec("vgg13_cifar").input_shape == (3, 32, 32)
    assert zoo.spec("roi_make").input_shape == (3, 112, 112)
    assert [zoo.spec(f"vp_v{i}").input_shape[1] for i in range(1, 8)] == [96, 128, 160, 192, 224, 256, 320]
    assert [zoo.spec(f"vp_v{i}").kwargs["last_channels"] for i in range(1, 8)] == [64 * (3 + i) for i in
                                                                                 range(1, 8)]
    assert [zoo.spec(f"vp_im{i}").kwargs["last_channels"] for i in range(1, 8)] == [
        64 * min(7 + 2 * i, 20) for i in range(1, 8)]
    assert zoo.spec("vp_v3").kwargs["last_channels"] == 384
    assert zoo.spec("vp_v1").kwargs["last_channels"] == 256
    assert zoo.spec("lstm2").kwargs["hidden_size"] == 256 and zoo.spec("lstm2").kwargs["num_layers"] == 2


def test_parameterised_names():
    s = zoo.spec("mobilenet_v2_x0.75@160")
    assert (s.name, s.family, s.input_shape) == ("mobilenet_v2_x0.75@160", "mobilenet_v2", (3, 160, 160))
    assert s.kwargs["width"] == 0.75 and s.kwargs["resolution"] == 160
    assert zoo.spec("mobilenet_v2_x0_5").kwargs == zoo.spec("mobilenet_v2_x0.5").kwargs   # DEEPCON spelling
    assert zoo.spec("mobilenet_v2_x0.5@96").kwargs["width"] == 0.5
    assert zoo.spec("resnet18@112").input_shape == (3, 112, 112)
    assert zoo.spec("roi_color_x1.0").kwargs["width"] == 1.0
    assert zoo.spec("lstm2@64").input_shape == (64, 24)
    assert zoo.spec("textcnn@100").input_shape == (100,)
    # canonical spelling: defaults dropped, registered names preferred
    assert zoo.spec("mobilenet_v2_x1.0@224").name == "mobilenet_v2"
    assert zoo.spec("mobilenet_v2_x0_5").name == zoo.spec("mobilenet_v2_x0.50").name == "mobilenet_v2_x0.5"
    assert zoo.spec("mobilenet_v2_x0.750@160").name == "mobilenet_v2_x0.75@160"
    assert zoo.spec("resnet18@224").name == "resnet18" and zoo.spec("roi_make_x0.5").name == "roi_make"
    with pytest.raises(KeyError):
        zoo.spec("resnet18_x0.5")                    # ResNet has no width multiplier
    with pytest.raises(KeyError):
        zoo.spec("mobilenet_v2_x0.5_x2")
    with pytest.raises(ValueError):
        zoo.spec("resnet18@abc")
    with pytest.raises(ValueError):
        zoo.spec("resnet18@0")


def test_unknown_name_is_a_clear_key_error():
    with pytest.raises(KeyError) as exc:
        zoo.spec("resnet19")
    msg = str(exc.value)
    assert "resnet19" in msg and "Did you mean" in msg and "'resnet18'" in msg
    assert "mobilenet_v2" in msg and "textcnn" in msg       # lists what is available
    with pytest.raises(KeyError, match="Did you mean 'mobilenet_v2'"):
        zoo.build("mobilenet_v3")
    with pytest.raises(KeyError):
        zoo.describe("no_such_model")


def test_unknown_override_is_rejected():
    with pytest.raises(TypeError, match="num_classes"):
        zoo.build("resnet20", num_clases=100)


# ---- forward passes ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_builds_and_runs_forward(name):
    kw = small(name)
    s = zoo.resolve(name, **kw)
    model = zoo.build(name, **kw)
    assert not model.training and model.zoo_spec == s
    x2 = zoo.example_input(name, 2, **kw)
    assert x2.dtype == getattr(torch, s.input_dtype) and tuple(x2.shape) == (2, *s.input_shape)
    with torch.no_grad():
        y2 = model(x2)
        y1 = model(x2[:1])
        staged = x2
        for _, stage in model.stages():            # the stages compose to the forward pass
            staged = stage(staged)
    assert tuple(y2.shape) == (2, n_outputs(s)) and tuple(y1.shape) == (1, n_outputs(s))
    assert torch.isfinite(y2).all()
    assert 1e-3 < y2.float().std().item() < 1e3     # initialisation keeps activations of order one
    assert torch.equal(staged, y2)
    assert torch.allclose(y1, y2[:1], rtol=1e-3, atol=1e-5 * (1 + y2.abs().max().item()))


@pytest.mark.parametrize("name", ALL)
def test_canonical_shapes_on_meta(name):
    s = zoo.spec(name)
    model = zoo.build(name, device="meta")
    assert all(p.is_meta for p in model.parameters())
    with torch.no_grad():
        y = model(zoo.example_input(name, 2, device="meta"))
    assert tuple(y.shape) == (2, n_outputs(s))
    d = described(name)
    assert d["output_shape"] == (1, n_outputs(s)) and d["input_shape"] == (1, *s.input_shape)


def test_overrides_change_the_model():
    model = zoo.build("resnet20", num_classes=100, resolution=16)
    assert model.zoo_spec.input_shape == (3, 16, 16)
    with torch.no_grad():
        assert tuple(model(zoo.example_input("resnet20", 1, resolution=16)).shape) == (1, 100)
    bn = 2 * (2 * 64 + 2 * 128 + 2 * 256 + 4 * 512)           # weight and bias of the 10 BN layers
    with_bn = zoo.describe("vgg13", batch_norm=True)["params"]
    assert described("vgg13")["params"] + bn == with_bn == 133_053_736


# ---- published counts ----------------------------------------------------------------------

@pytest.mark.parametrize("name, params", [
    ("mobilenet_v2", 3_504_872),
    ("resnet18", 11_689_512),
    ("resnet50", 25_557_032),
    ("resnet20", 269_722),            # He et al.: 0.27M (option A)
    ("resnet56", 853_018),            # He et al.: 0.85M (option A)
    ("vgg13", 133_047_848),
    # torchvision / timm / the papers, for the models of the published edge benchmarks
    ("resnet34", 21_797_672), ("resnet101", 44_549_160), ("resnet152", 60_192_808),
    ("vgg16", 138_357_544), ("vgg16_bn", 138_365_992), ("vgg19", 143_667_240),
    ("mobilenet_v1", 4_231_976), ("mobilenet_v3_large", 5_483_032),
    ("mobilenet_v3_small", 2_542_856), ("efficientnet_b0", 5_288_548),
    ("squeezenet1_0", 1_248_424), ("squeezenet1_1", 1_235_496), ("densenet121", 7_978_856),
    ("densenet161", 28_681_000), ("shufflenet_v2", 2_278_604), ("shufflenet_v2_x0.5", 1_366_792),
    ("mnasnet", 4_383_312), ("mnasnet_x0.5", 2_218_512), ("bert_base", 109_483_778),
])
def test_published_parameter_counts(name, params):
    d = described(name)
    assert d["params"] == params
    assert d["param_bytes"] == 4 * params


def test_approximate_parameter_counts():
    assert described("vgg13_cifar")["params"] == pytest.approx(9.94e6, rel=0.005)   # DEEPCON's VGG13 (BN)
    # ResNet-20 with 1x1-conv (option B) projection shortcuts adds the two projections.
    assert zoo.describe("resnet20", shortcut="B")["params"] == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)
    h, i, o = 256, 24, 24
    assert described("lstm2")["params"] == 4 * (h * (i + h) + 2 * h) + 4 * (h * (h + h) + 2 * h) + h * o + o
    v, e, f = 20000, 100, 100
    assert described("textcnn")["params"] == v * e + sum(f * e * k + f for k in (3, 4, 5)) + 3 * f * 2 + 2


@pytest.mark.parametrize("name, macs, rel", [
    ("mobilenet_v2", 300e6, 0.01),
    ("mobilenet_v2_x1.4", 582e6, 0.01),            # MobileNetV2 paper / TF-slim table
    ("mobilenet_v2_x0.5", 97e6, 0.01),
    ("mobilenet_v2_x0.75@160", 107e6, 0.02),
    ("mobilenet_v2@96", 56e6, 0.02),
    ("resnet18", 1.814e9, 0.005),
    ("resnet50", 4.09e9, 0.005),
    ("resnet20", 41e6, 0.02),
    ("resnet56", 125e6, 0.01),
    ("vgg13", 11.31e9, 0.005),
    ("resnet34", 3.67e9, 0.005), ("resnet101", 7.80e9, 0.005),     # timm's infer_gmacs
    ("mobilenet_v1", 0.58e9, 0.02), ("mobilenet_v3_large", 0.22e9, 0.05),
    ("efficientnet_b0", 0.39e9, 0.03), ("densenet121", 2.87e9, 0.02), ("vgg11", 7.61e9, 0.005),
])
def test_published_macs(name, macs, rel):
    d = described(name)
    assert d["flops"] == 2 * d["macs"]
    assert d["macs"] == pytest.approx(macs, rel=rel)


def test_sequence_model_flops_are_counted():
    b, t, h, i, o = 1, 30, 256, 24, 24
    assert described("lstm2")["flops"] == 2 * b * (t * 4 * h * (i + h) + t * 4 * h * (h + h) + h * o)
    seq, e, f = 256, 100, 100
    conv_macs = sum(f * e * k * (seq - k + 1) for k in (3, 4, 5))
    assert described("textcnn")["flops"] == 2 * (conv_macs + 3 * f * 2)


def test_vp_variants_against_table_ii():
    # VP paper Table II: #MACs of V1..V7 and V_im1..V_im7, #params of V_im1..V_im7.
    v_macs = [10e6, 17e6, 27e6, 40e6, 54e6, 71e6, 112e6]
    im_macs = [17e6, 30e6, 47e6, 69e6, 95e6, 125e6, 196e6]
    im_params = [1.15e6, 1.3e6, 1.45e6, 1.59e6, 1.75e6, 1.9e6, 1.97e6]
    v_params = [320e3, 330e3, 340e3, 360e3, 370e3, 390e3, 410e3]
    for i in range(1, 8):
        assert described(f"vp_v{i}")["macs"] == pytest.approx(v_macs[i - 1], rel=0.05)
        assert described(f"vp_im{i}")["macs"] == pytest.approx(im_macs[i - 1], rel=0.03)
        assert described(f"vp_im{i}")["params"] == pytest.approx(im_params[i - 1], rel=0.01)
        # Table II counts as Keras does: trainable + BN moving mean/variance.
        model = zoo.build(f"vp_v{i}", device="meta")
        keras = sum(p.numel() for p in model.parameters()) + sum(
            b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
        assert keras == pytest.approx(v_params[i - 1], rel=0.03)
    for family in ("vp_v", "vp_im"):
        flops = [described(f"{family}{i}")["flops"] for i in range(1, 8)]
        params = [described(f"{family}{i}")["params"] for i in range(1, 8)]
        assert flops == sorted(flops) and len(set(flops)) == 7
        assert params == sorted(params)
    # ~5.8-7.1x fewer parameters and 4.3-31x fewer MACs than MobileNetV2 (abstract, Table VII)
    base = described("mobilenet_v2")
    assert 25 < base["macs"] / described("vp_v1")["macs"] < 35
    assert 4 < base["macs"] / described("vp_v6")["macs"] < 5
    assert all(base["params"] / described(f"vp_v{i}")["params"] > 5 for i in range(1, 8))


def test_vp_variant_structure():
    model = zoo.build("vp_v3", device="meta")
    last = model.features[-1][0]
    assert isinstance(last, torch.nn.Conv2d) and (last.in_channels, last.out_channels) == (112, 384)
    assert isinstance(model.head[0], torch.nn.AdaptiveMaxPool2d)
    assert isinstance(model.head[1], torch.nn.Conv2d) and model.head[1].kernel_size == (1, 1)


def test_roi_classifiers_are_parameterised_by_class_count():
    names = [n for n in ALL if n.startswith("roi_")]
    assert len(names) == 6
    for n in names:
        s = zoo.spec(n)
        assert s.kwargs["width"] == 0.5 and s.input_shape == (3, 112, 112)
        assert described(n)["output_shape"] == (1, s.kwargs["num_classes"])
    # same backbone: only the classifier differs
    a, b = described("roi_gender"), described("roi_make")
    assert a["flops"] < b["flops"] and b["params"] - a["params"] == 1280 * (163 - 2) + (163 - 2)


# ---- describe and split points -------------------------------------------------------------

def test_describe_scales_with_batch():
    d1, d2 = described("resnet20"), described("resnet20", 2)
    assert d2["flops"] == 2 * d1["flops"]
    assert (d2["input_bytes"], d2["out_bytes"]) == (2 * d1["input_bytes"], 2 * d1["out_bytes"])
    assert d1["params"] == d2["params"]
    assert d1["input_bytes"] == 3 * 32 * 32 * 4 and d1["out_bytes"] == 10 * 4
    assert described("textcnn")["input_bytes"] == 256 * 8                # int64 token ids


@pytest.mark.parametrize("name", ALL)
def test_split_points_are_consistent(name):
    pts = splits(name)
    d = described(name)
    assert [p["index"] for p in pts] == list(range(len(pts))) and len(pts) >= 3
    assert len({p["after"] for p in pts}) == len(pts)
    assert all(p["act_bytes"] == 4 * math.prod(p["shape"]) > 0 for p in pts)
    before = [p["flops_before"] for p in pts]
    assert before == sorted(before) and before[-1] == d["flops"]
    assert sum(p["flops"] for p in pts) == d["flops"]
    assert pts[-1]["act_bytes"] == d["out_bytes"]
    assert sum(p["act_bytes"] for p in pts) > d["out_bytes"]


def test_split_points_of_mobilenet_v2():
    pts = splits("mobilenet_v2")
    assert len(pts) == 20 and pts[0]["after"] == "features.0" and pts[-1]["after"] == "head"
    # (channels, side) after each stage at 224: stem, 17 bottlenecks, last conv; then 1000 logits.
    stages = ([(32, 112), (16, 112)] + [(24, 56)] * 2 + [(32, 28)] * 3 + [(64, 14)] * 4 + [(96, 14)] * 3
              + [(160, 7)] * 3 + [(320, 7)] + [(1280, 7)])
    expected = [4 * c * s * s for c, s in stages] + [4 * 1000]
    assert [p["act_bytes"] for p in pts] == expected
    assert sum(p["act_bytes"] for p in pts) == sum(expected)
    # the MP problem: early activations are larger than the input itself
    assert pts[0]["act_bytes"] > described("mobilenet_v2")["input_bytes"] > pts[-1]["act_bytes"]
    assert [p["act_bytes"] for p in zoo.split_points("mobilenet_v2", 2)] == [2 * b for b in expected]


def test_split_point_counts():
    assert [p["after"] for p in splits("resnet18")] == (
        ["stem"] + [f"layer{l}.{i}" for l in range(1, 5) for i in range(2)] + ["head"])
    assert len(splits("resnet56")) == 1 + 27 + 1
    assert len(splits("vgg13")) == 10 + 3
    assert [p["after"] for p in splits("lstm2")] == ["lstm1", "lstm2", "head"]
    assert [p["after"] for p in splits("textcnn")] == ["embedding", "convs", "head"]
    assert splits("lstm2")[0]["act_bytes"] == 30 * 256 * 4


# ---- determinism ---------------------------------------------------------------------------

def test_build_is_deterministic_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a = zoo.build("resnet20").state_dict()
    b = zoo.build("resnet20").state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = zoo.build("resnet20", seed=1).state_dict()
    assert not torch.equal(a["stem.0.weight"], c["stem.0.weight"])
    la, lb = zoo.build("lstm2").state_dict(), zoo.build("lstm2").state_dict()
    assert all(torch.equal(la[k], lb[k]) for k in la)
    assert torch.equal(zoo.example_input("textcnn", 2), zoo.example_input("textcnn", 2))
    x = zoo.example_input("textcnn", 4)
    assert x.dtype == torch.int64 and 0 <= x.min() and x.max() < 20000


def test_op_table_is_up_to_date_and_agrees_with_describe():
    """calibration/predictor/zoo_ops.json (what the torch-free device predictor reads) is regenerated by
    `python -m edgesim.calibration.zoo.ops`; it must hold every zoo model with describe()'s
    totals, and its per-kernel rows must sum to them."""
    import json
    from edgesim.calibration.zoo.ops import DEFAULT_OUT, model_record
    table = json.loads(DEFAULT_OUT.read_text())["models"]
    assert set(table) == set(ALL), "run python -m edgesim.calibration.zoo.ops"
    for name in ("resnet50", "mobilenet_v2", "bert_base", "ssd_mobilenet_v1"):
        assert table[name] == json.loads(json.dumps(model_record(name)))
        rows = table[name]["ops"]
        assert sum(r[1] * r[4] for r in rows) == described(name)["flops"]
        assert sum(r[4] for r in rows) == described(name)["kernels"]


def test_op_kinds():
    from edgesim.calibration.zoo.ops import op_profile
    kinds = lambda n: {k: sum(o["count"] for o in op_profile(n) if o["kind"] == k)  # noqa: E731
                       for k in ("mm", "w3", "dw", "ew", "ewk")}
    assert kinds("mobilenet_v2")["dw"] == 17                # one depthwise conv per bottleneck
    assert kinds("vgg16")["w3"] == 13 and kinds("vgg16")["mm"] == 3   # 3x3 convs, 3 FC layers
    # DenseNet's pre-activation BN + ReLU read a concatenation: a fusing engine keeps them
    assert kinds("densenet121")["ewk"] > 0 and kinds("resnet18")["ewk"] <= 2


def test_federated_paper_models_have_their_closed_form_sizes():
    """The timed models of the FL scenarios, counted from their layer sizes by hand."""
    def conv(cin, cout, k):
        return cin * cout * k * k + cout
    def fc(a, b):
        return a * b + b
    # FedAvg paper: 5x5 'same' convs 32, 64 + two 2x2 pools (28 -> 7), FC 512; the paper states
    # 1,663,370 parameters for MNIST.
    fedavg = conv(1, 32, 5) + conv(32, 64, 5) + fc(7 * 7 * 64, 512) + fc(512, 10)
    assert fedavg == 1_663_370
    # FedML's FEMNIST CNN: 3x3 valid convs (28 -> 24), one pool (12), FC 128, 62 classes.
    femnist = conv(1, 32, 3) + conv(32, 64, 3) + fc(12 * 12 * 64, 128) + fc(128, 62)
    # CIFAR ResNet-18: 3x3 stem, four stages of two basic blocks, 1x1 projections, BN affine.
    def block(cin, cout, stride):
        n = 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout
        return n + (cin * cout + 2 * cout if stride != 1 or cin != cout else 0)
    resnet = 9 * 3 * 64 + 2 * 64 + fc(512, 10)
    cin = 64
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        resnet += block(cin, planes, stride) + block(planes, planes, 1)
        cin = planes
    assert resnet == 11_173_962
    for name, want in (("fedavg_cnn", fedavg), ("femnist_cnn", femnist),
                       ("fedavg_cnn_femnist", fedavg - fc(512, 10) + fc(512, 62)),
                       ("resnet18_cifar", resnet)):
        assert sum(p.numel() for p in zoo.build(name).parameters()) == want, name
