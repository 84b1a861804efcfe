"""Roofline transfer with a per-kernel overhead term, efficiency_from, transferred bundles, merging
bundles, and the kernel count behind the overhead term. Every test is tiny (synthetic bundles,
models on the meta device); none profiles a real model except one 8x8 ResNet-20 cell."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from edgesim.hardware.profiles.bundle import COLUMNS, load_bundle, write_bundle
from edgesim.calibration.merge import MergeError, fill_kernels, merge_bundles
from edgesim.hardware.profiles.predictor import Predictor, TransferError
from edgesim.hardware.profiles.roofline import BYTES_PER_PARAM, fit_transfer
from edgesim.hardware.catalogue import CATALOGUE, DeviceInfo

ETA, MU, TAU = 0.42, 0.31, 37e-6          # the "true" target efficiencies and seconds per kernel
P_REF, W_REF = 2.0e11, 2.0e10
P_TGT, W_TGT = 1.0e12, 5.0e10
IN_BYTES = 3 * 64 * 64 * 4
MODELS = {   # flops per input, params, out bytes per input, kernels per forward pass
    "big": (9.0e9, 2.0e6, 4000, 40),        # compute-bound, few kernels
    "mid": (3.0e9, 1.0e7, 4000, 120),
    "deep": (1.5e9, 3.0e6, 4000, 300),      # many small kernels: overhead-heavy
    "fat": (0.5e9, 1.2e8, 4000, 25),        # memory-bound (big classifier)
    "thin": (0.05e9, 5.0e5, 4000, 150),     # tiny: almost all overhead
    "held": (2.0e9, 4.0e6, 8000, 90),       # measured on the reference only
}


def _bytes(name, b):
    return MODELS[name][1] * BYTES_PER_PARAM + b * (MODELS[name][2] + IN_BYTES)


def _model3(name, b, peak, bw, eta=ETA, mu=MU, tau=TAU):
    f, _, _, k = MODELS[name]
    return max(b * f / (eta * peak), _bytes(name, b) / (mu * bw)) + k * tau


def _row(model, batch, median_ms, **kw):
    r = {c: math.nan for c in COLUMNS}
    r.update(model=model, phase="infer", batch=batch, input_shape="3x64x64", threads=1, n=20,
             median_ms=median_ms, provenance="measured")
    r.update(kw)
    return r


def _write(path, device, rows, provenance="measured", extra=(), fingerprint=None, command="",
           samples=None):
    meta = {"device_id": device, "provenance": provenance, "fingerprint": fingerprint or {},
            "command": command}
    table = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    return write_bundle(path, meta, table, samples)


def _reference(tmp_path, kernels=True, name="ref"):
    rows = []
    for m, (f, params, out, k) in MODELS.items():
        for b in (1, 2):
            r = _row(m, b, _model3(m, b, P_REF, W_REF, 0.5, 0.5, 5e-6) * 1e3, flops=f * b,
                     params=params, out_bytes=out * b)
            if kernels:
                r["kernels"] = str(k)
            rows.append(r)
    return _write(tmp_path / name, "ref", rows, extra=("kernels",) if kernels else ())


def _anchor(tmp_path, device, peak, bw, models=("big", "mid", "deep", "fat", "thin"),
            batches=(1, 4), noise=None, name=None, provenance="literature"):
    rows = []
    for i, m in enumerate(models):
        for b in batches:
            t = _model3(m, b, peak, bw) * 1e3 * (noise[i] if noise else 1.0)
            rows.append(_row(m, b, t, provenance=provenance, threads=None, n=None))
    return _write(tmp_path / (name or device), device, rows, provenance=provenance)


CAT = {"ref": DeviceInfo("ref", "cpu", 1, "", P_REF, W_REF, "test"),
       "tgt": DeviceInfo("tgt", "gpu", 1, "", P_TGT, W_TGT, "test"),
       "twin": DeviceInfo("twin", "gpu", 1, "", 3.0e12, 2.0e11, "test: a bigger sibling"),
       "bare": DeviceInfo("bare", "gpu")}


def _predictor(tmp_path, **kw):
    anchors = kw.pop("anchors", {})
    b = {"ref": [_reference(tmp_path, kernels=kw.pop("kernels", True))],
         "tgt": [_anchor(tmp_path, "tgt", P_TGT, W_TGT, **anchors)]}
    return Predictor(b, catalogue=CAT, **kw)


# ------------------------------------------------------------------------------ the fit itself

def test_fit_transfer_recovers_tau_eta_mu_on_three_parameter_data():
    rng = np.random.default_rng(3)
    c = rng.uniform(1e-4, 5e-2, 12)
    m = rng.uniform(1e-4, 5e-2, 12)
    k = rng.integers(10, 300, 12).astype(float)
    t = np.maximum(c / ETA, m / MU) + k * TAU
    fit = fit_transfer(c, m, k, t)
    assert fit.overhead and fit.fallback is None and fit.dof == 12 - 3
    assert fit.eta == pytest.approx(ETA, rel=1e-6) and fit.mu == pytest.approx(MU, rel=1e-6)
    assert fit.tau == pytest.approx(TAU, rel=1e-6)
    assert fit.eta_identified and fit.mu_identified and fit.sse < 1e-20
    # tau is never negative: data faster than any overhead gives tau = 0, not below
    t0 = np.maximum(c / ETA, m / MU) * (1 - 1e-3 * k / 300)
    assert fit_transfer(c, m, k, t0).tau >= 0.0


def test_predictor_recovers_tau_from_bundles_and_transfers_with_it(tmp_path):
    p = _predictor(tmp_path)
    rep = p.transfer_report("tgt")
    assert rep["model"] == "roofline+overhead" and rep["fallback"] is None
    assert rep["eta"] == pytest.approx(ETA, rel=1e-6)
    assert rep["mu"] == pytest.approx(MU, rel=1e-6)
    assert rep["tau"] == pytest.approx(TAU, rel=1e-6)
    assert rep["eta_identified"] and rep["mu_identified"] and rep["dof"] == 10 - 3
    assert rep["loo"]["max_abs_rel_err"] < 1e-6 and rep["loo"]["fallback_folds"] == []
    # the two-parameter roofline on the same anchors is reported for comparison, and is worse
    assert rep["roofline"]["loo"]["max_abs_rel_err"] > 0.05
    assert {a["model"]: a["kernels"] for a in rep["anchors"]}["deep"] == 300
    for b in (1, 3, 16):
        got = p.predict("held", "tgt", b)
        assert got.median_s == pytest.approx(_model3("held", b, P_TGT, W_TGT), rel=1e-6)
        assert got.provenance == "transferred" and got.p90_s is None
        assert "roofline+overhead transfer to 'tgt'" in got.source
        assert "x 90 kernels" in got.source and "tau=37 us/kernel" in got.source


def test_a_model_without_kernel_count_is_predicted_without_overhead(tmp_path):
    info = {"nok": {"flops": 2.0e9, "params": 4.0e6, "out_bytes": 8000, "input_bytes": IN_BYTES}}
    p = _predictor(tmp_path, model_info=info)
    rep = p.transfer_report("tgt")
    got = p.predict("nok", "tgt", 2)
    assert got.median_s == pytest.approx(max(4.0e9 / (rep["roofline"]["eta"] * P_TGT), (
        1.6e7 + 2 * (8000 + IN_BYTES)) / (rep["roofline"]["mu"] * W_TGT)), rel=1e-12)
    assert "no kernel count" in got.warning and got.warning in p.warnings
    # with a kernel count in model_info it gets the overhead term
    p2 = _predictor(tmp_path / "k", model_info={"nok": {**info["nok"], "kernels": 90}})
    assert p2.predict("nok", "tgt", 2).median_s == pytest.approx(
        _model3("held", 2, P_TGT, W_TGT), rel=1e-6)      # "held" has the same F, params, K


def test_without_kernel_counts_falls_back_to_the_two_parameter_roofline(tmp_path):
    p = _predictor(tmp_path, kernels=False)
    rep = p.transfer_report("tgt")
    assert rep["model"] == "roofline" and rep["tau"] == 0.0
    assert "kernel counts unknown" in rep["fallback"]
    two = _predictor(tmp_path / "b", kernels=False, overhead=False).transfer_report("tgt")
    assert two["fallback"] is None
    assert (rep["eta"], rep["mu"]) == pytest.approx((two["eta"], two["mu"]), rel=1e-12)
    got = p.predict("held", "tgt", 1)
    assert got.source.startswith("roofline transfer to 'tgt'")
    assert "two-parameter roofline: kernel counts unknown" in got.source


def test_too_few_anchors_to_identify_tau_falls_back_and_says_so(tmp_path):
    # one anchor point: one equation, at least two unknowns with tau
    p = _predictor(tmp_path, anchors={"models": ("big",), "batches": (1,)})
    rep = p.transfer_report("tgt")
    assert rep["model"] == "roofline" and "cannot identify" in rep["fallback"]
    assert rep["loo"] is None          # one anchor model: nothing to leave out
    assert "two-parameter roofline: 1 anchor point(s) cannot identify" in \
        p.predict("held", "tgt", 1).source
    # two anchor models, one batch each: tau is fitted; leaving one out leaves one point, so
    # each leave-one-out refit falls back, and the report lists those folds
    p2 = _predictor(tmp_path / "two", anchors={"models": ("big", "deep"), "batches": (1,)})
    rep2 = p2.transfer_report("tgt")
    assert rep2["model"] == "roofline+overhead" and rep2["dof"] == 0
    assert sorted(rep2["loo"]["fallback_folds"]) == ["big", "deep"]


def test_overhead_false_gives_the_old_two_parameter_fit(tmp_path):
    p = _predictor(tmp_path, overhead=False)
    rep = p.transfer_report("tgt")
    assert rep["model"] == "roofline" and rep["fallback"] is None and rep["tau"] == 0.0
    got = p.predict("held", "tgt", 1)
    assert got.median_s == pytest.approx(max(2.0e9 / (rep["eta"] * P_TGT),
                                             _bytes("held", 1) / (rep["mu"] * W_TGT)))


# ------------------------------------------------------------------------------ efficiency_from

def test_efficiency_from_applies_the_measured_fit_to_the_target_peaks(tmp_path):
    p = _predictor(tmp_path, efficiency_from={"twin": "tgt"})
    src = p.transfer_report("tgt")
    rep = p.transfer_report("twin")
    assert rep["efficiency_from"] == "tgt" and rep["fitted_on"] == "tgt"
    assert rep["peak_flops"] == 3.0e12 and rep["mem_bandwidth"] == 2.0e11
    assert (rep["eta"], rep["mu"], rep["tau"]) == (src["eta"], src["mu"], src["tau"])
    for model, b in (("held", 1), ("held", 8), ("thin", 1), ("fat", 2)):
        f, _, _, k = MODELS[model]
        want = max(b * f / (src["eta"] * 3.0e12), _bytes(model, b) / (src["mu"] * 2.0e11)) \
            + k * src["tau"]
        got = p.predict(model, "twin", b)
        assert got.median_s == pytest.approx(want, rel=1e-12)
        assert got.median_s == pytest.approx(_model3(model, b, 3.0e12, 2.0e11), rel=1e-6)
        assert got.provenance == "transferred"
        assert "anchor model(s) of 'tgt'" in got.source and "'twin''s catalogue peaks" in got.source
        assert "efficiency_from assumes 'twin'" in got.source
    # the small model is overhead-bound on the bigger device: 150 kernels x 37 us dominate
    assert p.predict("thin", "twin", 1).median_s == pytest.approx(150 * TAU, rel=0.02)


def test_efficiency_from_errors(tmp_path):
    p = _predictor(tmp_path, efficiency_from={"twin": "nowhere", "bare": "tgt"})
    with pytest.raises(TransferError, match="efficiency_from maps 'twin' to 'nowhere'"):
        p.predict("held", "twin", 1)
    with pytest.raises(TransferError, match="no peak FLOP/s"):
        p.predict("held", "bare", 1)
    # without efficiency_from a device with no anchors still cannot be transferred to
    with pytest.raises(TransferError, match="no anchor models"):
        _predictor(tmp_path / "x").predict("held", "twin", 1)


# ------------------------------------------------------------------------------ merge

def _cpu_rows(models, kernels=None):
    rows = []
    for m in models:
        for b in (1, 2):
            r = _row(m, b, 1.0 + b, flops=1e6 * b, params=10.0, out_bytes=4.0 * b)
            if kernels is not None:
                r["kernels"] = str(kernels)
            rows.append(r)
    return rows


def _samples(models):
    return pd.DataFrame([(m, "infer", b, 1.0 + b + 0.01 * i) for m in models for b in (1, 2)
                         for i in range(3)], columns=["model", "phase", "batch", "sample_ms"])


def _merge():
    from edgesim.cli.calibrate import calibrate
    return calibrate


def test_merge_round_trip_via_cli(tmp_path):
    fp_a = {"torch": "2.13.0+cpu", "cpu_model": "X", "profiler": {"batches": [1, 2]}}
    fp_b = {"torch": "2.12.0+cpu", "cpu_model": "X", "profiler": {"batches": [1]}}
    a = _write(tmp_path / "a", "cpu-ref", _cpu_rows(["m1", "m2"]), fingerprint=fp_a,
               command="edgesim calibrate --models m1,m2 --out a", samples=_samples(["m1", "m2"]))
    b = _write(tmp_path / "b", "cpu-ref", _cpu_rows(["m3"], kernels=7), extra=("kernels",),
               fingerprint=fp_b, command="edgesim calibrate --models m3 --out b",
               samples=_samples(["m3"]))
    out = tmp_path / "merged"
    res = CliRunner().invoke(_merge(), ["merge", str(a.path), str(b.path), "--out", str(out),
                                        "--no-fill-kernels"])
    assert res.exit_code == 0, res.output
    assert "fingerprint torch differs" in res.output and "batches" not in res.output
    m = load_bundle(out)
    assert m.device_id == "cpu-ref" and m.provenance == "measured"
    assert list(m.table["model"]) == ["m1", "m1", "m2", "m2", "m3", "m3"]
    assert m.extra_columns == ("kernels",)
    assert list(m.table["kernels"]) == ["", "", "", "", "7", "7"]
    pd.testing.assert_frame_equal(m.table[list(COLUMNS)].iloc[:4].reset_index(drop=True),
                                  a.table[list(COLUMNS)])
    assert list(m.table["median_ms"].iloc[4:]) == list(b.table["median_ms"])
    assert len(m.load_samples()) == 18
    lines = m.meta["command"].splitlines()
    assert lines == ["edgesim calibrate --models m1,m2 --out a",
                     "edgesim calibrate --models m3 --out b",
                     f"edgesim calibrate merge {a.path} {b.path} --out {out} --no-fill-kernels"]
    assert [x["path"] for x in m.meta["fingerprint"]["merged_from"]] == [str(a.path), str(b.path)]
    assert m.meta["fingerprint"]["torch"] == "2.13.0+cpu"
    # merging again onto the same folder needs --force
    again = CliRunner().invoke(_merge(), ["merge", str(a.path), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_merge_rejects_different_devices_and_repeated_rows(tmp_path):
    a = _write(tmp_path / "a", "cpu-ref", _cpu_rows(["m1"]))
    other = _write(tmp_path / "o", "jetson-nano", _cpu_rows(["m2"]))
    with pytest.raises(MergeError, match="different devices.*'cpu-ref'.*'jetson-nano'"):
        merge_bundles([a, other])
    res = CliRunner().invoke(_merge(), ["merge", str(a.path), str(other.path), "--out",
                                        str(tmp_path / "m")])
    assert res.exit_code == 2 and "different devices" in res.output
    assert not (tmp_path / "m").exists()
    dup = _write(tmp_path / "d", "cpu-ref", [_row("m1", 1, 9.0)])
    with pytest.raises(MergeError, match="m1 infer batch 1.*in both"):
        merge_bundles([a, dup])
    meta, table, _, warns = merge_bundles([a, dup], on_duplicate="last")
    assert list(table.loc[(table["model"] == "m1") & (table["batch"] == 1), "median_ms"]) == [9.0]
    assert any("kept the row of" in w for w in warns)
    lit = _write(tmp_path / "l", "cpu-ref", [_row("m9", 1, 1.0, provenance="literature")],
                 provenance="literature")
    with pytest.raises(MergeError, match="different provenance"):
        merge_bundles([a, lit])


def test_fill_kernels_only_fills_empty_cells():
    t = pd.DataFrame({"model": ["a", "a", "b", "zz"], "batch": [1, 2, 1, 1],
                      "kernels": ["", "", "5", ""]})

    def describe(name, batch):
        if name == "zz":
            raise KeyError(name)
        return {"kernels": {"a": 11, "b": 99}[name]}
    out, filled, failed = fill_kernels(t, describe)
    assert list(out["kernels"]) == ["11", "11", "5", ""]
    assert filled == ["a"] and failed == ["zz"]


# ------------------------------------------------------------------------------ transfer CLI

def _cli_bundles(tmp_path, models=("big", "mid", "deep", "fat", "thin")):
    """A reference bundle and a literature anchor bundle for the catalogue's jetson-nano."""
    nano = CATALOGUE["jetson-nano"]
    ref = _reference(tmp_path / "cal", name="cpu-reference")
    anchors = tmp_path / "cal" / "literature"
    _anchor(anchors, "jetson-nano", nano.peak_flops, nano.mem_bandwidth, models=models,
            name="jetson-nano")
    return ref, anchors


