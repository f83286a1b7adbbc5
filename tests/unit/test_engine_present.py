"""engine.present: durations, ps status strings, timestamps."""

from __future__ import annotations

import pytest

from wharfie.engine import present as p
from wharfie.errors import InvalidArgument

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Less than a second"),
        (0.9, "Less than a second"),
        (1, "1 second"),
        (1.5, "1 second"),
        (2, "2 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (59 * 60 + 59, "59 minutes"),
        (3600, "About an hour"),
        (3600 * 1.49, "About an hour"),
        (3600 * 1.5, "2 hours"),
        (3 * 3600, "3 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (13 * 86400, "13 days"),
        (14 * 86400, "2 weeks"),
        (59 * 86400, "8 weeks"),
        (60 * 86400, "2 months"),
        (364 * 86400, "12 months"),
        (729 * 86400, "24 months"),
        (730 * 86400, "2 years"),
        (3650 * 86400, "10 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert p.human_duration(seconds) == text


def state(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "Dead": False,
        "ExitCode": 0,
        "StartedAt": p.ZERO_TIME,
        "FinishedAt": p.ZERO_TIME,
    }
    base.update(kw)
    return base


def ago(seconds: float) -> str:
    return p.rfc3339nano(NOW - seconds)


@pytest.mark.parametrize(
    ("st", "text"),
    [
        (state(), "Created"),
        (state(Status="running", Running=True, StartedAt=ago(125)), "Up 2 minutes"),
        (
            state(Status="paused", Running=True, Paused=True, StartedAt=ago(125)),
            "Up 2 minutes (Paused)",
        ),
        (
            state(Running=True, StartedAt=ago(3), Health={"Status": "starting"}),
            "Up 3 seconds (health: starting)",
        ),
        (
            state(Running=True, StartedAt=ago(3), Health={"Status": "healthy"}),
            "Up 3 seconds (healthy)",
        ),
        (
            state(Running=True, StartedAt=ago(3), Health={"Status": "unhealthy"}),
            "Up 3 seconds (unhealthy)",
        ),
        (state(Running=True, StartedAt=ago(3), Health={"Status": "none"}), "Up 3 seconds"),
        (
            state(Status="restarting", Running=True, Restarting=True, ExitCode=1,
                  StartedAt=ago(10), FinishedAt=ago(3)),
            "Restarting (1) 3 seconds ago",
        ),
        (
            state(Status="exited", ExitCode=0, StartedAt=ago(100), FinishedAt=ago(3)),
            "Exited (0) 3 seconds ago",
        ),
        (
            state(Status="exited", ExitCode=137, StartedAt=ago(9000), FinishedAt=ago(7200)),
            "Exited (137) 2 hours ago",
        ),
        (state(Status="removing", StartedAt=ago(5), FinishedAt=ago(3)), "Removal In Progress"),
        (state(Status="dead", Dead=True, StartedAt=ago(5), FinishedAt=ago(3)), "Dead"),
        (state(Status="exited", StartedAt=ago(5)), ""),
    ],
)  # fmt: skip
def test_status_text(st: dict[str, object], text: str) -> None:
    assert p.status_text(st, NOW) == text


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0, p.ZERO_TIME),
        (0.0, p.ZERO_TIME),
        (1_700_000_000, "1970-01-01T00:00:01.7Z"),  # ints are nanoseconds
        (1_700_000_000_000_000_000, "2023-11-14T22:13:20Z"),
        (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z"),
        (1_700_000_000_120_000_000, "2023-11-14T22:13:20.12Z"),
        (1_700_000_000.5, "2023-11-14T22:13:20.5Z"),
    ],
)
def test_rfc3339nano(ts: float | int, text: str) -> None:
    assert p.rfc3339nano(ts) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000.5),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000.123456789),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
        (p.ZERO_TIME, 0.0),
    ],
)
def test_parse_rfc3339(text: str, seconds: float) -> None:
    assert p.parse_rfc3339(text) == pytest.approx(seconds, abs=1e-6)


def test_round_trip() -> None:
    for ns in (1_700_000_000_000_000_001, 1_700_000_000_999_999_999):
        assert round(p.parse_rfc3339(p.rfc3339nano(ns)) * 1e9) == pytest.approx(ns, abs=300)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1700000000", 1_700_000_000.0),
        ("1700000000.25", 1_700_000_000.25),
        ("10m", NOW - 600),
        ("1h30m", NOW - 5400),
        ("1.5s", NOW - 1.5),
        ("-10s", NOW + 10),
        ("500ms", NOW - 0.5),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000.5),
        ("2023-11-14T22:13:20", 1_700_000_000.0),
        ("2023-11-14", 1_699_920_000.0),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
    ],
)
def test_parse_time(text: str, seconds: float) -> None:
    assert p.parse_time(text, NOW) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize("text", ["", "yesterday", "10x", "2023-13-45"])
def test_parse_time_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        p.parse_time(text, NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [("10", 'time: missing unit in duration "10"'), ("5y", 'time: unknown unit "y" in duration')],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        p.parse_duration(text)


def test_command_string() -> None:
    assert p.command_string("sleep", ["30"]) == "sleep 30"
    assert p.command_string("sh", ["-c", "echo a b"]) == "sh -c echo a b"
    assert p.command_string("top", []) == "top"
    assert p.port_list() == []
