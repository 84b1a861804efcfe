"""`extends: base.yaml`: a scenario that starts from another and changes a few keys.

Mappings merge key by key (recursively); any other value, lists included, replaces the base's.
File references in the base are made absolute first, so they keep pointing where the base
meant, and every inherited key remembers the base file and line for error messages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesim.errors import Problem, ScenarioError
from edgesim.scenario.learning_schema import SHARED_PREFIX
from edgesim.scenario.yamlpos import load_yaml

# 'path': a learning data set's files (learning.dataset.path).
_FILE_KEYS = ("file", "path")


def _absolute(data: Any, base_dir: Path, key: str | None = None, where: tuple = ()) -> Any:
    if isinstance(data, dict):
        return {k: _absolute(v, base_dir, k, where + (k,)) for k, v in data.items()}
    if isinstance(data, list):
        if key == "bundles":
            return [_absolute(v, base_dir, "bundle", where) for v in data]
        return [_absolute(v, base_dir, key, where) for v in data]
    if isinstance(data, str):
        in_failures = where[:1] == ("failures",)
        if data.startswith(SHARED_PREFIX):
            return data
        if key in _FILE_KEYS or (in_failures and key == "trace") or key == "bundle":
            p = Path(data).expanduser()
            if not p.is_absolute() and (key != "bundle" or (base_dir / p).exists()):
                return str((base_dir / p).resolve())
    return data


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else v
        return out
    return over


def resolve_extends(data: dict, lines: dict, file: Path, chain: tuple = ()
                    ) -> tuple[dict, dict, dict]:
    """(merged data, lines of this file's keys, origins {path: (file, line)} of inherited keys)."""
    ref = data.get("extends")
    if ref is None:
        return data, lines, {}
    if not isinstance(ref, str):
        raise ScenarioError([Problem("extends", "must be the path of another scenario file",
                                     value=ref, has_value=True, file=str(file),
                                     line=lines.get(("extends",)))])
    try:
        base_path = (file.parent / ref).resolve()
        found = base_path.is_file()
    except (OSError, ValueError) as exc:    # a name too long, a NUL byte
        why = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError([Problem("extends", f"not a usable file name ({why})", value=ref[:80],
                                     has_value=True, file=str(file),
                                     line=lines.get(("extends",)))]) from None
    if base_path in chain or base_path == file.resolve():
        raise ScenarioError([Problem("extends", "scenarios extend each other in a circle: " +
                                     " -> ".join(str(p) for p in chain + (base_path,)),
                                     file=str(file), line=lines.get(("extends",)))])
    if not found:
        raise ScenarioError([Problem("extends", f"no scenario file at {base_path}", value=ref,
                                     has_value=True, file=str(file),
                                     line=lines.get(("extends",)))])
    base_data, base_lines = load_yaml(base_path)
    if not isinstance(base_data, dict):
        raise ScenarioError([Problem("", "the extended file is not a mapping",
                                     file=str(base_path), line=1)])
    base_data, base_lines, base_origins = resolve_extends(
        base_data, base_lines, base_path, chain + (file.resolve(),))
    base_data = _absolute(base_data, base_path.parent)
    own = {k: v for k, v in data.items() if k != "extends"}
    merged = _merge(base_data, own)
    origins = dict(base_origins)
    for path, line in base_lines.items():
        if path not in lines:
            origins.setdefault(path, (str(base_path), line))
    return merged, lines, origins
