"""Where the bundled scenarios, traces and calibration bundles live: beside the package in a
source checkout (and editable installs), or under <prefix>/share/edgesim after a wheel install."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import yaml


def data_dir(kind: str) -> Optional[Path]:
    here = Path(__file__).resolve().parent.parent / kind
    if here.is_dir():
        return here
    installed = Path(sys.prefix) / "share" / "edgesim" / kind
    return installed if installed.is_dir() else None


def scenarios() -> dict[str, tuple[Path, str]]:
    """Bundled scenario name (path relative to scenarios/, no suffix) -> (file, description)."""
    root = data_dir("scenarios")
    out: dict[str, tuple[Path, str]] = {}
    if root is None:
        return out
    for path in sorted(root.rglob("*.yaml")):
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
            desc = str(data.get("description", "")).strip().splitlines()[0] if isinstance(
                data, dict) and data.get("description") else ""
        except (yaml.YAMLError, OSError, IndexError):
            desc = "(unreadable)"
        if is_sweep_file(data if desc != "(unreadable)" else None):
            continue
        out[path.relative_to(root).with_suffix("").as_posix()] = (path, desc)
    return out


def is_sweep_file(data) -> bool:
    """A sweep file (``base`` + ``grid``) lives beside the scenarios it varies; it is not one."""
    return isinstance(data, dict) and "base" in data and "grid" in data


def find_scenario(ref: str) -> Path:
    """A path as given if it exists, else a bundled scenario of that name."""
    p = Path(ref)
    if p.exists():
        return p
    hit = scenarios().get(ref.removesuffix(".yaml"))
    return hit[0] if hit else p
