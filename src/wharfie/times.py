"""Time values as Docker writes and reads them: the one implementation for every package.

- `format_nano(ns)`: Go's RFC3339Nano in UTC, trailing zeros of the fraction dropped
  ("2024-05-01T10:20:30.1234Z"), what the Engine API's JSON carries;
- `format_fixed(ns)`: the same with all nine digits, as json-file log records and OCI
  runtime state carry it ("2024-05-01T10:20:30.123400000Z");
- `parse(text)`: RFC 3339 with up to nine fraction digits and "Z" or an offset, to
  seconds since the epoch (Go's zero time gives 0.0);
- `parse_fixed_ns(text)`: the fast inverse of `format_fixed`, for reading logs back;
- `get_timestamp(text, now)`: Docker's `--since`/`--until` values (timetypes.GetTimestamp).

Imports only `time` up front: the runtime's start path uses `format_fixed`.
"""

from __future__ import annotations

import time

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's time.Time{}

_second_cache: list[object] = [-1, ""]
_parse_cache: dict[str, int] = {}


def _seconds_text(sec: int) -> str:
    if _second_cache[0] != sec:
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _second_cache[0] = sec
    return str(_second_cache[1])


def format_nano(ns: int) -> str:
    """Go's RFC3339Nano in UTC for nanoseconds since the epoch."""
    sec, frac = divmod(ns, 1_000_000_000)
    text = _seconds_text(sec)
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def format_fixed(ns: int) -> str:
    """RFC 3339 UTC with exactly nine fraction digits."""
    sec, frac = divmod(ns, 1_000_000_000)
    return f"{_seconds_text(sec)}.{frac:09d}Z"


def now_fixed() -> str:
    return format_fixed(time.time_ns())


def parse(text: str) -> float:
    """RFC 3339 (fraction of up to nine digits optional; "Z", "z" or an offset; no zone
    is taken as UTC) -> seconds since the epoch. ZERO_TIME and "" give 0.0."""
    from datetime import UTC, datetime

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
        from wharfie.errors import InvalidArgument

        raise InvalidArgument(f"invalid time {text!r}: {e}") from e
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return base.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


def parse_fixed_ns(text: str) -> int:
    """The inverse of `format_fixed` (fewer or no fraction digits accepted): nanoseconds.
    Raises ValueError for anything else."""
    if not text.endswith("Z") or len(text) < 20:
        raise ValueError(f"invalid log time {text!r}")
    head = text[:19]
    sec = _parse_cache.get(head)
    if sec is None:
        import calendar

        sec = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
        if len(_parse_cache) > 4096:
            _parse_cache.clear()
        _parse_cache[head] = sec
    frac = text[20:-1] if text[19:20] == "." else ""
    return sec * 1_000_000_000 + (int(frac.ljust(9, "0")[:9]) if frac else 0)


_LAYOUTS = (
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d",
)  # fmt: skip


def get_timestamp(value: str, now: float | None = None) -> float:
    """Docker's since/until (timetypes.GetTimestamp) -> seconds since the epoch.

    Unix seconds with an optional fraction, RFC3339 / RFC3339Nano, date-time prefixes
    ("2006-01-02T15:04:05", "2006-01-02", taken as UTC here where moby uses the daemon's
    local zone), or a Go duration ("10m") counted back from `now`.
    """
    from datetime import UTC, datetime

    from wharfie.errors import InvalidArgument
    from wharfie.units import parse_duration

    s = value.strip()
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
    if "Z" in s or "z" in s or "+" in s[10:] or s[10:].count("-") > 0:
        try:
            return parse(s)
        except InvalidArgument:
            raise InvalidArgument(f'failed to parse value as time or duration: "{s}"') from None
    head, _, frac = s.partition(".")
    for layout in _LAYOUTS:
        try:
            base = datetime.strptime(head, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
        return base + (float("0." + frac) if frac.isdigit() else 0.0)
    raise InvalidArgument(f'failed to parse value as time or duration: "{s}"')
