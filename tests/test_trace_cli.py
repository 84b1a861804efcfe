"""`edgesim trace import` and `edgesim trace show` on real files from ../shared/data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesim.cli import main
from edgesim.network.traces import read_trace

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bandwidth"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")


@needs_data
@pytest.mark.parametrize("rel,fmt", [
    ("mahimahi_cellular/Verizon-LTE-short.down", "mahimahi"),
    ("multipath_wifi_cellular_nyu/7_1_wifi.csv", "csv-bps"),
    ("pensieve_cooked/norway_hsdpa_bus.ljansbakken-oslo-report.2010-09-30_1114CEST.log", "mbps"),
])
def test_import_then_read_back_is_identical(tmp_path, rel, fmt):
    src = DATA / rel
    out = tmp_path / "traces" / "t.csv"
    res = CliRunner().invoke(main, ["trace", "import", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    original, canonical = read_trace(src, fmt), read_trace(out, "canonical")
    np.testing.assert_array_equal(original.times, canonical.times)
    np.testing.assert_array_equal(original.bps, canonical.bps)
    assert canonical.duration == original.duration
    head = out.read_text().splitlines()[:4]
    assert any(str(src) in line for line in head) and any(fmt in line for line in head)


@needs_data
def test_show_prints_stats_and_plots(tmp_path):
    src = DATA / "multipath_wifi_cellular_nyu/7_1_wifi.csv"
    png = tmp_path / "p.png"
    res = CliRunner().invoke(main, ["trace", "show", str(src), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    mean = read_trace(src).stats()["mean_mbps"]
    assert f"{mean:.6g}" in res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_trace_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1.5\nnot numbers here\n")
    res = CliRunner().invoke(main, ["trace", "show", str(bad), "--no-plot"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "bad.txt" in res.output
