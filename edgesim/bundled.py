"""Where the bundled scenarios, traces and calibration bundles live: beside the package in a
source checkout (and editable installs), or under <prefix>/share/edgesim after a wheel install."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional


def data_dir(kind: str) -> Optional[Path]:
    here = Path(__file__).resolve().parent.parent / kind
    if here.is_dir():
        return here
    installed = Path(sys.prefix) / "share" / "edgesim" / kind
    return installed if installed.is_dir() else None


def _bundled_yaml(sweeps: bool) -> dict[str, tuple[Path, str]]:
    """Bundled YAML files (name -> (file, description)): scenarios, or sweep files (`base:`)."""
    import yaml
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
            data, desc = None, "(unreadable)"
        # A sweep file names its scenario in `base:` and has no nodes of its own.
        is_sweep = isinstance(data, dict) and "base" in data and "nodes" not in data
        if is_sweep == sweeps:
            out[path.relative_to(root).with_suffix("").as_posix()] = (path, desc)
    return out


def scenarios() -> dict[str, tuple[Path, str]]:
    """Bundled scenario name (path relative to scenarios/, no suffix) -> (file, description)."""
    return _bundled_yaml(sweeps=False)


def sweeps() -> dict[str, tuple[Path, str]]:
    """Bundled sweep files (`edgesim sweep`), named like scenarios."""
    return _bundled_yaml(sweeps=True)


def find_scenario(ref: str) -> Path:
    """A path as given if it exists, else a bundled scenario of that name (or a bundled sweep
    of that name, which the loader then names as a sweep file)."""
    found = _find(ref, scenarios)
    return found if found.exists() else _find(ref, sweeps)


def find_sweep(ref: str) -> Path:
    """A path as given if it exists, else a bundled sweep file of that name."""
    return _find(ref, sweeps)


def _find(ref: str, bundled) -> Path:
    p = Path(ref)
    if p.exists():
        return p
    hit = bundled().get(ref.removesuffix(".yaml"))
    return hit[0] if hit else p
