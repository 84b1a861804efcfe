"""Parsing and formatting of quantities written with units.

This is the only place in edgesim where unit strings are read.  Past a ``parse_*`` call every
quantity is a plain SI float: seconds, bits per second, bytes, events per second.

Ambiguous spellings (``10M``, ``10Mb``, ``10 m``, ``10mbps``) are rejected with a hint instead of
guessed: a factor-of-8 or factor-of-1000 slip in a scenario file gives results that look plausible
and are wrong.  Numbers are converted exactly (``Fraction``) and rounded once, so ``"1.1 kB"`` is
exactly ``1100.0`` and ``"20ms"`` is the float nearest 0.02, the same as the literal ``0.02``.
"""
from __future__ import annotations

import difflib
import math
import numbers
import re
from fractions import Fraction
from typing import Any

__all__ = [
    "UnitError", "VALID_UNITS", "parse_duration", "parse_bandwidth", "parse_size", "parse_rate",
    "parse_fraction", "parse_quantity", "format_duration", "format_bandwidth", "format_size",
]

#: The units named in error messages, per kind.  More spellings are accepted (see ``_UNITS``);
#: these are the ones to recommend.
VALID_UNITS: dict[str, list[str]] = {
    "duration": ["ns", "us", "µs", "ms", "s", "min", "h", "d"],
    "bandwidth": ["bps", "kbps", "Mbps", "Gbps", "bit/s", "kbit/s", "Mbit/s", "Gbit/s",
                  "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s", "GiB/s"],
    "size": ["B", "kB", "MB", "GB", "KiB", "MiB", "GiB", "bit", "kbit", "Mbit", "Gbit"],
    "rate": ["/s", "/ms", "/min", "/h", "fps", "Hz", "kHz"],
    "fraction": ["%"],
}

# "K" is accepted as kilo (20KB = 20 kB) because it is common in the wild; it is never 1024.
_DEC = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_PREFIX_NAMES = {"k": "kilo", "M": "mega", "G": "giga", "T": "tera"}

_DURATION: dict[str, Fraction] = {u: Fraction(f) for f, spellings in [
    (1, ("s", "sec", "secs", "second", "seconds")),
    (Fraction(1, 10**3), ("ms", "msec", "msecs", "millisecond", "milliseconds")),
    # U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU look identical; keyboards produce either.
    (Fraction(1, 10**6), ("us", "\u00b5s", "\u03bcs", "usec", "usecs", "microsecond", "microseconds")),
    (Fraction(1, 10**9), ("ns", "nsec", "nsecs", "nanosecond", "nanoseconds")),
    (60, ("min", "mins", "minute", "minutes")),
    (3600, ("h", "hr", "hrs", "hour", "hours")),
    (86400, ("d", "day", "days")),
] for u in spellings}

# Units that may follow "/" or "per" in a rate; plurals ("per seconds") would only add noise.
_PER = ("s", "sec", "second", "ms", "msec", "millisecond", "us", "\u00b5s", "\u03bcs", "ns",
        "min", "minute", "h", "hr", "hour", "d", "day")

_UNITS: dict[str, dict[str, Fraction]] = {
    "duration": _DURATION,
    "bandwidth": {
        **{p + s: Fraction(f) for p, f in _DEC.items() for s in ("bps", "bit/s", "bits/s")},
        **{p + "B/s": Fraction(8 * f) for p, f in (_DEC | _BIN).items()},
        "byte/s": Fraction(8), "bytes/s": Fraction(8),
    },
    "size": {
        **{p + "B": Fraction(f) for p, f in (_DEC | _BIN).items()},
        **{p + s: Fraction(f, 8) for p, f in _DEC.items() for s in ("bit", "bits")},
        "byte": Fraction(1), "bytes": Fraction(1), "Byte": Fraction(1), "Bytes": Fraction(1),
    },
    "rate": {
        **{sep + u: 1 / _DURATION[u] for u in _PER for sep in ("/", "per ")},
        "fps": Fraction(1), "Hz": Fraction(1), "kHz": Fraction(1000),
    },
    "fraction": {"%": Fraction(1, 100)},
}

