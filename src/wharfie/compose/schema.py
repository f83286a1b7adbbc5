"""A small validator for the parts of the compose specification Wharfie supports.

Each spec is an object with `check(value, path)` that raises `SchemaError` naming
the path (`services.web.ports[0]`) and `what`, a phrase for error messages
("a string", "a list"). `x-` extension keys are allowed in every object.
"""

from __future__ import annotations

import re

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class SchemaError(InvalidArgument):
    """A compose file that does not follow the specification; `path` names the spot."""

    def __init__(self, path: str, message: str, spot: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.spot = path if spot is None else spot  # where to look up the line


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


class Spec:
    what = "a value"

    def check(self, value: Any, path: str) -> None:
        raise NotImplementedError


class Leaf(Spec):
    def __init__(self, what: str, ok: Callable[[Any], bool]) -> None:
        self.what = what
        self.ok = ok

    def check(self, value: Any, path: str) -> None:
        if not self.ok(value):
            raise SchemaError(path, f"must be {self.what}, not {_show(value)}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


STR = Leaf("a string", lambda v: isinstance(v, str))
INT = Leaf("an integer", _is_int)
BOOL = Leaf("a boolean", lambda v: isinstance(v, bool))
NUM = Leaf("a number", _is_num)
SCALAR = Leaf(
    "a string, number or boolean", lambda v: v is None or isinstance(v, (str, int, float, bool))
)
STR_OR_NUM = Leaf("a string or number", lambda v: isinstance(v, str) or _is_num(v))

_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_BYTES = re.compile(r"^\d+(\.\d+)?\s*([bkmgtp]i?b?)?$", re.I)


class Pattern(Spec):
    def __init__(self, what: str, regex: re.Pattern[str], ints: bool = True) -> None:
        self.what = what
        self.regex = regex
        self.ints = ints

    def check(self, value: Any, path: str) -> None:
        if self.ints and _is_num(value):
            return
        if not isinstance(value, str) or not self.regex.match(value):
            raise SchemaError(path, f"invalid {self.what} {_show(value)}")


DURATION = Pattern("duration", _DURATION, ints=False)
BYTES = Pattern("byte size", _BYTES)


class Enum(Spec):
    def __init__(self, *choices: str, prefix: tuple[str, ...] = ()) -> None:
        self.choices = choices
        self.prefix = prefix
        self.what = "one of " + ", ".join(choices)

    def check(self, value: Any, path: str) -> None:
        if value in self.choices:
            return
        if isinstance(value, str) and any(value.startswith(p) for p in self.prefix):
            return
        raise SchemaError(path, f"must be {self.what}, not {_show(value)}")


class List(Spec):
    what = "a list"

    def __init__(self, item: Spec, unique: bool = False) -> None:
        self.item = item
        self.unique = unique

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise SchemaError(path, f"must be a list, not {_show(value)}")
        for i, v in enumerate(value):
            self.item.check(v, f"{path}[{i}]")


class Map(Spec):
    """A mapping with free keys and one value spec."""

    what = "a mapping"

    def __init__(self, value: Spec, key: re.Pattern[str] | None = None) -> None:
        self.value = value
        self.key = key

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(path, f"must be a mapping, not {_show(value)}")
        for k, v in value.items():
            if not isinstance(k, str) or (self.key is not None and not self.key.match(k)):
                raise SchemaError(path, f"invalid key {_show(k)}")
            self.value.check(v, f"{path}.{k}")


class Obj(Spec):
    """A mapping with known keys; anything else but `x-*` is an error."""

    what = "a mapping"

    def __init__(self, fields: dict[str, Spec], required: tuple[str, ...] = ()) -> None:
        self.fields = fields
        self.required = required

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(path, f"must be a mapping, not {_show(value)}")
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            spec = self.fields.get(k) if isinstance(k, str) else None
            if spec is None:
                if isinstance(k, str) and k.startswith("x-"):
                    continue
                raise SchemaError(path, f'additional property "{k}" is not allowed', sub)
            spec.check(v, sub)
        for k in self.required:
            if k not in value:
                raise SchemaError(path, f'"{k}" is required')


class OneOf(Spec):
    def __init__(self, *options: Spec) -> None:
        self.options = options
        self.what = " or ".join(o.what for o in options)

    def check(self, value: Any, path: str) -> None:
        shape = [o for o in self.options if _shape_matches(o, value)]
        if not shape:
            raise SchemaError(path, f"must be {self.what}, not {_show(value)}")
        shape[0].check(value, path)


def _shape_matches(spec: Spec, value: Any) -> bool:
    if isinstance(spec, (Obj, Map)):
        return isinstance(value, dict)
    if isinstance(spec, List):
        return isinstance(value, list)
    if isinstance(spec, Custom):
        return spec.accepts(value)
    try:
        spec.check(value, "")
    except SchemaError:
        return False
    return True


class Custom(Spec):
    """A check written as a function; `accepts` picks it inside a OneOf."""

    def __init__(
        self, what: str, fn: Callable[[Any, str], None], accepts: Callable[[Any], bool]
    ) -> None:
        self.what = what
        self.fn = fn
        self.accepts = accepts

    def check(self, value: Any, path: str) -> None:
        self.fn(value, path)


NULL = Leaf("null", lambda v: v is None)
STR_LIST = List(STR)
STR_OR_LIST = OneOf(STR, STR_LIST)
LIST_OR_DICT = OneOf(List(STR), Map(SCALAR))
