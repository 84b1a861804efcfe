"""Where a data set's files are: a path as the scenario writes it, made absolute.

One rule for the shared real data beside the project, so that a bundled scenario does not
depend on how deep it sits: a path that starts with ``shared:`` is relative to the *shared
folder*, which is ``$EDGESIM_SHARED`` when that is set and otherwise ``../shared`` beside the
project's root (the folder holding ``edgesim/``). So ``shared:data/learning/femnist`` is
``<project>/../shared/data/learning/femnist``. Every other relative path is relative to the
scenario file's folder. A file absent from the shared folder is looked up in the cache that
``edgesim data fetch`` fills (:mod:`edgesim.shared_data`). Runs never download: a missing file is
an error that names the path looked at and where the set is published.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from edgesim.scenario.learning_schema import SHARED_PREFIX
from edgesim.shared_data import SHARED_ENV, locate, shared_root

__all__ = ["SHARED_ENV", "shared_root", "where_shared", "resolve", "missing"]


def where_shared() -> str:
    """How the shared folder was found, in words (for error messages)."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return f"${SHARED_ENV}, {env}"
    return f"../shared beside the project, {shared_root()}, as ${SHARED_ENV} is not set"


def resolve(text: str, relative: Callable[[str], Path]) -> Path:
    """The path ``text`` names: ``shared:REST`` under :func:`shared_root`, anything else
    through ``relative`` (the scenario's own rule: relative to the scenario file)."""
    if text.startswith(SHARED_PREFIX):
        return locate(text[len(SHARED_PREFIX):].lstrip("/"))
    return relative(text)


def missing(path: Path, what: str, published: str) -> str:
    """The one-line message for a data set whose file or folder is absent."""
    return (f"{what} not found at {path}; runs never download data sets: get it from "
            f"{published} (or `edgesim data list` for what `edgesim data fetch` can download)")
