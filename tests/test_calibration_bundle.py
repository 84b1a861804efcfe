"""Profile bundles (format, atomic writes, validation), the service-time predictor (exact,
interpolated, extrapolated, roofline-transferred) and its quantile service model, the literature
importer and the device catalogue."""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgesim.hardware.profiles import bundle as B
from edgesim.calibration.predictor import literature as L
from edgesim.hardware.profiles.bundle import COLUMNS, BundleError, load_bundle, load_bundles, write_bundle
from edgesim.hardware.profiles.predictor import (ExtrapolationError, PredictionError, Predictor,
                                           QuantileTable, TransferError)
from edgesim.engine.rng import Stream
from edgesim.hardware.catalogue import CATALOGUE, DeviceInfo
from edgesim.hardware.service import ServiceModel

REPO = Path(__file__).resolve().parent.parent
SHARED_CSV = REPO.parent / "shared" / "data" / "latency" / "published_jetson_latency.csv"
COMMITTED = REPO / "calibration" / "literature"


def _meta(device="dev-a", provenance="measured", **kw):
    m = {"schema_version": 1, "device_id": device, "provenance": provenance,
         "fingerprint": {"torch": "2.13.0", "threads": 2, "cpu": "test cpu"},
         "command": "pytest", "edgesim_version": "0.1.0", "created": "2025-01-02T03:04:05+00:00",
         "sources": [], "notes": "synthetic"}
    m.update(kw)
    return m


def _row(model, batch, median, phase="infer", **kw):
    r = {c: math.nan for c in COLUMNS}
    r.update(model=model, phase=phase, batch=batch, input_shape="3x224x224", threads=2, n=50,
             median_ms=median, provenance="measured")
    r.update(kw)
    return r


def _table(rows, extra=()):
    df = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    return df


def _bundle(tmp_path, device, rows, provenance="measured", name=None, extra=()):
    return write_bundle(tmp_path / (name or device), _meta(device, provenance),
                        _table(rows, extra))


# ================================================================================ bundle format

def test_round_trip_is_exact(tmp_path):
    rows = [
        _row("resnet18", 1, 0.1 + 0.2, p10_ms=0.25, p90_ms=1 / 3, p99_ms=0.5, mean_ms=0.31,
             std_ms=1e-9, flops=3.6e9, params=11689512.0, out_bytes=4000.0, peak_mem_mb=123.456,
             note="a, quoted \"cell\""),
        _row("resnet18", 2, 12345.678901234567, threads=math.nan, n=math.nan, input_shape="",
             note=""),
        _row("lstm2", 4, 7.0, phase="train", input_shape="30x24", provenance="transferred",
             note="x"),
    ]
    samples = pd.DataFrame({"model": ["resnet18"] * 3, "phase": ["infer"] * 3,
                            "batch": np.array([1, 1, 2], dtype="int64"),
                            "sample_ms": [0.30000000000000004, 0.29, 12345.678901234567]})
    b = write_bundle(tmp_path / "dev-a", _meta(), _table(rows, ["note"]), samples)
    again = load_bundle(tmp_path / "dev-a")
    assert again.meta == _meta()
    assert again.extra_columns == ("note",)
    pd.testing.assert_frame_equal(again.table, b.table, check_exact=True)
    assert again.table["median_ms"].tolist()[:2] == [0.1 + 0.2, 12345.678901234567]
    assert again.table["p90_ms"][0] == 1 / 3 and again.table["std_ms"][0] == 1e-9
    assert again.table["threads"].isna().tolist() == [False, True, False]
    assert again.table["note"].tolist() == ['a, quoted "cell"', "", "x"]
    assert list(again.table.columns) == [*COLUMNS, "note"]
    assert again.table["batch"].dtype == np.int64
    pd.testing.assert_frame_equal(again.load_samples(), samples, check_exact=True)
    # writing what was read gives the same bytes
    text = (tmp_path / "dev-a" / "latency.csv").read_bytes()
    write_bundle(tmp_path / "copy", again.meta, again.table, again.load_samples())
    assert (tmp_path / "copy" / "latency.csv").read_bytes() == text
    assert json.loads((tmp_path / "copy" / "meta.json").read_text()) == again.meta


