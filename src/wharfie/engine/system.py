"""System-wide answers: version, info, disk usage and prune."""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import TYPE_CHECKING, Any

from wharfie import __version__
from wharfie.engine import filters, present

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

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


def info(engine: Engine) -> dict[str, Any]:
    cs = list(engine.containers.values())
    running = sum(1 for c in cs if c.running and not c.paused)
    paused = sum(1 for c in cs if c.paused)
    runtimes = {n: {"path": n} for n in ("wharfie-runtime", "runc", "crun", "wharfie-vm")}
    runtimes.update({name: {"path": path} for name, path in engine.config.runtimes.items()})
    return {
        "ID": engine.daemon_id,
        "Containers": len(cs),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(cs) - running - paused,
        "Images": len(engine.images.list(all=True)),
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
        "LoggingDriver": engine.config.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": _cgroup_version(),
        "NEventsListener": len(engine.events.queues),
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(engine),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "DockerRootDir": engine.config.data_root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": socket.gethostname(),
        "Labels": list(engine.config.labels),
        "ExperimentalBuild": False,
        "ServerVersion": ENGINE_VERSION,
        "Runtimes": runtimes,
        "DefaultRuntime": engine.config.default_runtime,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": engine.config.live_restore,
        "Isolation": "",
        "InitBinary": "tini-static",
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "Warnings": list(engine.warnings)
        + [f"WARNING: {w}" for w in engine.runtime_warnings("wharfie-vm")],
    }


def registry_config(engine: Engine) -> dict[str, Any]:
    """dockerd's RegistryConfig from the daemon's registry-mirrors and insecure-registries."""
    import ipaddress

    from wharfie.engine.images import service

    settings = service(engine).settings
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


def dir_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def df(engine: Engine) -> dict[str, Any]:
    users: dict[str, int] = {}
    for c in engine.containers.values():
        users[str(c.doc["Image"])] = users.get(str(c.doc["Image"]), 0) + 1
    layers_size, images = engine.images.disk_usage(users)
    containers = []
    for c in engine.containers.values():
        row = engine.present_row(c)
        row["SizeRw"] = engine.rw_size(c)
        containers.append(row)
    return {
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": engine.volumes.usage(),
        "BuildCache": engine.builds.usage(),
    }


async def prune_containers(engine: Engine, raw_filters: str) -> dict[str, Any]:
    f = filters.parse(raw_filters)
    filters.validate(f, filters.PRUNE_CONTAINER_FILTERS)
    until = filters.prune_until(f)
    deleted, reclaimed = [], 0
    for c in list(engine.containers.values()):
        if c.running or c.state.get("Restarting"):
            continue
        created = present.parse_time(str(c.doc["Created"]))
        if not filters.prune_match(f, c.config.get("Labels"), created, until):
            continue
        reclaimed += dir_size(os.path.join(engine.container_dir(c.id), "rw", "upper"))
        await engine.ctr.remove(c.id, force=False, volumes=False)
        deleted.append(c.id)
    engine.events.emit("container", "prune", "", {"reclaimed": str(reclaimed)})
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}
