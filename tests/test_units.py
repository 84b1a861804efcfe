"""Tests for edgesim.units: every accepted spelling, every refusal, and parse/format round trips.

The unit factors below are written out independently of the module (as exact fractions), so a
wrong factor in edgesim/units.py cannot also be a wrong expectation here.
"""
from __future__ import annotations

import math
import pickle
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesim import units
from edgesim.units import (
    VALID_UNITS,
    UnitError,
    format_bandwidth,
    format_duration,
    format_size,
    parse_bandwidth,
    parse_duration,
    parse_fraction,
    parse_quantity,
    parse_rate,
    parse_size,
)


def _same(factor: F, *spellings: str) -> dict[str, F]:
    return dict.fromkeys(spellings, factor)


DURATION = {
    **_same(F(1), "s", "sec", "secs", "second", "seconds"),
    **_same(F(1, 1000), "ms", "msec", "msecs", "millisecond", "milliseconds"),
    **_same(F(1, 10**6), "us", "\u00b5s", "\u03bcs", "usec", "usecs", "microsecond", "microseconds"),
    **_same(F(1, 10**9), "ns", "nsec", "nsecs", "nanosecond", "nanoseconds"),
    **_same(F(60), "min", "mins", "minute", "minutes"),
    **_same(F(3600), "h", "hr", "hrs", "hour", "hours"),
    **_same(F(86400), "d", "day", "days"),
}

BANDWIDTH = {
    **_same(F(1), "bps", "bit/s", "bits/s"),
    **_same(F(10**3), "kbps", "Kbps", "kbit/s", "Kbit/s", "kbits/s", "Kbits/s"),
    **_same(F(10**6), "Mbps", "Mbit/s", "Mbits/s"),
    **_same(F(10**9), "Gbps", "Gbit/s", "Gbits/s"),
    **_same(F(10**12), "Tbps", "Tbit/s", "Tbits/s"),
    **_same(F(8), "B/s", "byte/s", "bytes/s"),
    **_same(F(8000), "kB/s", "KB/s"),
    "MB/s": F(8 * 10**6), "GB/s": F(8 * 10**9), "TB/s": F(8 * 10**12),
    "KiB/s": F(8 * 1024), "MiB/s": F(8 * 1024**2), "GiB/s": F(8 * 1024**3), "TiB/s": F(8 * 1024**4),
}

SIZE = {
    **_same(F(1), "B", "byte", "bytes", "Byte", "Bytes"),
    **_same(F(1000), "kB", "KB"),
    "MB": F(10**6), "GB": F(10**9), "TB": F(10**12),
    "KiB": F(1024), "MiB": F(1024**2), "GiB": F(1024**3), "TiB": F(1024**4),
    **_same(F(1, 8), "bit", "bits"),
    **_same(F(125), "kbit", "Kbit", "kbits", "Kbits"),
    **_same(F(125_000), "Mbit", "Mbits"),
    **_same(F(125_000_000), "Gbit", "Gbits"),
    **_same(F(125_000_000_000), "Tbit", "Tbits"),
}


def _per(factor: F, *spellings: str) -> dict[str, F]:
    return {sep + s: factor for s in spellings for sep in ("/", "per ")}


RATE = {
    **_per(F(1), "s", "sec", "second"),
    **_per(F(1000), "ms", "msec", "millisecond"),
    **_per(F(10**6), "us", "\u00b5s", "\u03bcs"),
    **_per(F(10**9), "ns"),
    **_per(F(1, 60), "min", "minute"),
    **_per(F(1, 3600), "h", "hr", "hour"),
    **_per(F(1, 86400), "d", "day"),
    "fps": F(1), "Hz": F(1), "kHz": F(1000),
}

FRACTION = {"%": F(1, 100)}

TABLES = {"duration": DURATION, "bandwidth": BANDWIDTH, "size": SIZE, "rate": RATE, "fraction": FRACTION}
PARSERS = {
    "duration": parse_duration, "bandwidth": parse_bandwidth, "size": parse_size, "rate": parse_rate,
    "fraction": lambda x: parse_fraction(x, allow_above_one=True),
}
ALL_UNITS = [(kind, unit) for kind, table in TABLES.items() for unit in table]


# ---------------------------------------------------------------------------------------------
# Accepted spellings


