"""`edgesim trace import` and `edgesim trace show` on real files from ../shared/data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesim.cli.app import main
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


def _mahimahi(tmp_path: Path) -> Path:
    p = tmp_path / "link.down"
    p.write_text("".join(f"{t}\n" for t in [0, 0, 3, 3, 3, 9, 40, 41, 41, 77, 150, 150, 200]))
    return p


def test_mahimahi_import_native_by_default_binned_on_request(tmp_path):
    src = _mahimahi(tmp_path)
    for extra, resolution in (([], "native"), (["--bin-ms", "100"], "binned")):
        out = tmp_path / f"{resolution}.csv"
        res = CliRunner().invoke(main, ["trace", "import", str(src), *extra, "-o", str(out)])
        assert res.exit_code == 0, res.output
        want = read_trace(src, "mahimahi", **({"bin_s": 0.1} if extra else {}))
        assert want.meta["resolution"] == resolution
        back = read_trace(out, "canonical")
        np.testing.assert_array_equal(back.times, want.times)
        np.testing.assert_array_equal(back.bps, want.bps)
        assert back.duration == want.duration
    res = CliRunner().invoke(main, ["trace", "show", str(src), "--bin-ms", "50", "--no-plot"])
    assert res.exit_code == 0 and "samples: 4" in res.output, res.output


def test_resolution_command_and_bad_input(tmp_path):
    src = _mahimahi(tmp_path)
    res = CliRunner().invoke(main, ["trace", "resolution", str(src), "--size", "3kB",
                                    "--size", "9000", "--starts", "50"])
    assert res.exit_code == 0, res.output
    assert "100 ms bins vs native 1 ms" in res.output and len(res.output.splitlines()) == 4
    csv = tmp_path / "bw.csv"
    csv.write_text("0,1000\n1,2000\n")
    res = CliRunner().invoke(main, ["trace", "show", str(csv), "--bin-ms", "100", "--no-plot"])
    assert res.exit_code == 2 and "mahimahi traces only" in res.output
    bad = tmp_path / "bad.down"
    bad.write_text("0\n5\n7.5\n9\n")
    for cmd in (["show", "--format", "mahimahi", "--no-plot"], ["resolution"]):
        res = CliRunner().invoke(main, ["trace", *cmd, str(bad)])
        assert res.exit_code == 2 and "Traceback" not in res.output
        assert "bad.down, line 3" in res.output and "'7.5'" in res.output, res.output
