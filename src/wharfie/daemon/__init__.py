"""wharfied: the daemon. Flags like dockerd's; serves the Docker Engine API.

    wharfied [--config-file /etc/wharfie/daemon.json] [-H unix:///run/wharfie/wharfie.sock]
             [--data-root /var/lib/wharfie] [--exec-root /run/wharfie] [--log-level info]
             [--tlsverify --tlscacert CA --tlscert CERT --tlskey KEY] ...  (wharfied --help)

The options, their help and their daemon.json keys are one table: daemon/config.py.

Access to the API is root-equivalent (as with Docker): the unix socket is mode 0660,
group `wharfie`; TCP is refused unless it is loopback or mutual TLS is configured.
Containers keep running when wharfied stops; the next wharfied re-adopts them.
"""

from __future__ import annotations

import asyncio
import grp
import ipaddress
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from wharfie.daemon.config import DEFAULT_HOST, ConfigError, Settings, load
from wharfie.errors import FailedPrecondition, InvalidArgument, Unavailable

if TYPE_CHECKING:
    from wharfie.api.serve import Listener, Server
    from wharfie.cluster.kv import TLSFiles
    from wharfie.cluster.records import NodeDescription
    from wharfie.engine.core import Config, Engine

log = logging.getLogger("wharfie.daemon")

SOCKET_GROUP = "wharfie"
FD_RESERVE = 512  # descriptors kept for everything but API connections
BACKLOG = 128  # accepted in batches of this many: a bigger batch raised the RSS high-water


def parse_args(argv: list[str]) -> Settings:
    """The flags merged with the configuration file (ConfigError: dockerd's wording)."""
    return load(argv)


