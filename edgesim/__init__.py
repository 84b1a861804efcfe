"""edgesim: a discrete-event simulator of edge-cloud deep-learning systems, on SimPy."""
from __future__ import annotations

import importlib
import importlib.util

from edgesim._version import __version__
from edgesim.errors import ScenarioError

__all__ = ["__version__", "load", "run", "simulation", "Result", "ScenarioError"]

# The API is imported on first use (PEP 562), so `import edgesim.cli.app` and `edgesim --help` do
# not pay for simpy, numpy, pandas and pydantic (docs/performance.md).
_LAZY = {"load": "api", "run": "api", "simulation": "api", "Result": "result"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    # `import edgesim; edgesim.units...` kept working while the API imported most subpackages.
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
