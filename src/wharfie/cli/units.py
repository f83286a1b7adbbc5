"""Sizes, durations and times as docker prints and parses them (go-units).

Also a text/tabwriter work-alike for docker's tables (minwidth 10, padding 3).
"""

from __future__ import annotations

import time

from wharfie.errors import InvalidArgument

DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _custom(size: float, precision: int, base: float, abbrs: tuple[str, ...]) -> str:
    i = 0
    while size >= base and i < len(abbrs) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{abbrs[i]}"


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision: decimal units, "2.1MB"."""
    return _custom(float(size), precision, 1000.0, DECIMAL)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, "1.5MiB"."""
    return _custom(float(size), 4, 1024.0, BINARY)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "About a minute", "3 hours"..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(unix: float, now: float | None = None) -> str:
    return human_duration((time.time() if now is None else now) - unix) + " ago"


_RAM = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: "64m", "1.5g", "512k", "1024", "2GiB" (binary multiples)."""
    s = text.strip().lower()
    if s.endswith("b"):
        s = s[:-1]
    if s.endswith("i"):
        s = s[:-1]
    unit = s[-1:] if s[-1:] in _RAM and s[-1:] else ""
    num = s[: len(s) - len(unit)].strip()
    try:
        value = float(num)
    except ValueError:
        raise InvalidArgument(f"invalid size: '{text}'") from None
    if value < 0 or not num[:1].isdigit():
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(value * _RAM[unit])


_DUR = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """time.ParseDuration: "10m", "1h30m", "1.5s", "-2h" -> seconds."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    if not s:
        raise InvalidArgument(f'time: invalid duration "{text}"')
    total, i = 0.0, 0
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        num, unit = s[i:j], s[j:k]
        if not num or unit not in _DUR:
            raise InvalidArgument(f'time: invalid duration "{text}"')
        total += float(num) * _DUR[unit]
        i = k
    return sign * total


def timestamp(value: str, now: float | None = None) -> str:
    """docker's GetTimestamp for --since/--until: duration, RFC3339 or unix seconds."""
    now = time.time() if now is None else now
    v = value.strip()
    if v.replace(".", "", 1).isdigit():
        return v
    try:
        t = now - go_duration(v)
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
