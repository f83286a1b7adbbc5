"""Request bodies decoded as moby's Go decoder reads them (pure).

- `loads(raw)`: the document, or InvalidArgument with encoding/json's wording behind moby 25's
  "invalid JSON: " prefix (`invalid character 'N' looking for beginning of value`). NaN and
  Infinity are not JSON; nesting is allowed to Go's 10,000 levels; number literals keep their
  text (`1e400` is reported as written); an empty body is moby's "got EOF" and content after
  the document is "unexpected content after JSON".
- `canonical(value, schema)`: object keys matched to a struct's field names as Go does
  (exact match first, else case-insensitively; a later duplicate overwrites an earlier one).
- `check(value, schema, struct)`: type errors worded as Go >= 1.20 words them:
  `json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type
  int64` (the innermost struct's name, then the field's full path).

A schema is a Go type name (str) or a struct: (go name, {field: schema}); a list of structs
is ("[]<name>", struct-schema).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from wharfie.errors import InvalidArgument

__all__ = ["GoFloat", "canonical", "check", "loads", "type_error"]

MAX_DEPTH = 10_000  # encoding/json's maxNestingDepth


class GoFloat(float):
    """A JSON number with a fraction or exponent, remembering its literal text."""

    text: str

    def __new__(cls, text: str) -> GoFloat:
        self = super().__new__(cls, text)
        self.text = text
        return self


class _Constant(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _constant(name: str) -> Any:
    raise _Constant(name)


def _quote_char(c: str) -> str:
    """Go's quoteChar: 'x', '\\'' for a quote, '"' for a double quote."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    text = json.dumps(c)[1:-1] if not c.isprintable() else c
    return f"'{text}'"


_CONTEXTS = {
    "Expecting property name enclosed in double quotes": (
        "looking for beginning of object key string"
    ),
    "Expecting value": "looking for beginning of value",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Invalid control character at": "in string literal",
    "Invalid \\escape": "in string escape code",
}


def _syntax_error(text: str, exc: json.JSONDecodeError) -> InvalidArgument:
    pos = exc.pos
    if pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return InvalidArgument("invalid JSON: unexpected EOF")
    context = _CONTEXTS.get(exc.msg, "looking for beginning of value")
    if exc.msg == "Expecting ',' delimiter":
        opener = _innermost_open(text, pos)
        context = "after array element" if opener == "[" else context
    return InvalidArgument(f"invalid JSON: invalid character {_quote_char(text[pos])} {context}")


def _innermost_open(text: str, pos: int) -> str:
    stack: list[str] = []
    in_string = escaped = False
    for c in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            stack.append(c)
        elif c in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _depth(text: str) -> int:
    deepest = depth = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


_DECODER = json.JSONDecoder(parse_float=GoFloat, parse_constant=_constant)


def loads(
    raw: bytes | str, *, empty: str = "invalid JSON: got EOF while reading request body"
) -> Any:
    """Decode one JSON document as moby does (see the module's docstring)."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"invalid JSON: invalid UTF-8 at offset {exc.start}") from None
    if not text.strip():
        raise InvalidArgument(empty)
    try:
        value, end = _decode(text)
    except _Constant as exc:
        first = "I" if exc.name.lstrip("-").startswith("I") else exc.name[0]
        where = (
            "in numeric literal" if exc.name.startswith("-") else "looking for beginning of value"
        )
        raise InvalidArgument(f"invalid JSON: invalid character '{first}' {where}") from None
    except json.JSONDecodeError as exc:
        raise _syntax_error(text, exc) from None
    if text[end:].strip():
        raise InvalidArgument("unexpected content after JSON")
    return value


def _decode(text: str) -> tuple[Any, int]:
    start = len(text) - len(text.lstrip())
    try:
        return _DECODER.raw_decode(text, start)
    except RecursionError:
        depth = _depth(text)
        if depth > MAX_DEPTH:
            raise InvalidArgument(
                "invalid JSON: invalid character '{' exceeded max depth"
            ) from None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, depth * 3 + 200))
    try:
        return _DECODER.raw_decode(text, start)
    finally:
        sys.setrecursionlimit(limit)


# ------------------------------------------------------------------------ field names


def canonical(value: Any, schema: Any) -> Any:
    """`value` with object keys renamed to the schema's field names, as Go matches them."""
    if not isinstance(schema, tuple):
        return value
    name, fields = schema
    if name.startswith("[]"):
        return [canonical(v, fields) for v in value] if isinstance(value, list) else value
    if name.startswith("map["):  # keys are the map's own; the values are structs
        if not isinstance(value, dict):
            return value
        return {k: canonical(v, fields) for k, v in value.items()}
    if not isinstance(value, dict):
        return value
    folded = {k.lower(): k for k in fields}
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = str(key if key in fields else folded.get(key.lower(), key))
        out[field] = canonical(item, fields.get(field))
    return out