@pytest.mark.parametrize("func, text, expected", [
    (parse_duration, "20ms", 0.02),
    (parse_duration, "2 s", 2.0),
    (parse_duration, "1.5s", 1.5),
    (parse_duration, "500us", 0.0005),
    (parse_duration, "500\u00b5s", 0.0005),
    (parse_duration, "500\u03bcs", 0.0005),
    (parse_duration, "10ns", 1e-8),
    (parse_duration, "2min", 120.0),
    (parse_duration, "1h", 3600.0),
    (parse_duration, "1.5 h", 5400.0),
    (parse_duration, "3d", 259200.0),
    (parse_duration, "2.5", 2.5),
    (parse_duration, "1e-3 s", 0.001),
    (parse_duration, "1E3ms", 1.0),
    (parse_duration, "+5 s", 5.0),
    (parse_duration, ".5s", 0.5),
    (parse_duration, "5.s", 5.0),
    (parse_duration, "  7 sec\t", 7.0),
    (parse_duration, "7\u00a0ms", 0.007),  # non-breaking space, as pasted from documents
    (parse_duration, "0.1 ms", 0.0001),
    (parse_duration, "0", 0.0),
    (parse_duration, "-0 s", 0.0),
    (parse_bandwidth, "10Mbps", 1e7),
    (parse_bandwidth, "1.5 Gbit/s", 1.5e9),
    (parse_bandwidth, "100 kbps", 1e5),
    (parse_bandwidth, "10 MB/s", 8e7),
    (parse_bandwidth, "10 MB / s", 8e7),
    (parse_bandwidth, "2 MiB/s", 2 * 8 * 2**20),
    (parse_bandwidth, "1bps", 1.0),
    (parse_bandwidth, "1e9", 1e9),
    (parse_size, "8MB", 8e6),
    (parse_size, "2.5GiB", 2.5 * 2**30),
    (parse_size, "20KB", 20e3),
    (parse_size, "20kB", 20e3),
    (parse_size, "512B", 512.0),
    (parse_size, "100 bytes", 100.0),
    (parse_size, "800 bit", 100.0),
    (parse_size, "1 Mbit", 125000.0),
    (parse_size, "1.1 kB", 1100.0),  # 1.1 * 1000 in floats is 1100.0000000000002
    (parse_size, "0.3 MB", 300000.0),
    (parse_size, "4096", 4096.0),
    (parse_rate, "30fps", 30.0),
    (parse_rate, "30 fps", 30.0),
    (parse_rate, "10/s", 10.0),
    (parse_rate, "10 / s", 10.0),
    (parse_rate, "10 per s", 10.0),
    (parse_rate, "10 per  second", 10.0),
    (parse_rate, "5Hz", 5.0),
    (parse_rate, "600/min", 10.0),
    (parse_rate, "2/ms", 2000.0),
    (parse_rate, "7200/h", 2.0),
    (parse_rate, "0.5", 0.5),
    (parse_fraction, "25%", 0.25),
    (parse_fraction, "25 %", 0.25),
    (parse_fraction, "0.25", 0.25),
    (parse_fraction, "100%", 1.0),
    (parse_fraction, "0%", 0.0),
    (parse_fraction, "10%", 0.1),
])
def test_documented_examples(func, text, expected):
    assert func(text) == expected


@pytest.mark.parametrize("kind, unit", ALL_UNITS)
@pytest.mark.parametrize("number", ["3", "1.5", "0.1", "2.5e-3", "1e6"])
def test_every_spelling_is_exact(kind, unit, number):
    # Exact conversion then one rounding: the result is the float nearest the true value.
    expected = float(F(number) * TABLES[kind][unit])
    parse = PARSERS[kind]
    assert parse(f"{number}{unit}") == expected
    assert parse(f"{number} {unit}") == expected


def test_tables_here_cover_every_accepted_unit():
    for kind, table in TABLES.items():
        assert set(units._UNITS[kind]) == set(table), kind
        assert set(VALID_UNITS[kind]) <= set(table), kind
    assert set(VALID_UNITS) == set(TABLES)


@pytest.mark.parametrize("kind", list(TABLES))
@pytest.mark.parametrize("x, expected", [(0, 0.0), (1, 1.0), (0.75, 0.75), ("0.75", 0.75), (F(1, 4), 0.25)])
def test_bare_numbers_are_base_units(kind, x, expected):
    result = parse_quantity(kind, x)
    assert result == expected and type(result) is float


