"""Desired (the model) vs observed (the project's containers) → actions, as plain data.

Each container of a service carries the service's config hash in the label
`com.docker.compose.config-hash`; a container whose hash or image differs is
recreated, and so are (transitively) the containers of the services that depend
on a recreated service. Actions come grouped by dependency level: level 0 has the
services with no dependencies, and a level starts only once the one before it is
up (and healthy, or completed, where depends_on says so).
"""

from __future__ import annotations

import hashlib

from wharfie.compose.schema import SchemaError
from wharfie.oci import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PREFIX = "com.docker.compose."
PROJECT = PREFIX + "project"
SERVICE = PREFIX + "service"
NUMBER = PREFIX + "container-number"
ONEOFF = PREFIX + "oneoff"
CONFIG_HASH = PREFIX + "config-hash"
WORKING_DIR = PREFIX + "project.working_dir"
CONFIG_FILES = PREFIX + "project.config_files"
VERSION = PREFIX + "version"
DEPENDS_ON = PREFIX + "depends_on"
IMAGE = PREFIX + "image"
NETWORK = PREFIX + "network"
VOLUME = PREFIX + "volume"
COMPOSE_VERSION = "2.24.0"

_NOT_HASHED = ("build", "pull_policy", "scale", "profiles", "depends_on")


def config_hash(service: dict[str, Any]) -> str:
    """sha256 of the service's normalized configuration, minus what does not shape a
    container (build, pull_policy, scale, profiles, depends_on), as compose does."""
    body = {k: v for k, v in service.items() if k not in _NOT_HASHED}
    data = jsonio.dumps(_sorted(body)).encode()
    return hashlib.sha256(data).hexdigest()


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def levels(services: dict[str, dict[str, Any]], only: set[str] | None = None) -> list[list[str]]:
    """Services grouped by dependency depth (dependencies first); a cycle is an error."""
    from wharfie.compose.validate import find_cycle

    find_cycle(services)
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            deps = [d for d in services[name].get("depends_on") or {} if d in services]
            depth[name] = 1 + max((level(d) for d in deps), default=-1)
        return depth[name]

    names = sorted(only if only is not None else services)
    out: list[list[str]] = []
    for name in names:
        n = level(name)
        while len(out) <= n:
            out.append([])
        out[n].append(name)
    return [lv for lv in out if lv]


def with_dependencies(services: dict[str, dict[str, Any]], names: list[str]) -> set[str]:
    """`names` plus everything they depend on, transitively."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        if name not in services:
            raise SchemaError("", f"no such service: {name}")
        out.add(name)
        todo.extend(d for d in services[name].get("depends_on") or {} if d in services)
    return out


def dependents(services: dict[str, dict[str, Any]], changed: set[str]) -> set[str]:
    """Services that depend, directly or not, on one of `changed` (those included)."""
    out = set(changed)
    grew = True
    while grew:
        grew = False
        for name, svc in services.items():
            if name not in out and any(d in out for d in svc.get("depends_on") or {}):
                out.add(name)
                grew = True
    return out


def restart_with(services: dict[str, dict[str, Any]], names: list[str]) -> set[str]:
    """`names` plus the services whose depends_on on one of them says `restart: true`
    (transitively): what `compose restart` restarts."""
    out = set(names)
    grew = True
    while grew:
        grew = False
        for name, svc in services.items():
            deps = svc.get("depends_on") or {}
            if name not in out and any(d in out and (deps[d] or {}).get("restart") for d in deps):
                out.add(name)
                grew = True
    return out


def container_name(project: str, service: str, svc: dict[str, Any], number: int) -> str:
    return str(svc.get("container_name") or f"{project}-{service}-{number}")


class Action:
    """One step: kind is create, recreate, start, keep, remove or orphan."""

    __slots__ = ("container", "kind", "name", "number", "service")

    def __init__(
        self, kind: str, service: str, number: int, name: str, container: str | None = None
    ) -> None:
        self.kind = kind
        self.service = service
        self.number = number
        self.name = name
        self.container = container

    def as_tuple(self) -> tuple[str, str, int]:
        return (self.kind, self.service, self.number)

    def __repr__(self) -> str:
        return f"Action({self.kind}, {self.service}, {self.number}, {self.container})"


def observed_by_service(containers: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Non-one-off containers of a project grouped by service, sorted by number."""
    out: dict[str, list[dict[str, Any]]] = {}
    for c in containers:
        labels = c.get("Labels") or {}
        if labels.get(ONEOFF, "False") == "True":
            continue
        out.setdefault(labels.get(SERVICE, ""), []).append(c)
    for group in out.values():
        group.sort(key=_number)
    return out


def _number(c: dict[str, Any]) -> int:
    try:
        return int((c.get("Labels") or {}).get(NUMBER, "0"))
    except ValueError:
        return 0


def _running(c: dict[str, Any]) -> bool:
    return c.get("State") in ("running", "restarting", "paused")


