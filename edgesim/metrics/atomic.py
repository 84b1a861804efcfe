"""Atomic file writes: an interrupted run never leaves a half-written output file.

Every writer goes through :func:`atomic_path`, which hands out a hidden temporary file in the
target's directory (so the final ``os.replace`` is a same-filesystem rename, atomic on POSIX and
Windows).  The temporary name keeps the target's suffix, so writers that infer the format from
the suffix (matplotlib's ``savefig``, pandas' ``to_parquet``) keep working.  On a clean exit the
temporary file is fsynced and renamed over the target; on an exception it is removed, the target
(if it existed) is left untouched, and the exception propagates.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["atomic_path", "write_text_atomic", "write_bytes_atomic", "write_parquet_atomic"]


def _current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # fallback: read by setting and restoring
    os.umask(mask)
    return mask


def _set_mode(tmp: Path, target: Path) -> None:
    """Give the temporary file the mode the target would get from a plain ``open(path, "w")``.

    ``mkstemp`` creates files 0600; without this every atomically written file would end up
    private.  An existing target keeps its permission bits.
    """
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_current_umask()
    try:
        os.chmod(tmp, mode)
    except OSError:  # pragma: no cover - e.g. filesystems without permission bits
        pass


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; best effort (not supported on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    The temporary file is created (empty) before it is yielded, named
    ``.<name>.<random>.tmp<suffix>`` (e.g. ``.plot.png.k3j2x.tmp.png``): hidden, recognisably
    temporary, and ending in the target's suffix so format inference by suffix works.
    If the body raises, or removes the file, the target is not modified.
    """
    target = Path(path)
    directory = target.parent
    suffix = "".join(target.suffixes[-1:])  # ".png", ".parquet", "" ...
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _set_mode(tmp, target)
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic_path: body removed the temporary file {tmp}")
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def write_parquet_atomic(df: "pd.DataFrame", path: str | os.PathLike,
                         provenance: dict | None = None) -> None:
    """Write ``df`` to a Parquet file at ``path`` atomically (pyarrow engine, no index).

    ``provenance`` (scenario, seed, policy or system, edgesim version) goes into the file's
    schema metadata under ``edgesim``, so a table copied out of its run folder still says where
    it came from: ``pyarrow.parquet.read_schema(path).metadata[b"edgesim"]``."""
    with atomic_path(path) as tmp:
        if not provenance:
            df.to_parquet(tmp, engine="pyarrow", index=False)
            return
        import json

        import pyarrow as pa
        import pyarrow.parquet as pq
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"edgesim"] = json.dumps(provenance, sort_keys=True, default=str).encode()
        pq.write_table(table.replace_schema_metadata(meta), tmp)
