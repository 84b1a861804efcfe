"""Camera workloads: per-frame ROI counts from real video, and synthetic multi-camera traces.

* :mod:`edgesim.video.roi`: Distream's front end (Gaussian-mixture background subtraction, then
  blob detection) run with OpenCV over a video file -> ROIs per frame and their JPEG sizes.
* :mod:`edgesim.video.synthetic`: a seeded generator of multi-camera ROI-count traces with the
  workload dynamics of Distream's campus and traffic deployments.

Both write a CSV that ``arrivals: {process: trace, format: counts, ...}`` replays: ``#``
provenance lines, one header row, one row per frame. OpenCV is imported only inside the
functions that read or write video, so ``import edgesim`` (and this package) never imports cv2.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Iterable, Mapping, Union

from edgesim.metrics.atomic import write_text_atomic

__all__ = ["write_trace", "read_header"]

MAGIC = "edgesim-roi-trace"
VERSION = 1


def _clean(value) -> str:
    return " ".join(str(value).split())


def write_trace(df, path: Union[str, Path], header: Mapping[str, object],
                float_format: Mapping[str, str] | None = None) -> Path:
    """Write ``df`` (a pandas DataFrame) as CSV under ``# key: value`` header lines, atomically.

    ``header`` is written in order after ``# edgesim-roi-trace: 1``; ``created`` and
    ``edgesim`` (the version) are added when missing. ``float_format`` maps a column to a
    format spec (e.g. ``{"time_s": ".4f"}``); other columns are written with ``str``.
    """
    from edgesim._version import __version__

    path = Path(path)
    head = dict(header)
    head.setdefault("edgesim", __version__)
    head.setdefault("created", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    lines = [f"# {MAGIC}: {VERSION}\n"] + [f"# {k}: {_clean(v)}\n" for k, v in head.items()]
    cols = list(df.columns)
    lines.append(",".join(cols) + "\n")
    fmts = dict(float_format or {})
    columns = []
    for c in cols:
        values = df[c].tolist()
        spec = fmts.get(c)
        columns.append([format(v, spec) for v in values] if spec else [str(v) for v in values])
    lines.extend(",".join(row) + "\n" for row in zip(*columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(lines))
    return path


def read_header(path: Union[str, Path]) -> dict[str, str]:
    """The ``# key: value`` lines at the top of a trace file, as a dict of strings."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in _leading_comments(fh):
            key, sep, value = line[1:].strip().partition(":")
            if sep:
                out[key.strip()] = value.strip()
    return out


def _leading_comments(lines: Iterable[str]):
    for line in lines:
        if not line.startswith("#"):
            return
        yield line
