"""The exec, exec-start and update bodies, detach keys and signals (pure; moby 25's
wording). Part of the request checks (engine.validate)."""

from __future__ import annotations

from typing import Any

from wharfie.engine.gojson import STR_SLICE, canonical, check, type_error
from wharfie.engine.validate_fields import HOST_FIELDS, RESOURCE_FIELDS
from wharfie.errors import InvalidArgument

__all__ = [
    "DEFAULT_DETACH_KEYS",
    "EXEC_SCHEMA",
    "UPDATE_SCHEMA",
    "container_update",
    "detach_keys",
    "exec_create",
    "exec_start",
    "platform_signal",
    "signal_number",
]


EXEC_FIELDS: dict[str, Any] = {
    "User": "string", "Privileged": "bool", "Tty": "bool", "ConsoleSize": "[2]uint",
    "AttachStdin": "bool", "AttachStderr": "bool", "AttachStdout": "bool", "Detach": "bool",
    "DetachKeys": "string", "Env": "[]string", "WorkingDir": "string", "Cmd": STR_SLICE,
}  # fmt: skip
EXEC_SCHEMA = ("types.ExecConfig", EXEC_FIELDS)


EXEC_START_SCHEMA = (
    "types.ExecStartCheck",
    {"Detach": "bool", "Tty": "bool", "ConsoleSize": "[2]uint"},
)
UPDATE_FIELDS: dict[str, Any] = {
    **{k: v for k, v in HOST_FIELDS.items() if k in RESOURCE_FIELDS},
    "RestartPolicy": HOST_FIELDS["RestartPolicy"],
}
UPDATE_SCHEMA = ("container.UpdateConfig", UPDATE_FIELDS)


def exec_start(body: object) -> dict[str, Any]:
    """A `POST /exec/{id}/start` body, checked (Go's decoding of types.ExecStartCheck)."""
    if not isinstance(body, dict):
        raise type_error(body, "", "types.ExecStartCheck")
    out: dict[str, Any] = canonical(body, EXEC_START_SCHEMA)
    check(out, EXEC_START_SCHEMA)
    return out


def container_update(body: object) -> dict[str, Any]:
    """A `POST /containers/{id}/update` body, checked (Go's decoding of UpdateConfig)."""
    if not isinstance(body, dict):
        raise type_error(body, "", "container.UpdateConfig")
    out: dict[str, Any] = canonical(body, UPDATE_SCHEMA)
    check(out, UPDATE_SCHEMA)
    return out


def exec_create(body: object) -> dict[str, Any]:
    """A `POST /containers/{id}/exec` body checked and with defaults (a new dict)."""
    if body is not None and not isinstance(body, dict):
        raise type_error(body, "", "types.ExecConfig")
    src = canonical(body or {}, EXEC_SCHEMA)
    check(src, EXEC_SCHEMA)
    out = dict(src)
    if isinstance(out.get("Cmd"), str):
        out["Cmd"] = [out["Cmd"]]
    if not out.get("Cmd"):
        raise InvalidArgument("No exec command specified")
    for key in ("User", "DetachKeys", "WorkingDir"):
        out[key] = out.get(key) or ""
    for key in ("Privileged", "Tty", "AttachStdin", "AttachStderr", "AttachStdout", "Detach"):
        out[key] = bool(out.get(key))
    out.setdefault("Env", None)
    out.setdefault("ConsoleSize", None)
    if out["WorkingDir"] and not out["WorkingDir"].startswith("/"):
        raise InvalidArgument(
            f"the working directory '{out['WorkingDir']}' is invalid, it needs to be an "
            "absolute path"
        )
    if out["DetachKeys"]:
        try:
            detach_keys(out["DetachKeys"])
        except InvalidArgument:  # moby's exec wording
            raise InvalidArgument(f"Invalid escape keys ({out['DetachKeys']}) provided") from None
    return out


_CTRL = ["ctrl-@"] + [f"ctrl-{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
_CTRL += ["ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"]
DEFAULT_DETACH_KEYS = b"\x10\x11"


def detach_keys(spec: str) -> bytes:
    """moby's term.ToBytes: "ctrl-p,ctrl-q" -> b"\\x10\\x11"; single characters as themselves."""
    out = bytearray()
    for key in spec.split(","):
        if len(key) == 1:
            out += key.encode()
        elif key in _CTRL:
            out.append(_CTRL.index(key))
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


def _signal_map() -> dict[str, int]:
    import signal

    table = {s.name[3:]: int(s) for s in signal.Signals if s.name.startswith("SIG")}
    table.pop("RTMIN", None)
    table.pop("RTMAX", None)
    low, high = signal.SIGRTMIN, signal.SIGRTMAX
    table["RTMIN"], table["RTMAX"] = low, high
    for i in range(1, 16):
        table[f"RTMIN+{i}"] = low + i
        table[f"RTMAX-{i}"] = high - i
    return table


_SIGNALS: dict[str, int] = {}


def platform_signal(name: str) -> int:
    """signal_number, then moby's ValidSignalForPlatform: a number Linux does not have is
    `the linux daemon does not support signal 999`."""
    number = signal_number(name)
    if not _SIGNALS:
        _SIGNALS.update(_signal_map())
    if number not in _SIGNALS.values():
        raise InvalidArgument(f"the linux daemon does not support signal {number}")
    return number


def signal_number(name: str) -> int:
    """moby's signal.ParseSignal: "KILL", "SIGKILL", "9", "SIGRTMIN+3" -> number."""
    try:
        number = int(name)
    except ValueError:
        pass
    else:
        if number <= 0:
            raise InvalidArgument(f"Invalid signal: {name}")
        return number
    if not _SIGNALS:
        _SIGNALS.update(_signal_map())
    upper = name.upper()
    found = _SIGNALS.get(upper[3:] if upper.startswith("SIG") else upper)
    if found is None:
        raise InvalidArgument(f"Invalid signal: {name}")
    return found
