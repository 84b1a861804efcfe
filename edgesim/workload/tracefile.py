"""Read numeric columns from a trace file (CSV or whitespace separated, optional header).

A multi-camera trace has one column per camera; every member of a source group reads its own
column, so the parsed table is cached per file (and modification time) instead of being parsed
once per camera.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

import numpy as np

_SPLIT = re.compile(r"[,\s;]+")


@lru_cache(maxsize=16)
def _table(path: str, _mtime: float) -> tuple[Optional[list[str]], list[list[str]], int]:
    rows: list[list[str]] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#"):
                    rows.append([c for c in _SPLIT.split(line) if c != ""])
    except UnicodeDecodeError as exc:   # a ValueError: located by the caller like the others
        raise ValueError(f"{path}: not a text trace (not UTF-8 at byte {exc.start}); a trace "
                         "is CSV or whitespace-separated numbers") from None
    if not rows:
        raise ValueError(f"{path}: no data rows")
    try:
        [float(c) for c in rows[0]]
        return None, rows, 1
    except ValueError:
        return rows[0], rows[1:], 2


def columns(path: Path) -> list[str]:
    """The header's column names ([] when the file has no header row)."""
    header, _rows, _first = _table(str(path), os.stat(path).st_mtime)
    return list(header or [])


def read_column(path: Path, column: Optional[Union[str, int]] = None) -> np.ndarray:
    """The numbers in one column; '#' lines are comments; a first non-numeric row is a header."""
    header, rows, first = _table(str(path), os.stat(path).st_mtime)
    if column is None:
        idx = 0
    elif isinstance(column, int):
        idx = column
    elif header is not None and column in header:
        idx = header.index(column)
    else:
        raise ValueError(f"{path}: no column {column!r}; columns: "
                         f"{', '.join(header) if header else 'none named (no header row)'}")
    values = []
    for lineno, row in enumerate(rows, start=first):
        if idx >= len(row):
            raise ValueError(f"{path}: data row {lineno} has no column {column!r}")
        try:
            values.append(float(row[idx]))
        except ValueError:
            raise ValueError(f"{path}: data row {lineno}: {row[idx]!r} is not a number") from None
    return np.asarray(values, dtype=float)
