"""Pydantic field types that accept unit strings ("20ms", "10Mbps") and hold SI floats."""
from __future__ import annotations

from typing import Annotated, Any, Callable

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from edgesim import units


def _wrap(parse: Callable[[Any], float], what: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        # A UnitError is a ValueError, which pydantic reports with its message at the key path.
        try:
            return parse(value)
        except ValueError:
            raise
        except Exception as exc:  # a parser bug must still reach the user as a located problem
            raise ValueError(f"{value!r} could not be read as {what}") from exc
    return check


def _unit_type(parse: Callable[[Any], float], example: str, what: str) -> Any:
    return Annotated[
        float,
        BeforeValidator(_wrap(parse, what)),
        PlainSerializer(lambda v: v, return_type=float),
        WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}],
                        "description": f"{what}, e.g. {example!r} (a bare number is SI)"}),
    ]


Duration = _unit_type(units.parse_duration, "20ms", "a duration in seconds")
Bandwidth = _unit_type(units.parse_bandwidth, "10Mbps", "a bandwidth in bit/s")
Size = _unit_type(units.parse_size, "8MB", "a size in bytes")
Rate = _unit_type(units.parse_rate, "30fps", "a rate in events per second")
Fraction = _unit_type(units.parse_fraction, "25%", "a fraction between 0 and 1")
