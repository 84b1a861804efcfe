"""A sweep stops cleanly (issue #28): the first Ctrl-C ends it at once with exit 130 and a resume
command that repeats the user's options; no worker outlives it, even when the parent is killed."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the workers")

LONG = ["--set", "duration=40000s", "--workers", "2", "-q"]


def _start(tmp_path: Path) -> subprocess.Popen:
    exe = shutil.which("edgesim")
    cmd = [exe] if exe else [sys.executable, "-m", "edgesim"]
    return subprocess.Popen([*cmd, "sweep", "studies/mmc-sweep", "-o", str(tmp_path / "out"),
                             *LONG], stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def _workers(parent: int, timeout: float = 30.0) -> list[int]:
    """The pool's worker processes, once both have started."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = [int(k) for k in subprocess.run(["pgrep", "-P", str(parent)], capture_output=True,
                                               text=True).stdout.split()]
        if len(kids) >= 2:
            return kids
        time.sleep(0.2)
    raise AssertionError("the sweep's workers did not start")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _gone(pids: list[int], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_the_first_ctrl_c_stops_the_sweep_and_its_workers(tmp_path):
    proc = _start(tmp_path)
    workers = _workers(proc.pid)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    assert time.monotonic() - t0 < 15          # the 40,000 s runs are not waited for
    assert "Traceback" not in err
    assert "--set duration=40000s --workers 2 -q" in err and f"-o {tmp_path / 'out'}" in err
    assert _gone(workers, 10)


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    proc = _start(tmp_path)
    workers = _workers(proc.pid)
    proc.kill()
    proc.wait()
    assert _gone(workers, 10), "a worker outlived its killed parent"
