"""`edgesim calibrate anchor`: one factor rescales a bundle to a published throughput."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesim.calibration.anchor import anchor_factor, anchored
from edgesim.calibration.bundle import BundleError, load_bundle
from edgesim.cli import main

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
    assert b.meta["fingerprint"]["anchor"]["factor"] == pytest.approx(
        anchor_factor(src, ROI, batch, ips), rel=1e-12)
