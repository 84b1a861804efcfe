"""`dist: calibrated`: service times from profile bundles, through whole scenarios."""
from __future__ import annotations

import pandas as pd
import pytest

import edgesim
from edgesim.hardware.profiles.bundle import COLUMNS, load_bundle, write_bundle


def scenario(node_device="jetson-nano", model="resnet18", max_batch=1, rate=1.0, **cal) -> dict:
    return {
        "name": "cal", "seed": 1, "duration": 50.0,
        "nodes": {"cam": {"device": node_device, "max_batch": max_batch, "executors": 1}},
        "calibration": {"bundles": ["literature"]},
        "workload": {"sources": {"s": {"arrivals": {"process": "deterministic", "rate": rate},
                                       "job": "j"}},
                     "jobs": {"j": {"stages": [{"model": model}]}}},
        "service": {model: {"*": {"dist": "calibrated", "spread": "none", **cal}}},
    }


def test_literature_median_is_the_service_time():
    table = load_bundle("calibration/literature/jetson-nano").table
    row = table[(table.model == "resnet18") & (table.batch == 1)].iloc[0]
    df = edgesim.run(scenario()).requests
    assert df.service.to_numpy() == pytest.approx(row.median_ms / 1e3, rel=1e-12)


def test_unknown_model_lists_what_the_bundles_have():
    with pytest.raises(edgesim.ScenarioError) as err:
        edgesim.run(scenario(model="resnet19"))
    text = str(err.value)
    assert "service.resnet19.*" in text and "did you mean 'resnet18'" in text
    assert "no node's device" not in text      # no cascade


@pytest.fixture
def tiny_bundle(tmp_path):
    rows = [{c: None for c in COLUMNS} | {"model": "net", "phase": "infer", "batch": b,
                                           "input_shape": "3x32x32", "threads": 1, "n": 10,
                                           "median_ms": m, "mean_ms": m, "provenance": "measured"}
            for b, m in [(1, 10.0), (2, 14.0), (4, 20.0)]]
    path = tmp_path / "box"
    write_bundle(path, {"device_id": "box", "provenance": "measured"}, pd.DataFrame(rows))
    return path


def test_interpolated_batch_and_refused_extrapolation(tiny_bundle):
    # The node is a generic cpu; its service times come from the bundle's device 'box'.
    sc = scenario(node_device="cpu", model="net", max_batch=3, rate=30.0,
                  bundle=str(tiny_bundle), device="box")
    sc["nodes"]["cam"]["max_wait"] = 1.0
    df = edgesim.run(sc).requests
    by_batch = df.groupby("batch").service.first()
    assert by_batch.loc[3] == pytest.approx(0.017, rel=1e-12)   # halfway from 14 to 20 ms
    sc["nodes"]["cam"]["max_batch"] = 8
    with pytest.raises(edgesim.ScenarioError, match="extrapolat"):
        edgesim.run(sc)
    sc["service"]["net"]["*"]["extrapolate"] = True
    r = edgesim.run(sc)
    assert any("extrapolat" in w for w in r.summary["warnings"])
