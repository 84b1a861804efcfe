"""Profile bundles: one device's measured (or published, or transferred) latencies on disk.

A bundle is a folder, conventionally ``calibration/<device-id>/``, holding

* ``meta.json`` - ``schema_version`` (1), ``device_id``, ``provenance`` (measured | literature |
  transferred), ``fingerprint`` (free-form: library versions, CPU/GPU, clocks ...), ``command``,
  ``edgesim_version``, ``created`` (ISO-8601 UTC), ``sources`` (list of {repo, path, commit,
  note}) and ``notes``;
* ``latency.csv`` - the columns of :data:`COLUMNS`, in that order, one row per (model, phase,
  batch, input shape, threads); cells may be empty where a value is unknown, except ``model``,
  ``phase``, ``batch``, ``median_ms`` and ``provenance``. Further columns may follow
  ``provenance`` (e.g. ``runtime,precision,source``); readers keep them as text.
* optionally ``samples.parquet`` - raw samples (``model, phase, batch, sample_ms``);
* optionally ``served.parquet`` - served-mode calls (:data:`SERVED_COLUMNS`, written by
  ``edgesim calibrate served``; see :mod:`edgesim.calibration.testbed.served_profile`): per call, in
  call order, its batch size, the idle gap before it and its time.

Per-row quantities (``flops``, ``out_bytes``, ``peak_mem_mb``) describe the whole row, i.e. the
batch of ``batch`` inputs that was timed; ``params`` is the model's parameter count.

:func:`write_bundle` validates with the same code as :func:`load_bundle` (so whatever it writes
loads again) and is atomic: files are written into a hidden temporary folder beside the target
(each through :mod:`edgesim.metrics.atomic`) that is renamed onto the target only when complete,
so a half-written bundle never appears under the target's name. Floats are written with Python's
shortest round-trip ``repr``, so ``load_bundle(write_bundle(...))`` gives back identical values.

This module must not import torch: it is used when a scenario is loaded.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from edgesim.metrics.atomic import write_parquet_atomic, write_text_atomic
from edgesim.metrics.parquet_read import check_parquet, read_parquet

__all__ = ["SCHEMA_VERSION", "COLUMNS", "PROVENANCES", "PHASES", "Bundle", "BundleError",
           "load_bundle", "load_bundles", "as_bundle", "write_bundle", "empty_table", "META_FILE",
           "LATENCY_FILE", "SAMPLES_FILE", "SERVED_FILE", "SERVED_COLUMNS"]

SCHEMA_VERSION = 1
META_FILE, LATENCY_FILE, SAMPLES_FILE = "meta.json", "latency.csv", "samples.parquet"
SERVED_FILE = "served.parquet"
COLUMNS: tuple[str, ...] = (
    "model", "phase", "batch", "input_shape", "threads", "n", "median_ms", "p10_ms", "p90_ms",
    "p99_ms", "mean_ms", "std_ms", "flops", "params", "out_bytes", "peak_mem_mb", "provenance")
PROVENANCES = ("measured", "literature", "transferred")
PHASES = ("infer", "train")
SAMPLE_COLUMNS = ("model", "phase", "batch", "sample_ms")
# the same as edgesim.calibration.testbed.served_profile.SERVED_COLUMNS (that module needs numpy only,
# but this one is read on every scenario load, so the tuple is repeated rather than imported)
SERVED_COLUMNS = ("model", "phase", "batch", "workers", "worker", "load", "max_batch",
                  "max_wait_ms", "run", "seq", "start_ms", "gap_ms", "sample_ms", "compute_ms")

_STR_COLS = ("model", "phase", "input_shape", "provenance")
_INT_COLS = ("batch", "threads", "n")
_FLOAT_COLS = ("median_ms", "p10_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "flops", "params",
               "out_bytes", "peak_mem_mb")
_REQUIRED = ("model", "phase", "batch", "median_ms", "provenance")
_POSITIVE = ("median_ms",)
_SHAPE = re.compile(r"^[1-9][0-9]*(x[1-9][0-9]*)*$")
_QUANTILE_ORDER = ("p10_ms", "median_ms", "p90_ms", "p99_ms")
_META_TYPES: dict[str, tuple[type, ...]] = {
    "schema_version": (int,), "device_id": (str,), "provenance": (str,), "fingerprint": (dict,),
    "command": (str,), "edgesim_version": (str,), "created": (str,), "sources": (list,),
    "notes": (str,)}
_META_REQUIRED = ("schema_version", "device_id", "provenance", "created")


class BundleError(ValueError):
    """A malformed bundle; the message names the file (and the row and column where it applies)."""


@dataclass
class Bundle:
    """One device's bundle: its folder, its meta.json and its latency table."""

    path: Path
    meta: dict
    table: pd.DataFrame
    extra_columns: tuple[str, ...] = field(default=())

    @property
    def device_id(self) -> str:
        return self.meta["device_id"]

    @property
    def provenance(self) -> str:
        return self.meta["provenance"]

    def has_samples(self) -> bool:
        return (Path(self.path) / SAMPLES_FILE).is_file()

    def load_samples(self) -> Optional[pd.DataFrame]:
        """The raw samples (``model, phase, batch, sample_ms``), or None if the bundle has none."""
        f = Path(self.path) / SAMPLES_FILE
        if not f.is_file():
            return None
        return _check_samples(read_parquet(f, error=BundleError), f)

    def has_served(self) -> bool:
        return (Path(self.path) / SERVED_FILE).is_file()

    def load_served(self) -> Optional[pd.DataFrame]:
        """The served-mode calls (:data:`SERVED_COLUMNS`), or None if the bundle has none."""
        f = Path(self.path) / SERVED_FILE
        if not f.is_file():
            return None
        return _check_served(read_parquet(f, error=BundleError), f)

    def __repr__(self) -> str:  # the table would be unreadable in a repr
        return (f"Bundle({str(self.path)!r}, device={self.meta.get('device_id')!r}, "
                f"provenance={self.meta.get('provenance')!r}, rows={len(self.table)})")


