"""Damaged files a user hands edgesim are one-line errors, found before any work (issue #28)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesim.cli.app import main
from edgesim.hardware.profiles.bundle import BundleError, load_bundle

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "calibration" / "cpu-reference"


@pytest.fixture
def bundle(tmp_path) -> Path:
    return Path(shutil.copytree(REFERENCE, tmp_path / "b"))


def test_a_binary_meta_json_is_a_bundle_error(bundle):
    (bundle / "meta.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(BundleError, match=r"meta.json: not a text file"):
        load_bundle(bundle)


def test_a_binary_latency_table_is_a_bundle_error(bundle):
    (bundle / "latency.csv").write_bytes(b"model,phase\n\xff\xfe\x00")
    with pytest.raises(BundleError, match=r"latency.csv: not a text file"):
        load_bundle(bundle)


def test_a_damaged_samples_table_is_found_when_the_bundle_is_read(bundle):
    samples = bundle / "samples.parquet"
    assert samples.is_file(), "the reference bundle ships its raw samples"
    samples.write_bytes(samples.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"samples.parquet: not a readable Parquet file"):
        load_bundle(bundle)


def test_calibrate_check_on_a_damaged_bundle_exits_2_before_profiling(bundle):
    pytest.importorskip("torch")
    (bundle / "samples.parquet").write_bytes(b"PAR1 cut")
    r = CliRunner().invoke(main, ["calibrate", "check", str(bundle)])
    assert r.exit_code == 2 and "not a readable Parquet file" in r.output
    assert "Traceback" not in r.output


def test_sweep_plot_on_a_damaged_runs_table_is_an_error_not_a_traceback(tmp_path):
    (tmp_path / "sweep.json").write_text("{}")
    (tmp_path / "runs.parquet").write_bytes(b"not parquet at all")
    r = CliRunner().invoke(main, ["plot", str(tmp_path), "--x", "a", "--y", "b"])
    assert r.exit_code == 2 and "runs.parquet: not a readable Parquet file" in r.output


def test_a_binary_trace_file_is_a_located_problem(tmp_path):
    import edgesim
    from edgesim.errors import ScenarioError
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(128, 256)) * 8)
    sf = edgesim.api.load_named("queueing/mmc", [
        f"workload.sources.arrivals.arrivals={{process: trace, file: {junk}, format: counts, "
        "interval: 1s}"])
    with pytest.raises(ScenarioError, match=r"junk.csv: not a text trace \(not UTF-8 at byte 0\)"):
        edgesim.run(sf)