def tls_context(args: Settings) -> ssl.SSLContext | None:
    if not (args.tlsverify or args.tls):
        return None
    if not (args.tlscert and args.tlskey):
        raise InvalidArgument("--tlscert and --tlskey are needed for TLS")
    if args.tlsverify and not args.tlscacert:
        raise InvalidArgument("--tlsverify needs --tlscacert to check client certificates")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.tlscert, args.tlskey)
    if args.tlsverify:
        if not args.tlscacert:
            raise InvalidArgument("--tlsverify needs --tlscacert to check client certificates")
        ctx.load_verify_locations(args.tlscacert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def check_tcp(host: str, port: int, tls: ssl.SSLContext | None) -> None:
    """Plain TCP only on loopback; anything reachable from elsewhere needs mutual TLS."""
    if tls is not None and tls.verify_mode == ssl.CERT_REQUIRED:
        return
    try:
        loopback = ipaddress.ip_address(host or "0.0.0.0").is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise InvalidArgument(
            f"refusing to serve the API on tcp://{host}:{port} without mutual TLS: anyone who "
            "can reach it owns this host (use --tlsverify with --tlscacert, --tlscert, --tlskey)"
        )


async def listen(
    host: str,
    server: Server,
    tls: ssl.SSLContext | None,
    group: str,
) -> list[Listener | asyncio.AbstractServer]:
    """The listeners for `host` whose connections `server` serves: plain sockets with its
    own accept loop (Server.serve_socket), TLS through asyncio (Server.protocol)."""
    loop = asyncio.get_running_loop()
    url = urlsplit(host)
    if url.scheme in ("unix", ""):
        path = url.path or host
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o660)
        os.chown(path, 0, _group_id(group))
        sock.listen(BACKLOG)
        return [server.serve_socket(sock)]
    if url.scheme == "tcp":
        port = url.port or (2376 if tls else 2375)
        check_tcp(url.hostname or "", port, tls)
        if tls is not None:
            tcp = await loop.create_server(
                server.protocol, url.hostname, port, ssl=tls, backlog=BACKLOG
            )
            return [tcp]
        out: list[Listener | asyncio.AbstractServer] = []
        for family, kind, proto, _, addr in socket.getaddrinfo(
            url.hostname or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            sock.listen(BACKLOG)
            out.append(server.serve_socket(sock))
        return out
    raise InvalidArgument(f"unsupported address {host!r}: use unix:// or tcp://")


def _group_id(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    try:
        subprocess.run(["groupadd", "--system", name], check=True, capture_output=True)
        return grp.getgrnam(name).gr_gid
    except (OSError, subprocess.CalledProcessError, KeyError) as exc:
        log.warning("cannot create group %s (%s): the socket stays root-only", name, exc)
        return 0


def configure_limits(server: Server, args: Settings) -> None:
    """The API's connection cap and timeouts; file descriptors up to the hard limit (as
    Go raises them for dockerd) so the cap, not EMFILE, is what a flood meets; and a
    rate limit on the loggers an accept-error storm would fill."""
    import resource

    from wharfie.httpcore.serving import Timeouts, install_rate_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    cap = args.api_max_connections
    if soft != resource.RLIM_INFINITY and cap > soft - FD_RESERVE:
        cap = max(16, soft - FD_RESERVE)
        log.warning("file limit %d: at most %d API connections", soft, cap)
    server.configure(cap, Timeouts(header=args.api_header_timeout, idle=args.api_idle_timeout))
    install_rate_limit("asyncio", "wharfie.api", "wharfie.daemon")


def write_pidfile(path: str) -> None:
    if not path:
        return
    try:
        with open(path) as f:
            old = int(f.read().strip() or 0)
        if old and os.path.exists(f"/proc/{old}"):
            raise InvalidArgument(
                f"pid file found, ensure wharfied is not running or delete {path}"
            )
    except (FileNotFoundError, ValueError):
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")


async def serve(args: Settings) -> None:
    from wharfie import api
    from wharfie.cluster import extstore
    from wharfie.cluster.swarm import Swarm
    from wharfie.dashboard import Dashboard, check_address
    from wharfie.engine.core import Engine

    check_address(args.dashboard_addr, tls_context(args))  # before anything is started
    cluster_store = extstore.parse(args.cluster_store, dict(args.cluster_store_opts))
    engine = Engine(engine_config(args))
    engine.image_service.configure(
        args.registry_mirrors, args.insecure_registries, args.blocked_registries
    )
    await engine.start()
    endpoint = ControlListener()
    from wharfie.daemon.swarmtasks import EngineTasks

    tasks = EngineTasks(engine)
    swarm = Swarm(
        args.data_root,
        lambda: node_description(engine),
        endpoint,
        tasks,
        network_plane=tasks,
        external_store=cluster_store,
    )
    tasks.swarm = swarm
    engine.networks.cluster_attach = tasks.attach_standalone
    endpoint.routes = api.build_control(swarm)
    await swarm.start()
    server = api.build(engine, swarm)
    configure_limits(server, args)
    tls = tls_context(args)
    listeners = [
        listener
        for h in args.hosts or [DEFAULT_HOST]
        for listener in await listen(h, server, tls, args.group)
    ]
    # The dashboard (wharfie.dashboard): started by `POST /wharfie/dashboard`, or at start-up
    # when --dashboard-addr is given or it was started before (its port and token are kept).
    unix = [h for h in args.hosts or [DEFAULT_HOST] if h.startswith("unix://")]
    dashboard = Dashboard(
        engine,
        server.router,
        address=args.dashboard_addr,
        tls=tls,
        state_path=os.path.join(args.data_root, "dashboard.json"),
        api_host=unix[0] if unix else "",
    )
    dashboard.register(server.router)
    if args.dashboard_addr or dashboard.configured:
        await dashboard.start()
    log.info("wharfied ready: %s", ", ".join(args.hosts or [DEFAULT_HOST]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for listener in listeners:
        listener.close()
    for task in list(server.connections):
        task.cancel()
    await dashboard.close()
    if args.live_restore:
        log.info("shutting down; containers keep running")
    else:
        await stop_containers(engine)
    await swarm.close()
    await engine.close()


class ControlListener:
    """A manager's control endpoint (api/routes_control.py) on the swarm's listen address,
    TLS with the node's certificate; a client certificate is asked for and checked there."""

    def __init__(self) -> None:
        self.routes: Server | None = None
        self._listener: asyncio.AbstractServer | None = None

    async def open(self, listen_addr: str, identity: TLSFiles) -> None:
        await self.close()
        assert self.routes is not None
        host, _, port = listen_addr.rpartition(":")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(identity.cert, identity.key)
        ctx.load_verify_locations(identity.ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        loop = asyncio.get_running_loop()
        try:
            self._listener = await loop.create_server(
                self.routes.protocol, host.strip("[]") or None, int(port), ssl=ctx
            )
        except OSError as exc:
            raise Unavailable(f"cannot listen on {listen_addr}: {exc}") from exc

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            await listener.wait_closed()


def node_description(engine: Engine) -> NodeDescription:
    """What a swarm node record says of this machine and engine (`docker node inspect`)."""
    import platform

    from wharfie.cluster.records import NodeDescription

    doc = engine.system.info()
    plugins = [
        (kind, name) for kind in ("Log", "Network", "Volume") for name in doc["Plugins"][kind]
    ]
    labels = dict(str(label).partition("=")[::2] for label in doc.get("Labels") or [])
    return NodeDescription(
        hostname=str(doc["Name"]),
        architecture=platform.machine(),
        os="linux",
        nano_cpus=int(doc["NCPU"]) * 1_000_000_000,
        memory_bytes=int(doc["MemTotal"]),
        engine_version=str(doc["ServerVersion"]),
        plugins=sorted(plugins),
        engine_labels=labels,
    )


async def stop_containers(engine: Engine) -> None:
    """--live-restore=false: stop the running containers as dockerd does at shutdown
    (SIGTERM, then SIGKILL after each one's stop timeout)."""
    running = [c.id for c in engine.containers.values() if c.running]
    log.info("shutting down; stopping %d running container(s) (live-restore is off)", len(running))
    results = await asyncio.gather(
        *(engine.ctr.stop(cid, None, None) for cid in running), return_exceptions=True
    )
    for cid, result in zip(running, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("stopping container %s at shutdown failed: %s", cid[:12], result)


def engine_config(args: Settings) -> Config:
    """The engine's Config from the merged options."""
    from wharfie.engine.core import Config

    try:
        bip = ipaddress.IPv4Interface(args.bip)
    except ValueError as e:
        raise InvalidArgument(f"invalid --bip {args.bip!r}: {e}") from e
    # dockerd's --bip is the bridge's address with its prefix (10.1.0.1/24); wharfied's
    # historical form is the subnet (10.1.0.0/24), whose bridge takes the first address.
    gateway = None if bip.ip == bip.network.network_address else str(bip.ip)
    return Config(
        data_root=args.data_root,
        exec_root=args.exec_root,
        default_runtime=args.default_runtime,
        bridge_name=args.bridge,
        bridge_subnet=str(bip.network),
        bridge_gateway=gateway,
        masquerade=args.ip_masq,
        runtimes=dict(args.runtimes),
        mtu=args.mtu,
        dns=list(args.dns),
        address_pools=list(args.default_address_pools),
        log_driver=args.log_driver,
        log_opts=dict(args.log_opts),
        live_restore=args.live_restore,
        experimental=args.experimental,
        cgroup_parent=args.cgroup_parent,
        ipv6=args.ipv6,
        fixed_cidr_v6=args.fixed_cidr_v6,
        cpu_rt_period=args.cpu_rt_period,
        cpu_rt_runtime=args.cpu_rt_runtime,
        dns_search=list(args.dns_search),
        dns_opts=list(args.dns_opts),
        labels=list(args.labels),
        default_ulimits=list(args.default_ulimits.values()),
        default_shm_size=args.default_shm_size,
        default_ipc_mode=args.default_ipc_mode or "private",
        default_cgroupns_mode=args.default_cgroupns_mode,
        init=args.init,
        default_bind_ip="" if args.ip in ("", "0.0.0.0") else args.ip,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.validate:
        try:
            engine_config(args)
        except InvalidArgument as exc:
            print(f"wharfied: {exc}", file=sys.stderr)
            return 1
        print("configuration OK")
        return 0
    if args.version:
        from wharfie import __version__

        print(f"wharfied version {__version__}")
        return 0
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(args.log_level, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        write_pidfile(args.pidfile)
        asyncio.run(serve(args))
    except (InvalidArgument, FailedPrecondition) as exc:
        print(f"wharfied: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.pidfile and os.path.exists(args.pidfile):
            os.unlink(args.pidfile)
    return 0