def test_numeric_inputs_are_already_si():
    assert parse_duration(2) == 2.0
    assert parse_bandwidth(1e7) == 1e7
    assert parse_size(8_000_000) == 8e6
    assert parse_rate(30) == 30.0
    np = pytest.importorskip("numpy")
    assert parse_duration(np.float64(0.5)) == 0.5
    assert parse_size(np.int64(7)) == 7.0


def test_fraction_range():
    assert parse_fraction(0.25) == 0.25
    assert parse_fraction(1) == 1.0
    assert parse_fraction("150%", allow_above_one=True) == 1.5
    assert parse_fraction(3.0, allow_above_one=True) == 3.0
    for bad in ("150%", 1.5, "1.01"):
        with pytest.raises(UnitError, match=r"between 0 and 1"):
            parse_fraction(bad)
    with pytest.raises(UnitError, match=r">= 0"):
        parse_fraction("-5%", allow_above_one=True)


def test_parse_quantity_dispatch():
    assert parse_quantity("duration", "20ms") == 0.02
    assert parse_quantity("bandwidth", "10Mbps") == 1e7
    assert parse_quantity("size", "8MB") == 8e6
    assert parse_quantity("rate", "600/min") == 10.0
    assert parse_quantity("fraction", "25%") == 0.25
    with pytest.raises(UnitError):
        parse_quantity("fraction", "150%")
    with pytest.raises(ValueError, match="'length'.*duration, bandwidth, size, rate, fraction"):
        parse_quantity("length", "3 m")


# ---------------------------------------------------------------------------------------------
# Refusals


def test_error_message_format_is_exact():
    with pytest.raises(UnitError) as info:
        parse_bandwidth("10 Mbs")
    assert str(info.value) == (
        "'10 Mbs' is not a bandwidth: unknown unit 'Mbs' (did you mean 'Mbps'?); valid units: "
        "bps, kbps, Mbps, Gbps, bit/s, kbit/s, Mbit/s, Gbit/s, B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s"
    )
    assert info.value.value == "10 Mbs"
    assert info.value.kind == "bandwidth"
    assert info.value.valid == VALID_UNITS["bandwidth"]


try:
    import numpy as _np
except ImportError:  # numpy is a project dependency, but these tests don't need it
    _np = None
_np_bool = [pytest.param("size", _np.bool_(True), ["expected a number or a string"], id="numpy-bool")
            ] if _np is not None else []


