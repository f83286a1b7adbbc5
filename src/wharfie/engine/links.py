"""Legacy container links (`--link name[:alias]`) on the default bridge, as dockerd.

At create, each `HostConfig.Links` entry names a container that must exist (400 `could not
get container for x: No such container: x`); a `container:` network mode is followed to the
container that owns the namespace, and host networking on either side is refused. The links
are kept as (child id, alias) in the parent's private state, and `HostConfig.Links` shows
them as dockerd's inspect does: `/child:/parent/alias`, sorted. On a user-defined network
`HostConfig.Links` is dropped, as dockerd does (network-scoped links travel in
`EndpointsConfig.Links` and are answered by the embedded DNS: engine/net/names.py).

At start every linked container must be running (`Cannot link to a non running container:
/db AS /web/alias`, 500); the parent then gets dockerd's environment variables
(`ALIAS_PORT`, `ALIAS_PORT_80_TCP*`, port ranges, `ALIAS_NAME`, `ALIAS_ENV_*`; its own Env
wins over them) and a hosts line `IP\talias hostname name` per link. `DELETE
/containers/{parent}/{alias}?link=1` removes one link.

As dockerd's link index (20.10 and 25 alike): renaming either side shows at once in
`HostConfig.Links` (the env and hosts lines are made at start, with the names of that
moment); removing a linked container leaves its parents' links dangling: inspect still shows
`/db:/web/alias`, the parent cannot start (`Cannot link to a non running container`, even
if a new `db` exists), and `DELETE .../alias?link=1` does not find it, until the daemon
restarts (dockerd's registerLinks drops links to containers that are gone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.errors import Conflict, InvalidArgument, NotFound, WharfieError

BOOT = uuid.uuid4().hex  # this daemon process: dangling links end with it

HOST_CONFLICT = (
    "conflicting options: host type networking can't be used with links. This would result "
    "in undefined behavior"
)


@dataclass(frozen=True)
class Resolved:
    """A link at start: what the parent's env and hosts are made of."""

    alias: str
    name: str  # the child's name, with its leading "/"
    hostname: str
    ip: str
    env: list[str]
    ports: list[str]  # "80/tcp"


def parse(spec: str) -> tuple[str, str]:
    """`name[:alias]` (or inspect's `/name:/parent/alias`) -> (name, alias), as moby's
    ParseLink."""
    if not spec:
        raise InvalidArgument("empty string specified for links")
    parts = spec.split(":")
    if len(parts) > 2:
        raise WharfieError(f"bad format for links: {spec}")
    if len(parts) == 1:
        return spec.lstrip("/"), spec.lstrip("/")
    name, alias = parts
    if name.startswith("/"):
        return name[1:], alias.rsplit("/", 1)[-1]
    return name, alias