# One pattern for every kind: a decimal number (scientific notation allowed), then optionally a unit
# starting with a letter, '/' or '%', looked up in the kind's table afterwards.  Requiring that first
# character makes "1,5 s" a malformed number rather than an unknown unit ",5 s".  inf/nan are
# matched only to be refused with a clear message.
_QUANTITY = re.compile(
    r"\s*(?P<num>[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE](?P<exp>[+-]?[0-9]+))?"
    r"|(?i:inf(?:inity)?|nan)\b))\s*(?P<unit>(?:[^\W\d_]|[/%]).*?)?\s*"
)


class UnitError(ValueError):
    """A quantity that could not be read: bad number, unknown or ambiguous unit, or out of range.

    A ``ValueError`` so that pydantic validators turn it into a ``ValidationError``.
    """

    def __init__(self, value: Any, kind: str, reason: str, valid: list[str] | None = None) -> None:
        self.value = value
        self.kind = kind
        self.reason = reason
        self.valid = list(VALID_UNITS.get(kind, []) if valid is None else valid)
        super().__init__(f"{value!r} is not a {kind}: {reason}; valid units: {', '.join(self.valid)}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling re-calls __init__ with the message only; worker processes need this.
        return (type(self), (self.value, self.kind, self.reason, self.valid))


def _unknown(kind: str, unit: str) -> str:
    """Why ``unit`` is not a ``kind`` unit, with the most specific hint available."""
    table = _UNITS[kind]
    if kind in ("size", "bandwidth"):
        per = "/s" if kind == "bandwidth" else ""
        core = unit[:-2] if per and unit.endswith("/s") else unit
        head = core[:-1] if core.endswith("b") else None  # the prefix before a lowercase 'b'
        p = {"": "", "k": "k", "K": "k", "m": "M", "M": "M", "g": "G", "G": "G", "t": "T", "T": "T"}
        if core == "":
            return f"unit '{unit}' says per second but not of what: write 'bit{per}' or 'B{per}'"
        if core in p or head in p:
            pre = p[core] if core in p else p[head]
            what = (f"{_PREFIX_NAMES[pre]} what?" if core in p
                    else "lowercase 'b' is bits to some and bytes to others;")
            return f"unit '{unit}' is ambiguous: {what} write '{pre}bit{per}' or '{pre}B{per}'"
        if head is not None and head.capitalize() in _BIN:
            return (f"unknown unit '{unit}': binary prefixes are for bytes only; "
                    f"write '{head.capitalize()}B{per}'")
        if per and unit.endswith("Bps"):
            pre = unit[:-3]
            return (f"unit '{unit}' is too easily confused with '{pre}bps': write '{pre}B/s' for bytes "
                    f"per second or '{pre}bps' for bits per second")
    if kind == "duration" and unit == "m":
        return "unit 'm' is ambiguous (minutes? metres?): write 'min' for minutes or 'ms' for milliseconds"
    for other, other_table in _UNITS.items():
        if other != kind and unit in other_table:
            fix = [f for f in (unit + "/s", "/" + unit) if f in table]
            hint = f" (did you mean '{fix[0]}'?)" if fix else ""
            return f"'{unit}' is a {other} unit, not a {kind} unit{hint}"
    swapped = unit[:1].swapcase() + unit[1:]
    if swapped in table:
        why = {"m": "'m' is the milli prefix", "M": "'M' is the mega prefix"}.get(unit[:1], "case matters")
        return f"unknown unit '{unit}': {why} (did you mean '{swapped}'?)"
    close = [u for u in table if u.lower() == unit.lower()] or difflib.get_close_matches(unit, table, n=1)
    return f"unknown unit '{unit}'" + (f" (did you mean '{close[0]}'?)" if close else "")


def _parse(kind: str, x: Any, upper: float = math.inf) -> float:
    if isinstance(x, bool):
        raise UnitError(x, kind, "got a boolean (YAML reads yes/no/on/off as booleans); "
                                 "write a number, optionally with a unit")
    if isinstance(x, str):
        m = _QUANTITY.fullmatch(x)
        if m is None:
            raise UnitError(x, kind, "expected a number optionally followed by a unit")
        # Spacing inside a unit carries no meaning: "per  s" is "per s", "MB / s" is "MB/s".
        unit = " ".join((m["unit"] or "").split()).replace(" /", "/").replace("/ ", "/")
        factor = Fraction(1) if unit == "" else _UNITS[kind].get(unit)
        if factor is None:
            raise UnitError(x, kind, _unknown(kind, unit))
        if not math.isfinite(float(m["num"])):
            raise UnitError(x, kind, "must be finite")
        try:
            if m["exp"] and abs(int(m["exp"])) > 999:  # Fraction("1e999999999") would take forever
                value = float(m["num"]) * float(factor)
            else:
                value = float(Fraction(m["num"]) * factor)
        except OverflowError:
            raise UnitError(x, kind, "too large to represent") from None
    elif isinstance(x, numbers.Real):
        try:
            value = float(x)
        except OverflowError:
            raise UnitError(x, kind, "too large to represent") from None
    else:
        raise UnitError(x, kind, f"expected a number or a string, got {type(x).__name__}")
    if not math.isfinite(value):
        raise UnitError(x, kind, "must be finite")
    if value < 0:
        raise UnitError(x, kind, "must be >= 0")
    if value > upper:
        raise UnitError(x, kind, "must be between 0 and 1 (0% to 100%)")
    return value + 0.0  # -0.0 -> 0.0


def parse_duration(x: str | float) -> float:
    """Seconds from ``x``: a number of seconds or a string such as ``"20ms"``, ``"1.5 h"``."""
    return _parse("duration", x)


def parse_bandwidth(x: str | float) -> float:
    """Bits per second from ``x``: a number (bits/s) or a string such as ``"10Mbps"``, ``"2 MiB/s"``."""
    return _parse("bandwidth", x)


def parse_size(x: str | float) -> float:
    """Bytes from ``x``: a number (bytes) or a string such as ``"8MB"``, ``"2.5GiB"``, ``"800 bit"``."""
    return _parse("size", x)


def parse_rate(x: str | float) -> float:
    """Events per second from ``x``: a number (per second) or a string such as ``"30fps"``, ``"600/min"``."""
    return _parse("rate", x)


def parse_fraction(x: str | float, allow_above_one: bool = False) -> float:
    """A fraction from ``x``: ``"25%"``, ``"0.25"`` or ``0.25``; in [0, 1] unless ``allow_above_one``."""
    return _parse("fraction", x, math.inf if allow_above_one else 1.0)


_PARSERS = {"duration": parse_duration, "bandwidth": parse_bandwidth, "size": parse_size,
            "rate": parse_rate, "fraction": parse_fraction}


def parse_quantity(kind: str, x: str | float) -> float:
    """``parse_<kind>(x)`` for ``kind`` in duration, bandwidth, size, rate, fraction."""
    try:
        parser = _PARSERS[kind]
    except KeyError:
        raise ValueError(f"unknown quantity kind {kind!r}; expected one of {', '.join(_PARSERS)}") from None
    return parser(x)


def _format(value: float, kind: str, units: tuple[str, ...], base: str, digits: int) -> str:
    value = float(value) + 0.0  # numpy scalars -> float, -0.0 -> 0.0
    if not math.isfinite(value) or value == 0:
        return f"{value:g} {base}"
    table = _UNITS[kind]
    # Choose the unit from the rounded value so that 0.99999999999999 s prints as "1 s", not "1000 ms".
    rounded = abs(float(f"{value:.{digits}g}"))
    unit = next((u for u in units if rounded >= table[u]), units[-1])
    return f"{float(Fraction(value) / table[unit]):.{digits}g} {unit}"


# digits=10 keeps format -> parse within 5e-10 relative; pass fewer for narrow tables.
def format_duration(seconds: float, digits: int = 10) -> str:
    """Human-readable duration, e.g. ``0.02`` -> ``"20 ms"``."""
    return _format(seconds, "duration", ("h", "min", "s", "ms", "\u00b5s", "ns"), "s", digits)


def format_bandwidth(bps: float, digits: int = 10) -> str:
    """Human-readable bandwidth in decimal bit rates, e.g. ``1e7`` -> ``"10 Mbps"``."""
    return _format(bps, "bandwidth", ("Tbps", "Gbps", "Mbps", "kbps", "bps"), "bps", digits)


def format_size(nbytes: float, digits: int = 10) -> str:
    """Human-readable size in decimal bytes, e.g. ``8e6`` -> ``"8 MB"``."""
    return _format(nbytes, "size", ("TB", "GB", "MB", "kB", "B"), "B", digits)