@pytest.mark.parametrize("kind, x, fragments", [
    # ambiguous prefixes / bits vs bytes
    ("bandwidth", "10M", ["mega what?", "'Mbit/s'", "'MB/s'"]),
    ("size", "10M", ["mega what?", "'Mbit'", "'MB'"]),
    ("size", "10 k", ["kilo what?", "'kbit'", "'kB'"]),
    ("size", "10G", ["giga what?", "'Gbit'", "'GB'"]),
    ("size", "10mb", ["ambiguous", "'Mbit'", "'MB'"]),
    ("size", "10Mb", ["ambiguous", "'Mbit'", "'MB'"]),
    ("size", "10 kb", ["ambiguous", "'kbit'", "'kB'"]),
    ("size", "10 Gb", ["ambiguous", "'Gbit'", "'GB'"]),
    ("size", "5 b", ["ambiguous", "'bit'", "'B'"]),
    ("bandwidth", "10Mb", ["ambiguous", "'Mbit/s'", "'MB/s'"]),
    ("bandwidth", "10mb", ["ambiguous", "'Mbit/s'", "'MB/s'"]),
    ("bandwidth", "10 Mb/s", ["ambiguous", "'Mbit/s'", "'MB/s'"]),
    ("bandwidth", "10 b/s", ["ambiguous", "'bit/s'", "'B/s'"]),
    ("size", "1 Kib", ["bytes only", "'KiB'"]),
    ("bandwidth", "1 Mib/s", ["bytes only", "'MiB/s'"]),
    ("bandwidth", "10 MBps", ["confused", "'MB/s'", "'Mbps'"]),
    ("bandwidth", "10 Bps", ["confused", "'B/s'", "'bps'"]),
    ("duration", "10 m", ["ambiguous", "'min'"]),
    # prefix case changes the meaning
    ("bandwidth", "10mbps", ["milli", "did you mean 'Mbps'?"]),
    ("size", "10 mB", ["milli", "did you mean 'MB'?"]),
    ("duration", "10 Ms", ["mega", "did you mean 'ms'?"]),
    ("duration", "10 S", ["did you mean 's'?"]),
    ("size", "3 kiB", ["did you mean 'KiB'?"]),
    ("rate", "5 hz", ["did you mean 'Hz'?"]),
    ("duration", "5 SEC", ["did you mean 'sec'?"]),
    # unit of another kind
    ("size", "10 MB/s", ["bandwidth unit"]),
    ("size", "10 Mbps", ["bandwidth unit"]),
    ("bandwidth", "10 Mbit", ["size unit", "did you mean 'Mbit/s'?"]),
    ("bandwidth", "10 MB", ["size unit", "did you mean 'MB/s'?"]),
    ("rate", "5 s", ["duration unit", "did you mean '/s'?"]),
    ("rate", "5 min", ["duration unit", "did you mean '/min'?"]),
    ("duration", "5 Hz", ["rate unit"]),
    ("duration", "5/s", ["rate unit"]),
    ("fraction", "5 ms", ["duration unit"]),
    ("size", "50%", ["fraction unit"]),
    # typos
    ("bandwidth", "10 Mbs", ["unknown unit 'Mbs'", "did you mean 'Mbps'?"]),
    ("duration", "5 secnds", ["unknown unit 'secnds'", "did you mean 'seconds'?"]),
    ("duration", "5 minuts", ["did you mean 'minutes'?"]),
    ("rate", "30 fsp", ["did you mean 'fps'?"]),
    ("size", "2 GIB", ["did you mean 'GiB'?"]),
    ("duration", "5 parsecs", ["unknown unit 'parsecs'"]),
    # negative values
    ("duration", "-5 ms", ["must be >= 0"]),
    ("duration", -1, ["must be >= 0"]),
    ("duration", "-1e-3 s", ["must be >= 0"]),
    ("bandwidth", "-1 Mbps", ["must be >= 0"]),
    ("size", -3, ["must be >= 0"]),
    ("rate", "-2/s", ["must be >= 0"]),
    ("fraction", "-0.5", ["must be >= 0"]),
    # not finite
    ("duration", "nan", ["must be finite"]),
    ("duration", "NaN s", ["must be finite"]),
    ("duration", "inf s", ["must be finite"]),
    ("duration", "-Infinity", ["must be finite"]),
    ("bandwidth", float("nan"), ["must be finite"]),
    ("size", float("inf"), ["must be finite"]),
    ("size", "1e999999999 B", ["must be finite"]),
    ("size", "1e308 GB", ["too large"]),
    ("size", 10**400, ["too large"]),
    # booleans (YAML yes/no/on/off) and other types
    ("duration", True, ["boolean"]),
    ("bandwidth", False, ["boolean"]),
    ("size", True, ["boolean"]),
    ("rate", True, ["boolean"]),
    ("fraction", False, ["boolean"]),
    ("duration", None, ["expected a number or a string", "NoneType"]),
    ("size", [1], ["expected a number or a string", "list"]),
    *_np_bool,
    # not a number
    ("duration", "", ["expected a number"]),
    ("duration", "   ", ["expected a number"]),
    ("duration", "ms", ["expected a number"]),
    ("duration", "five seconds", ["expected a number"]),
    ("duration", "1,5 s", ["expected a number"]),
    ("duration", "--5 s", ["expected a number"]),
    ("duration", "5 5 s", ["expected a number"]),
    ("size", "5_000 B", ["expected a number"]),
    ("duration", "nanoseconds", ["expected a number"]),
])
def test_refusals(kind, x, fragments):
    with pytest.raises(UnitError) as info:
        parse_quantity(kind, x)
    err = info.value
    message = str(err)
    assert message.startswith(f"{x!r} is not a {kind}: ")
    assert f"; valid units: {', '.join(VALID_UNITS[kind])}" in message
    for fragment in fragments:
        assert fragment in message
    assert err.value is x and err.kind == kind and err.valid == VALID_UNITS[kind]
    assert isinstance(err, ValueError)


