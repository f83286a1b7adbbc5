"""Wrong types in every field of the create, update, exec and network-create bodies.

Each field of the Go struct (its shape from wharfie's own schemas, which name every field
moby decodes) gets values of the wrong JSON kind. wharfied must never answer 5xx to any of
them, and answers with dockerd's status wherever dockerd 20.10 answers 4xx (dockerd 20.10
answers a JSON type error with 500 where Engine 25 answers 400: that one difference is
allowed). The observations are compared like every other scenario's.
"""

from __future__ import annotations

from typing import Any

from harness import Side
from test_containers import sleeper

from wharfie.api import schemas
from wharfie.engine import validate

MISSING = "nosuch-fuzz-image:1"  # create fails on the image after the body is checked

SCALARS: dict[str, Any] = {"string": 7, "bool": "yes", "number": "7", "other": True}
KIND_VALUES = [{"a": 1}, [1]]


def wrong_values(kind: Any) -> list[Any]:
    if isinstance(kind, tuple):
        return ["x", 3] if not kind[0].startswith("[]") else [{"a": 1}, "x"]
    if kind in ("string",) or kind.startswith("container.") or kind.endswith("Mode"):
        return [7, {"a": 1}]
    if kind == "bool":
        return ["yes", 1]
    if kind in ("int", "int64", "uint16", "uint32", "uint64", "uint", "time.Duration"):
        return ["7", 1.5]
    if kind.startswith("[]") or kind in ("strslice.StrSlice", "[2]uint", "[][]string"):
        return [{"a": 1}, 5]
    return ["x", 5]  # maps and structs


DEPTH = 4  # named fields on a path: HostConfig.Mounts.0.VolumeOptions.DriverConfig at most


def fields(schema: tuple[str, dict[str, Any]], prefix: tuple[str, ...] = ()) -> list[Any]:
    """(path, Go kind) of every field, nested structs included; "0" on a path is a list's
    element, "k" a map's value."""
    out = []
    for name, raw in schema[1].items():  # lists and maps of structs: their elements too
        kind = raw
        path = (*prefix, name)
        out.append((path, kind))
        named = len([p for p in path if p not in ("0", "k")])
        if not isinstance(kind, tuple) or named >= DEPTH:
            continue
        if kind[0].startswith("[]") and isinstance(kind[1], tuple):
            out += fields(kind[1], (*path, "0"))
        elif kind[0].startswith("map[") and isinstance(kind[1], tuple):
            out += fields(kind[1], (*path, "k"))
        elif not kind[0].startswith(("[]", "map[")):
            out += fields(kind, path)
    return out


def body_with(base: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = dict(base)
    node: Any = body
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if key in ("0", "k"):
            continue
        if nxt == "0":
            node[key] = [{}]
            node = node[key][0]
        elif nxt == "k":
            node[key] = {"k": {}}
            node = node[key]["k"]
        else:
            node[key] = dict(node.get(key) or {})
            node = node[key]
    node[path[-1]] = value
    return body


CASES: list[tuple[str, str, str, dict[str, Any], tuple[str, dict[str, Any]]]] = [
    ("create", "POST", "/containers/create", {"Image": MISSING}, validate.CREATE_SCHEMA),
    ("update", "POST", "/containers/fz1/update", {}, validate.UPDATE_SCHEMA),
    ("exec", "POST", "/containers/fz1/exec", {"Cmd": ["true"]}, validate.EXEC_SCHEMA),
    (
        "network",
        "POST",
        "/networks/create",
        {"Name": "fzn", "Driver": "nosuch-driver"},
        schemas.NETWORK_CREATE,
    ),
]


def test_wrong_types_no_5xx(differ) -> None:
    seen: dict[str, list[tuple[str, int]]] = {}

    def s(d: Side) -> None:
        sleeper(d, "fz1")
        statuses = seen.setdefault(d.name, [])
        for name, method, path, base, schema in CASES:
            for field_path, kind in fields(schema):
                if name == "create" and field_path == ("Image",):
                    continue
                for value in wrong_values(kind):
                    label = f"{name} {'.'.join(field_path)}={value!r}"
                    obs = d.call(label, method, path, body_with(base, field_path, value))
                    statuses.append((label, obs["status"]))

    differ(s)
    ours = [(label, status) for label, status in seen["wharfied"] if status >= 500]
    assert not ours, f"wharfied answered 5xx to bad input: {ours[:20]}"