# ---------------------------------------------------------------------------------------- meta

def _check_meta(meta: Any, where: Path) -> dict:
    if not isinstance(meta, dict):
        raise BundleError(f"{where}: must hold a JSON object, got {type(meta).__name__}")
    for key in _META_REQUIRED:
        if key not in meta:
            raise BundleError(f"{where}: missing key {key!r}")
    for key, types in _META_TYPES.items():
        if key in meta and (not isinstance(meta[key], types) or isinstance(meta[key], bool)):
            raise BundleError(f"{where}: key {key!r} must be {types[0].__name__}, got "
                              f"{type(meta[key]).__name__} ({meta[key]!r})")
    if meta["schema_version"] != SCHEMA_VERSION:
        raise BundleError(f"{where}: key 'schema_version' is {meta['schema_version']!r}; this "
                          f"edgesim reads schema_version {SCHEMA_VERSION}")
    if not meta["device_id"].strip():
        raise BundleError(f"{where}: key 'device_id' is empty")
    if meta["provenance"] not in PROVENANCES:
        raise BundleError(f"{where}: key 'provenance' is {meta['provenance']!r}; must be one of "
                          f"{', '.join(PROVENANCES)}")
    try:
        datetime.fromisoformat(meta["created"].replace("Z", "+00:00"))
    except ValueError:
        raise BundleError(f"{where}: key 'created' is {meta['created']!r}, not an ISO-8601 "
                          f"date-time") from None
    for i, src in enumerate(meta.get("sources", [])):
        if not isinstance(src, dict):
            raise BundleError(f"{where}: sources[{i}] must be an object with repo/path/commit/"
                              f"note, got {src!r}")
    return meta


def _complete_meta(meta: Mapping) -> dict:
    """The meta a writer stores: the given keys plus defaults for the optional ones."""
    from edgesim._version import __version__
    out = dict(meta)
    out.setdefault("schema_version", SCHEMA_VERSION)
    out.setdefault("fingerprint", {})
    out.setdefault("command", "")
    out.setdefault("edgesim_version", __version__)
    out.setdefault("created", datetime.now(timezone.utc).replace(microsecond=0).isoformat())
    out.setdefault("sources", [])
    out.setdefault("notes", "")
    order = list(_META_TYPES) + sorted(k for k in out if k not in _META_TYPES)
    return {k: out[k] for k in order if k in out}


