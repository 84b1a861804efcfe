"""`edgesim calibrate anchor`: one factor rescales a bundle to a published throughput."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesim.calibration.predictor.anchor import anchor_factor, anchored
from edgesim.hardware.profiles.bundle import BundleError, load_bundle
from edgesim.cli.app import main

CAL = Path(__file__).resolve().parents[1] / "calibration"
TX1 = str(CAL / "transferred" / "jetson-tx1")
ROI = ["roi_object", "roi_color", "roi_type", "roi_make", "roi_behavior", "roi_gender"]


def _per_item_ms(table, models, batch):
    rows = table[(table.phase == "infer") & (table.batch == batch) & table.model.isin(models)]
    return float((rows.median_ms / batch).mean())


def test_anchored_mean_throughput_equals_the_target_and_shape_is_kept():
    src = load_bundle(TX1)
    meta, table, factor = anchored(src, ROI, 8, 42.5, source="test")
    assert 1000.0 / _per_item_ms(table, ROI, 8) == pytest.approx(42.5, rel=1e-12)
    # every row scaled by the same factor: ratios between batches and models are the source's
    s = src.table[src.table.model.isin(ROI)].reset_index(drop=True)
    np.testing.assert_allclose(table.median_ms.to_numpy(), s.median_ms.to_numpy() * factor)
    assert set(table.model) == set(ROI)
    assert meta["fingerprint"]["anchor"]["throughput_per_s"] == 42.5
    assert meta["provenance"] == src.provenance


def test_factor_is_inverse_in_throughput():
    src = load_bundle(TX1)
    assert anchor_factor(src, ROI, 8, 20.0) == pytest.approx(2 * anchor_factor(src, ROI, 8, 40.0))


def test_missing_batch_or_model_is_an_error():
    src = load_bundle(TX1)
    with pytest.raises(BundleError, match="batch 7"):
        anchor_factor(src, ROI, 7, 40.0)
    with pytest.raises(BundleError, match="nosuch"):
        anchor_factor(src, ["nosuch"], 8, 40.0)
    with pytest.raises(ValueError, match="positive"):
        anchor_factor(src, ROI, 8, 0.0)


def test_cli_writes_a_loadable_bundle_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "tx1"
    args = ["calibrate", "anchor", TX1, "--models", ",".join(ROI), "--throughput", "42.5",
            "--batch", "8", "--source", "paper", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    b = load_bundle(out)
    assert 1000.0 / _per_item_ms(b.table, ROI, 8) == pytest.approx(42.5, rel=1e-9)
    assert "anchor" in json.loads((out / "meta.json").read_text())["command"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0 and "--force" in r.output


@pytest.mark.parametrize("device,batch,ips", [("jetson-tx1", 8, 42.5), ("jetson-tx2", 8, 42.99),
                                              ("titan-x", 32, 391.0)])
def test_bundled_distream_anchors_hold_their_throughput(device, batch, ips):
    b = load_bundle(CAL / "distream-anchored" / device)
    assert 1000.0 / _per_item_ms(b.table, ROI, batch) == pytest.approx(ips, rel=1e-9)
    src = load_bundle(CAL / "transferred" / device)
    anchor = b.meta["fingerprint"]["anchor"]
    assert anchor["factor"] == pytest.approx(
        anchor_factor(src, ROI, batch, ips, scale=anchor["scale"]), rel=1e-12)


def test_work_scale_keeps_the_overhead_and_scales_the_roofline_part():
    src = load_bundle(TX1)
    meta, table, factor = anchored(src, ROI, 8, 42.5, scale="work")
    assert 1000.0 / _per_item_ms(table, ROI, 8) == pytest.approx(42.5, rel=1e-12)
    s = src.table[src.table.model.isin(ROI)].reset_index(drop=True)
    over = s.overhead_ms.astype(float).to_numpy()
    np.testing.assert_allclose(table.overhead_ms.astype(float).to_numpy(), over)
    np.testing.assert_allclose(table.median_ms.to_numpy() - over,
                               (s.median_ms.to_numpy() - over) * factor)
    assert meta["fingerprint"]["anchor"]["scale"] == "work"
    # a different factor from 'all': the overhead is not stretched
    assert factor > anchor_factor(src, ROI, 8, 42.5)


def test_work_scale_refuses_what_it_cannot_do():
    src = load_bundle(TX1)
    # 26 ms of launch overhead per call: 1000 items/s at batch 1 is out of reach
    with pytest.raises(ValueError, match="overhead alone"):
        anchor_factor(src, ROI, 1, 1000.0, scale="work")
    with pytest.raises(ValueError, match="scale must be"):
        anchor_factor(src, ROI, 8, 40.0, scale="half")
    measured = load_bundle(CAL / "cpu-reference")
    with pytest.raises(BundleError, match="overhead_ms"):
        anchor_factor(measured, ["roi_object"], 1, 40.0, scale="work")


@pytest.mark.parametrize("device,chosen,steep", [("jetson-tx1", 8, 16), ("jetson-tx2", 8, 16),
                                                 ("titan-x", 16, 32)])
def test_bundled_anchors_reproduce_the_papers_batch_choice(device, chosen, steep):
    """§1.4 profiled batches 1-64 and chose 8 on the cameras and 32 on the edge "given its
    better performance tradeoff". With the work-scaled anchors, doubling a Jetson's batch past 8
    buys under 10% throughput for over 1.5x latency, while the Titan X still gains over 20% from
    16 to 32. (Scaled as a whole, the overhead-bound curves are flat: batch 64 would cost no
    more than batch 1, and there would be no tradeoff to make.)"""
    t = load_bundle(CAL / "distream-anchored" / device).table
    t = t[(t.phase == "infer") & t.model.isin(ROI)]

    def at(b):
        return float(t[t.batch == b].median_ms.mean())

    gain = (steep / at(steep)) / (chosen / at(chosen)) - 1
    if device == "titan-x":
        assert gain > 0.2
    else:
        assert gain < 0.10 and at(steep) / at(chosen) > 1.5
