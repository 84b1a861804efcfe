"""Helpers shared by `edgesim calibrate` (cli_calibrate.py) and `edgesim testbed` (cli_testbed.py).

Split out of :mod:`edgesim.cli.calibrate`, which re-exports these names. Importing this module does
not import torch.
"""
from __future__ import annotations

import sys

import click

_CTX = {"help_option_names": ["-h", "--help"]}
_INSTALL = 'pip install -c constraints.txt -e ".[calibrate]"'


def _die(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(2)


def _ints(option: str, text: str) -> list:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated integers, e.g. 1,2,4",
                                 param_hint=option) from None
    if not vals or min(vals) < 1:
        raise click.BadParameter(f"{text!r}: expected integers >= 1", param_hint=option)
    return vals


def _floats(option: str, text: str) -> list:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated numbers, e.g. 0.5,0.8",
                                 param_hint=option) from None
    if not vals or min(vals) <= 0:
        raise click.BadParameter(f"{text!r}: expected numbers > 0", param_hint=option)
    return vals


def _names(text: str) -> list:
    return [x.strip() for x in text.split(",") if x.strip()]


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        _die(f"this command needs PyTorch: {_INSTALL}")


def _interactive(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _warn(msg: str) -> None:
    click.echo(click.style("warning: ", fg="yellow", bold=True) + msg, err=True)


class _Bar:
    """A rich progress bar on a terminal; elsewhere (a log file, CI) plain lines through the
    ``edgesim.progress`` logger, at most one every 10 s (seen with -v)."""

    def __init__(self, enabled: bool, what: str) -> None:
        self.enabled, self.what = enabled, what
        self._p = self._task = None
        self._logged = 0.0

    def __enter__(self) -> "_Bar":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)
            self._p = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[label]}"), TimeElapsedColumn(),
                               console=Console(stderr=True), transient=True)
            self._p.__enter__()
            self._task = self._p.add_task(self.what, total=None, label="")
        return self

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._p is not None:
            self._p.update(self._task, completed=done, total=total, label=label)
            return
        import time
        now = time.monotonic()
        if now - self._logged >= 10.0 or done == total:
            import logging
            self._logged = now
            logging.getLogger("edgesim.progress").info("%s: %s/%s %s", self.what, done, total,
                                                       label)

    def __exit__(self, *exc) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


def _fmt(x, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)
