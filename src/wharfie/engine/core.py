"""The engine: where the daemon's services are built and wired, and nothing else.

Each service takes what it uses in its constructor (the container index, the store, the
event bus, the monitor link, the image store, the network and volume services, a config
record, a task spawner); `Engine` builds them in order and keeps them as attributes for
the routes and the daemon. docs/architecture.md draws the graph.

No service takes the `Engine`: the few methods left here (`find`, `need_monitor`) are
for the daemon, the swarm agent's adapter and the dashboard.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from wharfie import network
from wharfie.build.cache import BuildCache
from wharfie.engine import streams, validate
from wharfie.engine.builds import Builds
from wharfie.engine.checkpoints import Checkpoints
from wharfie.engine.container_api import ContainerAPI, ExecAPI
from wharfie.engine.containers import Containers, ContainersConfig
from wharfie.engine.containers import cgroups_path as container_cgroups_path
from wharfie.engine.events import EventBus
from wharfie.engine.execs import Execs
from wharfie.engine.files import Files
from wharfie.engine.health import Health
from wharfie.engine.images import ImageService
from wharfie.engine.index import ContainerIndex
from wharfie.engine.links import Links
from wharfie.engine.listing import ContainerListing
from wharfie.engine.model import Container
from wharfie.engine.monitorlink import MonitorLink
from wharfie.engine.net import EtcFiles, NetConfig, NetSetup, Networks
from wharfie.engine.net.service import NetworkService
from wharfie.engine.paths import Paths
from wharfie.engine.recovery import Recovery
from wharfie.engine.rootfs import RootfsMounts
from wharfie.engine.runtimes import Runtimes
from wharfie.engine.store import Store
from wharfie.engine.streams import StatsReader
from wharfie.engine.system import System, SystemConfig
from wharfie.engine.tasks import Tasks
from wharfie.engine.volumes import Volumes
from wharfie.images import ImageStore
from wharfie.monitor import client as monitor_client
from wharfie.monitor.client import MonitorClient

log = logging.getLogger("wharfie.engine")


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
    experimental: bool = False  # dockerd's --experimental: the checkpoint routes
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
        # -- state and plumbing --
        self.store = Store(config.data_root)
        self.images = ImageStore(self.store.db, config.data_root, self.store.lock)
        self.events = EventBus()
        self.index = ContainerIndex(self.store)
        self.containers = self.index.containers  # id -> container (the index's own dict)
        self.names = self.index.names  # name -> id
        self.paths = Paths(config.data_root, config.exec_root)
        self.monitor_link = MonitorLink()
        self.runtimes = Runtimes(config.default_runtime, config.exec_root, config.runtimes)
        self.jobs = Tasks()
        self.warnings: list[str] = []  # shown by `info` (e.g. a monitor that died)
        self.daemon_id = self.store.setting("daemon_id", lambda: secrets.token_hex(32))
        self.bridge_id = self.store.setting("bridge_network_id", lambda: secrets.token_hex(32))
        self.paths.make_roots()
        self.bridge = network.Bridge(
            config.bridge_name,
            config.bridge_subnet,
            self.bridge_id,
            gateway=config.bridge_gateway,
            mtu=config.mtu,
            subnet6=config.fixed_cidr_v6 if config.ipv6 else None,
        )
        # -- networking, volumes, images: explicit dependencies --
        net_config = NetConfig(
            config.bridge_name, config.masquerade, config.mtu, config.dns, config.address_pools
        )
        self.networks = Networks(
            self.store, self.index, self.events, self.bridge, net_config, self.paths
        )
        self.links = Links(self.index, self.bridge_id)
        self.etcfiles = EtcFiles(
            self.paths,
            self.links,
            self.bridge.gateway,
            config.dns,
            daemon_search=config.dns_search,
            daemon_opts=config.dns_opts,
        )
        self.netsetup = NetSetup(
            self.networks,
            self.index,
            self.events,
            self.etcfiles,
            self.links,
            self.paths,
            default_bind_ip=config.default_bind_ip,
        )
        self.network_api = NetworkService(self.networks, self.netsetup, self.index)
        self.volumes = Volumes(self.index, self.events, config.data_root)
        self.image_service = ImageService(self.images, self.events, self.index)
        # -- the container services --
        self.execs_service = Execs(
            self.index, self.events, self.monitor_link.need, self.runtimes.ref, self.paths
        )
        self.health = Health(
            execs=self.execs_service, index=self.index, events=self.events, tasks=self.jobs
        )
        self.stats = StatsReader(
            lambda c: container_cgroups_path(c, config.cgroup_parent), self.runtimes.ref
        )
        self.ctr = Containers(
            index=self.index,
            store=self.store,
            events=self.events,
            runtime=self.monitor_link,
            runtimes=self.runtimes,
            images=self.images,
            volumes=self.volumes,
            net=self.netsetup,
            links=self.links,
            health=self.health,
            paths=self.paths,
            rootfs=RootfsMounts(paths=self.paths, images=self.images),
            config=ContainersConfig(
                data_root=config.data_root,
                default_runtime=config.default_runtime,
                cgroup_parent=config.cgroup_parent,
                create_defaults=validate.CreateDefaults.of(config),
                init=config.init,
                cpu_rt_period=config.cpu_rt_period,
                cpu_rt_runtime=config.cpu_rt_runtime,
            ),
            tasks=self.jobs,
            oom_killed=self.stats.oom_killed,
        )
        self.files = Files(self.images, self.ctr, self.volumes, self.events, self.paths)
        self.builds = Builds(
            BuildCache(self.store.db, self.store.lock),
            self.images,
            self.image_service,
            self.ctr,
            self.index,
            self.events,
            self.paths,
        )
        self.listing = ContainerListing(
            index=self.index, images=self.images, volumes=self.volumes, paths=self.paths
        )
        self.recovery = Recovery(
            index=self.index,
            store=self.store,
            runtime=self.monitor_link,
            lifecycle=self.ctr,
            health=self.health,
            volumes=self.volumes,
            bridge=self.bridge,
            links=self.links,
            paths=self.paths,
            events=self.events,
            warnings=self.warnings,
            daemon_id=self.daemon_id,
            execs=self.execs_service,
        )
        self.system = System(
            config=SystemConfig(
                data_root=config.data_root,
                default_runtime=config.default_runtime,
                log_driver=config.log_driver,
                live_restore=config.live_restore,
                runtimes=config.runtimes,
                experimental=config.experimental,
                labels=list(config.labels),
            ),
            index=self.index,
            images=self.images,
            events=self.events,
            listing=self.listing,
            lifecycle=self.ctr,
            volumes=self.volumes,
            builds=self.builds,
            warnings=self.warnings,
            runtime_warnings=self.runtimes.warnings,
            registry_settings=lambda: self.image_service.settings,
            daemon_id=self.daemon_id,
        )

        self.checkpoints = Checkpoints(
            experimental=config.experimental,
            index=self.index,
            paths=self.paths,
            events=self.events,
            runtime_ref=self.runtimes.ref,
            monitor=self.monitor_link.need,
        )
        self.container_api = ContainerAPI(
            index=self.index,
            lifecycle=self.ctr,
            listing=self.listing,
            runtimes=self.runtimes,
            runtime=self.monitor_link,
            events=self.events,
            files=self.files,
            stats=self.stats,
            top=functools.partial(streams.top, self.ctr.pids),
            execs=self.execs_service,
            pruner=self.system,
            remove_link=self.links.remove_link,
        )
        self.exec_api = ExecAPI(execs=self.execs_service, runtime=self.monitor_link)

    async def start(self) -> None:
        """Bring the host side up (bridge, monitor), then re-adopt containers."""
        await asyncio.to_thread(self.bridge.ensure, masquerade=self.config.masquerade)
        await self.networks.start()
        await asyncio.to_thread(monitor_client.ensure_running, self.config.exec_root)
        sock = self.paths.monitor_socket()
        client = await MonitorClient.connect(sock, self._on_monitor_event)
        self.monitor_link.client = client
        client.on_lost = self.recovery.monitor_lost
        client.on_back = self.recovery.monitor_back
        await self.recovery.recover()
        await self.networks.recover()
        await self.builds.recover()

    async def close(self) -> None:
        for c in self.index.all():
            self.health.stop(c)
        if self.monitor_link.client is not None:
            await self.monitor_link.client.close()
            self.monitor_link.client = None
        self.store.close()

    def _on_monitor_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "exit":
            self.jobs.spawn(
                self.ctr.on_exit(
                    str(event["id"]), int(event["exit_code"]), event.get("finished_at")
                )
            )
        elif kind == "exec-exit":
            self.execs_service.on_exit(str(event["exec_id"]), int(event["exit_code"]))
        else:
            log.warning("unknown monitor event %r", event)

    # -- for the daemon and the dashboard (no engine service takes the engine) --
    def need_monitor(self) -> MonitorClient:
        return self.monitor_link.need()

    def find(self, ref: str) -> Container:
        return self.index.find(ref)
