"""Policies by name: the core's baselines, those of every serving system in
:mod:`edgesim.registry` (Distream's), and third-party plug-ins from the entry-point group
``edgesim.policies`` (each entry point names a Policy subclass)."""
from __future__ import annotations

from importlib import metadata
from typing import Optional

from edgesim.policies.base import Policy

ENTRY_POINT_GROUP = "edgesim.policies"
_REGISTRY: dict[str, type[Policy]] = {}
_plugins_loaded = False
#: The core's own policies; each serving system adds the modules it lists in the registry.
BUILTIN_MODULES = ["edgesim.policies.baselines"]


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make a policy available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls:
        raise ValueError(f"policy name {cls.name!r} is taken by {other.__module__}.{other.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    import importlib

    from edgesim.registry import serving_systems
    modules = BUILTIN_MODULES + [m for s in serving_systems().values() for m in s.policies]
    for module in modules:
        # Register explicitly rather than rely on import side effects, so a cleared registry
        # (tests, reloads) fills again.
        mod = importlib.import_module(module)
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, Policy) and obj.name and \
                    obj.__module__.startswith(mod.__name__):
                register(obj)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Policy)):
            raise TypeError(f"entry point {ep.name!r} in {ENTRY_POINT_GROUP} is not a Policy subclass")
        if not cls.name:
            cls.name = ep.name
        register(cls)


def available() -> dict[str, type[Policy]]:
    _load_plugins()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Optional[type[Policy]]:
    return available().get(name)
