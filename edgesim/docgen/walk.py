"""Walking the scenario schema: which models are reachable, where they occur, how types nest."""
from __future__ import annotations

import typing
from typing import Any, Optional

from pydantic import BaseModel

from edgesim.scenario import schema as S
from edgesim.docgen.notes import KEY_NAMES, MODEL_NOTES, NOTES, NOUNS, TITLES

__all__ = ["stale_notes", "anchor"]

_NONE = type(None)
_DISCRIMINATORS = ("process", "dist")


def _schema_models() -> dict[str, type[BaseModel]]:
    """Every model reachable from Scenario, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def walk(model: type[BaseModel]) -> None:
        if model.__name__ in found:
            return
        found[model.__name__] = model
        for _name, child, _levels, _is_list in _children(model):
            for m in (child if isinstance(child, list) else [child]):
                walk(m)

    walk(S.Scenario)
    return found


def stale_notes() -> list[str]:
    """Entries of NOTES, KEY_NAMES, MODEL_NOTES, TITLES and NOUNS that name nothing any more."""
    models = _schema_models()
    out = []
    for model, name in list(NOTES) + list(KEY_NAMES):
        if model not in models or name not in models[model].model_fields:
            out.append(f"{model}.{name}")
    for table in (MODEL_NOTES, TITLES, NOUNS):
        out += [m for m in table if m not in models]
    return sorted(set(out))


# --------------------------------------------------------------------------- types

def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> tuple[Any, list]:
    """Annotated[...] -> (inner type, metadata)."""
    meta: list = []
    while typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        tp, meta = args[0], meta + list(args[1:])
    return tp, meta


def _variant_tag(model: type[BaseModel]) -> Optional[tuple[str, str]]:
    for key in _DISCRIMINATORS:
        f = model.model_fields.get(key)
        if f is not None and typing.get_origin(f.annotation) is typing.Literal:
            values = typing.get_args(f.annotation)
            if len(values) == 1:
                return key, str(values[0])
    return None


def _union_models(tp: Any) -> Optional[list[type[BaseModel]]]:
    """The members of a discriminated union of models, else None."""
    tp, _ = _strip(tp)
    if typing.get_origin(tp) is not typing.Union:
        return None
    members = [_strip(a)[0] for a in typing.get_args(tp)]
    if members and all(_is_model(m) and _variant_tag(m) for m in members):
        return members
    return None


def anchor(model: type[BaseModel]) -> str:
    tag = _variant_tag(model)
    return f"{tag[0]}-{tag[1]}" if tag else model.__name__.lower()


def _union_anchor(key: str) -> str:
    return f"{key}-variants"


# --------------------------------------------------------------------------- schema walk

def _children(model: type[BaseModel]):
    """(field name, child model or union members, dict levels, is list) for nested models."""
    for name, f in model.model_fields.items():
        tp, _ = _strip(f.annotation)
        levels = 0
        is_list = False
        while True:
            origin = typing.get_origin(tp)
            if origin is dict:
                levels += 1
                tp, _ = _strip(typing.get_args(tp)[1])
            elif origin is list:
                is_list = True
                tp, _ = _strip(typing.get_args(tp)[0])
            elif origin is typing.Union and _union_models(tp) is None:
                non_none = [a for a in typing.get_args(tp) if a is not _NONE]
                # A model beside plain values (`ring | mesh | {edges: ...}`) is documented.
                models = [a for a in non_none if _is_model(_strip(a)[0])]
                if len(non_none) != 1 and len(models) != 1:
                    break
                tp, _ = _strip(non_none[0] if len(non_none) == 1 else models[0])
            else:
                break
        members = _union_models(tp)
        if members is not None:
            yield name, members, levels, is_list
        elif _is_model(tp):
            yield name, tp, levels, is_list


def _sub_path(model: type[BaseModel], path: str, name: str, levels: int, is_list: bool) -> str:
    keys = KEY_NAMES.get((model.__name__, name), ("<name>",) * levels)
    key = model.model_fields[name].alias or name
    return ".".join(p for p in [path, key, *keys] if p) + ("[i]" if is_list else "")


def _all_paths() -> dict[type[BaseModel], list[str]]:
    """Every path at which each model occurs in a scenario file, in schema order."""
    paths: dict[type[BaseModel], list[str]] = {}

    def walk(model: type[BaseModel], path: str, stack: tuple) -> None:
        if model in stack:
            return
        paths.setdefault(model, [])
        if path not in paths[model]:
            paths[model].append(path)
        for name, child, levels, is_list in _children(model):
            sub = _sub_path(model, path, name, levels, is_list)
            for m in (child if isinstance(child, list) else [child]):
                walk(m, sub, stack + (model,))

    walk(S.Scenario, "", ())
    return paths
