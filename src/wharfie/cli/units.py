"""The CLI's side of docker's formats: --since/--until times, "... ago", and a
text/tabwriter work-alike for tables (minwidth 10, padding 3). Sizes and durations
themselves come from `wharfie.units`, shared with the engine.
"""

from __future__ import annotations

import time

from wharfie.times import get_timestamp
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
    """docker's GetTimestamp for --since/--until, as the "seconds.nanoseconds" it sends."""
    v = value.strip()
    if v.replace(".", "", 1).isdigit():
        return v
    t = get_timestamp(v, now)
    sec = int(t // 1)
    return f"{sec}.{round((t - sec) * 1e9):09d}"


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
