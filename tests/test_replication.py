"""Published replications: pairs of independent publications of the same key, the anchors'
own noise (edgesim.calibration.replication), and the CPU engines' own parameters that a
held-out device leaves at their prior. Torch-free."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgesim.calibration import perfmodel as pm
from edgesim.calibration.anchors import Anchor, load_anchors
from edgesim.calibration.device_predictor import DevicePredictor, weights
from edgesim.calibration.replication import (load_replications, replication_markdown,
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


def test_an_engine_only_the_held_out_device_runs_keeps_its_prior():
    """TFLite's anchors are all the Galaxy Tab A's: with that device held out nothing
    identifies TFLite's own efficiencies, so they stay exactly at their prior centre (1); with
    it in, they move (the tablet's TFLite is slower than ncnn on the same cores)."""
    base = DevicePredictor(personalise=False)
    centre, _ = pm._prior()

    def fit(anchors):
        F = pm.build_features([base._query(a) for a in anchors])
        return pm.fit(F, np.array([a.latency_ms / 1e3 for a in anchors]), weights(anchors)).theta

    out = fit([a for a in base.anchors if a.device != "galaxy-tab-a"])
    both = fit(base.anchors)
    for name in ("tflite_eta", "tflite_dw"):
        i = pm.IDX[name]
        assert out[i] == pytest.approx(centre[i], abs=1e-6)
        assert abs(both[i] - centre[i]) > 0.05
    assert math.exp(both[pm.IDX["tflite_eta"]]) < 1.0
