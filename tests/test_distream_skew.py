"""Cross-camera skew as a named input of the trace generator, and its fit to real road counts."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from edgesim.video.synthetic import (camera_columns, expected_occupancy, generate, log_skew,
                                     with_overrides)

ROOT = Path(__file__).resolve().parents[1]
TELRAAM = ROOT.parent / "shared" / "data" / "workload" / "telraam_chateaubourg_hourly_counts.csv"
if not TELRAAM.exists():
    TELRAAM = Path("/work/shared/data/workload/telraam_chateaubourg_hourly_counts.csv")

# A flat day and no cap: the setting in which expected_occupancy is exact.
FLAT = with_overrides("campus", hourly=(1.0,) * 24)
N, FPS, DUR, BATCHES = 12, 5.0, 6000.0, 60


def _means_and_errors(skew: float, seed: int):
    df = generate(N, FPS, DUR, seed, FLAT, max_rois=10 ** 6, skew=skew)
    x = df[camera_columns(df)].to_numpy(dtype=float)
    batches = x[:len(x) // BATCHES * BATCHES].reshape(BATCHES, -1, N).mean(axis=1)
    se = batches.std(axis=0, ddof=1) / math.sqrt(BATCHES)     # batch means: 100 s batches
    expected = np.asarray(df.attrs["busyness"]) * expected_occupancy(FLAT, N, FPS, DUR)
    return x.mean(axis=0), se, expected


@pytest.mark.parametrize("skew,seed", [(0.0, 3), (1.0, 3), (2.0, 5)])
def test_generated_means_have_the_skew_asked_for(skew, seed):
    means, se, expected = _means_and_errors(skew, seed)
    # the closed form: the expected means' log standard deviation is the skew (up to the
    # 5-digit rounding of the busyness kept in the trace's header)
    assert log_skew(expected) == pytest.approx(skew, abs=2e-3)
    # each camera's measured mean agrees with its closed-form expectation: a 99.9% t interval
    # from 60 batch means (12 cameras: the family-wise error is at most 1.2%)
    t = stats.t.ppf(0.9995, BATCHES - 1)
    assert np.all(np.abs(means - expected) <= t * se), (means, expected, se)
    # and the measured skew is the asked one within the delta-method bound of its noise:
    # sd(log m) moves by at most sqrt(sum((se/m)^2) / N) per unit of noise
    bound = 4 * math.sqrt(float(np.sum((se / means) ** 2)) / N)
    assert abs(log_skew(means) - skew) <= bound + 2e-3


def test_skew_orders_the_cameras_apart_and_keeps_the_busiest_fully_visible():
    """More skew spreads the expected means further; the busyness stays a probability."""
    occ = expected_occupancy("campus", 24, 15.0, 600.0, 1200.0, 7.0)
    spreads = []
    for skew in (0.0, 0.5, 1.0, 2.0):
        df = generate(24, 15.0, 60.0, 1, "campus", 1200.0, 7.0, skew=skew)
        b = np.asarray(df.attrs["busyness"])
        assert b.max() == pytest.approx(1.0) and b.min() > 0 and df.attrs["idle"] == []
        spreads.append(np.ptp(np.log(b * expected_occupancy("campus", 24, 15.0, 60.0, 1200.0, 7.0))))
    assert spreads[0] == pytest.approx(0.0, abs=1e-4)
    assert all(a < b for a, b in zip(spreads, spreads[1:]))
    # the path's middle sees more crowds than its ends: the occupancy is not flat
    assert occ[12] > 1.5 * occ[0]


def test_without_skew_the_trace_is_the_profiles_draws():
    """skew=None leaves the generator as it was: the bundled campus trace is reproduced."""
    import pandas as pd

    ref = pd.read_csv(ROOT / "traces" / "rois" / "campus-24-day.csv", comment="#", nrows=3000)
    df = generate(24, 15.0, 600.0, 1, "campus", 1200.0, 7.0)
    cols = camera_columns(df)
    assert np.array_equal(df[cols].to_numpy()[:3000], ref[cols].to_numpy())


def test_skew_is_a_located_error_when_negative():
    with pytest.raises(ValueError, match="skew"):
        generate(4, 15.0, 10.0, 1, "campus", skew=-0.1)


def test_cli_writes_the_skew_into_the_header(tmp_path):
    from click.testing import CliRunner

    from edgesim.cli.app import main
    out = tmp_path / "t.csv"
    res = CliRunner().invoke(main, ["trace", "generate", "--cameras", "4", "--duration", "20s",
                                    "--skew", "0.5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    head = out.read_text().splitlines()[:20]
    assert "# skew: 0.5" in head and any("--skew 0.5" in h for h in head)
    bad = CliRunner().invoke(main, ["trace", "generate", "--skew", "-1", "-o", str(out)])
    assert bad.exit_code == 2 and "--skew" in bad.output


@pytest.mark.skipif(not TELRAAM.exists(), reason="the Telraam counts (../shared/data/workload) "
                    "are not on this machine")
def test_the_telraam_fit_is_reproduced_from_the_file():
    from edgesim.systems.distream.telraam import fit

    f = fit(TELRAAM)
    assert len(f["segments"]) == 2
    # the fitted values the guide and scenarios/distream/fitted.yaml state
    assert f["skew"] == pytest.approx(0.365, abs=5e-4)
    lo, hi = f["skew_ci95"]
    assert lo == pytest.approx(0.163, abs=1e-3) and hi == pytest.approx(11.65, abs=0.01)
    assert f["hours"] == list(range(7, 21))
    assert f["hourly"][17] == 1.0 and f["hourly"][7] == pytest.approx(0.557, abs=1e-3)
    assert f["r2"] > 0.98
    # independently: the skew is sd(ddof=1) of the two segments' log levels
    assert f["skew"] == pytest.approx(abs(math.log(f["segment_level"][1] /
                                                   f["segment_level"][0])) / math.sqrt(2), rel=1e-3)


def test_the_fitted_scenario_uses_the_fitted_values():
    text = (ROOT / "scenarios" / "distream" / "fitted.yaml").read_text()
    trace = ROOT / "traces" / "rois" / "telraam-fit-24-day.csv"
    head = [ln for ln in trace.read_text().splitlines()[:30] if ln.startswith("#")]
    assert "telraam-fit-24-day.csv" in text
    assert "# skew: 0.365" in head
    assert any("hourly=(" in ln and "0.5572" in ln for ln in head)


@pytest.mark.parametrize("method", ["direct", "iterative"])
def test_no_skew_and_equal_devices_the_balancer_moves_nothing(method):
    """Equal loads on equal cameras are already balanced (v' = 0 <= beta): no plan at all,
    whatever the predicted part; a skew of one camera makes one, towards the others."""
    from edgesim.systems.distream import balancer as bal

    for normalise in bal.NORMALISE:
        res = bal.balance([12.0] * 6, [3.0] * 6, [42.5] * 6, beta=0.2, method=method,
                          normalise=normalise)
        assert not res.x and res.v_after == pytest.approx(0.0)
        hot = bal.balance([40.0] + [12.0] * 5, [3.0] * 6, [42.5] * 6, beta=0.2, method=method,
                          normalise=normalise)
        assert hot.x and all(i == 0 and j != 0 for i, j in hot.x)