def test_transfer_cli_writes_a_transferred_bundle(tmp_path):
    ref, anchors = _cli_bundles(tmp_path)
    out = tmp_path / "transferred" / "jetson-tx1"
    args = ["transfer", "--reference", str(ref.path), "--anchors", str(anchors), "--to",
            "jetson-tx1", "--like", "jetson-nano", "--models", "held,thin", "--batch", "1,2,8",
            "--out", str(out), "-q"]
    res = CliRunner().invoke(_merge(), args)
    assert res.exit_code == 0, res.output
    b = load_bundle(out)
    tx1 = CATALOGUE["jetson-tx1"]
    assert b.device_id == "jetson-tx1" and b.provenance == "transferred"
    assert set(b.table["provenance"]) == {"transferred"}
    assert list(zip(b.table["model"], b.table["batch"])) == [
        ("held", 1), ("held", 2), ("held", 8), ("thin", 1), ("thin", 2), ("thin", 8)]
    for r in b.table.itertuples():
        # the anchors follow the three-parameter model exactly, so the transfer is exact too
        want = _model3(r.model, r.batch, tx1.peak_flops, tx1.mem_bandwidth) * 1e3
        assert r.median_ms == pytest.approx(want, rel=1e-6)
        assert r.p90_ms != r.p90_ms and r.kernels == str(MODELS[r.model][3])
        assert float(r.overhead_ms) == pytest.approx(MODELS[r.model][3] * TAU * 1e3, rel=1e-6)
        assert r.flops == MODELS[r.model][0] * r.batch
    notes = b.meta["notes"]
    assert "jetson-nano" in notes and str(ref.path) in notes and "Maxwell" in notes
    assert "leave-one-model-out |error| median" in notes and "without the overhead term" in notes
    assert "tau=37 us per kernel" in notes
    assert b.meta["command"].startswith("edgesim calibrate transfer --reference ")
    fp = b.meta["fingerprint"]["transfer"]
    assert fp["like"] == "jetson-nano" and fp["fits"]["eager"]["tau"] == pytest.approx(TAU)
    # a predictor that loads the transferred bundle answers from its rows
    p = Predictor.from_paths([out])
    got = p.predict("held", "jetson-tx1", 2)
    assert got.provenance == "transferred" and got.median_s == pytest.approx(
        b.table["median_ms"].iloc[1] / 1e3)
    # no anchors for the train phase: a clear error, nothing written
    bad = CliRunner().invoke(_merge(), [*args[:-3], "--phase", "train", "--out",
                                        str(tmp_path / "v100"), "-q"])
    assert bad.exit_code == 2 and "no anchor models" in bad.output
    assert not (tmp_path / "v100").exists()


