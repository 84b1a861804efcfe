"""Read one numeric column from a small trace file (CSV or whitespace separated, optional header)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Union

import numpy as np

_SPLIT = re.compile(r"[,\s;]+")


def read_column(path: Path, column: Optional[Union[str, int]] = None) -> np.ndarray:
    """The numbers in one column; '#' lines are comments; a first non-numeric row is a header."""
    rows: list[list[str]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append([c for c in _SPLIT.split(line) if c != ""])
    if not rows:
        raise ValueError(f"{path}: no data rows")
    header = None
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
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
    for lineno, row in enumerate(rows, start=2 if header else 1):
        if idx >= len(row):
            raise ValueError(f"{path}: data row {lineno} has no column {column!r}")
        try:
            values.append(float(row[idx]))
        except ValueError:
            raise ValueError(f"{path}: data row {lineno}: {row[idx]!r} is not a number") from None
    return np.asarray(values, dtype=float)
