"""The base of every scenario model: unknown keys rejected, defaults validated too, numbers sane.

Pydantic's lax mode reads ``true`` as 1 and accepts ``.inf``, ``.nan`` and integers of any size;
each of those once reached the simulation and came back as a NaN latency or a traceback deep in
the engine (``max_batch: true`` ran as a batch of 1). Here a number field refuses them where the
scenario is read, so the message carries the key path and the line.
"""
from __future__ import annotations

import functools
import types
import typing
from typing import Any, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    ValidationError,
    WrapValidator,
    model_validator,
)

__all__ = ["LARGEST_INT", "SaneNumbers", "Strict"]

#: Integers above this are refused: past 2**53 a float (every time and count in the engine
#: ends up as one) no longer counts exactly, and past 2**63 numpy and torch overflow.
LARGEST_INT = 2 ** 53


def _admits_bool(annotation: Any) -> bool:
    """Whether a boolean is a valid value here, or a type with its own parser will judge it."""
    if annotation is bool or annotation is Any or annotation is object:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        # The unit types (scenario/types.py) parse booleans themselves, with a unit hint.
        own = any(isinstance(m, (BeforeValidator, PlainValidator, WrapValidator))
                  for m in typing.get_args(annotation)[1:])
        return own or _admits_bool(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_admits_bool(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return any(isinstance(a, bool) for a in typing.get_args(annotation))
    return False


def _leaves(annotation: Any) -> list[Any]:
    """The types ``annotation`` admits, through Annotated, Optional and unions."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [leaf for a in typing.get_args(annotation) for leaf in _leaves(a)]
    return [annotation]


def _is_number(annotation: Any) -> bool:
    """Whether ``annotation`` takes an int or a float."""
    return any(leaf in (int, float) for leaf in _leaves(annotation))


def _is_int(annotation: Any) -> bool:
    """Whether pydantic will read a number here as an int (1e21 becomes an int of 22 digits)."""
    return int in _leaves(annotation)


def _elements(annotation: Any, value: Any) -> list[tuple[Any, Any, Any]]:
    """(key or index, element, its annotation) of a list or dict value, where the annotation says."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _elements(typing.get_args(annotation)[0], value)
    if origin is Union or origin is types.UnionType:
        out: list[tuple[Any, Any, Any]] = []
        for a in typing.get_args(annotation):
            out = out or _elements(a, value)
        return out
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and isinstance(value, (list, tuple)) and args:
        if origin is tuple and len(args) == len(value) and Ellipsis not in args:
            return [(i, v, a) for i, (v, a) in enumerate(zip(value, args))]
        return [(i, v, args[0]) for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return [(k, v, args[1]) for k, v in value.items()]
    return []


def _bad_number(value: Any, annotation: Any) -> tuple[tuple, str] | None:
    """Where in ``value`` (a path below it) a number is not one, and why; None when all are."""
    if isinstance(value, bool):
        # Only where a number is expected; elsewhere (a string, a pair of names) pydantic's
        # own message says what the field wants.
        if _admits_bool(annotation) or not _is_number(annotation):
            return None
        return (), ("a boolean where a number is expected (YAML reads yes/no/on/off/true/false "
                    "as booleans); write a number")
    huge = isinstance(value, int) or (isinstance(value, float) and _is_int(annotation))
    if huge and abs(value) > LARGEST_INT:
        return (), f"too large: integers up to 2**53 ({LARGEST_INT:,}) are accepted"
    for key, element, inner in _elements(annotation, value):
        bad = _bad_number(element, inner)
        if bad is not None:
            return (key, *bad[0]), bad[1]
    return None


@functools.lru_cache(maxsize=None)
def _annotations(cls: type[BaseModel]) -> tuple[tuple[tuple[str, ...], Any], ...]:
    """Per field of a model class: the keys it is read from, and its full annotation (pydantic
    moves a top-level Annotated's metadata onto the field; it is put back). Built once a class."""
    out = []
    for name, field in cls.model_fields.items():
        keys = (name,) if field.alias in (None, name) else (name, field.alias)
        annotation = (typing.Annotated[(field.annotation, *field.metadata)]
                      if field.metadata else field.annotation)
        out.append((keys, annotation))
    return tuple(out)


class SaneNumbers(BaseModel):
    """Refuses booleans where a number is expected, integers past 2**53, infinities and NaNs."""

    model_config = ConfigDict(allow_inf_nan=False)

    # A model validator, not a field validator on "*": pydantic refuses before-validators on
    # the discriminator fields of tagged unions (``dist:``), and this runs once per model.
    @model_validator(mode="before")
    @classmethod
    def _edgesim_sane_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for keys, annotation in _annotations(cls):
            key = next((k for k in keys if k in data), None)
            if key is None:
                continue
            bad = _bad_number(data[key], annotation)
            if bad is not None:
                # A ValidationError keeps the key path (a ValueError would be located at the
                # model), with a built-in type: pydantic re-creates the errors of one raised in
                # a validator from their type names, and a custom type is unknown there.
                raise ValidationError.from_exception_data(cls.__name__, [{
                    "type": "value_error", "loc": (key, *bad[0]), "input": data[key],
                    "ctx": {"error": ValueError(bad[1])}}])
        return data


class Strict(SaneNumbers):
    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True,
                              allow_inf_nan=False)
