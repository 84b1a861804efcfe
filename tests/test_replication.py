"""Published replications: pairs of independent publications of the same key, the anchors'
own noise (edgesim.calibration.predictor.replication); and two of the predictor's kernel rules checked
against their closed forms (the saturating CPU efficiency, Winograd on CUDA cores). Torch-free."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgesim.calibration.predictor import perfmodel as pm
from edgesim.calibration.predictor.anchors import Anchor, load_anchors
from edgesim.calibration.predictor.device_predictor import DevicePredictor
from edgesim.calibration.predictor.replication import (load_replications, replication_markdown,
                                             replication_spread)

ROOT = Path(__file__).resolve().parents[1]


def _a(model: str, ms: float, src: str = "s") -> Anchor:
    return Anchor("t4", model, "tensorrt", "fp16", 1, ms, None, src)


def test_spread_is_the_relative_difference_of_matching_keys():
    anchors = [_a("resnet50", 2.0), _a("resnet18", 1.0)]
    reps = [_a("resnet50", 2.5, "r"), _a("resnet18", 0.8, "r"), _a("vgg16", 9.0, "r")]
    res = replication_spread(anchors, reps)
    assert res["n"] == 2 and len(res["unmatched"]) == 1 and res["unmatched"][0][1] == "vgg16"
    assert [r["difference"] for r in res["rows"]] == pytest.approx([0.25, -0.2])
    assert res["median_abs"] == pytest.approx(0.225)
    assert replication_spread(anchors, [])["n"] == 0
    assert math.isnan(replication_spread(anchors, [])["median_abs"])
    assert replication_markdown(replication_spread(anchors, [])) == ""


def test_shipped_replications_pair_with_anchors_and_are_never_fitted():
    reps = load_replications()
    assert len(reps) >= 40 and all(r.source for r in reps)
    res = replication_spread()
    assert res["n"] == len(reps) and not res["unmatched"]
    # the anchors keep torch2trt's own table (resnet18 eager 7.33 ms), not the replication
    a = {x.key: x for x in load_anchors()}
    key = ("jetson-agx-xavier", "resnet18", "pytorch", "fp16", 1, None)
    assert a[key].latency_ms == 7.33 and {r.key: r for r in reps}[key].latency_ms == 9.7
    assert 0 < res["median_abs"] < res["p90_abs"]


def test_docs_publish_the_replication_spread():
    doc = (ROOT / "docs" / "validation.md").read_text()
    assert replication_markdown(replication_spread()) in doc, \
        "regenerate with: edgesim calibrate loo --markdown"


def _one_layer(kind: int, flops: float, weights: float) -> pm.ModelCost:
    arr = lambda v: np.array([v], dtype=float)  # noqa: E731
    return pm.ModelCost("one", np.array([kind]), arr(flops), arr(0.0), arr(4.0 * weights),
                        arr(1.0), 1, 1, flops, int(weights))


def test_small_dense_cpu_layers_run_at_a_saturating_efficiency():
    """A dense CPU layer of w weights computes at eta w / (w + w_half), normalised at 1M
    weights: the compute time per FLOP against a 1M-weight layer is exactly
    (w + w_half) / w x 1M / (1M + w_half); depthwise layers and GPUs are not scaled."""
    theta = DevicePredictor().theta
    w_half = math.exp(theta[pm.IDX["wsat_cpu"]])
    cat = DevicePredictor(personalise=False).catalogue
    pi, t4 = cat["raspberry-pi-4"], cat["t4"]

    def per_flop(kind, w, dev, prec="fp32", rt="ncnn"):
        F = pm.build_features([(_one_layer(kind, 1e9, w), dev, rt, prec, 1, 1)])
        return pm.evaluate(theta, F)["compute"][0] / 1e9

    big = per_flop(0, 1e6, pi)
    for w in (1e3, 1e4, 1e5):
        want = (w + w_half) / w * 1e6 / (1e6 + w_half)
        assert per_flop(0, w, pi) / big == pytest.approx(want, rel=1e-12)
    assert per_flop(1, 1e3, pi) == pytest.approx(per_flop(1, 1e6, pi), rel=1e-12)
    assert per_flop(0, 1e3, t4, "fp16", "tensorrt") == pytest.approx(
        per_flop(0, 1e6, t4, "fp16", "tensorrt"), rel=1e-12)
    assert 1e2 < w_half < 1e6      # fitted: a physically plausible knee


def test_winograd_runs_on_cuda_cores_not_tensor_cores():
    """A 3x3 stride-1 convolution gets the GPU Winograd gain where it runs on CUDA cores (the
    Nano's fp16, a T4's fp32) and not on tensor cores (a T4's fp16)."""
    cat = DevicePredictor(personalise=False).catalogue
    w3 = _one_layer(3, 1e9, 1e5)
    feats = lambda dev, prec: pm.build_features([(w3, cat[dev], "tensorrt", prec, 1, None)])  # noqa: E731
    assert feats("jetson-nano", "fp16").w3[0] and feats("t4", "fp32").w3[0]
    assert not feats("t4", "fp16").w3[0]
    assert math.exp(DevicePredictor().theta[pm.IDX["wino_gpu"]]) > 1.0
