"""Reading linux.resources fields with type checks; every error names the spec field."""

from __future__ import annotations

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RES = "linux.resources"
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1


def show(value: object) -> str:
    """A value as it would look in config.json."""
    if isinstance(value, str):
        return '"' + value + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def invalid(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {message}")


def obj(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(field, f"must be an object, got {show(value)}")
    return value


def section(parent: dict[str, Any], key: str, field: str) -> dict[str, Any] | None:
    """parent[key] as an object, or None when absent/null."""
    value = parent.get(key)
    if value is None:
        return None
    return obj(value, f"{field}.{key}")


def items(parent: dict[str, Any], key: str, field: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{field}.{key}", f"must be a list, got {show(value)}")
    return value


def integer(
    parent: dict[str, Any],
    key: str,
    field: str,
    *,
    minimum: int = -INT64_MAX - 1,
    maximum: int = INT64_MAX,
) -> int | None:
    """parent[key] as an int within [minimum, maximum], or None when absent/null."""
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{field}.{key}", f"must be an integer, got {show(value)}")
    if not minimum <= value <= maximum:
        raise invalid(f"{field}.{key}", f"must be between {minimum} and {maximum}, got {value}")
    return value


def unsigned(parent: dict[str, Any], key: str, field: str, maximum: int = UINT64_MAX) -> int | None:
    return integer(parent, key, field, minimum=0, maximum=maximum)


def required_int(parent: dict[str, Any], key: str, field: str, **bounds: int) -> int:
    value = integer(parent, key, field, **bounds)
    if value is None:
        raise invalid(f"{field}.{key}", "is required")
    return value


def boolean(parent: dict[str, Any], key: str, field: str) -> bool | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(f"{field}.{key}", f"must be true or false, got {show(value)}")
    return value


def string(parent: dict[str, Any], key: str, field: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{field}.{key}", f"must be a string, got {show(value)}")
    if "\n" in value or "\0" in value:
        raise invalid(f"{field}.{key}", f"must be a single line, got {show(value)}")
    return value


def resources_obj(resources: object) -> dict[str, Any]:
    if resources is None:
        return {}
    return obj(resources, RES)


def device_numbers(entry: dict[str, Any], field: str) -> str:
    """ "major:minor" of a blockIO device entry (both required, non-negative)."""
    major = required_int(entry, "major", field, minimum=0, maximum=0xFFFFFFFF)
    minor = required_int(entry, "minor", field, minimum=0, maximum=0xFFFFFFFF)
    return f"{major}:{minor}"
