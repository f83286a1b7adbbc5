"""The compose specification's structure for the fields Wharfie supports.

`check_file(doc)` validates one file after interpolation (as compose does, before
merging); `check_references(project)` checks what only the merged model can tell:
undefined networks, volumes, secrets and configs, unknown or cyclic depends_on.
"""

from __future__ import annotations

import re

from wharfie.compose import syntax
from wharfie.compose.schema import (
    BOOL,
    BYTES,
    DURATION,
    INT,
    LIST_OR_DICT,
    NULL,
    NUM,
    SCALAR,
    STR,
    STR_LIST,
    STR_OR_LIST,
    STR_OR_NUM,
    Custom,
    Enum,
    List,
    Map,
    Obj,
    OneOf,
    SchemaError,
)
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _port(value: Any, path: str) -> None:
    try:
        syntax.parse_port(value)
    except InvalidArgument as exc:
        raise SchemaError(path, str(exc)) from exc


def _volume(value: Any, path: str) -> None:
    try:
        syntax.parse_volume(value)
    except InvalidArgument as exc:
        raise SchemaError(path, str(exc)) from exc


_PORT_SHORT = Custom(
    "a port", _port, lambda v: isinstance(v, str) or (isinstance(v, int) and v is not True)
)
_PORT_LONG = Obj(
    {
        "name": STR,
        "target": OneOf(INT, STR),
        "published": OneOf(STR, INT),
        "host_ip": STR,
        "protocol": Enum("tcp", "udp", "sctp"),
        "mode": Enum("host", "ingress"),
        "app_protocol": STR,
    },
    required=("target",),
)
_VOLUME_LONG = Obj(
    {
        "type": Enum("volume", "bind", "tmpfs", "npipe", "cluster", "image"),
        "source": STR,
        "target": STR,
        "read_only": BOOL,
        "consistency": STR,
        "bind": Obj({"propagation": STR, "create_host_path": BOOL, "selinux": Enum("z", "Z")}),
        "volume": Obj({"nocopy": BOOL, "subpath": STR}),
        "tmpfs": Obj({"size": BYTES, "mode": OneOf(INT, STR)}),
    },
    required=("type", "target"),
)
_VOLUME_SHORT = Custom("a volume", _volume, lambda v: isinstance(v, str))
_FILE_REF = OneOf(
    STR,
    Obj(
        {"source": STR, "target": STR, "uid": STR, "gid": STR, "mode": OneOf(INT, STR)},
        required=("source",),
    ),
)
_HEALTH = Obj(
    {
        "test": STR_OR_LIST,
        "interval": DURATION,
        "timeout": DURATION,
        "retries": INT,
        "start_period": DURATION,
        "start_interval": DURATION,
        "disable": BOOL,
    }
)
_RESOURCES = Obj({"memory": BYTES, "cpus": STR_OR_NUM, "pids": INT})
_UPDATE_CONFIG = Obj(
    {
        "parallelism": INT,
        "delay": DURATION,
        "failure_action": Enum("continue", "pause", "rollback"),
        "monitor": DURATION,
        "max_failure_ratio": NUM,
        "order": Enum("start-first", "stop-first"),
    }
)
_DEPLOY = Obj(
    {
        "replicas": INT,
        "mode": Enum("replicated", "global", "replicated-job", "global-job"),
        "labels": LIST_OR_DICT,
        "endpoint_mode": Enum("vip", "dnsrr"),
        "placement": Obj(
            {
                "constraints": STR_LIST,
                "preferences": List(Obj({"spread": STR})),
                "max_replicas_per_node": INT,
            }
        ),
        "update_config": _UPDATE_CONFIG,
        "rollback_config": _UPDATE_CONFIG,
        "resources": Obj({"limits": _RESOURCES, "reservations": _RESOURCES}),
        "restart_policy": Obj(
            {
                "condition": Enum("none", "on-failure", "any"),
                "delay": DURATION,
                "max_attempts": INT,
                "window": DURATION,
            }
        ),
    }
)
_BUILD = OneOf(
    STR,
    Obj(
        {
            "context": STR,
            "dockerfile": STR,
            "dockerfile_inline": STR,
            "args": LIST_OR_DICT,
            "target": STR,
            "labels": LIST_OR_DICT,
            "network": STR,
            "cache_from": STR_LIST,
            "shm_size": BYTES,
            "extra_hosts": LIST_OR_DICT,
            "no_cache": BOOL,
            "pull": BOOL,
            "tags": STR_LIST,
            "platforms": STR_LIST,
        }
    ),
)
_SERVICE_NETWORKS = OneOf(
    STR_LIST,
    Map(
        OneOf(
            NULL,
            Obj(
                {
                    "aliases": STR_LIST,
                    "ipv4_address": STR,
                    "ipv6_address": STR,
                    "priority": INT,
                    "mac_address": STR,
                }
            ),
        )
    ),
)
_DEPENDS_ON = OneOf(
    STR_LIST,
    Map(
        Obj(
            {
                "condition": Enum(
                    "service_started", "service_healthy", "service_completed_successfully"
                ),
                "restart": BOOL,
                "required": BOOL,
            },
            required=("condition",),
        )
    ),
)
_ULIMITS = Map(OneOf(INT, Obj({"soft": INT, "hard": INT}, required=("soft", "hard"))))
_ENV_FILE = OneOf(
    STR, List(OneOf(STR, Obj({"path": STR, "required": BOOL, "format": STR}, required=("path",))))
)

