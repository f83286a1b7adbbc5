"""The daemon options that are defaults for containers (daemon.json / flags), parsed and
checked as dockerd does: `labels`, `dns-search`, `dns-opts`, `default-ulimits`,
`default-shm-size`. Pure; ValueError with dockerd's wording (config.py reports it as a
ConfigError).

The engine applies them (engine Config fields of the same names): labels in `docker info`;
default ulimits to containers that do not set that ulimit (inspect shows them merged, as
dockerd's); the shm size to containers that set none; dns search and options in the
resolv.conf of containers that set none (network/resolvconf.py).
"""

from __future__ import annotations

from typing import Any

from wharfie.errors import InvalidArgument
from wharfie.units import ram_in_bytes

# go-units' ulimit names
ULIMIT_NAMES = (
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
)


def ulimit_flag(spec: str) -> tuple[str, dict[str, int | str]]:
    """`--default-ulimit NAME=SOFT[:HARD]`, as go-units ParseUlimit."""
    name, sep, limits = spec.partition("=")
    if not sep:
        raise ValueError(f"invalid ulimit argument: {spec}")
    if name not in ULIMIT_NAMES:
        raise ValueError(f"invalid ulimit type: {name}")
    soft_text, _, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        bad = soft_text if not _is_int(soft_text) else hard_text
        raise ValueError(
            f'invalid ulimit argument: strconv.ParseInt: parsing "{bad}": invalid syntax'
        ) from None
    if soft > hard:
        raise ValueError(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return name, {"Name": name, "Hard": hard, "Soft": soft}


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def ulimits_file(value: Any) -> dict[str, dict[str, int | str]]:
    """daemon.json's `default-ulimits`: {"nofile": {"Name": "nofile", "Hard": N, "Soft": N}}."""
    out: dict[str, dict[str, int | str]] = {}
    for key, spec in value.items():
        if not isinstance(spec, dict):
            raise ValueError(
                f"json: cannot unmarshal {_kind(spec)} into Go struct field "
                "Config.default-ulimits of type units.Ulimit"
            )
        for field in ("Hard", "Soft"):
            v = spec.get(field, 0)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(
                    f"json: cannot unmarshal {_kind(v)} into Go struct field "
                    f"Ulimit.default-ulimits.{field} of type int64"
                )
        name = spec.get("Name", "")
        if not isinstance(name, str):
            raise ValueError(
                f"json: cannot unmarshal {_kind(name)} into Go struct field "
                "Ulimit.default-ulimits.Name of type string"
            )
        out[key] = {
            "Name": name,
            "Hard": int(spec.get("Hard", 0)),
            "Soft": int(spec.get("Soft", 0)),
        }
    return out


def shm_size(value: Any) -> int:
    """`default-shm-size`: go-units RAMInBytes of a string (opts.MemBytes)."""
    if not isinstance(value, str):
        raise ValueError(f"invalid size: {_go_quote(value)}")
    try:
        size = ram_in_bytes(value)
    except InvalidArgument as e:
        raise ValueError(str(e)) from e
    return size


def _go_quote(value: Any) -> str:
    import json

    return json.dumps(json.dumps(value))


def validate_label(label: str) -> str:
    """opts.ValidateLabel (dockerd 20.10): KEY=VALUE."""
    if "=" not in label:
        raise ValueError(f"bad attribute format: {label}")
    return label


def conflict_free_labels(labels: list[str]) -> list[str]:
    """config.GetConflictFreeLabels: duplicates dropped, two values for one key refused."""
    seen: dict[str, str] = {}
    out = []
    for label in labels:
        key, _, value = label.partition("=")
        if key in seen and seen[key] != value:
            raise ValueError(f"conflict labels for {key}={value} and {key}={seen[key]}")
        if key not in seen:
            seen[key] = value
            out.append(label)
    return out


def validate_dns_search(domain: str) -> str:
    """opts.ValidateDNSSearch: `.`, or a domain name."""
    import re

    pattern = re.compile(
        r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
        r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
    )
    d = domain.strip(" ")
    if d == ".":
        return d
    m = pattern.match(d)
    if not re.search("[a-zA-Z]", d) or m is None or len(m.group(1)) >= 255:
        raise ValueError(f"{d} is not a valid domain")
    return d


def validate_ipc_mode(mode: str) -> str:
    """dockerd's verifyDefaultIpcMode."""
    hint = 'use "shareable" or "private"'
    valid = mode in ("", "none", "private", "shareable", "host") or (
        mode.startswith("container:") and len(mode) > len("container:")
    )
    if not valid:
        raise ValueError(f"default IPC mode setting ({mode}) is invalid; {hint}")
    if mode not in ("", "private", "shareable"):
        raise ValueError(f'IPC mode "{mode}" is not supported as default value; {hint}')
    return mode


def validate_cgroupns_mode(mode: str) -> str:
    """dockerd's verifyDefaultCgroupNsMode."""
    if mode not in ("", "host", "private"):
        raise ValueError(
            f'default cgroup namespace mode ({mode}) is invalid; use "host" or "private"'
        )
    return mode


def validate_ip(text: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"invalid IP address: {text}") from None
    return text


# Checked on each flag value (its type's validator: `invalid argument "x" for "--label"`)
FLAG_VALIDATORS = {"labels": validate_label, "dns-search": validate_dns_search}
# Checked by dockerd's config validation: the file's values, then the merged ones
VALIDATORS = {
    **FLAG_VALIDATORS,
    "default-ipc-mode": validate_ipc_mode,
    "default-cgroupns-mode": validate_cgroupns_mode,
}
# Checked as the file is read (their errors have no "configuration validation" prefix)
PARSERS = {"ip": validate_ip}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
