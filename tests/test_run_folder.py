"""A run folder is complete or absent (issue #28): staged, locked, renamed into place, checked
before t = 0, and its results kept when the disk fails while saving."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesim.cli.app import main
from edgesim.errors import UserError
from edgesim.metrics import run_folder
from edgesim.metrics.run_folder import default_name, reserve

RUN = ["run", "queueing/mmc", "-q", "--no-plots", "--duration", "600s", "--set", "warmup=0s"]


def _run(*args):
    return CliRunner().invoke(main, [*RUN, *args])


def test_an_existing_folder_is_replaced_only_with_force_and_then_whole(tmp_path):
    out = tmp_path / "out"
    assert _run("-o", str(out)).exit_code == 0
    (out / "stale.parquet").write_text("from an older run")
    before = (out / "summary.json").read_text()
    r = _run("-o", str(out), "--seed", "2")
    assert r.exit_code == 2 and "--force" in r.output
    assert (out / "summary.json").read_text() == before          # untouched
    assert _run("-o", str(out), "--seed", "2", "--force").exit_code == 0
    assert not (out / "stale.parquet").exists()                   # the old folder went whole
    assert '"seed": 2' in (out / "summary.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging, no lock left


def test_an_existing_empty_folder_takes_the_run(tmp_path):
    out = tmp_path / "made-for-it"
    out.mkdir()
    assert _run("-o", str(out)).exit_code == 0
    assert (out / "summary.json").is_file()


def test_a_second_writer_is_refused_while_the_first_holds_the_place(tmp_path):
    first = reserve(tmp_path / "out")
    try:
        with pytest.raises(UserError, match="another edgesim run is writing"):
            reserve(tmp_path / "out")
    finally:
        first.abandon()
    reserve(tmp_path / "out").abandon()                           # free again


def test_what_a_killed_run_left_is_cleaned_by_the_next_run(tmp_path):
    (tmp_path / ".out.staging-dead").mkdir()                      # killed while running
    (tmp_path / ".other.staging-dead").mkdir()                    # another target, unlocked
    (tmp_path / ".out.replaced-dead").mkdir()                     # killed between renames
    held = reserve(tmp_path / "busy")                             # one that is being written
    try:
        folder = reserve(tmp_path / "out")
        folder.save(lambda d: (d / "summary.json").write_text("{}"))
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == [".busy.lock", held.staging.name, "out"]
    finally:
        held.abandon()


@pytest.mark.parametrize("where,why", [
    ("afile/x", "is a file, not a folder"),
    ("a" * 300, "255 bytes"),
    ("bad\x00name", "NUL"),
])
def test_a_place_that_cannot_take_a_run_is_refused_before_t0(tmp_path, where, why):
    (tmp_path / "afile").write_text("")
    with pytest.raises(UserError, match=why):
        reserve(tmp_path / where)


def test_an_io_error_while_saving_keeps_the_results_in_a_rescue_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(run_folder.tempfile, "tempdir", str(tmp_path / "rescue"))
    (tmp_path / "rescue").mkdir()
    folder = reserve(tmp_path / "out")
    calls = []

    def write(d: Path):
        calls.append(d)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        (d / "summary.json").write_text("{}")

    with pytest.raises(UserError, match="saved to") as info:
        folder.save(write)
    rescue = calls[1]
    assert str(rescue) in str(info.value) and (rescue / "summary.json").exists()
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_the_default_folder_name_cannot_leave_runs():
    assert default_name("../../x") == "x"
    assert default_name("a/b c") == "a-b-c"
    assert default_name("..") == "run"