def test_unit_error_pickles():
    err = UnitError("10 Mbs", "bandwidth", "unknown unit 'Mbs'")
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err)
    assert (copy.value, copy.kind, copy.valid, copy.reason) == (err.value, err.kind, err.valid, err.reason)


def test_unit_error_becomes_pydantic_validation_error():
    pydantic = pytest.importorskip("pydantic")

    class Link(pydantic.BaseModel):
        bandwidth: float

        @pydantic.field_validator("bandwidth", mode="before")
        @classmethod
        def _units(cls, v):
            return parse_bandwidth(v)

    assert Link(bandwidth="10Mbps").bandwidth == 1e7
    with pytest.raises(pydantic.ValidationError, match="did you mean 'Mbps'"):
        Link(bandwidth="10 Mbs")


# ---------------------------------------------------------------------------------------------
# Formatting


@pytest.mark.parametrize("func, value, text", [
    (format_duration, 0.02, "20 ms"),
    (format_duration, 0, "0 s"),
    (format_duration, -0.0, "0 s"),
    (format_duration, 2, "2 s"),
    (format_duration, 0.5, "500 ms"),
    (format_duration, 1.5e-6, "1.5 \u00b5s"),
    (format_duration, 3e-9, "3 ns"),
    (format_duration, 90, "1.5 min"),
    (format_duration, 5400, "1.5 h"),
    (format_duration, 0.1 + 0.2, "300 ms"),
    (format_duration, 0.99999999999999, "1 s"),
    (format_duration, 59.99999999999999, "1 min"),
    (format_duration, float("inf"), "inf s"),
    (format_bandwidth, 1e7, "10 Mbps"),
    (format_bandwidth, 1.5e9, "1.5 Gbps"),
    (format_bandwidth, 2e12, "2 Tbps"),
    (format_bandwidth, 999, "999 bps"),
    (format_bandwidth, 0, "0 bps"),
    (format_size, 8e6, "8 MB"),
    (format_size, 512, "512 B"),
    (format_size, 1500, "1.5 kB"),
    (format_size, 2.5e9, "2.5 GB"),
    (format_size, 0.5, "0.5 B"),
])
def test_format_examples(func, value, text):
    assert func(value) == text


def test_format_digits():
    assert format_duration(1 / 3) == "333.3333333 ms"
    assert format_duration(1 / 3, digits=3) == "333 ms"
    assert format_size(123456789, digits=3) == "123 MB"
    assert format_duration(float("nan")) == "nan s"


# ---------------------------------------------------------------------------------------------
# Property tests

_positive = st.floats(min_value=1e-200, max_value=1e200, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("kind, unit", ALL_UNITS)
@settings(max_examples=25, deadline=None)
@given(v=_positive)
def test_parse_matches_independent_factor(kind, unit, v):
    factor = float(TABLES[kind][unit])
    assert PARSERS[kind](f"{v!r}{unit}") == pytest.approx(v * factor, rel=1e-12)


_format_values = st.one_of(st.just(0.0),
                           st.floats(min_value=1e-300, max_value=1e300, allow_subnormal=False))


@pytest.mark.parametrize("fmt, parse", [
    (format_duration, parse_duration), (format_bandwidth, parse_bandwidth), (format_size, parse_size),
])
@settings(max_examples=500, deadline=None)
@given(v=_format_values)
def test_format_then_parse_round_trips(fmt, parse, v):
    assert parse(fmt(v)) == pytest.approx(v, rel=1e-9, abs=0)


@settings(max_examples=300, deadline=None)
@given(v=st.floats(min_value=0, max_value=1e6), kind=st.sampled_from(["duration", "size", "rate"]))
def test_numeric_and_bare_string_agree(v, kind):
    assert parse_quantity(kind, v) == parse_quantity(kind, repr(v)) == v


@pytest.mark.parametrize("x", [-0.0, "-0", "-0.0 s"])
def test_negative_zero_is_zero(x):
    assert math.copysign(1.0, parse_duration(x)) == 1.0


def test_per_second_without_a_quantity_is_explained():
    from edgesim.units import UnitError, parse_bandwidth
    with pytest.raises(UnitError, match="per second but not of what"):
        parse_bandwidth("1/s")
