"""Small fakes of the engine services' dependencies, as real classes (no unittest.mock):
each keeps what it was asked, so tests check calls and state, not call counts of mocks."""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from wharfie.engine.containers import Containers, ContainersConfig
from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.engine.paths import Paths
from wharfie.engine.runtimes import Runtimes
from wharfie.errors import NotFound
from wharfie.images import ImageRecord
from wharfie.monitor.client import AttachOptions, RuntimeRef, StartRequest
from wharfie.oci import jsonio


class RecordingEvents:
    """An event bus that keeps (type, action, actor id, attributes)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, dict[str, str]]] = []
        self.queues: set[Any] = set()

    def emit(self, kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> None:
        self.seen.append((kind, action, actor_id, dict(attrs)))

    def actions(self, actor_id: str | None = None) -> list[str]:
        return [a for (_, a, i, _) in self.seen if actor_id is None or i == actor_id]

    async def stream(
        self, filters: dict[str, list[str]], since_ns: int | None, until_ns: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        for kind, action, actor, attrs in list(self.seen):
            yield {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": attrs}}


class FakeStore:
    """The store's container rows, as JSON text (so what is stored must round-trip)."""

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.rows: dict[str, str] = {}
        for doc in rows or []:
            self.rows[str(doc["Id"])] = jsonio.dumps(doc)

    def insert_container(self, cid: str, name: str, doc: dict[str, Any]) -> None:
        self.rows[cid] = jsonio.dumps(doc)

    def save_container(self, cid: str, name: str, doc: dict[str, Any]) -> None:
        if cid in self.rows:
            self.rows[cid] = jsonio.dumps(doc)

    def delete_container(self, cid: str) -> None:
        self.rows.pop(cid, None)

    def load_containers(self) -> list[dict[str, Any]]:
        return [jsonio.loads(doc) for doc in self.rows.values()]

    def doc(self, cid: str) -> dict[str, Any]:
        doc: dict[str, Any] = jsonio.loads(self.rows[cid])
        return doc


class FakeMonitor:
    """The monitor as the container services see it: starts give pids 100, 101...;
    `runtime` answers from `answers` (args[0] -> (rc, out, err)), default success."""

    def __init__(self) -> None:
        self.connected = True
        self.started: list[StartRequest] = []
        self.signals: list[tuple[str, int]] = []
        self.runtime_calls: list[list[str]] = []
        self.oom_killed_ids: set[str] = set()  # the runtime reports these as OOM-killed
        self.forgotten: list[str] = []
        self.resized: list[tuple[str, int, int]] = []
        self.attached: list[str] = []
        self.answers: dict[str, tuple[int, str, str]] = {}
        self.start_error: Exception | None = None
        self.containers: list[dict[str, Any]] = []  # what hello reports
        self.next_pid = 100

    async def start(self, req: StartRequest) -> int:
        if self.start_error is not None:
            raise self.start_error
        self.started.append(req)
        self.next_pid += 1
        return self.next_pid - 1

    async def runtime(self, ref: RuntimeRef, args: list[str]) -> tuple[int, str, str]:
        self.runtime_calls.append(list(args))
        return self.answers.get(args[0], (0, "", ""))

    async def signal(self, container_id: str, signum: int) -> None:
        self.signals.append((container_id, signum))

    async def forget(self, container_id: str) -> None:
        self.forgotten.append(container_id)

    async def hello(self) -> dict[str, Any]:
        return {"containers": self.containers}

    async def resize(self, target_id: str, height: int, width: int) -> None:
        self.resized.append((target_id, height, width))

    async def attach(self, container_id: str, sock_fd: int, opts: AttachOptions) -> None:
        self.attached.append(container_id)


