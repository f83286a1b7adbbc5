"""The CLI's side of docker's formats: --since/--until times, "... ago", and a
text/tabwriter work-alike for tables (minwidth 10, padding 3). Sizes and durations
themselves come from `wharfie.units`, shared with the engine.
"""

from __future__ import annotations

import time

from wharfie.errors import InvalidArgument
from wharfie.units import (
    bytes_size,
    human_duration,
    human_size,
    parse_duration,
    ram_in_bytes,
)

go_duration = parse_duration  # the CLI's name for time.ParseDuration
__all__ = [
    "ago",
    "bytes_size",
    "go_duration",
    "human_duration",
    "human_size",
    "ram_in_bytes",
    "tab_text",
    "tabulate",
    "timestamp",
]


def ago(unix: float, now: float | None = None) -> str:
    return human_duration((time.time() if now is None else now) - unix) + " ago"


def timestamp(value: str, now: float | None = None) -> str:
    """docker's GetTimestamp for --since/--until: duration, RFC3339 or unix seconds."""
    now = time.time() if now is None else now
    v = value.strip()
    if v.replace(".", "", 1).isdigit():
        return v
    try:
        t = now - parse_duration(v)
    except InvalidArgument:
        t = _parse_time(v)
    sec = int(t // 1)
    return f"{sec}.{round((t - sec) * 1e9):09d}"


def _parse_time(v: str) -> float:
    from datetime import UTC, datetime

    text = v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f'failed to parse value as time or duration: "{v}"') from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def tabulate(rows: list[list[str]], minwidth: int = 10, padding: int = 3) -> str:
    """Go's tabwriter as docker configures it: all cells but the last padded."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(cell) + padding, minwidth)
    lines = []
    for r in rows:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])]
        lines.append("".join(parts) + (r[-1] if r else ""))
    return "\n".join(lines) + "\n"


def tab_text(text: str) -> str:
    """Align tab-separated lines (a rendered `table` format) like tabwriter."""
    return tabulate([line.split("\t") for line in text.split("\n") if line != ""])
