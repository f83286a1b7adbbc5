"""Small fakes of the engine services' dependencies, as real classes (no mocks).

Each engine service takes what it uses in its constructor (engine/core.py wires them);
these stand in for the parts that need a daemon, the kernel or the monitor, so a service
can be built on its own in a unit test. `container()` makes a minimal container record.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import State
from wharfie.engine.model import Container
from wharfie.monitor.client import ExecRequest, RuntimeRef, StartError


class Events:
    """The event bus: keeps what was emitted."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, dict[str, str]]] = []

    def emit(self, kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> None:
        self.seen.append((kind, action, actor_id, dict(attrs)))

    def actions(self, kind: str) -> list[str]:
        return [action for k, action, _, _ in self.seen if k == kind]


class Saver:
    """The store as the container index uses it: remembers the last saved document."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}

    def save_container(self, cid: str, name: str, doc: dict[str, Any]) -> None:
        self.saved[cid] = doc


def index_of(*containers: Container) -> ContainerIndex:
    index = ContainerIndex(Saver())
    for c in containers:
        index.add(c)
    return index


def container(
    cid: str,
    name: str,
    *,
    running: bool = False,
    network_mode: str = "bridge",
    networks: dict[str, Any] | None = None,
    endpoints: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    host_config: dict[str, Any] | None = None,
) -> Container:
    """A container record as the engine keeps one (only the fields services read)."""
    state = State(status="running", running=True, pid=4242) if running else State()
    doc: dict[str, Any] = {
        "Image": "sha256:" + "0" * 64,
        "Config": {"Image": "busybox", "Env": [], **(config or {})},
        "HostConfig": {"NetworkMode": network_mode, **(host_config or {})},
        "NetworkSettings": {"Networks": networks or {}, "Ports": {}},
    }
    c = Container(
        id=cid, name=name, created="2024-01-01T00:00:00Z", path="sh", args=[], doc=doc, state=state
    )
    if endpoints is not None:
        c.private["endpoints"] = endpoints
    return c


def endpoint(nid: str, cid: str, ip: str, ip6: str = "") -> dict[str, Any]:
    """An endpoint as `private["endpoints"]` keeps it (network.Endpoint's fields)."""
    return {
        "container_id": cid,
        "ip": ip,
        "prefix_len": 16,
        "gateway": "",
        "mac": "02:42:00:00:00:01",
        "host_veth": "",
        "netns": "",
        "ifname": "eth0",
        "network_id": nid,
        "ip6": ip6,
        "prefix_len6": 64 if ip6 else 0,
        "gateway6": "",
    }


class NetworkTable:
    """The `networks` table and the settings, in memory (unique names, as SQLite's)."""

    def __init__(self, docs: list[dict[str, Any]] | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = {d["Id"]: d for d in docs or []}
        self.settings: dict[str, str] = {}

    def load_networks(self) -> list[dict[str, Any]]:
        return list(self.docs.values())

    def insert_network(self, nid: str, name: str, doc: dict[str, Any]) -> None:
        if nid in self.docs or any(d["Name"] == name for d in self.docs.values()):
            raise sqlite3.IntegrityError("UNIQUE constraint failed: networks.name")
        self.docs[nid] = doc

    def delete_network(self, nid: str) -> None:
        self.docs.pop(nid, None)

    def setting(self, key: str, make: Any) -> str:
        if key not in self.settings:
            self.settings[key] = str(make())
        return self.settings[key]


class Launcher:
    """The monitor as exec uses it: records requests; answers a pid or a start error."""

    def __init__(self, pid: int = 777, error: str = "") -> None:
        self.pid = pid
        self.error = error
        self.requests: list[ExecRequest] = []

    async def exec(self, req: ExecRequest, sock_fd: int | None) -> int:
        self.requests.append(req)
        await asyncio.sleep(0)
        if self.error:
            raise StartError(self.error)
        return self.pid


def runtime_ref(name: str | None) -> RuntimeRef:
    return RuntimeRef(
        name=name or "wharfie-runtime", path="/bin/true", root="/tmp", in_process=True
    )


BRIDGE_ID = "b" * 64
USER_ID = "a1" * 32


def user_doc(nid: str = USER_ID, name: str = "front", **extra: Any) -> dict[str, Any]:
    """A stored network document, exactly as the code before typed records wrote it."""
    doc = {
        "Name": name,
        "Id": nid,
        "Created": "2026-12-01T10:00:00.123456789Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [
                {
                    "Subnet": "10.77.0.0/24",
                    "Gateway": "10.77.0.1",
                    "IPRange": "10.77.0.128/25",
                    "AuxiliaryAddresses": {"printer": "10.77.0.9"},
                }
            ],
        },
        "Internal": False,
        "Attachable": True,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Options": {"com.docker.network.driver.mtu": "1400"},
        "Labels": {"team": "web"},
    }
    doc.update(extra)
    return doc


class RootfsOwner:
    """The containers service as Files uses it: records pauses; mounts nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def mount_rootfs(self, c: Container, image: Any) -> str:
        self.calls.append(f"mount {c.id[:4]}")
        return "/nonexistent/rootfs"

    def unmount_rootfs(self, c: Container) -> None:
        self.calls.append(f"unmount {c.id[:4]}")

    async def pause(self, ref: str) -> None:
        self.calls.append(f"pause {ref[:4]}")

    async def unpause(self, ref: str) -> None:
        self.calls.append(f"unpause {ref[:4]}")


class RunContainers:
    """The containers service as a build uses it: removals recorded (no RUN is run)."""

    def __init__(self, index: ContainerIndex) -> None:
        self.index = index
        self.removed: list[str] = []

    async def create(self, body: Any, name: str, api_version: tuple[int, int]) -> dict[str, Any]:
        raise AssertionError("a RUN step was not expected")

    async def start(self, ref: str) -> bool:
        raise AssertionError("a RUN step was not expected")

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        c = self.index.find(ref)
        self.index.drop(c)
        self.removed.append(c.id)

    def exit_future(self, c: Container) -> asyncio.Future[dict[str, Any]]:
        raise AssertionError("a RUN step was not expected")


class Pulls:
    """No registry: every pull fails as an unreachable one does."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def pull(self, ref: str, auth: Any, platform: str, progress: Any) -> Any:
        from wharfie.errors import NotFound

        self.asked.append(ref)
        raise NotFound(f"pull access denied for {ref}")
