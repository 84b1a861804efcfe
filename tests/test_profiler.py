"""The profiler, the machine fingerprint and `edgesim calibrate` (profile, check).

Fast on purpose: tiny zoo models (CIFAR ResNet-20 at 8x8 or 32x32), batches up to 4 and
min_run_time around 0.02 s. Accuracy figures are not asserted here (the test machine is shared);
they belong in docs/validation.md.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgesim.calibration.fingerprint import device_id, fingerprint

TINY = "resnet20@8"        # CIFAR ResNet-20 on 8x8 inputs: well under a millisecond a call
FAST = 0.02


def _calibrate():
    from edgesim.cli.calibrate import calibrate
    return calibrate


# ---------------------------------------------------------------------------- fingerprint

def test_fingerprint_keys_present_and_json_serialisable():
    fp = fingerprint("cpu")
    for key in ("device", "platform", "python", "torch", "cuda", "cuda_available", "gpu", "cpu_model",
                "logical_cores", "usable_cores", "torch_threads", "jetson_model", "nvpmodel",
                "clocks", "warnings"):
        assert key in fp, key
    assert set(fp["clocks"]) >= {"locked", "method", "detail"}
    assert fp["clocks"]["locked"] in (True, False, None)
    assert json.loads(json.dumps(fp)) == fp
    if fp["clocks"]["locked"] is not True:
        assert fp["warnings"], "an unlocked or unknown clock state must warn"
    did = device_id(fp, threads=1)
    assert did and "/" not in did and " " not in did


def test_fingerprint_survives_missing_tools(monkeypatch):
    from edgesim.calibration import fingerprint as fpmod
    monkeypatch.setattr(fpmod.shutil, "which", lambda name: None)
    monkeypatch.setattr(fpmod, "_read", lambda path: None)
    fp = fpmod.fingerprint("cuda")
    assert fp["jetson_model"] is None and fp["nvpmodel"] is None
    assert fp["clocks"]["locked"] is None
    json.dumps(fp)


def test_jetson_clocks_parser(monkeypatch):
    from edgesim.calibration import fingerprint as fpmod
    show = ("SOC family:tegra194  Machine:Jetson-AGX\n"
            "cpu0: Online=1 Governor=schedutil MinFreq=1190400 MaxFreq=2265600 CurrentFreq=1190400\n"
            "GPU MinFreq=114750000 MaxFreq=1377000000 CurrentFreq=114750000\n")
    monkeypatch.setattr(fpmod, "_run", lambda argv: show if argv[0] == "jetson_clocks" else None)
    st = fpmod.clock_state("cuda")
    assert st["locked"] is False and st["method"] == "jetson_clocks --show"
    locked = show.replace("MinFreq=1190400", "MinFreq=2265600").replace("MinFreq=114750000",
                                                                        "MinFreq=1377000000")
    monkeypatch.setattr(fpmod, "_run", lambda argv: locked if argv[0] == "jetson_clocks" else None)
    assert fpmod.clock_state("cuda")["locked"] is True


def test_importing_the_cli_module_does_not_import_torch():
    code = "import sys, edgesim.cli.calibrate, edgesim.calibration.testbed.run; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------- profiler

def test_profile_schema_and_order():
    pytest.importorskip("torch")
    from edgesim.hardware.profiles.bundle import COLUMNS as BUNDLE_COLUMNS
    from edgesim.calibration.profiler import COLUMNS, EXTRA_COLUMNS, SAMPLE_COLUMNS, profile
    table, samples = profile([TINY, "lstm2@4"], device="cpu", batches=[2, 1], threads=1,
                             phases=["infer"], min_run_time=FAST, malloc="default")
    # The bundle's columns, then the profiler's extra kernel count (kept by bundle readers).
    assert COLUMNS == list(BUNDLE_COLUMNS) and EXTRA_COLUMNS == ["kernels"]
    assert list(table.columns) == COLUMNS + EXTRA_COLUMNS
    assert list(samples.columns) == SAMPLE_COLUMNS
    assert list(zip(table["model"], table["batch"])) == [(TINY, 1), (TINY, 2), ("lstm2@4", 1),
                                                         ("lstm2@4", 2)]
    assert set(table["phase"]) == {"infer"} and set(table["provenance"]) == {"measured"}
    assert (table["threads"] == 1).all() and (table["n"] >= 1).all()
    assert list(table["input_shape"][:2]) == ["3x8x8", "3x8x8"]
    for r in table.itertuples():
        assert 0 < r.p10_ms <= r.median_ms <= r.p90_ms <= r.p99_ms
        assert r.mean_ms > 0 and r.std_ms >= 0 and r.flops > 0 and r.params > 0 and r.out_bytes > 0
        got = samples[(samples["model"] == r.model) & (samples["batch"] == r.batch)]
        assert len(got) == r.n and (got["sample_ms"] > 0).all()
    # flops scale with the batch
    tiny = table[table["model"] == TINY]
    assert tiny["flops"].iloc[1] == 2 * tiny["flops"].iloc[0]


def test_conv_net_batch4_slower_than_batch1():
    pytest.importorskip("torch")
    from edgesim.calibration.profiler import profile
    table, _ = profile(["resnet20"], batches=[1, 4], threads=1, phases=["infer"], min_run_time=0.3,
                       malloc="default")
    t1, t4 = table["median_ms"].tolist()
    assert t4 > t1, table


def test_train_phase_runs_and_costs_more_than_inference():
    pytest.importorskip("torch")
    from edgesim.calibration.profiler import profile
    table, samples = profile([TINY], batches=[1, 2], threads=1, phases=["infer", "train"],
                             min_run_time=FAST, malloc="default")
    assert list(table["phase"]) == ["infer", "infer", "train", "train"]
    assert not table.attrs["skipped"]
    inf = table[table["phase"] == "infer"]["median_ms"].to_numpy()
    tr = table[table["phase"] == "train"]["median_ms"].to_numpy()
    assert (tr > inf).all()
    assert set(samples["phase"]) == {"infer", "train"}


def test_stable_malloc_mode_in_a_fresh_process():
    """mallopt lasts for the whole process, so this runs in a child, not in the test session."""
    pytest.importorskip("torch")
    code = ("from edgesim.calibration.profiler import configure_malloc, profile; "
            "print(configure_malloc('default')); "
            "t, _ = profile(['resnet20@8'], batches=[1], threads=1, phases=['infer'], "
            "min_run_time=0.02); print(t.attrs['malloc'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, applied = out.stdout.strip().splitlines()[-2:]
    assert first == "default"
    assert applied.startswith("stable") or applied == "default (mallopt unavailable)"


def test_unknown_model_and_bad_arguments():
    pytest.importorskip("torch")
    from edgesim.calibration.profiler import ProfileError, profile
    with pytest.raises(ProfileError, match="resnet20"):
        profile(["resnet2"], batches=[1], min_run_time=FAST)
    with pytest.raises(ProfileError, match="phase"):
        profile([TINY], batches=[1], phases=["fit"], min_run_time=FAST)
    with pytest.raises(ProfileError):
        profile([TINY], batches=[0], min_run_time=FAST)
    with pytest.raises(ProfileError, match="malloc"):
        profile([TINY], batches=[1], min_run_time=FAST, malloc="jemalloc")


# ---------------------------------------------------------------------------- the CLI

STABLE_META = ("schema_version", "device_id", "provenance", "command", "edgesim_version", "sources",
               "notes")


def test_calibrate_writes_a_bundle_that_loads_back(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from edgesim.hardware.profiles.bundle import load_bundle
    monkeypatch.chdir(tmp_path)
    args = ["--device", "cpu", "--models", TINY, "--batch", "1,2", "--threads", "1", "--phase",
            "infer,train", "--min-run-time", str(FAST), "--malloc", "default", "--out",
            "calibration/tiny", "-q"]
    runner = CliRunner()
    first = runner.invoke(_calibrate(), args)
    assert first.exit_code == 0, first.output
    b1 = load_bundle("calibration/tiny")
    meta1 = json.loads((tmp_path / "calibration/tiny/meta.json").read_text())
    assert meta1["provenance"] == "measured" and meta1["schema_version"] == 1
    assert meta1["command"] == ("edgesim calibrate --device cpu --models resnet20@8 --batch 1,2 "
                                "--threads 1 --phase infer,train --min-run-time 0.02 "
                                "--malloc default --out calibration/tiny")
    assert meta1["fingerprint"]["profiler"]["threads"] == 1
    assert meta1["fingerprint"]["profiler"]["malloc"] == "default"
    assert len(b1.table) == 4 and b1.has_samples()
    assert len(b1.load_samples()) == int(b1.table["n"].sum())
    header = (tmp_path / "calibration/tiny/latency.csv").read_text().splitlines()[0]
    assert header == ("model,phase,batch,input_shape,threads,n,median_ms,p10_ms,p90_ms,p99_ms,"
                      "mean_ms,std_ms,flops,params,out_bytes,peak_mem_mb,provenance,kernels")

    # A second run refuses to overwrite without --force; with it, the stable keys are identical.
    again = runner.invoke(_calibrate(), args)
    assert again.exit_code == 2 and "--force" in again.output
    second = runner.invoke(_calibrate(), args + ["--force"])
    assert second.exit_code == 0, second.output
    meta2 = json.loads((tmp_path / "calibration/tiny/meta.json").read_text())
    for key in STABLE_META:
        assert json.dumps(meta1[key]) == json.dumps(meta2[key]), key
    strip = ("clocks", "warnings")
    assert ({k: v for k, v in meta1["fingerprint"].items() if k not in strip}
            == {k: v for k, v in meta2["fingerprint"].items() if k not in strip})
    assert not list(tmp_path.glob("calibration/.*")), "temporary folders left behind"


def test_calibrate_unknown_model_exits_2_without_traceback(tmp_path):
    pytest.importorskip("torch")
    res = CliRunner().invoke(_calibrate(), ["--models", "resnet2", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    assert "did you mean" in res.output.lower() and "resnet20" in res.output
    assert "mobilenet_v2" in res.output          # the list of available models
    assert not (tmp_path / "x").exists()


def test_calibrate_requires_models_and_valid_lists():
    res = CliRunner().invoke(_calibrate(), ["--device", "cpu"])
    assert res.exit_code == 2 and "--models" in res.output
    res = CliRunner().invoke(_calibrate(), ["--models", TINY, "--batch", "1,x"])
    assert res.exit_code == 2 and "--batch" in res.output


def test_calibrate_check_reports_a_mape(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "b"
    runner = CliRunner()
    res = runner.invoke(_calibrate(), ["--device", "cpu", "--models", TINY, "--batch", "1,4",
                                       "--threads", "1", "--phase", "infer", "--min-run-time",
                                       str(FAST), "--malloc", "default", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(_calibrate(), ["check", str(out), "--json"])
    rep = json.loads(res.output)
    assert res.exit_code == (0 if rep["pass"] else 1), res.output      # FAIL exits 1
    assert [r["batch"] for r in rep["rows"]] == [2]          # the midpoint of 1 and 4
    row = rep["rows"][0]
    assert row["model"] == TINY and row["threads"] == 1
    assert row["predicted_ms"] > 0 and row["measured_ms"] > 0
    assert isinstance(rep["mape_pct"], float) and rep["mape_pct"] >= 0
    assert rep["pass"] in (True, False) and rep["target_pct"] == 10.0
    text = runner.invoke(_calibrate(), ["check", str(out), "--batches", "3", "-q",
                                        "--target", "1e9"])
    assert text.exit_code == 0 and "MAPE" in text.output and "PASS" in text.output, text.output
    fail = runner.invoke(_calibrate(), ["check", str(out), "--batches", "3", "-q",
                                        "--target", "1e-9"])
    assert fail.exit_code == 1 and "FAIL" in fail.output, fail.output


def test_calibrate_check_bad_bundle_exits_2(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "nothing").mkdir()
    res = CliRunner().invoke(_calibrate(), ["check", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "Traceback" not in res.output
