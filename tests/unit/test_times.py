"""wharfie.times: Docker's time formats, written and read in one place."""

from __future__ import annotations

import pytest

from wharfie import times
from wharfie.errors import InvalidArgument

NS = 1_714_558_830_123_400_000  # 2024-05-01T10:20:30.1234Z


@pytest.mark.parametrize(
    ("ns", "nano", "fixed"),
    [
        (NS, "2024-05-01T10:20:30.1234Z", "2024-05-01T10:20:30.123400000Z"),
        (1_714_558_830_000_000_000, "2024-05-01T10:20:30Z", "2024-05-01T10:20:30.000000000Z"),
        (1, "1970-01-01T00:00:00.000000001Z", "1970-01-01T00:00:00.000000001Z"),
    ],
)
def test_format(ns: int, nano: str, fixed: str) -> None:
    assert times.format_nano(ns) == nano
    assert times.format_fixed(ns) == fixed
    assert times.parse_fixed_ns(fixed) == ns
    assert times.parse(nano) == pytest.approx(ns / 1e9)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2024-05-01T10:20:30Z", 1_714_558_830.0),
        ("2024-05-01T12:20:30+02:00", 1_714_558_830.0),
        ("2024-05-01T05:20:30.5-05:00", 1_714_558_830.5),
        ("2024-05-01T10:20:30.123456789z", 1_714_558_830.123456789),
        ("2024-05-01T10:20:30", 1_714_558_830.0),  # no zone: UTC
        (times.ZERO_TIME, 0.0),
        ("", 0.0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert times.parse(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01T00:00:00Z", "2024-05-01T10:20:30.x"])
def test_parse_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid time"):
        times.parse(text)


@pytest.mark.parametrize("text", ["2024-05-01T10:20:30", "2024-05-01T10:20:3Z", "x" * 20 + "Z"])
def test_parse_fixed_ns_refuses_other_shapes(text: str) -> None:
    with pytest.raises(ValueError):
        times.parse_fixed_ns(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1714558830", 1_714_558_830.0),
        ("1714558830.25", 1_714_558_830.25),
        ("10m", 1_000_000.0 - 600),
        ("1h30m", 1_000_000.0 - 5400),
        ("2024-05-01T10:20:30Z", 1_714_558_830.0),
        ("2024-05-01T10:20:30.5+00:00", 1_714_558_830.5),
        ("2024-05-01", 1_714_521_600.0),
        ("2024-05-01T10:20", 1_714_558_800.0),
    ],
)
def test_get_timestamp(value: str, expected: float) -> None:
    assert times.get_timestamp(value, now=1_000_000.0) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["abc", "2024-05-01Tnope", "10x", "2024-99-99T00:00:00Z"])
def test_get_timestamp_error_is_dockers(value: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        times.get_timestamp(value)
    assert str(e.value) == f'failed to parse value as time or duration: "{value}"'
