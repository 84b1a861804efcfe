"""A run as a Perfetto / chrome://tracing timeline (issue #29): every request, service, transfer
and training task is a slice at its simulated time, and the file repeats byte for byte."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from edgesim.cli.app import main


def _run(tmp_path, *args):
    r = CliRunner().invoke(main, ["run", *args, "-q", "--no-plots", "--trace-events",
                                  "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    return json.loads((tmp_path / "trace.json").read_text())


def test_requests_services_and_transfers_are_slices_at_their_times(tmp_path):
    doc = _run(tmp_path / "qs", "quickstart", "--duration", "20s", "--set",
               "network.transfers=true")
    req = pd.read_parquet(tmp_path / "qs" / "requests.parquet")
    tr = pd.read_parquet(tmp_path / "qs" / "transfers.parquet")
    ev = doc["traceEvents"]
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in ev)
    by_pid = pd.Series([e["pid"] for e in ev]).value_counts().to_dict()
    done = req[req.ended.notna()]
    assert by_pid["requests"] == len(done) and by_pid["network"] == len(tr)
    first = next(e for e in ev if e["pid"] == "requests" and e["args"]["id"] == int(done.id.iloc[0]))
    assert first["ts"] == pytest.approx(done.created.iloc[0] * 1e6)
    assert first["dur"] == pytest.approx((done.ended.iloc[0] - done.created.iloc[0]) * 1e6)
    assert [e["ts"] for e in ev] == sorted(e["ts"] for e in ev)
    assert doc["otherData"]["scenario"] == "quickstart"


def test_a_training_run_shows_its_schedule(tmp_path):
    doc = _run(tmp_path / "d", "deepcon/dmml-par")
    sched = pd.read_parquet(tmp_path / "d" / "schedule.parquet")
    assert len(doc["traceEvents"]) == len(sched)
    assert {e["pid"] for e in doc["traceEvents"]} == set(sched.worker.astype(str))


def test_the_timeline_repeats_byte_for_byte_and_converts_an_old_run(tmp_path):
    _run(tmp_path / "a", "queueing/mmc", "--duration", "300s", "--set", "warmup=0s")
    first = (tmp_path / "a" / "trace.json").read_bytes()
    r = CliRunner().invoke(main, ["timeline", str(tmp_path / "a"), "-o", str(tmp_path / "b.json")])
    assert r.exit_code == 0 and (tmp_path / "b.json").read_bytes() == first
