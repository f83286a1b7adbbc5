"""System-wide answers: version, info, disk usage and container prune."""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wharfie import __version__, distribution
from wharfie.engine import filters, present
from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import EventSink
from wharfie.engine.listing import dir_size
from wharfie.engine.model import Container
from wharfie.images import ImageRecord

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "25.0.0-wharfie"


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def version() -> dict[str, Any]:
    kernel = platform.release()
    details = {
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": __version__,
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": kernel,
        "Experimental": "false",
        "BuildTime": "",
    }
    return {
        "Platform": {"Name": f"Wharfie Engine {__version__}"},
        "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": __version__,
        "GoVersion": details["GoVersion"],
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": kernel,
        "BuildTime": "",
    }


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


@dataclass(frozen=True)
class SystemConfig:
    """The daemon settings `info` shows (engine.core.Config's)."""

    data_root: str
    default_runtime: str
    log_driver: str
    live_restore: bool
    runtimes: dict[str, str] = field(default_factory=dict)
    experimental: bool = False
    labels: list[str] = field(default_factory=list)  # the daemon's (daemon.json "labels")


class ImageCounts(Protocol):
    def disk_usage(self, containers: dict[str, int]) -> tuple[int, list[dict[str, Any]]]: ...

    def list(self, *, all: bool = False) -> Sequence[ImageRecord]: ...


class ContainerRows(Protocol):
    def row(self, c: Container) -> dict[str, Any]: ...

    def rw_size(self, c: Container) -> int: ...


class Remover(Protocol):
    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None: ...


class Usage(Protocol):
    def usage(self) -> list[dict[str, Any]]: ...


class EventCounts(EventSink, Protocol):
    @property
    def queues(self) -> Any: ...

    def stream(
        self, filters: dict[str, list[str]], since_ns: int | None, until_ns: int | None
    ) -> AsyncIterator[dict[str, Any]]: ...


class System:
    def __init__(
        self,
        *,
        config: SystemConfig,
        index: ContainerIndex,
        images: ImageCounts,
        events: EventCounts,
        listing: ContainerRows,
        lifecycle: Remover,
        volumes: Usage,
        builds: Usage,
        warnings: list[str],
        runtime_warnings: Callable[[str], list[str]],
        registry_settings: Callable[[], distribution.Settings],
        daemon_id: str,
    ) -> None:
        self.config = config
        self.index = index
        self.images = images
        self.bus = events
        self.listing = listing
        self.lifecycle = lifecycle
        self.volumes = volumes
        self.builds = builds
        self.warnings = warnings  # the engine's list (recovery adds to it)
        self.runtime_warnings = runtime_warnings
        self.registry_settings = registry_settings
        self.daemon_id = daemon_id

    def version(self) -> dict[str, Any]:
        return version()

    def events(
        self, filters: dict[str, list[str]], since_ns: int | None, until_ns: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        return self.bus.stream(filters, since_ns, until_ns)

    def info(self) -> dict[str, Any]:
        cs = self.index.all()
        running = sum(1 for c in cs if c.running and not c.paused)
        paused = sum(1 for c in cs if c.paused)
        runtimes = {n: {"path": n} for n in ("wharfie-runtime", "runc", "crun", "wharfie-vm")}
        runtimes.update({name: {"path": path} for name, path in self.config.runtimes.items()})
        return {
            "ID": self.daemon_id,
            "Containers": len(cs),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(cs) - running - paused,
            "Images": len(self.images.list(all=True)),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": None,
                "Log": ["json-file", "none"],
            },
            "MemoryLimit": True,
            "SwapLimit": False,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "Debug": False,
            "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": False,
            "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "LoggingDriver": self.config.log_driver,
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": _cgroup_version(),
            "NEventsListener": len(self.bus.queues),
            "KernelVersion": platform.release(),
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": registry_config(self.registry_settings()),
            "NCPU": os.cpu_count() or 1,
            "MemTotal": _mem_total(),
            "DockerRootDir": self.config.data_root,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": socket.gethostname(),
            "Labels": list(self.config.labels),
            "ExperimentalBuild": self.config.experimental,
            "ServerVersion": ENGINE_VERSION,
            "Runtimes": runtimes,
            "DefaultRuntime": self.config.default_runtime,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": self.config.live_restore,
            "Isolation": "",
            "InitBinary": "tini-static",
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
            "Warnings": list(self.warnings)
            + [f"WARNING: {w}" for w in self.runtime_warnings("wharfie-vm")],
        }

    def df(self) -> dict[str, Any]:
        users: dict[str, int] = {}
        for c in self.index.all():
            users[c.image_id] = users.get(c.image_id, 0) + 1
        layers_size, images = self.images.disk_usage(users)
        containers = []
        for c in self.index.all():
            row = self.listing.row(c)
            row["SizeRw"] = self.listing.rw_size(c)
            containers.append(row)
        return {
            "LayersSize": layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": self.volumes.usage(),
            "BuildCache": self.builds.usage(),
        }

    async def prune_containers(self, raw_filters: str) -> dict[str, Any]:
        f = filters.parse(raw_filters)
        filters.validate(f, filters.PRUNE_CONTAINER_FILTERS)
        until = filters.prune_until(f)
        deleted, reclaimed = [], 0
        for c in self.index.all():
            if c.running or c.state.restarting:
                continue
            created = present.parse_time(c.created)
            if not filters.prune_match(f, c.config.get("Labels"), created, until):
                continue
            reclaimed += self.listing.rw_size(c)
            await self.lifecycle.remove(c.id, force=False, volumes=False)
            deleted.append(c.id)
        self.bus.emit("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def registry_config(settings: distribution.Settings) -> dict[str, Any]:
    """dockerd's RegistryConfig from the daemon's registry-mirrors and insecure-registries."""
    import ipaddress

    mirrors = [m + "/" for m in settings.mirrors.get("docker.io", [])]
    cidrs, hosts = ["127.0.0.0/8"], []
    for entry in settings.insecure:
        try:
            cidrs.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            hosts.append(entry)
    index = {
        "docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": True, "Official": True}
    }
    for host in hosts:
        index[host] = {"Name": host, "Mirrors": [], "Secure": False, "Official": False}
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": index,
        "Mirrors": mirrors,
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


__all__ = ["System", "SystemConfig", "dir_size", "version"]