class FakeImages:
    """One image, "busybox:latest", with a command and no layers."""

    def __init__(self) -> None:
        self.image = ImageRecord(
            id="sha256:" + "b" * 64,
            config={"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}},
            repo_tags=["busybox:latest"],
            size=1000,
        )
        self.gc_calls: list[set[str]] = []

    def resolve(self, ref: str) -> ImageRecord:
        if ref in ("busybox", "busybox:latest", self.image.id):
            return self.image
        raise NotFound(f"No such image: {ref}")

    def layer_dirs(self, image: ImageRecord) -> list[str]:
        return []

    def gc_layers(self, keep: set[str]) -> int:
        self.gc_calls.append(keep)
        return 0

    def list(self, *, all: bool = False) -> builtins.list[ImageRecord]:
        return [self.image]

    def disk_usage(self, containers: dict[str, int]) -> tuple[int, builtins.list[dict[str, Any]]]:
        return 1000, [{"Id": self.image.id, "Containers": containers.get(self.image.id, 0)}]


class FakeVolumes:
    def __init__(self) -> None:
        self.detached: list[tuple[str, bool]] = []
        self.recovered = 0

    def points_of(self, c: Container) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = c.private.get("mounts") or []
        return points

    def attach(self, cid: str, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return points

    async def mount(self, c: Container, rootfs: str) -> None:
        return None

    def unmount(self, c: Container) -> None:
        return None

    async def detach(self, c: Container, remove_anonymous: bool) -> None:
        self.detached.append((c.id, remove_anonymous))

    def recover(self) -> None:
        self.recovered += 1

    def container_matches(self, c: Container, values: list[str]) -> bool:
        return False

    def usage(self) -> list[dict[str, Any]]:
        return []


class FakeHealth:
    def __init__(self) -> None:
        self.watching: set[str] = set()

    def watch(self, c: Container) -> None:
        self.watching.add(c.id)

    def stop(self, c: Container) -> None:
        self.watching.discard(c.id)


class FakeRootfs:
    """A rootfs that is a plain directory (no overlay mount, no root needed)."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.mounted: set[str] = set()

    def mount(self, cid: str, image: ImageRecord) -> str:
        rootfs = self.paths.rootfs(cid)
        os.makedirs(os.path.join(rootfs, "etc"), exist_ok=True)
        with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
        self.mounted.add(cid)
        return rootfs

    def unmount(self, cid: str) -> None:
        self.mounted.discard(cid)


class Tasks:
    """A spawner that keeps its tasks, so a test can wait for them."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        return task

    async def settle(self) -> None:
        while pending := [t for t in self.tasks if not t.done()]:
            await asyncio.wait(pending)


class NetCalls:
    """Networking and links that do nothing but record (no namespaces, no bridge)."""

    def __init__(self) -> None:
        self.prepared: list[str] = []
        self.released: list[str] = []
        self.forgotten: list[str] = []

    def check_create(self, host_config: dict[str, Any], networking: dict[str, Any]) -> None:
        return None

    def on_create(self, doc: dict[str, Any], networking: dict[str, Any]) -> None:
        return None

    def empty_settings(self, mode: str) -> dict[str, Any]:
        return {"Networks": {}, "Ports": {}}

    async def join_cluster(self, c: Container) -> None:
        return None

    def prepare(self, c: Container) -> tuple[str | None, dict[str, str]]:
        self.prepared.append(c.id)
        return f"/run/wharfie-fake/netns/{c.id}", {}  # only written into the spec

    def release(self, c: Container) -> None:
        self.released.append(c.id)

    def environment(self, c: Container) -> list[str]:
        return list(c.config.get("Env") or [])

    def forget(self, child_id: str, child_name: str) -> None:
        self.forgotten.append(child_id)

    def renamed(self, c: Container) -> None:
        return None


@dataclass
class Rig:
    """A `Containers` service on fakes, with everything a test looks at."""

    ctr: Containers
    index: ContainerIndex
    store: FakeStore
    events: RecordingEvents
    monitor: FakeMonitor
    volumes: FakeVolumes
    health: FakeHealth
    rootfs: FakeRootfs
    net: NetCalls
    tasks: Tasks
    paths: Paths


def containers_rig(root: str) -> Rig:
    store = FakeStore()
    index = ContainerIndex(store)
    events = RecordingEvents()
    monitor = FakeMonitor()
    paths = Paths(os.path.join(root, "data"), os.path.join(root, "exec"))
    paths.make_roots()
    volumes, health, rootfs = FakeVolumes(), FakeHealth(), FakeRootfs(paths)
    net, tasks = NetCalls(), Tasks()
    ctr = Containers(
        index=index,
        store=store,
        events=events,
        runtime=monitor,
        runtimes=Runtimes("wharfie-runtime", paths.exec_root, {}),
        images=FakeImages(),
        volumes=volumes,
        net=net,
        links=net,
        health=health,
        paths=paths,
        rootfs=rootfs,
        config=ContainersConfig(data_root=paths.data_root),
        tasks=tasks,
        oom_killed=lambda c: c.id in monitor.oom_killed_ids,
    )
    return Rig(ctr, index, store, events, monitor, volumes, health, rootfs, net, tasks, paths)


class FakeExec:
    def __init__(self, eid: str, cid: str, body: dict[str, Any]) -> None:
        self.id = eid
        self.cid = cid
        self.body = body
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()


class FakeExecs:
    """Execs whose processes print `output` (in Docker's stdout frames) and exit `code`;
    `hang` makes them never finish."""

    def __init__(self, output: bytes = b"ok\n", code: int = 0, hang: bool = False) -> None:
        self.output, self.code, self.hang = output, code, hang
        self.made: list[FakeExec] = []

    def create(self, ref: str, body: Any) -> str:
        ex = FakeExec(f"e{len(self.made)}", ref, dict(body))
        self.made.append(ex)
        return ex.id

    def get(self, eid: str) -> FakeExec:
        for ex in self.made:
            if ex.id == eid:
                return ex
        raise NotFound(f"No such exec instance: {eid}")

    async def start(
        self, ex: FakeExec, sock_fd: int | None, console: tuple[int, int] | None
    ) -> int:
        if self.hang:
            return 1
        if sock_fd is not None:
            frame = b"\x01\x00\x00\x00" + len(self.output).to_bytes(4, "big") + self.output
            os.write(sock_fd, frame)
        ex.done.set_result(self.code)
        return 1


class Saves:
    """An index's `save`, counting what was saved."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    def save(self, c: Container) -> None:
        self.saved.append(c.id)


def bare_container(cid: str = "c" * 64, name: str = "web", **config: Any) -> Container:
    """A container record with only what the services read."""
    return Container(
        id=cid,
        name=name,
        created="2026-01-01T00:00:00Z",
        path="sh",
        args=[],
        doc={
            "Image": "sha256:" + "b" * 64,
            "Config": {"Image": "busybox", **config},
            "HostConfig": {},
            "NetworkSettings": {"Networks": {}},
        },
    )
