"""Sizes and durations as Docker prints and parses them (docker/go-units, Go's time).

Pure and cheap to import: the CLI (start-up is measured) and the engine both use it.
"""

from __future__ import annotations

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
    """go-units HumanDuration."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
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


_UNITS = {
    "ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0,
    "m": 60.0, "h": 3600.0,
}  # fmt: skip


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration ("1h30m", "-10m", "1.5s") -> seconds."""
    s = text
    sign = 1.0
    if s[:1] in ("-", "+"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise InvalidArgument(f'time: invalid duration "{text}"')
    total = 0.0
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() or s[i] == "."):
            i += 1
        number, s = s[:i], s[i:]
        j = 0
        while j < len(s) and not (s[j].isdigit() or s[j] == "."):
            j += 1
        unit, s = s[:j], s[j:]
        if not number or number == "." or number.count(".") > 1:
            raise InvalidArgument(f'time: invalid duration "{text}"')
        if unit not in _UNITS:
            kind = "missing unit" if not unit else f'unknown unit "{unit}"'
            raise InvalidArgument(f'time: {kind} in duration "{text}"')
        total += float(number) * _UNITS[unit]
    return sign * total


_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def _parse(text: str, table: dict[str, int]) -> int:
    s = text.strip()
    number = s.rstrip("bBiI kKmMgGtTpP")
    suffix = s[len(number) :].strip().lower()
    if suffix.endswith("b"):
        suffix = suffix[:-1]
    if suffix.endswith("i"):
        suffix = suffix[:-1]
    try:
        value = float(number) if number and not number.startswith(("-", "+")) else None
    except ValueError:
        value = None
    if value is None or suffix not in table or number.strip() != number:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(value * table[suffix])


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: binary multiples ("10m" = 10 MiB); "invalid size: 'x'" otherwise."""
    return _parse(text, _BINARY)


def from_human_size(text: str) -> int:
    """go-units FromHumanSize: decimal multiples ("10m" = 10 MB)."""
    return _parse(text, _DECIMAL)