# ---------------------------------------------------------------------------------------- table

def empty_table(extra: Sequence[str] = ()) -> pd.DataFrame:
    """A latency table with no rows and the canonical dtypes."""
    return _frame({c: [] for c in (*COLUMNS, *extra)}, tuple(extra))


def _frame(cols: dict[str, list], extra: tuple[str, ...]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for c in COLUMNS:
        if c in _STR_COLS:
            data[c] = pd.Series(cols[c], dtype=object)
        elif c == "batch":
            data[c] = pd.Series(cols[c], dtype="int64")
        elif c in _INT_COLS:
            data[c] = pd.Series(cols[c], dtype="Int64")
        else:
            data[c] = pd.Series(cols[c], dtype="float64")
    for c in extra:
        data[c] = pd.Series(cols[c], dtype=object)
    return pd.DataFrame(data, columns=[*COLUMNS, *extra])


def _parse_rows(header: list[str], rows: Iterable[list[str]], where: Path) -> tuple[pd.DataFrame,
                                                                                    tuple[str, ...]]:
    """Validate text rows (as read from latency.csv) into a typed frame.

    Row numbers in messages count data rows from 1 (the header is line 1, so row r is line r+1).
    """
    n_fixed = len(COLUMNS)
    if tuple(header[:n_fixed]) != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise BundleError(f"{where}: missing column(s) {', '.join(missing)}; the header is "
                              f"{','.join(header)}; expected {','.join(COLUMNS)}")
        for i, (got, want) in enumerate(zip(header, COLUMNS)):
            if got != want:
                raise BundleError(f"{where}: column {i + 1} is {got!r} but must be {want!r} (the "
                                  f"columns must be exactly {','.join(COLUMNS)}, in this order, "
                                  f"optionally followed by extra columns)")
    extra = tuple(header[n_fixed:])
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise BundleError(f"{where}: repeated column name(s) {', '.join(dup)}")
    if any(not h for h in extra):
        raise BundleError(f"{where}: an extra column after 'provenance' has an empty name")
    cols: dict[str, list] = {c: [] for c in header}
    seen: dict[tuple, int] = {}
    for r, row in enumerate(rows, start=1):
        loc = f"{where}: row {r} (line {r + 1})"
        if len(row) != len(header):
            raise BundleError(f"{loc}: has {len(row)} cells, the header has {len(header)}")
        vals: dict[str, Any] = {}
        for c, text in zip(header, row):
            vals[c] = _parse_cell(c, text, loc)
        known = [(c, vals[c]) for c in _QUANTILE_ORDER if not _missing(vals[c])]
        for (c0, v0), (c1, v1) in zip(known, known[1:]):
            if v1 < v0:
                raise BundleError(f"{loc}, column {c1!r}: {v1!r} is below {c0} = {v0!r}; quantiles "
                                  f"must not decrease (p10 <= median <= p90 <= p99)")
        key = (vals["model"], vals["phase"], vals["batch"], vals["input_shape"], vals["threads"])
        if key in seen:
            raise BundleError(f"{loc}: repeats row {seen[key]} (same model {vals['model']!r}, "
                              f"phase, batch {vals['batch']}, input_shape and threads)")
        seen[key] = r
        for c in header:
            cols[c].append(vals[c])
    return _frame(cols, extra), extra


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _parse_cell(col: str, text: str, loc: str) -> Any:
    where = f"{loc}, column {col!r}"
    if col not in COLUMNS:                      # extra columns: kept as text
        return text
    if text == "" or text.strip() == "":
        if col in _REQUIRED:
            raise BundleError(f"{where}: empty, but this column is required")
        if col in _STR_COLS:
            return ""
        return pd.NA if col in _INT_COLS else float("nan")
    if col in _STR_COLS:
        if text != text.strip():
            raise BundleError(f"{where}: {text!r} has leading or trailing spaces")
        if col == "phase" and text not in PHASES:
            raise BundleError(f"{where}: {text!r} is not a phase; must be one of "
                              f"{', '.join(PHASES)}")
        if col == "provenance" and text not in PROVENANCES:
            raise BundleError(f"{where}: {text!r} is not a provenance; must be one of "
                              f"{', '.join(PROVENANCES)}")
        if col == "input_shape" and not _SHAPE.match(text):
            raise BundleError(f"{where}: {text!r} is not a shape like 3x224x224")
        return text
    if col in _INT_COLS:
        try:
            v = int(text)
        except ValueError:
            raise BundleError(f"{where}: {text!r} is not an integer") from None
        if v < 1:
            raise BundleError(f"{where}: {v} must be >= 1")
        return v
    try:
        v = float(text)
    except ValueError:
        raise BundleError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise BundleError(f"{where}: {text!r} is not a finite number")
    if v < 0 or (col in _POSITIVE and v == 0):
        raise BundleError(f"{where}: {v!r} must be {'> 0' if col in _POSITIVE else '>= 0'}")
    return v


def _format_cell(col: str, v: Any) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    if col in _INT_COLS:
        if isinstance(v, float):
            if not v.is_integer():
                return repr(v)          # rejected by the validator with the row and column
            v = int(v)
        return str(int(v)) if not isinstance(v, str) else v
    if col in _FLOAT_COLS:
        if isinstance(v, str):
            return v
        return repr(float(v))
    return str(v)


def _table_text(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = [str(c) for c in table.columns]
    cols = [list(table[c].astype(object)) for c in table.columns]
    rows = [[_format_cell(h, col[i]) for h, col in zip(header, cols)] for i in range(len(table))]
    return header, rows


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _check_samples(df: pd.DataFrame, where: Path) -> pd.DataFrame:
    missing = [c for c in SAMPLE_COLUMNS if c not in df.columns]
    if missing:
        raise BundleError(f"{where}: missing column(s) {', '.join(missing)}; has "
                          f"{', '.join(map(str, df.columns))}")
    s = pd.to_numeric(df["sample_ms"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(s) & (s > 0))
    if bad.any():
        i = int(bad.nonzero()[0][0])
        raise BundleError(f"{where}: row {i + 1}, column 'sample_ms': {df['sample_ms'].iloc[i]!r} "
                          f"is not a finite number > 0")
    return df


def _check_served(df: pd.DataFrame, where: Path) -> pd.DataFrame:
    missing = [c for c in SERVED_COLUMNS if c not in df.columns]
    if missing:
        raise BundleError(f"{where}: missing column(s) {', '.join(missing)}; has "
                          f"{', '.join(map(str, df.columns))}")
    for col, low, strict in (("sample_ms", 0.0, True), ("gap_ms", 0.0, False),
                             ("batch", 1.0, False), ("workers", 1.0, False),
                             ("max_batch", 1.0, False), ("max_wait_ms", 0.0, False),
                             ("compute_ms", 0.0, False),
                             ("load", 0.0, True)):
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(v) & ((v > low) if strict else (v >= low)))
        if bad.any():
            i = int(bad.nonzero()[0][0])
            raise BundleError(f"{where}: row {i + 1}, column {col!r}: {df[col].iloc[i]!r} is not "
                              f"a finite number {'>' if strict else '>='} {low:g}")
    return df


# ---------------------------------------------------------------------------------------- load

def load_bundle(path: str | os.PathLike) -> Bundle:
    """Read and validate one bundle folder; errors name the file, row and column."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a bundle folder (no such directory)")
    mf, lf = root / META_FILE, root / LATENCY_FILE
    if not mf.is_file():
        raise BundleError(f"{mf}: missing (a bundle folder holds {META_FILE} and {LATENCY_FILE})")
    if not lf.is_file():
        raise BundleError(f"{lf}: missing (a bundle folder holds {META_FILE} and {LATENCY_FILE})")
    try:
        meta = json.loads(mf.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{mf}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise BundleError(f"{mf}: not a text file (not UTF-8 at byte {exc.start})") from None
    _check_meta(meta, mf)
    # A damaged table is found now, not after minutes of profiling that would rely on it.
    for table in (SAMPLES_FILE, SERVED_FILE):
        if (root / table).is_file():
            check_parquet(root / table, error=BundleError)
    try:
        with open(lf, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise BundleError(f"{lf}: empty file; the first line must be the header "
                                  f"{','.join(COLUMNS)}")
            table, extra = _parse_rows(header, reader, lf)
    except UnicodeDecodeError as exc:
        raise BundleError(f"{lf}: not a text file (not UTF-8 at byte {exc.start})") from None
    return Bundle(root, meta, table, extra)


def as_bundle(bundle: "Bundle | str | os.PathLike") -> Bundle:
    """``bundle`` itself, or the bundle read from the folder it names."""
    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle)


def load_bundles(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> dict[str, list[Bundle]]:
    """Load bundles grouped by device id (in the order found).

    Each path is a bundle folder (holding meta.json) or a parent folder such as
    ``calibration/literature/`` (or ``calibration/`` itself): every folder below it that holds a
    meta.json is loaded, without descending into bundles; hidden folders (temporary ones left by
    an interrupted writer) are skipped.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: dict[str, list[Bundle]] = {}
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            raise BundleError(f"{p}: no such bundle folder")
        found = _find_bundles(p)
        if not found:
            raise BundleError(f"{p}: neither a bundle ({META_FILE} missing) nor a folder of "
                              f"bundles (no sub-folder holds a {META_FILE})")
        for d in found:
            b = load_bundle(d)
            out.setdefault(b.device_id, []).append(b)
    return out


def _find_bundles(folder: Path) -> list[Path]:
    if (folder / META_FILE).is_file():
        return [folder]
    found: list[Path] = []
    for d in sorted(folder.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            found.extend(_find_bundles(d))
    return found


# ---------------------------------------------------------------------------------------- write

def write_bundle(path: str | os.PathLike, meta: Mapping, table: pd.DataFrame,
                 samples: Optional[pd.DataFrame] = None,
                 served: Optional[pd.DataFrame] = None) -> Bundle:
    """Write a bundle folder atomically and return it as loaded back.

    ``meta`` gets defaults for the optional keys (``created`` now, ``edgesim_version`` this
    version, empty ``fingerprint``/``sources``/``notes``/``command``). ``table`` must have the
    columns of :data:`COLUMNS` in order (extra trailing columns are kept). An existing bundle at
    ``path`` is replaced as a whole (so pass its ``samples`` and ``served`` again to keep them).
    """
    target = Path(path)
    meta = _complete_meta(meta)
    _check_meta(meta, target / META_FILE)
    header, rows = _table_text(table)
    _parse_rows(header, rows, target / LATENCY_FILE)              # same rules as the reader
    if samples is not None:
        samples = _check_samples(samples, target / SAMPLES_FILE)
    if served is not None:
        served = _check_served(served, target / SERVED_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        write_text_atomic(tmp / META_FILE, json.dumps(meta, indent=2, sort_keys=False) + "\n")
        write_text_atomic(tmp / LATENCY_FILE, _csv_text(header, rows))
        if samples is not None:
            write_parquet_atomic(samples.reset_index(drop=True), tmp / SAMPLES_FILE)
        if served is not None:
            write_parquet_atomic(served.reset_index(drop=True), tmp / SERVED_FILE)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_bundle(target)


def _umask() -> int:
    from edgesim.metrics.atomic import _current_umask
    return _current_umask()


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename the complete folder ``tmp`` onto ``target``.

    A new target appears in one rename. An existing one is first renamed aside (hidden) and
    removed after the new folder is in place, so readers see either the old complete bundle, the
    new complete bundle, or (for an instant) no bundle - never a mixture.
    """
    if not target.exists():
        os.rename(tmp, target)
        return
    if not target.is_dir():
        raise BundleError(f"{target}: exists and is not a folder")
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
