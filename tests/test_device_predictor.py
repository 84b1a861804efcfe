"""The device predictor: catalogue, anchors, the per-kernel roofline's limits and orderings, the
errors that list suggestions, and the leave-one-device-out figures (one function, in the docs).
Torch-free except where noted; the fits take about a second."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesim.calibration.predictor import perfmodel as pm
from edgesim.calibration.predictor.anchors import (FUSED_RUNTIMES, RUNTIMES, load_anchors, precision_key,
                                         runtime_key)
from edgesim.calibration.predictor.device_predictor import (DevicePredictor, UnknownModelError,
                                                  leave_one_device_out, loo_markdown)
from edgesim.calibration.predictor.devices import (UnknownDeviceError, UnsupportedPrecisionError,
                                         get_device, load_catalogue)

ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def predictor() -> DevicePredictor:
    return DevicePredictor().fit()


@functools.lru_cache(maxsize=None)
def loo() -> dict:
    return leave_one_device_out()


# ---- catalogue and anchors ----------------------------------------------------------------

REQUIRED_DEVICES = ["jetson-nano", "jetson-tx2", "jetson-xavier-nx", "jetson-agx-xavier",
                    "jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "t4", "v100", "a10",
                    "a100", "h100", "rtx-3090", "rtx-4090", "raspberry-pi-4", "intel-i9-10940x",
                    "amd-ryzen-9-5950x"]


def test_catalogue_covers_the_devices_users_own_with_their_spec_sheets():
    cat = load_catalogue()
    assert set(REQUIRED_DEVICES) <= set(cat)
    for d in cat.values():
        assert d.source and d.bandwidth > 0 and d.name
        if d.is_cpu:
            assert d.cores and d.flop_per_cycle and d.clock_ghz
        else:
            assert d.vector.get("fp32", 0) > 0 and d.host_family in ("arm", "x86")
            for p, rate in d.tensor.items():      # tensor cores are faster than CUDA cores
                assert rate >= d.vector.get(p, d.vector["fp32"])
    assert cat["t4"].peak("int8", "mm") == (130e12, "tensor")
    assert cat["jetson-nano"].peak("fp16", "mm") == (0.472e12, "vector")   # no tensor cores
    assert cat["a100"].peak("fp16", "dw")[1] == "vector"     # depthwise: no tensor cores


def test_anchors_are_cited_and_keyed_by_runtime_and_precision():
    anchors = load_anchors()
    assert len(anchors) >= 150
    assert len({a.device for a in anchors}) >= 10
    cat = load_catalogue()
    for a in anchors:
        assert a.source, a
        assert a.device in cat and a.runtime in RUNTIMES
        assert a.precision in ("fp32", "tf32", "fp16", "int8") and a.latency_ms > 0
    # the torch2trt rows: '+trt' is the runtime, never part of the model name
    trt = [a for a in anchors if a.device == "jetson-nano" and a.runtime == "tensorrt"]
    assert trt and all("+" not in a.model for a in trt)
    assert {a.precision for a in anchors} >= {"fp32", "fp16", "int8", "tf32"}
    assert runtime_key("TensorRT (torch2trt)") == "tensorrt" and precision_key("AMP") == "fp16"
    with pytest.raises(ValueError, match="supported: pytorch"):
        runtime_key("caffe")


# ---- the errors list what is supported ----------------------------------------------------

def test_unknown_device_error_lists_the_nearest_devices():
    with pytest.raises(UnknownDeviceError) as exc:
        predictor().predict("resnet50", "jetson-orin-agx")
    msg = str(exc.value)
    assert "nearest supported" in msg and "jetson-agx-orin" in msg.split("(all")[0]
    with pytest.raises(UnknownDeviceError, match="rtx-3090"):
        get_device("rtx3090")


def test_unknown_model_runtime_and_precision_errors_list_suggestions():
    with pytest.raises(UnknownModelError) as exc:
        predictor().predict("resnet-50", "t4")
    assert "resnet50" in str(exc.value).split("(all")[0]
    with pytest.raises(UnsupportedPrecisionError, match="supported there: fp32, fp16"):
        predictor().predict("resnet50", "jetson-nano", precision="int8", runtime="tensorrt")
    with pytest.raises(ValueError, match="supported: fp32, tf32, fp16, int8"):
        predictor().predict("resnet50", "t4", precision="bf17")
    with pytest.raises(UnsupportedPrecisionError, match="supported there: fp32$"):
        predictor().predict("resnet50", "raspberry-pi-4", precision="fp16", runtime="ncnn")


def test_cli_predict_and_its_errors():
    from edgesim.cli.app import main
    r = CliRunner().invoke(main, ["calibrate", "predict", "--model", "resnet50", "--device",
                                  "jetson-orin-nx", "--precision", "fp16", "--runtime",
                                  "tensorrt", "--batch", "1,8"])
    assert r.exit_code == 0, r.output
    assert "batch 8" in r.output and "source: per-kernel roofline" in r.output
    r = CliRunner().invoke(main, ["calibrate", "predict", "--model", "resnet50", "--device",
                                  "xavier-nx"])
    assert r.exit_code == 2 and "jetson-xavier-nx" in r.output


# ---- theory: limits and orderings ---------------------------------------------------------

@pytest.mark.parametrize("device, precision, runtime", [
    ("t4", "int8", "tensorrt"), ("a100", "fp16", "pytorch"), ("jetson-orin-nx", "fp16", "tensorrt"),
    ("raspberry-pi-4", "fp32", "ncnn"), ("v100", "fp32", "pytorch")])
def test_roofline_limits_hold(device, precision, runtime):
    """No prediction beats the device's peak compute for the model's FLOPs, nor its bandwidth
    for the weights (read once per batch); a fused runtime pays no framework dispatch."""
    p = predictor()
    dev = get_device(device)
    cost = pm.load_costs()["resnet50"]
    for b in (1, 16, 256):
        pred = p.predict("resnet50", device, b, precision, runtime)
        peak = max(dev.peak(precision, "mm")[0], dev.peak(precision, "dw")[0])
        assert pred.median_s >= b * cost.flops_total / peak
        assert pred.median_s >= cost.params * 4 * pm.BYTES_SCALE[precision] / dev.bandwidth
        if runtime in FUSED_RUNTIMES:
            assert pred.parts["host"] == 0.0


@pytest.mark.parametrize("model, device, precision, runtime", [
    ("resnet50", "v100", "fp16", "pytorch"), ("mobilenet_v2", "jetson-nano", "fp16", "tensorrt"),
    ("bert_base", "t4", "int8", "tensorrt"), ("efficientnet_b0", "jetson-agx-orin", "fp16", "pytorch"),
    ("resnet18", "rk3399", "fp32", "ncnn"), ("ssd_mobilenet_v1", "jetson-xavier-nx", "int8",
                                              "tensorrt")])
def test_monotone_in_batch(model, device, precision, runtime):
    """Batch time never falls with the batch; time per input never rises (batching only helps)."""
    p = predictor()
    bs = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    t = np.array([p.predict(model, device, b, precision, runtime).median_s for b in bs])
    assert np.all(np.diff(t) >= -1e-12 * t[1:])
    per = t / np.array(bs)
    assert np.all(np.diff(per) <= 1e-9 * per[1:])
    assert per[-1] < per[0]                              # and it does help


def test_precision_ordering():
    p = predictor()
    # a fused engine at a large batch: int8 < fp16 < fp32 wherever the rates are so ordered
    for dev in ("t4", "a100", "jetson-agx-orin", "jetson-xavier-nx"):
        t = {prec: p.predict("resnet50", dev, 64, prec, "tensorrt").median_s
             for prec in ("int8", "fp16", "fp32")}
        assert t["int8"] < t["fp16"] < t["fp32"], (dev, t)
    # PyTorch AMP: faster than FP32 at batch 256 but slower at batch 1 (autocast's weight casts
    # are extra kernels), as DeepLearningExamples publishes for ResNet-50 on a V100
    amp1, fp1 = (p.predict("resnet50", "v100", 1, pr).median_s for pr in ("fp16", "fp32"))
    amp256, fp256 = (p.predict("resnet50", "v100", 256, pr).median_s for pr in ("fp16", "fp32"))
    assert amp1 > fp1 and amp256 < fp256


def test_batch_scaling_is_the_devices_own():
    """The knee (where time starts growing with the batch) follows the device: a Jetson Nano
    saturates at smaller batches than an A100."""
    p = predictor()
    def growth(dev: str) -> float:
        t1 = p.predict("resnet50", dev, 1, "fp16", "tensorrt").median_s
        t8 = p.predict("resnet50", dev, 8, "fp16", "tensorrt").median_s
        return t8 / t1
    assert growth("jetson-nano") > 5 > growth("a100")


def test_personalised_devices_fit_their_own_anchors_better():
    p = predictor()
    assert p.device_factors("v100") is not None and p.device_factors("jetson-orin-nano") is None
    res = loo()
    # pooled, a device's own anchors help; per device, nearly always (a CPU whose held-out
    # prediction is already good, such as the Threadripper, can lose a little to the
    # three-factor personalisation fitted on 7 of its 8 anchors)
    assert res["within_median_abs"] < res["median_abs"]
    big = [(dev, d) for dev, d in res["per_device"].items()
           if d["within_median_abs"] is not None and d["n"] >= 8]
    worse = [dev for dev, d in big if d["within_median_abs"] > d["median_abs"] + 0.05]
    assert len(worse) <= 0.1 * len(big), worse


# ---- leave one device out ------------------------------------------------------------------

def test_loo_never_uses_the_held_out_devices_anchors():
    """Scaling every anchor of one device by 10 must not change its leave-one-out predictions
    (only its errors)."""
    anchors = load_anchors()
    dev = "t4"
    changed = [dataclasses.replace(a, latency_ms=a.latency_ms * 10) if a.device == dev else a
               for a in anchors]
    a = {(r["model"], r["runtime"], r["precision"], r["batch"]): r["predicted_ms"]
         for r in leave_one_device_out(anchors, within=False)["rows"] if r["device"] == dev}
    b = {(r["model"], r["runtime"], r["precision"], r["batch"]): r["predicted_ms"]
         for r in leave_one_device_out(changed, within=False)["rows"] if r["device"] == dev}
    assert a.keys() == b.keys() and all(np.isclose(a[k], b[k]) for k in a)


def test_loo_figures_and_coverage():
    res = loo()
    assert res["coverage"] >= 0.9 and res["devices"] >= 10
    assert res["n"] == len(res["rows"])
    assert 0 < res["median_abs"] <= res["p90_abs"]
    # the figures shipped in the docs are this function's (regenerate: edgesim calibrate loo)
    doc = (ROOT / "docs" / "validation.md").read_text()
    for line in loo_markdown(res).splitlines():      # every table row and the summary
        assert line in doc, f"regenerate with: edgesim calibrate loo --markdown ({line})"


def test_loo_baseline_reports_the_old_transfer():
    from edgesim.calibration.predictor.loo_baseline import baseline_loo
    base = baseline_loo()
    assert 0 < base["coverage"] < loo()["coverage"]
    assert base["median_abs"] > loo()["median_abs"]


def test_fp16_cpus_and_cuda_graphs_are_keys():
    """ARMv8.2 cores with FP16 vector arithmetic have an fp16 rate (twice the lanes), others
    do not; TensorRT launched as a CUDA graph pays a smaller floor per kernel."""
    p = predictor()
    m1 = load_catalogue()["apple-m1"]
    assert m1.precisions() == ["fp32", "fp16"]
    assert m1.peak("fp16", "mm")[0] == 2 * m1.peak("fp32", "mm")[0]
    assert (p.predict("resnet50", "apple-m1", 1, "fp16", "ncnn", threads=1).median_s
            < p.predict("resnet50", "apple-m1", 1, "fp32", "ncnn", threads=1).median_s)
    assert runtime_key("TensorRT-graphs") == "tensorrt-graphs"
    assert runtime_key("tensorrt") == "tensorrt"
    g = p.predict("mobilenet_v2", "jetson-orin-nano", 1, "int8", "tensorrt-graphs").median_s
    t = p.predict("mobilenet_v2", "jetson-orin-nano", 1, "int8", "tensorrt").median_s
    assert g < t


# ---- error bands ---------------------------------------------------------------------------

def test_shipped_error_quantiles_are_the_loo_ones():
    from edgesim.calibration.predictor.band import error_quantiles, load_errors
    want = error_quantiles(loo())
    have = load_errors()
    assert have is not None, "regenerate with: edgesim calibrate loo --write-errors"
    for group in ("held_out", "personalised"):
        for kind, q in want[group].items():
            assert have[group][kind] == pytest.approx(q), \
                f"regenerate with: edgesim calibrate loo --write-errors ({group}/{kind})"


def test_band_covers_eighty_percent_of_the_loo_anchors_of_its_kind():
    """The band's arithmetic, on the rows it was made from: published = predicted / (1 + e), so
    the published time lies in [pred / (1 + e90), pred / (1 + e10)] for the 80 % of rows whose
    e lies in [e10, e90] (a check of the inversion's direction, not of accuracy)."""
    from edgesim.calibration.predictor.band import band, error_quantiles
    cat = load_catalogue()
    res = loo()
    errs = error_quantiles(res)
    for kind in ("cpu", "jetson", "gpu"):
        rows = [r for r in res["rows"] if cat[r["device"]].kind == kind]
        inside = []
        for r in rows:
            lo, hi, n = band(r["predicted_ms"], kind, False, errs)
            inside.append(lo <= r["published_ms"] <= hi)
            assert n == len(rows)
        assert 0.78 <= np.mean(inside) <= 0.82, kind


def test_predictions_carry_their_band():
    p = predictor()
    held = p.predict("resnet50", "jetson-orin-nano", 1, "fp16", "tensorrt")
    own = p.predict("resnet50", "jetson-nano", 1, "fp16", "tensorrt")
    for pr in (held, own):
        lo, hi, n = pr.band
        assert lo < pr.median_s < hi and n > 50
    # a device's own anchors narrow the band (relative width)
    assert own.band[1] / own.band[0] < held.band[1] / held.band[0]
    out = CliRunner().invoke(__import__("edgesim.cli.calibrate", fromlist=["x"]).predict_cmd,
                             ["--model", "resnet50", "--device", "t4", "--json"])
    assert out.exit_code == 0 and '"band_ms"' in out.output


def test_error_file_is_written_whole_or_not_at_all(tmp_path):
    from edgesim.calibration.predictor.band import write_errors
    target = tmp_path / "e.json"
    write_errors({"held_out": {}, "personalised": {}}, target)
    assert '"held_out"' in target.read_text()
    with pytest.raises(TypeError):
        write_errors({"bad": object()}, target)
    assert '"held_out"' in target.read_text()           # the old file is intact
    assert [f.name for f in tmp_path.iterdir()] == ["e.json"]   # no temporary left