class Links:
    """The links of every container: recorded at create, resolved at start, left dangling
    by the container they name until the daemon restarts. Takes the container index and the
    default bridge's id."""

    def __init__(self, index: ContainerIndex, bridge_id: str) -> None:
        self.index = index
        self.bridge_id = bridge_id

    def on_create(self, doc: dict[str, Any]) -> None:
        """Check and record a new container's links (doc is not registered yet)."""
        host = doc["HostConfig"]
        specs = [str(s) for s in host.get("Links") or []]
        mode = str(host.get("NetworkMode") or "bridge")
        if not specs:
            host["Links"] = None
            return
        if mode == "host":
            raise InvalidArgument(HOST_CONFLICT)
        if mode not in ("bridge", "default") and not mode.startswith("container:"):
            host["Links"] = None  # a user network: dockerd registers no links
            return
        links = []
        for spec in specs:
            name, alias = parse(spec)
            try:
                child = self.index.find(name)
            except NotFound as e:
                raise InvalidArgument(f"could not get container for {name}: {e}") from e
            child = self._namespace_owner(child)
            if child.network_mode == "host":
                raise InvalidArgument(HOST_CONFLICT)
            links.append({"child": child.id, "alias": alias})
        doc.setdefault("_w", {})["links"] = links
        host["Links"] = self._shown(str(doc["Name"]), links)

    def _namespace_owner(self, c: Container) -> Container:
        seen = set()
        while c.network_mode.startswith("container:") and c.id not in seen:
            seen.add(c.id)
            ref = c.network_mode.split(":", 1)[1]
            try:
                c = self.index.find(ref)
            except NotFound as e:
                raise InvalidArgument(f"Could not get container for {ref}") from e
        return c

    def _shown(self, parent_name: str, links: list[dict[str, str]]) -> list[str] | None:
        parent = "/" + parent_name.lstrip("/")
        out = []
        for link in links:
            child = self.index.get(link["child"])
            name = "/" + child.name if child is not None else _dangling(link)
            if name:
                out.append(f"{name}:{parent}/{link['alias']}")
        return sorted(out) or None

    def refresh(self, c: Container) -> None:
        """HostConfig.Links from the recorded links (after a change)."""
        if c.private.get("links") is not None:
            c.doc["HostConfig"]["Links"] = self._shown(c.name, c.private["links"])

    def resolve(self, c: Container) -> list[Resolved]:
        """The links of a starting container; every child must be running."""
        out = []
        for link in c.private.get("links") or []:
            child = self.index.get(link["child"])
            if child is None:
                if _dangling(link):
                    raise WharfieError(
                        f"Cannot link to a non running container: {_dangling(link)} AS "
                        f"/{c.name}/{link['alias']}"
                    )
                continue
            owner = self._namespace_owner(child)
            if not owner.running:
                raise WharfieError(
                    f"Cannot link to a non running container: /{child.name} AS "
                    f"/{c.name}/{link['alias']}"
                )
            ep = (owner.private.get("endpoints") or {}).get(self.bridge_id) or {}
            out.append(
                Resolved(
                    alias=link["alias"],
                    name="/" + child.name,
                    hostname=str(child.config.get("Hostname") or child.id[:12]),
                    ip=str(ep.get("ip") or ""),
                    env=[str(e) for e in child.config.get("Env") or []],
                    ports=sorted(str(p) for p in child.config.get("ExposedPorts") or {}),
                )
            )
        return out

    def hosts_lines(self, c: Container) -> str:
        """The parent's /etc/hosts lines: `IP\\talias hostname [name]` (dockerd's order)."""
        lines = []
        for r in sorted(self.resolve(c), key=lambda r: r.alias):
            names = [r.alias, r.hostname]
            if r.alias != r.name[1:]:
                names.append(r.name[1:])
            lines.append(f"{r.ip}\t{' '.join(names)}\n")
        return "".join(lines)

    def environment(self, c: Container) -> list[str]:
        """The parent's Env with the links' variables first; its own values win."""
        own = [str(e) for e in c.config.get("Env") or []]
        link_env: list[str] = []
        for r in sorted(self.resolve(c), key=lambda r: r.alias):
            name = f"/{c.name}/{r.alias}"
            link_env += to_env(name, r.ip, r.ports, r.env)
        if not link_env:
            return own
        mine = {e.split("=", 1)[0] for e in own}
        return [e for e in link_env if e.split("=", 1)[0] not in mine] + own

    def remove_link(self, ref: str) -> Container:
        """`DELETE /containers/{parent}/{alias}?link=1`; returns the parent."""
        name = ref if ref.startswith("/") else "/" + ref
        parent_name, _, alias = name.rpartition("/")
        if not parent_name:
            self.index.find(ref)  # 404 first, as dockerd
            # dockerd answers this with a 500; it is the client's mistake: 409, as its wording says
            raise Conflict("Conflict, cannot remove the default link name of the container")
        try:
            parent = self.index.find(parent_name)
        except NotFound as e:
            raise NotFound(f"No such container: {ref}") from e
        links = parent.private.get("links") or []
        kept = [link for link in links if link["alias"] != alias or link.get("gone")]
        if len(kept) == len(links):
            raise NotFound(f"No such container: {ref}")
        parent.private["links"] = kept
        self.refresh(parent)
        self.index.save(parent)
        return parent

    def forget(self, child_id: str, child_name: str) -> None:
        """A container is gone: its parents' links to it dangle until the daemon restarts."""
        for c in self.index.all():
            links = c.private.get("links") or []
            if any(link["child"] == child_id for link in links):
                c.private["links"] = [
                    {**link, "gone": "/" + child_name.lstrip("/"), "boot": BOOT}
                    if link["child"] == child_id
                    else link
                    for link in links
                ]
                self.refresh(c)
                self.index.save(c)

    def renamed(self, c: Container) -> None:
        """`c` has a new name: HostConfig.Links of it and of the containers linking to it."""
        for other in self.index.all():
            links = other.private.get("links") or []
            if other.id == c.id or any(link["child"] == c.id for link in links):
                self.refresh(other)
                self.index.save(other)

    def restored(self) -> None:
        """At daemon start-up: links to containers that are gone are dropped (dockerd's
        registerLinks skips them)."""
        for c in self.index.all():
            links = c.private.get("links") or []
            kept = [link for link in links if self.index.get(link["child"]) is not None]
            if len(kept) != len(links):
                c.private["links"] = kept
                self.refresh(c)
                self.index.save(c)


def _dangling(link: dict[str, str]) -> str:
    """The name of a removed child whose link this daemon process still keeps, or ""."""
    return link.get("gone", "") if link.get("boot") == BOOT else ""


def _port_key(port: str) -> tuple[int, int]:
    number, _, proto = port.partition("/")
    return int(number), 0 if proto.lower() == "tcp" else 1


def to_env(name: str, ip: str, ports: list[str], child_env: list[str]) -> list[str]:
    """dockerd 20.10's Link.ToEnv (pure): the variables for link `name` (/parent/alias)."""
    alias = name.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = sorted((p if "/" in p else f"{p}/tcp" for p in ports), key=_port_key)
    env = []
    if ports:
        number, proto = ports[0].split("/")
        env.append(f"{alias}_PORT={proto}://{ip}:{number}")
    i = 0
    while i < len(ports):
        number, proto = ports[i].split("/")
        j = _next_contiguous(ports, int(number), i)
        if j > i + 1:
            end_number, end_proto = ports[j].split("/")
            prefix = f"{alias}_PORT_{number}"
            env += [
                f"{prefix}_{proto.upper()}_START={proto}://{ip}:{number}",
                f"{prefix}_{proto.upper()}_ADDR={ip}",
                f"{prefix}_{proto.upper()}_PROTO={proto}",
                f"{prefix}_{proto.upper()}_PORT_START={number}",
                f"{prefix}_{end_proto.upper()}_END={end_proto}://{ip}:{end_number}",
                f"{prefix}_{end_proto.upper()}_PORT_END={end_number}",
            ]
            i = j + 1
        else:
            i += 1
    for port in ports:
        number, proto = port.split("/")
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{ip}:{number}",
            f"{prefix}_ADDR={ip}",
            f"{prefix}_PORT={number}",
            f"{prefix}_PROTO={proto}",
        ]
    env.append(f"{alias}_NAME={name}")
    for item in child_env:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):
            env.append(f"{alias}_ENV_{key}={value}")
    return env


def _next_contiguous(ports: list[str], value: int, index: int) -> int:
    if index + 1 == len(ports):
        return index
    for i in range(index + 1, len(ports)):
        if int(ports[i].split("/")[0]) > value + 1:
            return i - 1
        value += 1
    return len(ports) - 1
