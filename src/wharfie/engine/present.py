"""How Docker shows things: durations, ps status strings, timestamps, command lines (pure)."""

from __future__ import annotations

from wharfie import times
from wharfie.times import ZERO_TIME
from wharfie.times import get_timestamp as parse_time
from wharfie.times import parse as parse_rfc3339
from wharfie.units import human_duration, parse_duration

__all__ = [
    "ZERO_TIME",
    "command_string",
    "human_duration",
    "parse_duration",
    "parse_rfc3339",
    "parse_time",
    "port_list",
    "rfc3339nano",
    "status_text",
]


def rfc3339nano(ts: float | int) -> str:
    """Go's RFC3339Nano in UTC, trailing zeros of the fraction dropped.

    An int is nanoseconds since the epoch, a float seconds (0 gives ZERO_TIME).
    """
    if isinstance(ts, bool):
        raise TypeError("timestamp must be a number")
    ns = ts if isinstance(ts, int) else round(ts * 1_000_000_000)
    return ZERO_TIME if ns == 0 else times.format_nano(ns)


def _since(now: float, when: str) -> str:
    return human_duration(now - parse_rfc3339(when))


def status_text(state: dict[str, object], now: float) -> str:
    """The `docker ps` Status column for an inspect-shaped State (moby State.String)."""
    started = str(state.get("StartedAt") or ZERO_TIME)
    finished = str(state.get("FinishedAt") or ZERO_TIME)
    code = state.get("ExitCode") or 0
    if state.get("Running"):
        if state.get("Paused"):
            return f"Up {_since(now, started)} (Paused)"
        if state.get("Restarting"):
            return f"Restarting ({code}) {_since(now, finished)} ago"
        health = state.get("Health")
        status = health.get("Status") if isinstance(health, dict) else None
        if status and status != "none":
            label = "health: starting" if status == "starting" else str(status)
            return f"Up {_since(now, started)} ({label})"
        return f"Up {_since(now, started)}"
    if state.get("Status") == "removing":
        return "Removal In Progress"
    if state.get("Dead") or state.get("Status") == "dead":
        return "Dead"
    if started == ZERO_TIME:
        return "Created"
    if finished == ZERO_TIME:
        return ""
    return f"Exited ({code}) {_since(now, finished)} ago"


def command_string(path: str, args: list[str]) -> str:
    """ps "Command": path and args joined with spaces, unquoted (moby list.go)."""
    return " ".join([path, *args]) if args else path


def port_list(ports: dict[str, object] | None = None) -> list[dict[str, object]]:
    """ps "Ports": nothing is published yet (a later issue)."""
    return []
