"""Short syntaxes of the compose specification turned into their long form (pure).

ports:   "[HOST_IP:][HOST_PORT[-RANGE]:]CONTAINER_PORT[-RANGE][/PROTOCOL]"
volumes: "[SOURCE:]TARGET[:MODE]"
durations "1m30s", byte sizes "512m"
"""

from __future__ import annotations

import re

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PORT = re.compile(r"^(\d+)(?:-(\d+))?$")
_PROTOCOLS = ("tcp", "udp", "sctp")


def _range(text: str) -> tuple[int, int] | None:
    m = _PORT.match(text)
    if m is None:
        return None
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    if not 0 < lo <= hi <= 65535:
        return None
    return lo, hi


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_port(spec: str | int) -> list[dict[str, Any]]:
    """One short port spec → long-syntax entries; InvalidArgument names the spec."""
    text = str(spec)
    bad = InvalidArgument(f'invalid port "{text}"')
    body, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in _PROTOCOLS:
        raise bad
    host_ip = ""
    if body.startswith("["):
        end = body.find("]")
        if end < 0 or body[end + 1 : end + 2] != ":":
            raise bad
        host_ip, body = body[1:end], body[end + 2 :]
        parts = body.split(":")
        if len(parts) != 2:
            raise bad
    else:
        parts = body.split(":")
        if len(parts) == 3:
            host_ip, parts = parts[0], parts[1:]
        elif len(parts) > 3:
            raise bad
    target = _range(parts[-1])
    if target is None or (host_ip and not _is_ip(host_ip)):
        raise bad
    published = parts[0] if len(parts) == 2 else ""
    host = _range(published) if published else None
    if published and host is None:
        raise bad
    return _pairs(target, host, published, host_ip, proto, bad)


def _pairs(
    target: tuple[int, int],
    host: tuple[int, int] | None,
    published: str,
    host_ip: str,
    proto: str,
    bad: InvalidArgument,
) -> list[dict[str, Any]]:
    count = target[1] - target[0] + 1
    out = []
    for i in range(count):
        if host is None:
            pub = ""
        elif host[1] - host[0] + 1 == count:
            pub = str(host[0] + i)
        elif count == 1:
            pub = published
        else:
            raise bad
        entry: dict[str, Any] = {"target": target[0] + i, "protocol": proto, "mode": "ingress"}
        if pub:
            entry["published"] = pub
        if host_ip:
            entry["host_ip"] = host_ip
        out.append(entry)
    return out


_VOLUME_MODES = frozenset(
    (
        "ro",
        "rw",
        "z",
        "Z",
        "nocopy",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "private",
        "rprivate",
        "cached",
        "delegated",
        "consistent",
    )
)


def parse_volume(spec: str) -> dict[str, Any]:
    """One short volume spec → its long form {type, source, target, read_only, ...}."""
    parts = spec.split(":")
    if not spec or len(parts) > 3 or not all(parts):
        raise InvalidArgument(f'invalid volume "{spec}"')
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    if len(parts) == 2 and not parts[1].startswith("/"):
        # "target:mode" for an anonymous volume is not valid; "src:ro" misses a target
        raise InvalidArgument(f'invalid volume "{spec}": the target must be an absolute path')
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    for mode in modes:
        if mode not in _VOLUME_MODES:
            raise InvalidArgument(f'invalid volume "{spec}": unknown mode "{mode}"')
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    out: dict[str, Any] = {"type": kind, "source": source, "target": target}
    if "ro" in modes:
        out["read_only"] = True
    if kind == "bind":
        out["bind"] = {"create_host_path": True}
        prop = [m for m in modes if m.endswith(("shared", "slave", "private"))]
        if prop:
            out["bind"]["propagation"] = prop[0]
    elif "nocopy" in modes:
        out["volume"] = {"nocopy": True}
    return out


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def duration_ns(value: str | int | float) -> int:
    """Go duration ("1m30s", "500ms") → nanoseconds; a bare number means seconds."""
    if isinstance(value, (int, float)):
        return int(value * 10**9)
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(value) or not value:
        raise InvalidArgument(f'invalid duration "{value}"')
    return int(total)


_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def byte_size(value: str | int | float) -> int:
    """ "512m", "1g", "100kb", 1024 → bytes (binary units, as compose)."""
    if isinstance(value, (int, float)):
        return int(value)
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgtp]?)i?b?\s*$", value, re.I)
    if m is None:
        raise InvalidArgument(f'invalid byte size "{value}"')
    return int(float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()])


def split_command(value: str | list[str] | None) -> list[str] | None:
    """A string command is split as a POSIX shell would (compose uses shellwords)."""
    if value is None or isinstance(value, list):
        return value
    import shlex

    try:
        return shlex.split(value)
    except ValueError as exc:
        raise InvalidArgument(f'invalid command "{value}": {exc}') from exc


def kv_list(value: Any, sep: str = "=") -> dict[str, str | None]:
    """A list of "K=V" (or "K") or a mapping → a mapping; None marks "K" without a value."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): None if v is None else _scalar(v) for k, v in value.items()}
    out: dict[str, str | None] = {}
    for item in value:
        key, eq, val = str(item).partition(sep)
        out[key] = val if eq else None
    return out


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
