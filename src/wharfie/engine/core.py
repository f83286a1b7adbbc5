"""The engine: the daemon's state and the services that act on it.

`Engine` owns the metadata store, the image store, the event bus, the monitor
connection and the in-memory index of containers. The use cases live in
`containers.py` (lifecycle), `execs.py`, `streams.py` (logs, attach, stats) and
`system.py`; each gets the engine and nothing global.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from wharfie import network
from wharfie.engine import filters, netsetup, present, recovery
from wharfie.engine.builds import Builds
from wharfie.engine.containers import Containers
from wharfie.engine.events import EventBus
from wharfie.engine.execs import Execs
from wharfie.engine.files import Files
from wharfie.engine.health import Health
from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.engine.networks import Networks
from wharfie.engine.store import Store
from wharfie.engine.streams import StatsReader
from wharfie.engine.volumes import Volumes
from wharfie.errors import InvalidArgument, NotFound
from wharfie.images import ImageStore
from wharfie.monitor import client as monitor_client
from wharfie.monitor.client import MonitorClient, RuntimeRef

log = logging.getLogger("wharfie.engine")

NAME_RE = re.compile(r"\A/?[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")  # Go: $ is the end of text


@dataclass
class Config:
    data_root: str = "/var/lib/wharfie"
    exec_root: str = "/run/wharfie"
    default_runtime: str = "wharfie-runtime"
    bridge_name: str = "wharfie0"
    bridge_subnet: str = "172.29.0.0/16"
    masquerade: bool = True
    cgroup_parent: str = "/wharfie"
    runtimes: dict[str, str] = field(default_factory=dict)  # name -> binary path
    # daemon.json / flags (daemon/config.py); dockerd's meaning unless noted
    bridge_gateway: str | None = None  # None: the subnet's first address
    mtu: int = 0  # the default bridge's; 0: 1500
    dns: list[str] = field(default_factory=list)  # for containers that set no Dns
    address_pools: list[tuple[str, int]] = field(default_factory=list)  # (base, size)
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    live_restore: bool = True  # False: running containers are stopped with the daemon
    ipv6: bool = False  # the default bridge's IPv6, on fixed_cidr_v6
    fixed_cidr_v6: str = ""
    cpu_rt_period: int = 0  # the budget given to the containers' parent cgroup (v1)
    cpu_rt_runtime: int = 0
    dns_search: list[str] = field(default_factory=list)  # for containers that set no DnsSearch
    dns_opts: list[str] = field(default_factory=list)  # for containers that set no DnsOptions
    labels: list[str] = field(default_factory=list)  # the daemon's, in `info`
    default_ulimits: list[dict[str, Any]] = field(default_factory=list)  # Ulimits entries
    default_shm_size: int = 64 * 1024 * 1024  # for containers whose ShmSize is 0
    default_ipc_mode: str = "private"  # for containers that set no IpcMode
    default_cgroupns_mode: str = ""  # "": the host's (private on cgroup v2, else host)
    init: bool = False  # an init for containers whose HostConfig.Init is null
    default_bind_ip: str = ""  # the daemon's --ip: published ports without a HostIp


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.data_root)
        self.images = ImageStore(self.store.db, config.data_root, self.store.lock)
        self.events = EventBus()
        self.index = ContainerIndex(self.store)
        self.containers = self.index.containers  # id -> container (the index's own dict)
        self.names = self.index.names  # name -> id
        self.monitor: MonitorClient | None = None
        self.warnings: list[str] = []  # shown by `info` (e.g. a monitor that died)
        self.daemon_id = self.store.setting("daemon_id", lambda: secrets.token_hex(32))
        self.bridge_id = self.store.setting("bridge_network_id", lambda: secrets.token_hex(32))
        self.tasks: set[asyncio.Task[Any]] = set()
        for sub in ("containers",):
            os.makedirs(os.path.join(config.data_root, sub), mode=0o710, exist_ok=True)
        for sub in ("containers", "netns", "runtime"):
            os.makedirs(os.path.join(config.exec_root, sub), mode=0o711, exist_ok=True)
        self.bridge = network.Bridge(
            config.bridge_name,
            config.bridge_subnet,
            self.bridge_id,
            gateway=config.bridge_gateway,
            mtu=config.mtu,
            subnet6=config.fixed_cidr_v6 if config.ipv6 else None,
        )
        self.ipam = network.IPAM(config.bridge_subnet, config.bridge_gateway)
        self.networks = Networks(self)
        self.ctr = Containers(self)
        self.execs_service = Execs(self)
        self.health = Health(self)
        self.files = Files(self)
        self.stats = StatsReader(self)
        self.volumes = Volumes(self)
        self.builds = Builds(self)

    async def start(self) -> None:
        """Bring the host side up (bridge, monitor), then re-adopt containers."""
        await asyncio.to_thread(self.bridge.ensure, masquerade=self.config.masquerade)
        await self.networks.start()
        await asyncio.to_thread(monitor_client.ensure_running, self.config.exec_root)
        sock = os.path.join(self.config.exec_root, "monitor.sock")
        self.monitor = await MonitorClient.connect(sock, self._on_monitor_event)
        self.monitor.on_lost = lambda: recovery.monitor_lost(self)
        self.monitor.on_back = lambda hello: recovery.monitor_back(self, hello)
        await recovery.recover(self)
        await self.networks.recover()
        await self.builds.recover()

    async def close(self) -> None:
        for c in self.containers.values():
            self.health.stop(c)
        if self.monitor is not None:
            await self.monitor.close()
            self.monitor = None
        self.store.close()

    def _on_monitor_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "exit":
            self.spawn(
                self.ctr.on_exit(
                    str(event["id"]), int(event["exit_code"]), event.get("finished_at")
                )
            )
        elif kind == "exec-exit":
            self.execs_service.on_exit(str(event["exec_id"]), int(event["exit_code"]))
        else:
            log.warning("unknown monitor event %r", event)

    # -- listing --
    def present_row(self, c: Container) -> dict[str, Any]:
        """A container as `GET /containers/json` lists it."""
        mode = c.network_mode
        return {
            "Id": c.id,
            "Names": ["/" + c.name],
            "Image": c.config.get("Image", ""),
            "ImageID": c.doc["Image"],
            "Command": present.command_string(str(c.doc["Path"]), list(c.doc["Args"])),
            "Created": int(present.parse_time(str(c.doc["Created"]))),
            "Ports": netsetup.ps_ports(c),
            "Labels": c.config.get("Labels") or {},
            "State": c.state["Status"],
            "Status": present.status_text(c.inspect()["State"], time.time()),
            "HostConfig": {"NetworkMode": mode},
            "NetworkSettings": {"Networks": c.doc["NetworkSettings"]["Networks"]},
            "Mounts": c.doc.get("Mounts") or [],
        }

    def list_containers(
        self, all_: bool, limit: int, raw_filters: str, size: bool
    ) -> list[dict[str, Any]]:
        f = filters.parse(raw_filters)
        cs = sorted(self.containers.values(), key=lambda c: str(c.doc["Created"]), reverse=True)
        if not all_ and limit <= 0 and "status" not in f:
            cs = [c for c in cs if c.running]
        rows = []
        for c in cs:
            if f and not filters.match_container(f, self._view(c)):
                continue
            if "volume" in f and not self.volumes.container_matches(c, f["volume"]):
                continue
            row = self.present_row(c)
            if size:
                rw, root = self.sizes(c)
                # moby's list type has `SizeRw int64 json:",omitempty"`: 0 is left out
                row.update({"SizeRw": rw} if rw else {})
                row["SizeRootFs"] = root
            rows.append(row)
            if limit > 0 and len(rows) >= limit:
                break
        return rows

    def rw_size(self, c: Container) -> int:
        """Bytes in the container's writable layer (SizeRw)."""
        from wharfie.engine.system import dir_size

        return dir_size(os.path.join(self.container_dir(c.id), "rw", "upper"))

    def sizes(self, c: Container) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): the writable layer, and it plus the image's layers."""
        rw = self.rw_size(c)
        try:
            return rw, rw + int(self.images.resolve(str(c.doc["Image"])).size)
        except NotFound:
            return rw, rw

    def _view(self, c: Container) -> filters.ContainerView:
        return filters.ContainerView(
            id=c.id,
            names=[c.name],
            image=str(c.config.get("Image", "")),
            image_id=str(c.doc["Image"]),
            labels=c.config.get("Labels") or {},
            state=str(c.state["Status"]),
            exit_code=int(c.state["ExitCode"]),
            created=present.parse_time(str(c.doc["Created"])),
            ancestor_ids={str(c.doc["Image"])},
            networks={
                name: str((ep or {}).get("NetworkID") or "")
                for name, ep in (c.doc.get("NetworkSettings", {}).get("Networks") or {}).items()
            },
        )

    # -- paths --
    def container_dir(self, cid: str) -> str:
        return os.path.join(self.config.data_root, "containers", cid)

    def bundle_dir(self, cid: str) -> str:
        return os.path.join(self.config.exec_root, "containers", cid)

    def netns_path(self, cid: str) -> str:
        return os.path.join(self.config.exec_root, "netns", cid)

    # -- runtimes --
    def runtime_ref(self, name: str | None) -> RuntimeRef:
        name = name or self.config.default_runtime
        root = os.path.join(self.config.exec_root, "runtime", os.path.basename(name))
        if name == "wharfie-runtime":
            path = _which("wharfie-runtime") or "wharfie-runtime"
            return RuntimeRef(name=name, path=path, root=root, in_process=True)
        path = self.config.runtimes.get(name) or _which(name)
        if not path and name == "wharfie-vm":  # installed beside wharfied (docs/vm.md)
            beside = os.path.join(os.path.dirname(sys.executable), name)
            path = beside if os.access(beside, os.X_OK) else ""
        if not path:
            raise InvalidArgument(f"unknown or invalid runtime name: {name}")
        return RuntimeRef(name=name, path=path, root=root, in_process=False)

    def runtime_warnings(self, name: str) -> list[str]:
        """What a runtime says about itself on this host: the `org.wharfie.warning` annotation
        of its `features` (wharfie-vm without a usable KVM). Asked once per runtime."""
        if name not in _RUNTIME_WARNINGS:
            try:
                ref = self.runtime_ref(name)
            except InvalidArgument:
                return []
            _RUNTIME_WARNINGS[name] = [] if ref.in_process else _features_warning(ref.path)
        return _RUNTIME_WARNINGS[name]

    def check_runtime(self, name: str) -> None:
        self.runtime_ref(name)

    # -- lookup (the index's; kept here until every caller takes the index) --
    def add(self, c: Container) -> None:
        self.index.add(c)

    def drop(self, c: Container) -> None:
        self.index.drop(c)

    def find(self, ref: str) -> Container:
        return self.index.find(ref)

    def save(self, c: Container) -> None:
        self.index.save(c)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """A background task the engine keeps a reference to (and logs if it fails)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def need_monitor(self) -> MonitorClient:
        if self.monitor is None:
            raise RuntimeError("the monitor is not connected")
        return self.monitor

    def validate_name(self, name: str) -> str:
        if not NAME_RE.match(name):
            raise InvalidArgument(
                f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        return name.lstrip("/")


_FOUND: dict[str, str] = {}


_RUNTIME_WARNINGS: dict[str, list[str]] = {}


def _features_warning(path: str) -> list[str]:
    import json
    import subprocess

    try:
        out = subprocess.run([path, "features"], capture_output=True, timeout=30, check=True)
        annotations = json.loads(out.stdout).get("annotations") or {}
    except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
        return []
    warning = annotations.get("org.wharfie.warning") if isinstance(annotations, dict) else None
    return [str(warning)] if warning else []


def _which(name: str) -> str:
    """shutil.which, remembering hits (every create and start asks; a PATH walk is ~0.3 ms).
    Misses are not remembered, so a runtime installed later is found without a restart."""
    path = _FOUND.get(name)
    if path is None:
        path = shutil.which(name) or ""
        if path:
            _FOUND[name] = path
    return path
