"""Sizes as Docker writes them (docker/go-units): "10m", "1.5g", "64MiB" (pure)."""

from __future__ import annotations

from wharfie.errors import InvalidArgument

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