class UpOptions:
    def __init__(
        self,
        services: list[str] | None = None,
        force_recreate: bool = False,
        no_recreate: bool = False,
        no_deps: bool = False,
        scale: dict[str, int] | None = None,
        remove_orphans: bool = False,
        image_ids: dict[str, str] | None = None,
        known: set[str] | None = None,
        no_start: bool = False,
    ) -> None:
        self.services = services or []
        self.force_recreate = force_recreate
        self.no_recreate = no_recreate
        self.no_deps = no_deps
        self.scale = scale or {}
        self.remove_orphans = remove_orphans
        self.image_ids = image_ids or {}
        self.known = known or set()  # services the project knows but does not run (profiles)
        self.no_start = no_start


class Plan:
    def __init__(
        self, levels: list[list[str]], actions: dict[str, list[Action]], orphans: list[Action]
    ) -> None:
        self.levels = levels
        self.actions = actions
        self.orphans = orphans  # to remove (--remove-orphans)
        self.found_orphans: list[str] = []  # container names, removed or not

    def summary(self) -> list[tuple[str, str, int]]:
        """All actions as (kind, service, number), in execution order."""
        out = [a.as_tuple() for a in self.orphans]
        for lv in self.levels:
            for name in lv:
                out.extend(a.as_tuple() for a in self.actions.get(name, []))
        return out

    def changes_nothing(self) -> bool:
        return all(kind == "keep" for kind, _s, _n in self.summary())


def plan_up(
    project: str,
    services: dict[str, dict[str, Any]],
    observed: list[dict[str, Any]],
    opts: UpOptions,
) -> Plan:
    """The actions `up` takes; pure."""
    targets = set(opts.services) if opts.services else set(services)
    if not opts.no_deps:
        targets = with_dependencies(services, sorted(targets))
    for name in targets:
        if name not in services:
            raise SchemaError("", f"no such service: {name}")
    by_service = observed_by_service(observed)
    stale = {
        name
        for name in targets
        if any(
            _outdated(services[name], c, opts.image_ids.get(name)) for c in by_service.get(name, [])
        )
    }
    if opts.no_recreate:
        recreate: set[str] = set()
    elif opts.force_recreate:
        recreate = set(targets)
    else:
        recreate = dependents(services, stale) & targets
        recreate = {s for s in recreate if by_service.get(s)}
    actions = {
        name: _service_actions(
            project,
            name,
            services[name],
            by_service.get(name, []),
            opts.scale.get(name, services[name].get("scale", 1)),
            name in recreate,
            opts.no_start,
        )
        for name in targets
    }
    orphans: list[Action] = []
    for svc_name, group in sorted(by_service.items()):
        if svc_name not in services and svc_name not in opts.known:
            orphans.extend(
                Action("orphan", svc_name, _number(c), _cname(c), c["Id"]) for c in group
            )
    out = Plan(levels(services, targets), actions, orphans if opts.remove_orphans else [])
    out.found_orphans = [a.name for a in orphans]
    return out


def _outdated(svc: dict[str, Any], c: dict[str, Any], image_id: str | None) -> bool:
    labels = c.get("Labels") or {}
    if labels.get(CONFIG_HASH) != config_hash(svc):
        return True
    return bool(image_id) and c.get("ImageID") not in (None, "", image_id)


def _cname(c: dict[str, Any]) -> str:
    names = c.get("Names") or [""]
    return str(names[0]).lstrip("/")


def _service_actions(
    project: str,
    name: str,
    svc: dict[str, Any],
    existing: list[dict[str, Any]],
    scale: int,
    recreate: bool,
    no_start: bool,
) -> list[Action]:
    if scale > 1 and svc.get("container_name"):
        raise SchemaError(
            f"services.{name}",
            f'cannot scale to {scale}: container_name "{svc["container_name"]}" must be unique',
        )
    out: list[Action] = []
    keep, extra = existing[:scale], existing[scale:]
    for c in reversed(extra):
        out.append(Action("remove", name, _number(c), _cname(c), c["Id"]))
    for c in keep:
        n = _number(c)
        if recreate:
            out.append(Action("recreate", name, n, container_name(project, name, svc, n), c["Id"]))
        elif _running(c) or no_start:
            out.append(Action("keep", name, n, _cname(c), c["Id"]))
        else:
            out.append(Action("start", name, n, _cname(c), c["Id"]))
    used = {_number(c) for c in keep}
    n = 1
    while len(keep) + sum(1 for a in out if a.kind == "create") < scale:
        if n not in used:
            out.append(Action("create", name, n, container_name(project, name, svc, n)))
        n += 1
    return out


def down_order(
    services: dict[str, dict[str, Any]], observed: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """The project's containers in groups, dependents first (reverse of start order);
    containers of services not in the model (orphans, one-offs) come in the first group."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for c in observed:
        by_service.setdefault((c.get("Labels") or {}).get(SERVICE, ""), []).append(c)
    known = {s: v for s, v in services.items()}
    groups = [[c for s, g in by_service.items() if s not in known for c in g]]
    for lv in reversed(levels(known)):
        groups.append([c for s in lv for c in by_service.get(s, [])])
    return [g for g in groups if g]