def test_write_fills_meta_defaults_and_replaces_atomically(tmp_path, monkeypatch):
    target = tmp_path / "cal" / "dev-a"
    b = write_bundle(target, {"device_id": "dev-a", "provenance": "measured"},
                     _table([_row("m", 1, 5.0)]))
    assert b.meta["schema_version"] == 1 and b.meta["edgesim_version"]
    assert b.meta["created"].endswith("+00:00") and b.meta["sources"] == []
    write_bundle(target, _meta(), _table([_row("m", 1, 6.0)]))
    assert load_bundle(target).table["median_ms"].tolist() == [6.0]
    # a failure half-way leaves the previous bundle complete and no temporary folder behind
    real = B.write_text_atomic

    def fail_on_csv(path, text, **kw):
        if Path(path).name == "latency.csv":
            raise OSError("disk full")
        return real(path, text, **kw)
    monkeypatch.setattr(B, "write_text_atomic", fail_on_csv)
    with pytest.raises(OSError, match="disk full"):
        write_bundle(target, _meta(), _table([_row("m", 1, 7.0)]))
    monkeypatch.undo()
    assert load_bundle(target).table["median_ms"].tolist() == [6.0]
    assert sorted(p.name for p in target.parent.iterdir()) == ["dev-a"]
    assert sorted(p.name for p in target.iterdir()) == ["latency.csv", "meta.json"]


def test_write_refuses_what_load_would_refuse(tmp_path):
    with pytest.raises(BundleError, match=r"row 1 \(line 2\), column 'phase'"):
        write_bundle(tmp_path / "x", _meta(), _table([_row("m", 1, 5.0, phase="inference")]))
    with pytest.raises(BundleError, match="schema_version"):
        write_bundle(tmp_path / "x", _meta(schema_version=2), _table([_row("m", 1, 5.0)]))
    assert not (tmp_path / "x").exists()