# ------------------------------------------------------------------------ type errors

INT_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "time.Duration": (-(1 << 63), (1 << 63) - 1),
    "uint16": (0, (1 << 16) - 1),
    "uint32": (0, (1 << 32) - 1),
    "uint64": (0, (1 << 64) - 1),
    "uint": (0, (1 << 64) - 1),
}
STR_SLICE = "strslice.StrSlice"


def _json_kind(value: Any, numeric_target: bool) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        if not numeric_target:
            return "number"
        return f"number {value.text if isinstance(value, GoFloat) else value}"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def type_error(value: Any, where: str, go_type: str) -> InvalidArgument:
    target = f"Go struct field {where}" if where else "Go value"
    return InvalidArgument(
        f"invalid JSON: json: cannot unmarshal {_json_kind(value, go_type in INT_RANGES)} "
        f"into {target} of type {go_type}"
    )


def _short(go_name: str) -> str:
    return go_name.rsplit(".", 1)[-1].lstrip("*[]")


def check(value: Any, kind: Any, struct: str = "", path: str = "") -> None:
    """Raise like Go's decoder when `value` cannot be decoded into `kind` (null always can).
    `struct` is the Go name of the struct holding the field at `path` (for the wording)."""
    if value is None:
        return
    where = f"{struct}.{path}" if path else ""
    if isinstance(kind, tuple):
        go_name, fields = kind
        if go_name.startswith("[]"):
            if not isinstance(value, list):
                raise type_error(value, where, go_name)
            for item in value:
                check(item, fields, struct, path)
            return
        if go_name.startswith("map["):
            if not isinstance(value, dict):
                raise type_error(value, where, go_name)
            for item in value.values():
                check(item, fields, struct, path)
            return
        if not isinstance(value, dict):
            raise type_error(value, where, go_name)
        inner = _short(go_name)
        for key, item in value.items():
            if key in fields:
                check(item, fields[key], inner, f"{path}.{key}" if path else key)
        return
    _check_scalar(value, kind, where)


def _check_scalar(value: Any, kind: str, where: str) -> None:
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or not low <= value <= high:
            raise type_error(value, where, kind)
    elif kind in ("float64", "float32"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise type_error(value, where, kind)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise type_error(value, where, kind)
    elif kind == "string" or kind.startswith("container.") or kind.endswith("Mode"):
        if not isinstance(value, str):
            raise type_error(value, where, kind)
    elif kind == STR_SLICE:  # moby's UnmarshalJSON tries []string, then string
        if not isinstance(value, str) and not _list_of(value, str):
            raise type_error(value, where, "string")
    elif kind == "[]string":
        if not isinstance(value, list):
            raise type_error(value, where, kind)
        bad = next((v for v in value if v is not None and not isinstance(v, str)), None)
        if bad is not None:
            raise type_error(bad, where, "string")
    elif kind == "[][]string":
        if not isinstance(value, list):
            raise type_error(value, where, kind)
        for item in value:
            if item is not None:
                _check_scalar(item, "[]string", where)
    elif kind == "[2]uint":
        if not isinstance(value, list):
            raise type_error(value, where, kind)
        for item in value:
            _check_scalar(item, "uint", where)
    elif kind.startswith("map[string]string"):
        if not isinstance(value, dict):
            raise type_error(value, where, kind)
        for item in value.values():
            if item is not None and not isinstance(item, str):
                raise type_error(item, where, "string")
    elif kind.startswith("[]"):
        if not isinstance(value, list):
            raise type_error(value, where, kind)
    elif not isinstance(value, dict):  # maps and structs we keep without looking inside
        raise type_error(value, where, kind)


def _list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(item is None or isinstance(item, kind) for item in value)
