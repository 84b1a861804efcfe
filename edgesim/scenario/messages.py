"""Turn pydantic validation errors into Problems that speak the scenario file's language."""
from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from edgesim.errors import Problem

_DISCRIMINATORS = ("process", "dist")


def _unwrap(tp: Any) -> Any:
    """Strip Annotated/Optional layers down to the type that matters for navigation."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin is typing.Union:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _union_member(tp: Any, tag: Any) -> Any:
    for member in typing.get_args(tp):
        member = _unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            for key in _DISCRIMINATORS:
                field = member.model_fields.get(key)
                if field is not None and tag in typing.get_args(field.annotation):
                    return member
    return None


def _field(model: type[BaseModel], key: Any) -> Any:
    """The field of ``model`` named ``key`` in a scenario file (its alias, if it has one)."""
    if not isinstance(key, str):
        return None
    for name, field in model.model_fields.items():
        if key == (field.alias or name) or key == name:
            return field
    return None


def model_at(root: type[BaseModel], loc: tuple) -> Any:
    """The model class (or type) that validates the value found at ``loc``."""
    tp: Any = root
    for elem in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = _field(tp, elem)
            if field is None:
                return None
            tp = field.annotation
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif origin is typing.Union:
            tp = _union_member(tp, elem)
            if tp is None:
                return None
        else:
            return None
    return _unwrap(tp)


def clean_loc(loc: tuple, data: Any) -> tuple:
    """Drop the union tags pydantic inserts into locations (…, 'arrivals', 'poisson', 'rate')."""
    out: list = []
    cur = data
    for elem in loc:
        if isinstance(cur, dict):
            if elem in cur:
                out.append(elem)
                cur = cur[elem]
                continue
            if any(cur.get(k) == elem for k in _DISCRIMINATORS):
                continue
            if isinstance(elem, str) and elem.startswith(("function-", "tagged-union")):
                continue
            out.append(elem)
            cur = None
        elif isinstance(cur, list) and isinstance(elem, int) and 0 <= elem < len(cur):
            out.append(elem)
            cur = cur[elem]
        else:
            if isinstance(elem, str) and (elem.startswith("function-") or elem in ("str", "list[str]")):
                continue
            out.append(elem)
            cur = None
    return tuple(out)


def _tags(tp: Any, key: str) -> list[str]:
    """The values a union's discriminator ``key`` may take, in declaration order."""
    out: list[str] = []
    if typing.get_origin(tp) is typing.Union:
        for member in typing.get_args(tp):
            member = _unwrap(member)
            field = getattr(member, "model_fields", {}).get(key)
            if field is not None:
                out += [str(a) for a in typing.get_args(field.annotation)]
    return out


_OPS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _message(err: dict, root: type[BaseModel], loc: tuple) -> tuple[str, list[str]]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        # Navigate pydantic's own location: it still holds the union tags ('onoff') that
        # pick the model whose keys are valid here.
        raw = tuple(e for e in err["loc"][:-1] if not (isinstance(e, str) and e.startswith(
            ("function-", "tagged-union"))))
        parent = model_at(root, raw)
        if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
            parent = model_at(root, loc[:-1])
        valid = [f.alias or n for n, f in parent.model_fields.items()] if isinstance(
            parent, type) and issubclass(parent, BaseModel) else []
        return f"unknown key {loc[-1]!r}", valid
    if kind == "missing":
        return "required key is missing", []
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        key = ctx.get("discriminator", "").strip("'")
        if kind == "union_tag_not_found":
            return f"needs a {key!r} key", tags or _tags(model_at(root, loc), key)
        return f"unknown {key} {ctx.get('tag')!r}", tags
    if kind in ("literal_error", "enum"):
        return "not a valid choice", re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
    if kind in _OPS:
        bound = next(iter(ctx.values()), "?")
        return f"must be {_OPS[kind]} {bound}", []
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])), []
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number", []
    if kind in ("float_parsing", "float_type"):
        return "must be a number", []
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping of keys to values", []
    if kind == "list_type":
        return "must be a list", []
    if kind in ("string_type",):
        return "must be a string", []
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length" if kind == "too_short" else "max_length")
        if bound is not None and "actual_length" in ctx:
            one, many = ("entry", "entries") if ctx.get("field_type") == "Dictionary" \
                else ("item", "items")
            return (f"must have at {'least' if kind == 'too_short' else 'most'} {bound} "
                    f"{one if bound == 1 else many}, not {ctx['actual_length']}"), []
        return err["msg"].replace("Value", "value").replace("List", "list").replace(
            "Dictionary", "mapping").replace(" after validation", ""), []
    if kind.startswith("bool"):
        return "must be true or false", []
    return err["msg"][0].lower() + err["msg"][1:], []


def _value_at(data: Any, loc: tuple) -> tuple[bool, Any]:
    cur = data
    for elem in loc:
        if isinstance(cur, dict) and elem in cur:
            cur = cur[elem]
        elif isinstance(cur, list) and isinstance(elem, int) and 0 <= elem < len(cur):
            cur = cur[elem]
        else:
            return False, None
    return True, cur


def problems_from(exc: ValidationError, root: type[BaseModel], data: Any) -> list[Problem]:
    out: list[Problem] = []
    seen: set = set()
    for err in exc.errors(include_url=False):
        loc = clean_loc(tuple(err["loc"]), data)
        if err["type"] == "union_tag_invalid":
            # Point at the tag itself ('process: poison'), so the value shown is the tag and
            # "did you mean" can compare it with the valid tags.
            tag_key = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
            if _value_at(data, loc + (tag_key,))[0]:
                loc = loc + (tag_key,)
        message, valid = _message(err, root, loc)
        has, value = _value_at(data, loc)
        if isinstance(value, dict) and err["type"] in ("value_error", "union_tag_not_found"):
            has = False  # a whole mapping is noise; the message names the keys involved
        if err["type"] == "extra_forbidden":
            value, has = loc[-1], True
        key = (loc, message)
        if key in seen:
            continue
        seen.add(key)
        out.append(Problem(".".join(map(str, loc)), message, value=value, valid=valid,
                           has_value=has and err["type"] != "missing"))
    return out
