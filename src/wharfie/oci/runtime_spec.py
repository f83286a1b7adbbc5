"""Validation of an OCI runtime spec (config.json) before anything is created.

`validate(spec)` walks the fields the runtime honours and raises
InvalidArgument naming the first bad field by its path, for example
`process.args: expected a list of strings, got str`. It checks shapes and
values only; whether the host can provide something (a rootfs, a mount
source) is checked where it is used.

This module is on the runtime's start path: it imports nothing heavy.
"""

from __future__ import annotations

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Check = Callable[[str, Any], None]

NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
HOOK_NAMES = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)
PROPAGATIONS = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable")
RLIMITS = (
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
)

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    dict: "an object",
    list: "a list",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {str: "string", int: "integer", float: "number", dict: "object", list: "array"}.get(
        type(value), type(value).__name__
    )


def fail(path: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{path}: {message}")


def _is(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def want(path: str, value: Any, kind: type) -> None:
    if not _is(value, kind):
        raise fail(path, f"expected {_TYPE_NAMES[kind]}, got {_json_type(value)}")


def want_list_of(path: str, value: Any, kind: type) -> None:
    if not isinstance(value, list) or not all(_is(v, kind) for v in value):
        raise fail(path, f"expected a list of {_TYPE_NAMES[kind][2:].strip()}s")


def _fields(path: str, obj: Any, spec: dict[str, Check], required: tuple[str, ...] = ()) -> None:
    want(path, obj, dict)
    for key in required:
        if key not in obj:
            raise fail(f"{path}.{key}" if path else key, "required field is missing")
    for key, check in spec.items():
        if key in obj and obj[key] is not None:
            check(f"{path}.{key}" if path else key, obj[key])


def _str(p: str, v: Any) -> None:
    want(p, v, str)


def _bool(p: str, v: Any) -> None:
    want(p, v, bool)


def _int(p: str, v: Any) -> None:
    want(p, v, int)


def _strs(p: str, v: Any) -> None:
    want_list_of(p, v, str)


def _ints(p: str, v: Any) -> None:
    want_list_of(p, v, int)


def _obj(p: str, v: Any) -> None:
    want(p, v, dict)


def _str_map(p: str, v: Any) -> None:
    want(p, v, dict)
    for k, val in v.items():
        want(f"{p}.{k}", val, str)


def _abs_path(p: str, v: Any) -> None:
    want(p, v, str)
    if not v.startswith("/"):
        raise fail(p, f"path {v!r} must be absolute")


def _each(check: Check) -> Check:
    def run(p: str, v: Any) -> None:
        want(p, v, list)
        for i, item in enumerate(v):
            check(f"{p}[{i}]", item)

    return run


def _args(p: str, v: Any) -> None:
    want_list_of(p, v, str)
    if not v:
        raise fail(p, "args must not be empty")


def _user(p: str, v: Any) -> None:
    _fields(
        p,
        v,
        {"uid": _int, "gid": _int, "umask": _int, "additionalGids": _ints, "username": _str},
        required=("uid", "gid"),
    )


def _caps(p: str, v: Any) -> None:
    sets = ("bounding", "effective", "inheritable", "permitted", "ambient")
    _fields(p, v, {k: _strs for k in sets})


def _rlimit(p: str, v: Any) -> None:
    _fields(p, v, {"type": _str, "hard": _int, "soft": _int}, required=("type", "hard", "soft"))
    if v["type"] not in RLIMITS:
        raise fail(f"{p}.type", f"unknown rlimit type {v['type']!r}")
    if v["soft"] > v["hard"]:
        raise fail(p, f"soft limit {v['soft']} is above the hard limit {v['hard']}")


def _console_size(p: str, v: Any) -> None:
    _fields(p, v, {"height": _int, "width": _int}, required=("height", "width"))


def process(p: str, v: Any) -> None:
    _fields(
        p,
        v,
        {
            "terminal": _bool,
            "consoleSize": _console_size,
            "user": _user,
            "args": _args,
            "commandLine": _str,
            "env": _strs,
            "cwd": _abs_path,
            "capabilities": _caps,
            "rlimits": _each(_rlimit),
            "noNewPrivileges": _bool,
            "apparmorProfile": _str,
            "oomScoreAdj": _int,
            "selinuxLabel": _str,
            "umask": _int,
        },
        required=("cwd", "args") if "commandLine" not in v else ("cwd",),
    )
    if "env" in v and v["env"] is not None:
        for i, entry in enumerate(v["env"]):
            if "=" not in entry:
                raise fail(f"{p}.env[{i}]", f"{entry!r} is not of the form KEY=VALUE")


def _mount(p: str, v: Any) -> None:
    _fields(
        p,
        v,
        {
            "destination": _abs_path,
            "type": _str,
            "source": _str,
            "options": _strs,
            "uidMappings": _each(_id_map),
            "gidMappings": _each(_id_map),
        },
        required=("destination",),
    )


def _hook(p: str, v: Any) -> None:
    _fields(
        p,
        v,
        {"path": _abs_path, "args": _strs, "env": _strs, "timeout": _int},
        required=("path",),
    )
    if v.get("timeout") is not None and v["timeout"] <= 0:
        raise fail(f"{p}.timeout", "must be greater than zero")


def _hooks(p: str, v: Any) -> None:
    want(p, v, dict)
    for name, hooks in v.items():
        if name not in HOOK_NAMES:
            raise fail(
                f"{p}.{name}", f"unknown hook kind (expected one of {', '.join(HOOK_NAMES)})"
            )
        if hooks is not None:
            _each(_hook)(f"{p}.{name}", hooks)


def _namespace(p: str, v: Any) -> None:
    _fields(p, v, {"type": _str, "path": _str}, required=("type",))
    if v["type"] not in NAMESPACES:
        raise fail(f"{p}.type", f"namespace {v['type']!r} does not exist")


def _namespaces(p: str, v: Any) -> None:
    _each(_namespace)(p, v)
    seen: set[str] = set()
    for i, ns in enumerate(v):
        if ns["type"] in seen:
            raise fail(f"{p}[{i}]", f"duplicate namespace {ns['type']!r}")
        seen.add(ns["type"])


def _id_map(p: str, v: Any) -> None:
    _fields(
        p,
        v,
        {"containerID": _int, "hostID": _int, "size": _int},
        required=("containerID", "hostID", "size"),
    )


def _device(p: str, v: Any) -> None:
    _fields(
        p,
        v,
        {
            "type": _str,
            "path": _abs_path,
            "major": _int,
            "minor": _int,
            "fileMode": _int,
            "uid": _int,
            "gid": _int,
        },
        required=("type", "path"),
    )
    if v["type"] not in ("c", "b", "u", "p"):
        raise fail(f"{p}.type", f"device type {v['type']!r} is not one of c, b, u, p")
    if v["type"] != "p" and ("major" not in v or "minor" not in v):
        raise fail(p, "major and minor are required for character and block devices")


def _propagation(p: str, v: Any) -> None:
    want(p, v, str)
    if v not in PROPAGATIONS:
        raise fail(p, f"unknown propagation {v!r} (expected one of {', '.join(PROPAGATIONS[1:])})")


def linux(p: str, v: Any) -> None:
    _fields(
        p,
        v,
        {
            "namespaces": _namespaces,
            "uidMappings": _each(_id_map),
            "gidMappings": _each(_id_map),
            "devices": _each(_device),
            "cgroupsPath": _str,
            "resources": _obj,
            "sysctl": _str_map,
            "seccomp": _obj,
            "rootfsPropagation": _propagation,
            "maskedPaths": _strs,
            "readonlyPaths": _strs,
            "mountLabel": _str,
        },
    )
    kinds = {ns["type"] for ns in v.get("namespaces") or ()}
    if (v.get("uidMappings") or v.get("gidMappings")) and "user" not in kinds:
        raise fail(f"{p}.uidMappings", "user namespace mappings given without a user namespace")


def _root(p: str, v: Any) -> None:
    _fields(p, v, {"path": _str, "readonly": _bool}, required=("path",))


def validate(spec: Any, need_process: bool = True) -> None:
    """Raise InvalidArgument naming the first field of `spec` that is malformed."""
    if not isinstance(spec, dict):
        raise InvalidArgument(f"config.json: expected an object, got {_json_type(spec)}")
    required = ("ociVersion", "root", "process") if need_process else ("ociVersion", "root")
    _fields(
        "",
        spec,
        {
            "ociVersion": _str,
            "root": _root,
            "process": process,
            "hostname": _str,
            "domainname": _str,
            "mounts": _each(_mount),
            "hooks": _hooks,
            "annotations": _str_map,
            "linux": linux,
        },
        required=required,
    )
