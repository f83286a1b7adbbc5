"""How Docker shows things: durations, ps status strings, timestamps, command lines (pure)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from wharfie.errors import InvalidArgument
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

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339nano(ts: float | int) -> str:
    """Go's RFC3339Nano in UTC, trailing zeros of the fraction dropped.

    An int is nanoseconds since the epoch, a float seconds (0 gives ZERO_TIME).
    """
    if isinstance(ts, bool):
        raise TypeError("timestamp must be a number")
    ns = ts if isinstance(ts, int) else round(ts * 1_000_000_000)
    if ns == 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def parse_rfc3339(text: str) -> float:
    """RFC3339 (with or without a fraction of up to 9 digits, Z or an offset) -> seconds.

    ZERO_TIME (Go's zero time) gives 0.0.
    """
    if text in ("", ZERO_TIME):
        return 0.0
    head, frac = text, ""
    if "." in text:
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, zone = rest[:digits], rest[digits:]
        head += zone
    try:
        base = datetime.fromisoformat(head.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        raise InvalidArgument(f"invalid time {text!r}: {e}") from e
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return base.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


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


_LAYOUTS = (
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d",
)  # fmt: skip


def parse_time(s: str, now: float | None = None) -> float:
    """Docker's since/until (timetypes.GetTimestamp) -> seconds since the epoch.

    Unix seconds with an optional fraction, RFC3339 / RFC3339Nano, date-time prefixes
    ("2006-01-02T15:04:05", "2006-01-02", taken as UTC here where moby uses the daemon's
    local zone), or a Go duration ("10m") counted back from `now`.
    """
    if not s:
        raise InvalidArgument("empty time value")
    current = time.time() if now is None else now
    if s[0].isdigit() or s[0] in "-+.":
        try:
            return float(s)
        except ValueError:
            pass
    try:
        return current - parse_duration(s)
    except InvalidArgument:
        pass
    if "Z" in s or "+" in s[10:] or s[10:].count("-") > 0:
        return parse_rfc3339(s)
    head, _, frac = s.partition(".")
    for layout in _LAYOUTS:
        try:
            base = datetime.strptime(head, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
        return base + (float("0." + frac) if frac.isdigit() else 0.0)
    raise InvalidArgument(f"failed to parse value as time or duration: {s!r}")


def command_string(path: str, args: list[str]) -> str:
    """ps "Command": path and args joined with spaces, unquoted (moby list.go)."""
    return " ".join([path, *args]) if args else path


def port_list(ports: dict[str, object] | None = None) -> list[dict[str, object]]:
    """ps "Ports": nothing is published yet (a later issue)."""
    return []