def test_transfer_cli_argument_errors(tmp_path):
    ref, anchors = _cli_bundles(tmp_path)
    base = ["transfer", "--reference", str(ref.path), "--anchors", str(anchors), "--models",
            "held", "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(_merge(), base + ["--to", "jetson-tx9", "--like", "jetson-nano"])
    assert res.exit_code == 2 and "is not in the device catalogue" in res.output
    res = CliRunner().invoke(_merge(), base + ["--to", "jetson-tx1", "--like", "jetson-tx2"])
    assert res.exit_code == 2 and "no bundle of that device" in res.output


# ------------------------------------------------------------------------------ kernel count

def test_kernel_count_of_a_hand_counted_tiny_model():
    torch = pytest.importorskip("torch")
    from torch import nn

    from edgesim.calibration.zoo.analysis import KernelCounter, count_kernels

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)             # one module, called twice
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.drop = nn.Dropout(0.5)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))        # conv, batch norm, relu_: 3
            y = self.relu(self.conv2(y) + y)              # conv, add, relu_: 3
            y = torch.flatten(self.pool(y), 1)            # pool: 1 (flatten is a view: 0)
            return self.fc(self.drop(y))                  # dropout in eval: 0; addmm: 1 (t: view)

    m = Tiny().to("meta").eval()
    x = torch.zeros(2, 3, 8, 8, device="meta")
    assert count_kernels(m, x) == 8
    with torch.no_grad(), KernelCounter() as kc:
        m(x)
    assert kc.ops == {"convolution": 2, "native_batch_norm": 1, "relu_": 2, "add": 1,
                      "mean": 1, "addmm": 1}
    # a count of layer modules would say 7 (conv x2, bn, relu, pool, dropout, linear): it misses
    # the second relu call and the residual add, and counts a dropout that launches nothing