SERVICE = Obj(
    {
        "image": STR,
        "build": _BUILD,
        "pull_policy": Enum(
            "always",
            "never",
            "missing",
            "if_not_present",
            "build",
            "daily",
            "weekly",
            prefix=("every_",),
        ),
        "command": OneOf(NULL, STR, STR_LIST),
        "entrypoint": OneOf(NULL, STR, STR_LIST),
        "environment": LIST_OR_DICT,
        "env_file": _ENV_FILE,
        "working_dir": STR,
        "user": STR_OR_NUM,
        "labels": LIST_OR_DICT,
        "container_name": STR,
        "ports": List(OneOf(_PORT_SHORT, _PORT_LONG)),
        "expose": List(STR_OR_NUM),
        "volumes": List(OneOf(_VOLUME_SHORT, _VOLUME_LONG)),
        "networks": _SERVICE_NETWORKS,
        "network_mode": STR,
        "depends_on": _DEPENDS_ON,
        "restart": Enum("no", "always", "on-failure", "unless-stopped", prefix=("on-failure:",)),
        "healthcheck": _HEALTH,
        "deploy": _DEPLOY,
        "scale": INT,
        "init": BOOL,
        "tty": BOOL,
        "stdin_open": BOOL,
        "stop_signal": STR,
        "stop_grace_period": DURATION,
        "ulimits": _ULIMITS,
        "cap_add": STR_LIST,
        "cap_drop": STR_LIST,
        "read_only": BOOL,
        "tmpfs": STR_OR_LIST,
        "extra_hosts": LIST_OR_DICT,
        "dns": STR_OR_LIST,
        "dns_search": STR_OR_LIST,
        "dns_opt": STR_LIST,
        "hostname": STR,
        "domainname": STR,
        "secrets": List(_FILE_REF),
        "configs": List(_FILE_REF),
        "profiles": STR_LIST,
        "extends": OneOf(STR, Obj({"service": STR, "file": STR}, required=("service",))),
        "privileged": BOOL,
        "mem_limit": BYTES,
        "memswap_limit": BYTES,
        "cpus": STR_OR_NUM,
        "pids_limit": INT,
        "shm_size": BYTES,
        "sysctls": LIST_OR_DICT,
        "security_opt": STR_LIST,
        "group_add": List(STR_OR_NUM),
        "platform": STR,
        "logging": Obj({"driver": STR, "options": Map(SCALAR)}),
        "ipc": STR,
        "pid": STR,
        "mac_address": STR,
        "oom_score_adj": INT,
        "stop_timeout": DURATION,
        "runtime": STR,
    }
)

