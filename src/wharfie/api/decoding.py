"""Query parameters and JSON bodies read as moby's handlers read them.

- A repeated query parameter: the first value wins (Go's `r.Form.Get`).
- Booleans are moby's `httputils.BoolValue`: "", "0", "no", "false" and "none" are false.
- Integers are `strconv.Atoi`, with its wording: `strconv.Atoi: parsing "abc": invalid
  syntax` (400: bad input never answers 5xx here).
- JSON bodies go through engine.gojson (Go's syntax and type errors, moby 25's wording).
"""

from __future__ import annotations

import json
from typing import Any

from wharfie.api.http import Request
from wharfie.engine import gojson
from wharfie.errors import InvalidArgument

__all__ = ["EOF", "arg", "atoi", "flag", "json_body", "number", "number_opt", "timestamp_ns"]

EOF = "invalid JSON: got EOF while reading request body"
INT64 = (-(1 << 63), (1 << 63) - 1)


def arg(req: Request, name: str, default: str = "") -> str:
    values = req.query.get(name)
    return values[0] if values else default


def flag(req: Request, name: str, default: bool = False) -> bool:
    if name not in req.query:
        return default
    return arg(req, name).strip().lower() not in ("", "0", "no", "false", "none")


def atoi(text: str, func: str = "strconv.Atoi") -> int:
    quoted = json.dumps(text, ensure_ascii=False)
    stripped = text[1:] if text[:1] in "+-" else text
    if not stripped or not stripped.isascii() or not stripped.isdigit():
        raise InvalidArgument(f"{func}: parsing {quoted}: invalid syntax")
    value = int(text)
    if not INT64[0] <= value <= INT64[1]:
        raise InvalidArgument(f"{func}: parsing {quoted}: value out of range")
    return value


def number(req: Request, name: str, default: int) -> int:
    text = arg(req, name)
    return default if text == "" else atoi(text)


def number_opt(req: Request, name: str) -> int | None:
    text = arg(req, name)
    return None if text == "" else atoi(text)


def timestamp_ns(text: str) -> int | None:
    """A since/until parameter in ns (None when absent); moby's strconv wording, as a 400,
    when it is not a time."""
    if not text:
        return None
    from wharfie.engine import present

    try:
        return int(present.parse_time(text) * 1_000_000_000)
    except (InvalidArgument, ValueError):
        head = json.dumps(text.split(".", 1)[0], ensure_ascii=False)
        raise InvalidArgument(f"strconv.ParseInt: parsing {head}: invalid syntax") from None


async def json_body(req: Request, *, empty: Any = None, required: str = "") -> Any:
    """The body decoded as Go does; `empty` when there is none (or `required`'s error)."""
    raw = await req.body()
    if not raw.strip():
        if required:
            raise InvalidArgument(required)
        return empty
    return gojson.loads(raw)


def tail(text: str) -> int:
    """A logs `tail`: moby reads "all", anything that is not a number, and negative numbers
    as every line (-1 here)."""
    try:
        n = atoi(text)
    except InvalidArgument:
        return -1
    return n if n >= 0 else -1