def test_describe_counts_kernels_of_zoo_models():
    pytest.importorskip("torch")
    from edgesim.calibration import zoo
    # ResNet-20 (CIFAR, option-A shortcuts), by hand: stem conv+bn+relu = 3; 9 basic blocks x
    # (conv, bn, relu, conv, bn, add, relu) = 63; 2 down-sampling shortcuts x pad = 2 (the
    # strided slice is a view); head avg pool + linear = 2. Total 70, at any batch.
    assert zoo.describe("resnet20", 1)["kernels"] == 70 == zoo.describe("resnet20", 4)["kernels"]
    # ResNet-18: stem 4 (with max pool); 8 blocks x 7 = 56; 3 shortcuts x (conv, bn) = 6; head 2
    assert zoo.describe("resnet18")["kernels"] == 68


def test_profiler_writes_the_kernels_column(tmp_path):
    pytest.importorskip("torch")
    from edgesim.calibration.profiler import EXTRA_COLUMNS, profile
    table, _ = profile(["resnet20@8"], device="cpu", batches=[1], threads=1, phases=["infer"],
                       min_run_time=0.02, malloc="default")
    assert EXTRA_COLUMNS == ["kernels"] and list(table.columns)[-1] == "kernels"
    assert list(table["kernels"]) == [70]
    b = write_bundle(tmp_path / "b", {"device_id": "x", "provenance": "measured"}, table)
    assert b.extra_columns == ("kernels",) and list(b.table["kernels"]) == ["70"]
    info = Predictor({"x": [b]}, catalogue={})._info("resnet20@8", "infer")
    assert info.kernels == 70.0


def test_transfer_meta_is_valid_json_roundtrip(tmp_path):
    ref, anchors = _cli_bundles(tmp_path)
    out = tmp_path / "t"
    res = CliRunner().invoke(_merge(), ["transfer", "--reference", str(ref.path), "--anchors",
                                        str(anchors), "--to", "jetson-tx2", "--like",
                                        "jetson-nano", "--models", "held", "--batch", "1",
                                        "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)["eager"]
    assert rep["efficiency_from"] == "jetson-nano" and rep["model"] == "roofline+overhead"
    assert "Pascal" in load_bundle(out).meta["notes"]
