"""Dockerfile-style `--change` instructions applied to an image config (pure).

`apply(config, changes)` returns a new `config["config"]`-style dict (Docker's container
Config: Cmd, Entrypoint, Env, ExposedPorts, Labels, OnBuild, StopSignal, User, Volumes,
WorkingDir, Healthcheck). Used by `docker import --change` and `docker commit --change`.
Errors use Docker's wording: "<instr> is not a valid change command" and
"dockerfile parse error on line N: ...".
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Callable
from typing import Any

from wharfie.errors import InvalidArgument

Config = dict[str, Any]


class _ParseError(Exception):
    pass


def apply(config: Config | None, changes: list[str]) -> Config:
    out: Config = json.loads(json.dumps(config or {}))  # deep copy of plain JSON
    lines = [line for change in changes for line in _lines(change)]
    parsed = []
    for number, line in enumerate(lines, 1):
        word, _, rest = line.strip().partition(" ")
        instr = word.lower()
        if instr not in _HANDLERS:
            raise InvalidArgument(f"{instr} is not a valid change command")
        parsed.append((number, instr, rest.strip()))
    for number, instr, rest in parsed:
        try:
            _HANDLERS[instr](out, rest)
        except _ParseError as exc:
            raise InvalidArgument(f"dockerfile parse error on line {number}: {exc}") from exc
    return out


def _lines(change: str) -> list[str]:
    joined = change.replace("\\\n", "")
    return [ln for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _json_list(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(rest: str, name: str) -> list[str]:
    value = _json_list(rest)
    if value is not None:
        return value
    if not rest:
        raise _ParseError(f"{name} requires at least one argument")
    return ["/bin/sh", "-c", rest]


def _cmd(cfg: Config, rest: str) -> None:
    cfg["Cmd"] = _command(rest, "CMD")


def _entrypoint(cfg: Config, rest: str) -> None:
    cfg["Entrypoint"] = _command(rest, "ENTRYPOINT")
    cfg["Cmd"] = None  # as docker: a new ENTRYPOINT resets an inherited CMD


def _words(rest: str, name: str) -> list[str]:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise _ParseError(f"{name}: {exc}") from exc
    if not words:
        raise _ParseError(f"{name} requires at least one argument")
    return words


def _pairs(rest: str, name: str) -> list[tuple[str, str]]:
    words = _words(rest, name)
    if "=" not in words[0]:  # legacy "ENV key value with spaces"
        if len(words) < 2:
            raise _ParseError(f"{name} must have two arguments")
        key, _, value = rest.strip().partition(" ")
        return [(key, " ".join(shlex.split(value.strip())))]
    pairs = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq:
            raise _ParseError(
                f'Syntax error - can\'t find = in "{w}". Must be of the form: name=value'
            )
        if not key:
            raise _ParseError(f"{name} names can not be blank")
        pairs.append((key, value))
    return pairs


def _env(cfg: Config, rest: str) -> None:
    env: list[str] = list(cfg.get("Env") or [])
    for key, value in _pairs(rest, "ENV"):
        env = [e for e in env if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
    cfg["Env"] = env


def _label(cfg: Config, rest: str) -> None:
    labels = dict(cfg.get("Labels") or {})
    labels.update(_pairs(rest, "LABEL"))
    cfg["Labels"] = labels


def _expose(cfg: Config, rest: str) -> None:
    ports = dict(cfg.get("ExposedPorts") or {})
    for word in _words(rest, "EXPOSE"):
        port, _, proto = word.partition("/")
        if not port.replace("-", "").isdigit() or proto not in ("", "tcp", "udp", "sctp"):
            raise _ParseError(f"invalid containerPort: {word}")
        ports[f"{port}/{proto or 'tcp'}"] = {}
    cfg["ExposedPorts"] = ports


def _volume(cfg: Config, rest: str) -> None:
    paths = _json_list(rest) or _words(rest, "VOLUME")
    volumes = dict(cfg.get("Volumes") or {})
    for p in paths:
        if not p.strip():
            raise _ParseError("VOLUME specified can not be an empty string")
        volumes[p] = {}
    cfg["Volumes"] = volumes


def _single(key: str, name: str) -> Callable[[Config, str], None]:
    def handler(cfg: Config, rest: str) -> None:
        if not rest:
            raise _ParseError(f"{name} requires exactly one argument")
        cfg[key] = rest

    return handler


def _workdir(cfg: Config, rest: str) -> None:
    if not rest:
        raise _ParseError("WORKDIR requires exactly one argument")
    cfg["WorkingDir"] = posixpath.join(cfg.get("WorkingDir") or "/", rest)


def _onbuild(cfg: Config, rest: str) -> None:
    word = rest.partition(" ")[0].upper()
    if not word:
        raise _ParseError("ONBUILD requires at least one argument")
    if word in ("ONBUILD", "FROM", "MAINTAINER"):
        raise _ParseError(f"{word} isn't allowed as an ONBUILD trigger")
    cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), rest]


_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _duration(text: str) -> int:
    for unit in ("ns", "us", "ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return int(float(text[: -len(unit)]) * _UNITS[unit])
    raise _ParseError(f'time: invalid duration "{text}"')


_HC_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
}


def _healthcheck(cfg: Config, rest: str) -> None:
    hc: dict[str, Any] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        if name == "retries" and value.isdigit():
            hc["Retries"] = int(value)
        elif name in _HC_FLAGS:
            hc[_HC_FLAGS[name]] = _duration(value)
        else:
            raise _ParseError(f"Unknown flag: {name}")
        rest = rest.strip()
    kind, _, cmd = rest.partition(" ")
    if kind.upper() == "NONE" and not cmd.strip():
        cfg["Healthcheck"] = {"Test": ["NONE"]}
        return
    if kind.upper() != "CMD" or not cmd.strip():
        raise _ParseError('Unknown type"' + kind + '" in HEALTHCHECK (try CMD)')
    args = _json_list(cmd.strip())
    hc["Test"] = ["CMD", *args] if args is not None else ["CMD-SHELL", cmd.strip()]
    cfg["Healthcheck"] = hc


_HANDLERS: dict[str, Callable[[Config, str], None]] = {
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "healthcheck": _healthcheck,
    "label": _label,
    "onbuild": _onbuild,
    "stopsignal": _single("StopSignal", "STOPSIGNAL"),
    "user": _single("User", "USER"),
    "volume": _volume,
    "workdir": _workdir,
}