def _write_raw(folder: Path, header, rows, meta=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").write_text(json.dumps(meta or _meta()), encoding="utf-8")
    with open(folder / "latency.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return folder


GOOD = ["m", "infer", "1", "3x224x224", "2", "10", "5.0", "4.0", "6.0", "7.0", "5.1", "0.3",
        "1e9", "1000", "4000", "12.5", "measured"]


def _with(**changes):
    row = list(GOOD)
    for col, v in changes.items():
        row[COLUMNS.index(col)] = v
    return row


def test_good_raw_bundle_loads(tmp_path):
    b = load_bundle(_write_raw(tmp_path / "ok", COLUMNS, [GOOD, _with(batch="2")]))
    assert b.table["batch"].tolist() == [1, 2] and b.table["flops"][0] == 1e9


@pytest.mark.parametrize("header,rows,pattern", [
    ([c for c in COLUMNS if c != "p90_ms"], [GOOD[:8] + GOOD[9:]],
     r"latency\.csv: missing column\(s\) p90_ms"),
    ([*COLUMNS[:3], COLUMNS[4], COLUMNS[3], *COLUMNS[5:]], [GOOD],
     r"latency\.csv: column 4 is 'threads' but must be 'input_shape'"),
    (COLUMNS, [GOOD, _with(batch="two")],
     r"latency\.csv: row 2 \(line 3\), column 'batch': 'two' is not an integer"),
    (COLUMNS, [_with(batch="1.5")], r"row 1 \(line 2\), column 'batch': '1.5' is not an integer"),
    (COLUMNS, [GOOD, _with(batch="2"), _with(median_ms="fast", batch="3")],
     r"row 3 \(line 4\), column 'median_ms': 'fast' is not a number"),
    (COLUMNS, [_with(median_ms="")], r"column 'median_ms': empty, but this column is required"),
    (COLUMNS, [_with(median_ms="0")], r"column 'median_ms': 0.0 must be > 0"),
    (COLUMNS, [_with(flops="-1")], r"column 'flops': -1.0 must be >= 0"),
    (COLUMNS, [_with(std_ms="nan")], r"column 'std_ms': 'nan' is not a finite number"),
    (COLUMNS, [_with(phase="inference")], r"column 'phase': 'inference' is not a phase"),
    (COLUMNS, [_with(provenance="guessed")], r"column 'provenance': 'guessed' is not a provenance"),
    (COLUMNS, [_with(input_shape="224*224")], r"column 'input_shape': '224\*224' is not a shape"),
    (COLUMNS, [_with(p90_ms="3.0")], r"row 1 \(line 2\), column 'p90_ms': 3.0 is below median_ms"),
    (COLUMNS, [GOOD, GOOD], r"row 2 \(line 3\): repeats row 1"),
    (COLUMNS, [GOOD[:-1]], r"row 1 \(line 2\): has 16 cells, the header has 17"),
])
def test_malformed_latency_names_file_row_and_column(tmp_path, header, rows, pattern):
    folder = _write_raw(tmp_path / "bad", header, rows)
    with pytest.raises(BundleError, match=pattern) as info:
        load_bundle(folder)
    assert str(folder / "latency.csv") in str(info.value)


@pytest.mark.parametrize("change,pattern", [
    ({"schema_version": 2}, r"meta\.json: key 'schema_version' is 2; this edgesim reads "
                            r"schema_version 1"),
    ({"schema_version": "1"}, r"meta\.json: key 'schema_version' must be int"),
    ({"provenance": "simulated"}, r"meta\.json: key 'provenance' is 'simulated'"),
    ({"created": "yesterday"}, r"meta\.json: key 'created' is 'yesterday', not an ISO-8601"),
    ({"device_id": None}, r"meta\.json: key 'device_id' must be str"),
    ({"sources": ["x"]}, r"meta\.json: sources\[0\] must be an object"),
])
def test_malformed_meta_names_file_and_key(tmp_path, change, pattern):
    meta = _meta()
    meta.update(change)
    folder = _write_raw(tmp_path / "bad", COLUMNS, [GOOD], meta=meta)
    with pytest.raises(BundleError, match=pattern) as info:
        load_bundle(folder)
    assert str(folder / "meta.json") in str(info.value)


def test_missing_files_and_invalid_json(tmp_path):
    with pytest.raises(BundleError, match="no such directory"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"meta\.json: missing"):
        load_bundle(tmp_path / "empty")
    folder = _write_raw(tmp_path / "j", COLUMNS, [GOOD])
    (folder / "meta.json").write_text("{\n  \"schema_version\": 1,\n}", encoding="utf-8")
    with pytest.raises(BundleError, match=r"meta\.json: line 3: not valid JSON"):
        load_bundle(folder)
    missing_meta = {k: v for k, v in _meta().items() if k != "device_id"}
    folder = _write_raw(tmp_path / "k", COLUMNS, [GOOD], meta=missing_meta)
    with pytest.raises(BundleError, match=r"meta\.json: missing key 'device_id'"):
        load_bundle(folder)


def test_load_bundles_groups_devices_and_walks_parents(tmp_path):
    _bundle(tmp_path / "lit", "jetson-nano", [_row("m", 1, 5.0)], "literature")
    _bundle(tmp_path / "lit", "jetson-agx-xavier", [_row("m", 1, 2.0)], "literature")
    _bundle(tmp_path, "jetson-nano", [_row("m", 2, 9.0)], name="nano-measured")
    (tmp_path / "lit" / ".jetson-nano.abc.tmp").mkdir()       # an interrupted writer's leftover
    got = load_bundles(tmp_path / "lit")
    assert sorted(got) == ["jetson-agx-xavier", "jetson-nano"]
    both = load_bundles([tmp_path / "lit", tmp_path / "nano-measured"])
    assert [b.provenance for b in both["jetson-nano"]] == ["literature", "measured"]
    assert sorted(load_bundles(tmp_path)) == ["jetson-agx-xavier", "jetson-nano"]  # nested
    (tmp_path / "nothing").mkdir()
    with pytest.raises(BundleError, match="neither a bundle"):
        load_bundles(tmp_path / "nothing")


# ================================================================================ predictor

@pytest.fixture
def ladder(tmp_path):
    """Batches 1, 2, 4, 8 with known medians and quantiles on device 'dev-a'."""
    med = {1: 10.0, 2: 16.0, 4: 30.0, 8: 52.0}
    rows = [_row("m", b, v, p10_ms=0.9 * v, p90_ms=1.2 * v, p99_ms=1.5 * v) for b, v in med.items()]
    return Predictor({"dev-a": [_bundle(tmp_path, "dev-a", rows)]}), med


def test_exact_entry(ladder):
    p, med = ladder
    got = p.predict("m", "dev-a", 4)
    assert got.median_s == pytest.approx(0.030, rel=1e-15)
    assert (got.p10_s, got.p90_s, got.p99_s) == pytest.approx((0.027, 0.036, 0.045), rel=1e-12)
    assert got.provenance == "measured" and got.warning is None
    assert "dev-a" in got.source and "measured row at batch 4" in got.source


def test_interpolation_is_linear_between_measured_batches(ladder):
    p, med = ladder
    three, six = p.predict("m", "dev-a", 3), p.predict("m", "dev-a", 6)
    assert three.median_s == pytest.approx((16.0 + (30.0 - 16.0) / 2) / 1e3, rel=1e-12)   # 23 ms
    assert six.median_s == pytest.approx((30.0 + (52.0 - 30.0) / 2) / 1e3, rel=1e-12)     # 41 ms
    assert three.p90_s == pytest.approx(1.2 * 0.023, rel=1e-12)
    assert three.provenance == six.provenance == "interpolated"
    assert "interpolated between batch 2 and 4" in three.source
    assert "interpolated between batch 4 and 8" in six.source
    seven = p.predict("m", "dev-a", 7)
    assert seven.median_s == pytest.approx((30.0 + 22.0 * 3 / 4) / 1e3, rel=1e-12)


def test_extrapolation_refused_then_allowed_with_warning(ladder):
    p, med = ladder
    with pytest.raises(ExtrapolationError) as info:
        p.predict("m", "dev-a", 16)
    msg = str(info.value)
    assert "batch 1, 2, 4, 8" in msg and "batch 16 is above" in msg
    assert "allow_extrapolation=True" in msg and "batches 4 and 8" in msg
    got = p.predict("m", "dev-a", 16, allow_extrapolation=True)
    assert got.median_s == pytest.approx((52.0 + (52.0 - 30.0) * 8 / 4) / 1e3, rel=1e-12)  # 96 ms
    assert got.provenance == "extrapolated"
    assert got.warning and "batch 16" in got.warning and "1, 2, 4, 8" in got.warning
    assert p.warnings == [got.warning]


def test_extrapolation_below_range_and_single_point(tmp_path):
    rows = [_row("m", 4, 30.0), _row("m", 8, 52.0), _row("one", 2, 10.0)]
    p = Predictor({"d": [_bundle(tmp_path, "d", rows)]})
    with pytest.raises(ExtrapolationError, match="batch 2 is below that range"):
        p.predict("m", "d", 2)
    # linear from 4 and 8 gives 19 ms at batch 2 (above the 15 ms per-input floor)
    assert p.predict("m", "d", 2, allow_extrapolation=True).median_s == pytest.approx(0.019)
    # batch 1 by the line would be 13.5 ms; the floor 30 * 1/4 = 7.5 ms does not bind
    assert p.predict("m", "d", 1, allow_extrapolation=True).median_s == pytest.approx(0.0135)
    assert p.predict("one", "d", 6, allow_extrapolation=True).median_s == pytest.approx(0.030)
    assert p.predict("one", "d", 1, allow_extrapolation=True).median_s == pytest.approx(0.010)


def test_unknown_model_and_device_suggest(ladder):
    p, _ = ladder
    with pytest.raises(PredictionError, match=r"unknown model 'mm'.*did you mean 'm'.*have: m"):
        p.predict("mm", "dev-a", 1)
    with pytest.raises(PredictionError, match=r"unknown device 'dev-b' \(did you mean 'dev-a'\?\)"):
        p.predict("m", "dev-b", 1)
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        p.predict("m", "dev-a", 0)
    assert p.devices() == ["dev-a"] and p.models("dev-a") == ["m"]
    assert p.models("dev-a", "train") == []


def test_measured_bundle_wins_over_literature(tmp_path):
    lit = _bundle(tmp_path, "d", [_row("m", 1, 9.0, provenance="literature")], "literature",
                  name="lit")
    meas = _bundle(tmp_path, "d", [_row("m", 1, 5.0)], name="meas")
    p = Predictor({"d": [lit, meas]})
    got = p.predict("m", "d", 1)
    assert got.median_s == pytest.approx(0.005) and got.provenance == "measured"
    p2 = Predictor({"d": [lit]})
    assert p2.predict("m", "d", 1).provenance == "literature"


def test_threads_and_shape_configuration(tmp_path):
    """Rows for two thread counts: the richer configuration is used unless threads= is given;
    shapes written with the batch dimension (4x3x224x224 at batch 4) are recognised."""
    rows = [_row("m", b, 10.0 * b, threads=2, input_shape=f"{b}x3x32x32") for b in (1, 2, 4)]
    rows += [_row("m", 1, 25.0, threads=1, input_shape="1x3x32x32")]
    p = Predictor({"d": [_bundle(tmp_path, "d", rows)]})
    assert p.predict("m", "d", 3).median_s == pytest.approx(0.030)
    assert "threads=2, input 3x32x32" in p.predict("m", "d", 2).source
    p1 = Predictor({"d": [load_bundle(tmp_path / "d")]}, threads=1)
    assert p1.predict("m", "d", 1).median_s == pytest.approx(0.025)


# -------------------------------------------------------------------------------- transfer

ETA, MU = 0.37, 0.61
P_REF, W_REF, P_TGT, W_TGT = 2.0e11, 2.0e10, 1.5e12, 1.2e11
MODELS = {   # flops per input, params, out bytes per input, input shape
    "heavy": (8.0e9, 1.0e6, 4000, "3x224x224"),     # compute-bound
    "conv": (4.0e9, 2.5e7, 4000, "3x224x224"),
    "wide": (1.0e9, 1.4e8, 4000, "3x224x224"),      # memory-bound (VGG-like classifier)
    "tiny": (0.1e9, 6.0e7, 4000, "3x224x224"),      # memory-bound
    "held": (2.0e9, 9.0e7, 8000, "3x128x128"),      # measured only on the reference
}


def _bytes(name, b):
    flops, params, out, shape = MODELS[name]
    return params * 4 + b * (out + np.prod([int(x) for x in shape.split("x")]) * 4)


def _roofline(name, b, peak, bw, eta, mu):
    return max(b * MODELS[name][0] / (eta * peak), _bytes(name, b) / (mu * bw))


def _two_devices(tmp_path, anchors=("heavy", "conv", "wide", "tiny"), noise=None):
    cat = {"ref": DeviceInfo("ref", "cpu", 1, "", P_REF, W_REF, "test"),
           "tgt": DeviceInfo("tgt", "gpu", 1, "", P_TGT, W_TGT, "test")}
    ref_rows = []
    for name, (flops, params, out, shape) in MODELS.items():
        for b in (1, 2):
            t = _roofline(name, b, P_REF, W_REF, 0.5, 0.5) * 1e3
            ref_rows.append(_row(name, b, t, input_shape=shape, flops=flops * b, params=params,
                                 out_bytes=out * b))
    tgt_rows = []
    for i, name in enumerate(anchors):
        t = _roofline(name, 1, P_TGT, W_TGT, ETA, MU) * 1e3
        if noise:
            t *= noise[i]
        tgt_rows.append(_row(name, 1, t, input_shape=MODELS[name][3]))
    bundles = {"ref": [_bundle(tmp_path, "ref", ref_rows)],
               "tgt": [_bundle(tmp_path, "tgt", tgt_rows)]}
    return Predictor(bundles, catalogue=cat)


def test_transfer_recovers_roofline_efficiencies(tmp_path):
    p = _two_devices(tmp_path)
    rep = p.transfer_report("tgt")
    assert rep["eta"] == pytest.approx(ETA, rel=1e-9) and rep["mu"] == pytest.approx(MU, rel=1e-9)
    assert rep["eta_identified"] and rep["mu_identified"]
    assert rep["n_anchor_models"] == 4 and rep["rms_log_residual"] < 1e-9
    assert {a["model"]: a["bound"] for a in rep["anchors"]} == {
        "heavy": "compute", "conv": "compute", "wide": "memory", "tiny": "memory"}
    assert rep["loo"]["max_abs_rel_err"] < 1e-6       # exact data: leaving one out changes nothing
    for b in (1, 3, 4):
        got = p.predict("held", "tgt", b)
        want = _roofline("held", b, P_TGT, W_TGT, ETA, MU)
        assert got.median_s == pytest.approx(want, rel=1e-6)
        assert got.provenance == "transferred" and got.p90_s is None
        assert "roofline transfer to 'tgt'" in got.source and "eta=0.37" in got.source
        assert "ref" in got.source                     # where the FLOPs came from
    # the anchors themselves are answered from the measurements, not transferred
    assert p.predict("heavy", "tgt", 1).provenance == "measured"


def test_transfer_with_model_info_and_noise_reports_loo_error(tmp_path):
    p = _two_devices(tmp_path, noise=(1.05, 0.97, 1.02, 0.96))
    rep = p.transfer_report("tgt")
    assert 0.3 < rep["eta"] < 0.45 and 0.5 < rep["mu"] < 0.7
    assert 0.001 < rep["loo"]["max_abs_rel_err"] < 0.2
    assert set(rep["loo"]["per_model"]) == {"heavy", "conv", "wide", "tiny"}
    assert all("loo_rel_err" in a for a in rep["anchors"])
    # model_info overrides bundle rows: a model no bundle has can be transferred
    info = {"new": {"flops": 3e9, "params": 1e6, "out_bytes": 4000, "input_bytes": 602112}}
    p2 = Predictor({d: [load_bundle(Path(b.path)) for b in bs] for d, bs in p.bundles.items()},
                   catalogue=p.catalogue, model_info=info)
    got = p2.predict("new", "tgt", 1)
    assert got.provenance == "transferred" and "model_info['new']" in got.source
    fit = p2.transfer_report("tgt")
    assert got.median_s == pytest.approx(max(3e9 / (fit["eta"] * P_TGT),
                                             (4e6 + 4000 + 602112) / (fit["mu"] * W_TGT)))


def test_transfer_all_compute_bound_reports_mu_as_a_bound(tmp_path):
    p = _two_devices(tmp_path, anchors=("heavy", "conv"))
    rep = p.transfer_report("tgt")
    assert rep["eta"] == pytest.approx(ETA, rel=1e-9)
    assert rep["eta_identified"] and not rep["mu_identified"]
    assert rep["mu"] <= MU          # a lower bound: memory-bound predictions err on the slow side
    assert "(bound)" in p.predict("wide", "tgt", 1).source
    assert p.predict("wide", "tgt", 1).median_s >= _roofline("wide", 1, P_TGT, W_TGT, ETA, MU)


def test_transfer_errors_are_specific(tmp_path):
    p = _two_devices(tmp_path)
    with pytest.raises(TransferError, match="no anchor models"):
        Predictor(p.bundles, catalogue={**p.catalogue, "other": DeviceInfo(
            "other", "gpu", 1, "", 1e12, 1e11)}).predict("held", "other", 1)
    with pytest.raises(TransferError, match="no peak FLOP/s and memory bandwidth"):
        Predictor(p.bundles, catalogue={**p.catalogue, "bare": DeviceInfo("bare", "gpu")}
                  ).predict("held", "bare", 1)
    lit = _bundle(tmp_path, "lit-dev", [_row("solo", 1, 5.0)], name="lit")
    q = Predictor({**p.bundles, "lit-dev": [lit]}, catalogue=p.catalogue)
    with pytest.raises(TransferError, match=r"FLOPs and parameter count are unknown.*model_info"):
        q.predict("solo", "tgt", 1)


# -------------------------------------------------------------------------------- service models

def test_service_model_records_provenance_per_batch(ladder):
    p, med = ladder
    sm = p.service_model("m", "dev-a", max_batch=4, spread="none")
    assert isinstance(sm, ServiceModel) and isinstance(sm, QuantileTable)
    assert sm.provenance == {1: "measured", 2: "measured", 3: "interpolated", 4: "measured"}
    assert "interpolated between batch 2 and 4" in sm.sources[3]
    s = Stream(1, "svc")
    assert [sm.sample(b, s) for b in (1, 3)] == pytest.approx([0.010, 0.023])
    assert sm.mean(3) == pytest.approx(0.023) and sm.max_batch() == 4
    with pytest.raises(ExtrapolationError):
        p.service_model("m", "dev-a", max_batch=9)
    ext = p.service_model("m", "dev-a", max_batch=9, allow_extrapolation=True)
    assert ext.provenance[9] == "extrapolated" and len(ext.warnings) == 1
    with pytest.raises(ValueError, match="outside the table"):
        ext.sample(10, s)


def _order_statistic_ci(draws, p, z=4.0):
    """Distribution-free CI for the p-quantile: order statistics n p -/+ z sqrt(n p (1 - p))."""
    n = len(draws)
    half = z * math.sqrt(n * p * (1 - p))
    s = np.sort(draws)
    return s[max(0, int(n * p - half))], s[min(n - 1, int(n * p + half))]


def test_quantile_table_sampling_matches_its_quantiles():
    qt = QuantileTable([1, 4], [0.010, 0.030], [0.009, 0.027], [0.013, 0.036], [0.020, 0.050])
    s = Stream(7, "qt")
    for b, (p10, med, p90) in ((1, (0.009, 0.010, 0.013)), (4, (0.027, 0.030, 0.036)),
                               (2, (0.015, 0.010 + 0.020 / 3, 0.013 + 0.023 / 3))):
        draws = np.array([qt.sample(b, s) for _ in range(20_000)])
        for p, want in ((0.1, p10), (0.5, med), (0.9, p90)):
            lo, hi = _order_statistic_ci(draws, p)
            assert lo <= want * (1 + 1e-6) and want * (1 - 1e-6) <= hi, (b, p, lo, want, hi)
        assert qt.quantile(b, 0.5) == pytest.approx(med, rel=1e-6)
        # the analytic mean agrees with the sample mean
        se = draws.std(ddof=1) / math.sqrt(len(draws))
        assert abs(draws.mean() - qt.mean(b)) < 5 * se
        assert draws.min() > 0
    assert qt.quantile(1, 0.99) == pytest.approx(0.020)
    # the exponential tail continues the p90 -> p99 log-slope: p99.9 = p99 + (p99 - p90)
    assert qt.quantile(1, 0.999) == pytest.approx(0.020 + 0.007)


def test_quantile_table_fills_missing_quantiles_and_lognormal_spread():
    s = Stream(3, "ln")
    only_med = QuantileTable([1], [0.01])
    assert {only_med.sample(1, s) for _ in range(10)} == {0.01}
    part = QuantileTable([1], [0.010], p90_s=[0.013])       # p10, p99 from a lognormal
    sigma = math.log(1.3) / 1.2815515655446004
    assert part.quantile(1, 0.1) == pytest.approx(0.010 * math.exp(-1.2815515655446004 * sigma))
    ln = QuantileTable([1], [0.010], p90_s=[0.013], spread="lognormal")
    draws = np.array([ln.sample(1, s) for _ in range(20_000)])
    for p, want in ((0.5, 0.010), (0.9, 0.013)):
        lo, hi = _order_statistic_ci(draws, p)
        assert lo <= want <= hi
    assert ln.mean(1) == pytest.approx(0.010 * math.exp(sigma ** 2 / 2))
    with pytest.raises(ValueError, match="spread must be one of"):
        QuantileTable([1], [0.01], spread="gamma")


def test_predictor_service_model_quantiles_from_bundle(ladder):
    p, _ = ladder
    sm = p.service_model("m", "dev-a", max_batch=2)
    s = Stream(11, "m")
    draws = np.array([sm.sample(2, s) for _ in range(20_000)])
    for q, want in ((0.1, 0.9 * 0.016), (0.5, 0.016), (0.9, 1.2 * 0.016)):
        lo, hi = _order_statistic_ci(draws, q)
        assert lo <= want * (1 + 1e-9) and want * (1 - 1e-9) <= hi


# ================================================================================ literature

def _csv_rows():
    with open(SHARED_CSV, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


needs_csv = pytest.mark.skipif(not SHARED_CSV.is_file(), reason=f"{SHARED_CSV} is absent (the "
                               "published data lives beside the project in ../shared)")


@needs_csv
def test_literature_import_matches_the_csv(tmp_path):
    got = L.import_published(SHARED_CSV, tmp_path / "lit")
    rows = _csv_rows()
    counts = {}
    for r in rows:
        counts[r["device"]] = counts.get(r["device"], 0) + 1
    assert sorted(got) == ["jetson-agx-xavier", "jetson-nano"]
    assert len(got["jetson-nano"].table) == counts["Jetson Nano"]
    assert len(got["jetson-agx-xavier"].table) == counts["Jetson AGX Xavier"]
    dev = {"Jetson Nano": "jetson-nano", "Jetson AGX Xavier": "jetson-agx-xavier"}
    for r in rows:
        key = r["model"] + ("+trt" if r["runtime"].startswith("TensorRT") else "")
        t = got[dev[r["device"]]].table
        hit = t[t["model"] == key]
        assert len(hit) == 1, key
        hit = hit.iloc[0]
        assert hit["median_ms"] == float(r["latency_ms"]) == hit["mean_ms"]
        assert hit["batch"] == int(r["batch"]) and hit["precision"] == r["precision"]
        assert hit["runtime"] == ("tensorrt" if key.endswith("+trt") else "pytorch")
        assert hit["provenance"] == "literature" and hit["input_shape"] == "3x224x224"
        assert r["source_commit"][:8] in hit["source"]
    nano = got["jetson-nano"]
    assert nano.meta["provenance"] == "literature"
    assert nano.meta["sources"][0]["repo"] == "NVIDIA-AI-IOT/torch2trt"
    assert nano.meta["sources"][0]["path"] == "benchmarks/JETSON_NANO.md"
    assert nano.meta["sources"][0]["commit"] == rows[0]["source_commit"]
    # spot values, read independently
    t = nano.table.set_index("model")
    assert t.loc["resnet18", "median_ms"] == 34.7 and t.loc["resnet18+trt", "median_ms"] == 11.4
    x = got["jetson-agx-xavier"].table.set_index("model")
    assert x.loc["mobilenet_v2+trt", "median_ms"] == 1.67 and x.loc["vgg19_bn", "median_ms"] == 19.7
    # the predictor answers from them with provenance 'literature'
    p = Predictor(load_bundles(tmp_path / "lit"))
    got18 = p.predict("resnet18+trt", "jetson-nano", 1)
    assert got18.median_s == pytest.approx(0.0114) and got18.provenance == "literature"


@needs_csv
def test_committed_literature_bundles_are_current(tmp_path):
    assert (COMMITTED / "jetson-nano" / "meta.json").is_file(), (
        "calibration/literature/ is missing: run python -m edgesim.calibration.predictor.literature")
    fresh = L.import_published(SHARED_CSV, tmp_path / "lit")
    for dev, b in fresh.items():
        committed = load_bundle(COMMITTED / dev)
        pd.testing.assert_frame_equal(committed.table, b.table, check_exact=True)
        volatile = ("created", "command", "edgesim_version")
        strip = lambda m: {k: v for k, v in m.items() if k not in volatile}  # noqa: E731
        assert strip(committed.meta) == strip(b.meta)
        assert committed.meta["fingerprint"]["derived_from"]["path"] == (
            "../shared/data/latency/published_jetson_latency.csv")


def test_committed_literature_bundles_load_without_the_csv():
    got = load_bundles(COMMITTED)
    assert sorted(got) == ["galaxy-tab-a", "jetson-agx-xavier", "jetson-nano"]
    assert all(d in CATALOGUE for d in got)
    nano = got["jetson-nano"][0]
    assert nano.extra_columns == L.EXTRA_COLUMNS
    assert set(nano.table["provenance"]) == {"literature"}
    assert {"resnet18", "resnet18+trt", "resnet50", "vgg13"} <= set(nano.table["model"])


@needs_csv
def test_literature_cli(tmp_path, capsys):
    assert L.main(["--src", str(SHARED_CSV), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "jetson-nano: 36 rows" in out and "jetson-agx-xavier: 58 rows" in out
    assert L.main(["--src", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")]) == 2


def test_literature_rejects_unknown_boards(tmp_path):
    src = tmp_path / "x.csv"
    cols = list(L.REQUIRED_CSV)
    with open(src, "w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerow({c: "1" for c in cols} | {"device": "Jetson TX3", "runtime": "PyTorch",
                                             "input_size": "224x224", "latency_kind": "mean"})
    with pytest.raises(ValueError, match="'Jetson TX3' maps to 'jetson-tx3', which is not in"):
        L.import_published(src, tmp_path / "o")


# ================================================================================ catalogue, imports

def test_catalogue_is_complete():
    wanted = ["jetson-tx1", "jetson-tx2", "jetson-nano", "jetson-xavier-nx", "jetson-agx-xavier",
              "jetson-agx-orin", "titan-x", "v100", "t4", "a100", "h100", "galaxy-tab-a",
              "cpu-reference"]
    for name in wanted:
        d = CATALOGUE[name]
        assert d.name == name and d.kind and d.executors >= 1
        assert d.peak_flops and d.mem_bandwidth and d.source, name
        assert 1e10 < d.peak_flops < 1e14 and 1e9 < d.mem_bandwidth < 1e13, name
    ref = CATALOGUE["cpu-reference"]
    assert ref.peak_flops == 2 * 32 * 2.5e9 and "estimated" in ref.source
    assert CATALOGUE["jetson-nano"].peak_flops_fp16 == 2 * CATALOGUE["jetson-nano"].peak_flops
    assert CATALOGUE["cpu"].kind == "cpu"


def test_modules_do_not_import_torch():
    code = ("import sys; import edgesim.hardware.profiles.bundle, edgesim.hardware.profiles.predictor, "
            "edgesim.calibration.predictor.literature; assert 'torch' not in sys.modules, 'torch imported'")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)
