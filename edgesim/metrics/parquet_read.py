"""Reading a Parquet file a user handed us: a damaged one is a one-line error, not a traceback.

pyarrow raises ArrowInvalid, OSError or ArrowTypeError depending on where a file is cut; every
reader of user-supplied tables goes through here so the message names the file and the reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from edgesim.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["read_parquet", "check_parquet"]


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def check_parquet(path: Path, error: type[Exception] = UserError) -> None:
    """Raise ``error`` unless ``path`` has a readable Parquet footer (cheap: no data is read)."""
    import pyarrow.parquet as pq
    try:
        pq.read_metadata(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow's types vary with the damage
        raise error(f"{path}: not a readable Parquet file ({_reason(exc)})") from None


def read_parquet(path: Path, columns: Optional[Sequence[str]] = None,
                 error: type[Exception] = UserError) -> "pd.DataFrame":
    """The table at ``path``; ``error`` (UserError by default) for a missing or damaged file."""
    import pandas as pd
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        return pd.read_parquet(path, columns=list(columns) if columns else None, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001
        raise error(f"{path}: not a readable Parquet file ({_reason(exc)})") from None
