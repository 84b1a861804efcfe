"""Markdown for one model: the field table and the type, default and unit descriptions in it."""
from __future__ import annotations

import inspect
import typing
from typing import Any, Callable, Iterable, Optional

import annotated_types as at
from pydantic import BaseModel, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from edgesim import units
from edgesim.scenario import types as T
from edgesim.docgen.notes import KEY_NAMES, NOTES, NOUNS, UNION_TITLES
from edgesim.docgen.walk import _NONE, _is_model, _strip, _union_anchor, _union_models, _variant_tag, anchor

__all__ = ["UNIT_TYPES", "SI_UNIT", "describe_type", "describe_default", "describe_units",
           "field_table"]

# --------------------------------------------------------------------------- units

#: Unit-typed fields are recognised by the WithJsonSchema marker of their pydantic type.
UNIT_TYPES: dict[str, Any] = {
    "duration": T.Duration, "bandwidth": T.Bandwidth, "size": T.Size, "rate": T.Rate,
    "fraction": T.Fraction,
}
#: What a bare number means for each kind (the SI unit edgesim uses inside).
SI_UNIT = {"duration": "seconds", "bandwidth": "bit/s", "size": "bytes",
           "rate": "events per second", "fraction": "a fraction in [0, 1]"}
_FORMAT: dict[str, Callable[[float], str]] = {
    "duration": lambda v: units.format_duration(v, 6),
    "bandwidth": lambda v: units.format_bandwidth(v, 6),
    "size": lambda v: units.format_size(v, 6),
}


def _json_marker(tp: Any) -> dict:
    return next(m.json_schema for m in typing.get_args(tp)[1:] if isinstance(m, WithJsonSchema))


_MARKERS = {kind: _json_marker(tp) for kind, tp in UNIT_TYPES.items()}


def _unit_kind(metadata: Iterable[Any]) -> Optional[str]:
    for m in metadata:
        if isinstance(m, WithJsonSchema):
            for kind, marker in _MARKERS.items():
                if m.json_schema == marker:
                    return kind
    return None


# --------------------------------------------------------------------------- fields

def _constraints(metadata: Iterable[Any]) -> list[str]:
    def num(v: Any) -> str:
        if isinstance(v, int) and v >= 2**32 and (v & (v - 1)) == 0:
            return f"2^{v.bit_length() - 1}"
        return f"{v:g}" if isinstance(v, float) else str(v)

    out = []
    for m in metadata:
        if isinstance(m, at.Gt):
            out.append(f"> {num(m.gt)}")
        elif isinstance(m, at.Ge):
            out.append(f"≥ {num(m.ge)}")
        elif isinstance(m, at.Lt):
            out.append(f"< {num(m.lt)}")
        elif isinstance(m, at.Le):
            out.append(f"≤ {num(m.le)}")
        elif isinstance(m, at.MinLen):
            out.append(f"at least {m.min_length} {'entry' if m.min_length == 1 else 'entries'}")
        elif isinstance(m, at.MaxLen):
            out.append(f"at most {m.max_length} entries")
    return out


def describe_type(tp: Any, metadata: Iterable[Any] = (), kinds: Optional[list] = None) -> str:
    """A short human description of a field's type, collecting unit kinds into ``kinds``."""
    if kinds is None:
        kinds = []
    inner, meta = _strip(tp)
    meta = list(metadata) + meta
    kind = _unit_kind(meta)
    if kind is not None:
        if kind not in kinds:
            kinds.append(kind)
        return kind
    tp = inner
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = typing.get_args(tp)
        members = _union_models(tp)
        if members is not None:
            key = _variant_tag(members[0])[0]
            return f"[{UNION_TITLES.get(key, key).lower()}](#{_union_anchor(key)})"
        parts = [describe_type(a, (), kinds) for a in args if a is not _NONE]
        text = " or ".join(parts)
        return text + " or null" if _NONE in args else text
    if origin is typing.Literal:
        values = typing.get_args(tp)
        if len(values) == 1:
            return f"`{values[0]}`"
        return "one of " + ", ".join(f"`{v}`" for v in values)
    if origin is list:
        return "list of " + describe_type(typing.get_args(tp)[0], (), kinds)
    if origin is tuple:
        args = typing.get_args(tp)
        return f"list of {len(args)}: [" + ", ".join(describe_type(a, (), kinds) for a in args) + "]"
    if origin is dict:
        return "mapping of name to " + describe_type(typing.get_args(tp)[1], (), kinds)
    if _is_model(tp):
        return f"[{NOUNS.get(tp.__name__, tp.__name__)}](#{anchor(tp)})"
    if tp is typing.Any:
        return "any"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _yaml_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, dict):
        return "{}" if not v else repr(v)
    if isinstance(v, (list, tuple)):
        return "[]" if not v else repr(list(v))
    return str(v)


def describe_default(field: FieldInfo, kind: Optional[str]) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(all defaults)"
    else:
        value = field.default
    if value is PydanticUndefined:  # pragma: no cover
        return ""
    if kind in _FORMAT and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"`{_FORMAT[kind](value)}`"
    return f"`{_yaml_value(value)}`"


def describe_units(kinds: list[str]) -> str:
    if not kinds:
        return ""
    return "; ".join(f"{', '.join(units.VALID_UNITS[k])} (bare number: {SI_UNIT[k]})"
                     for k in kinds)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def field_table(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The markdown table of a model's fields."""
    rows = ["| key | type | default | description | units accepted |",
            "|---|---|---|---|---|"]
    for name, f in model.model_fields.items():
        kinds: list[str] = []
        typ = describe_type(f.annotation, f.metadata, kinds)
        for placeholder in KEY_NAMES.get((model.__name__, name), ()):
            typ = typ.replace("mapping of name to", f"mapping of `{placeholder}` to", 1)
        cons = _constraints(f.metadata)
        if cons:
            typ += ", " + ", ".join(cons)
        default = describe_default(f, kinds[0] if len(kinds) == 1 else None)
        parts = []
        if f.description:
            parts.append(f.description)
        note = NOTES.get((model.__name__, name))
        if note:
            parts.append(note)
        tag = _variant_tag(model)
        if tag is not None and name == tag[0]:
            parts.append(f"selects this variant: `{tag[0]}: {tag[1]}`")
        desc = "; ".join(parts)
        key = f.alias or name
        rows.append(f"| `{prefix}{key}` | {_cell(typ)} | {_cell(default)} | {_cell(desc)} | "
                    f"{_cell(describe_units(kinds))} |")
    return rows


def _doc(obj: Any) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return " ".join(inspect.cleandoc(doc).split()) if doc else ""
