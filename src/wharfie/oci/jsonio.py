"""JSON for hot start-up paths, built on the C accelerator `_json` directly.

`import json` pulls in `re` and `enum` (about 9 ms at interpreter start here),
which is a third of the runtime's whole budget for `run`. The C scanner and
encoder behind `json` need neither, so the runtime parses config.json and
writes state.json through them. Output matches `json.dumps(obj,
separators=(",", ":"))`; an invalid document raises ValueError with the
offset, like `json.loads`.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _ScanContext:
    """The attributes `_json.make_scanner` reads from a `json.JSONDecoder`."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return float(name.replace("Infinity", "inf"))


_scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]  # duck-typed decoder


def loads(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode()
    s = text.strip(" \t\n\r")
    try:
        obj, end = _scan(s, 0)
    except StopIteration as exc:
        raise ValueError(f"invalid JSON: expecting value at offset {exc.value}") from None
    if end != len(s):
        raise ValueError(f"invalid JSON: extra data at offset {end}")
    return obj


def _default(obj: Any) -> Any:
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(
    None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)


def dumps(obj: Any) -> str:
    return "".join(_encode(obj, 0))