_IPAM = Obj(
    {
        "driver": STR,
        "config": List(
            Obj({"subnet": STR, "gateway": STR, "ip_range": STR, "aux_addresses": Map(STR)})
        ),
        "options": Map(STR),
    }
)
_EXTERNAL = OneOf(BOOL, Obj({"name": STR}))
NETWORK = OneOf(
    NULL,
    Obj(
        {
            "driver": STR,
            "driver_opts": Map(STR_OR_NUM),
            "ipam": _IPAM,
            "internal": BOOL,
            "external": _EXTERNAL,
            "name": STR,
            "labels": LIST_OR_DICT,
            "attachable": BOOL,
            "enable_ipv6": BOOL,
        }
    ),
)
VOLUME = OneOf(
    NULL,
    Obj(
        {
            "driver": STR,
            "driver_opts": Map(STR_OR_NUM),
            "external": _EXTERNAL,
            "name": STR,
            "labels": LIST_OR_DICT,
        }
    ),
)
FILE_OBJ = Obj(
    {
        "file": STR,
        "environment": STR,
        "content": STR,
        "external": _EXTERNAL,
        "name": STR,
        "labels": LIST_OR_DICT,
    }
)

_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
TOP = Obj(
    {
        "version": STR_OR_NUM,
        "name": STR,
        "services": Map(SERVICE, _NAME),
        "networks": Map(NETWORK, _NAME),
        "volumes": Map(VOLUME, _NAME),
        "secrets": Map(FILE_OBJ, _NAME),
        "configs": Map(FILE_OBJ, _NAME),
    }
)


def check_file(doc: Any) -> None:
    """Raise SchemaError for the first thing in `doc` that breaks the specification."""
    if doc is None:
        raise SchemaError("", "empty compose file")
    if isinstance(doc, dict) and "include" in doc:
        raise SchemaError("include", "the include element is not supported")
    TOP.check(doc, "")
    for name, svc in (doc.get("services") or {}).items():
        if isinstance(svc, dict):
            _check_resources_numbers(svc, f"services.{name}")


def _check_resources_numbers(svc: dict[str, Any], path: str) -> None:
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    cpus = limits.get("cpus")
    if isinstance(cpus, str):
        try:
            float(cpus)
        except ValueError:
            raise SchemaError(
                f"{path}.deploy.resources.limits.cpus", f'invalid number "{cpus}"'
            ) from None
    for key in ("scale",):
        if isinstance(svc.get(key), int) and svc[key] < 0:
            raise SchemaError(f"{path}.{key}", "must not be negative")


def check_references(doc: dict[str, Any]) -> None:
    """Cross-references of the merged (normalized) model."""
    services = doc.get("services") or {}
    for name, svc in services.items():
        path = f"services.{name}"
        for net in svc.get("networks") or {}:
            if net not in (doc.get("networks") or {}):
                raise SchemaError(
                    f"{path}.networks.{net}", f'service "{name}" refers to undefined network {net}'
                )
        for i, vol in enumerate(svc.get("volumes") or []):
            src = vol.get("source")
            if vol.get("type") == "volume" and src and src not in (doc.get("volumes") or {}):
                raise SchemaError(
                    f"{path}.volumes[{i}]", f'service "{name}" refers to undefined volume {src}'
                )
        for kind in ("secrets", "configs"):
            for i, ref in enumerate(svc.get(kind) or []):
                if ref["source"] not in (doc.get(kind) or {}):
                    raise SchemaError(
                        f"{path}.{kind}[{i}]",
                        f'service "{name}" refers to undefined {kind[:-1]} {ref["source"]}',
                    )
        for dep in svc.get("depends_on") or {}:
            if dep not in services and (svc["depends_on"][dep].get("required", True)):
                raise SchemaError(
                    f"{path}.depends_on", f'service "{name}" depends on undefined service "{dep}"'
                )
    find_cycle(services)


def find_cycle(services: dict[str, Any]) -> None:
    """Raise SchemaError naming a depends_on cycle (a -> b -> a)."""
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dep in (services.get(name) or {}).get("depends_on") or {}:
            if dep not in services:
                continue
            if state.get(dep) == 1:
                cycle = [*trail[trail.index(dep) :], dep] if dep in trail else [name, dep]
                raise SchemaError(
                    f"services.{name}.depends_on",
                    "dependency cycle detected: " + " -> ".join(cycle),
                )
            if state.get(dep) is None:
                visit(dep, [*trail, dep])
        state[name] = 2

    for name in sorted(services):
        if state.get(name) is None:
            visit(name, [name])
