"""wharfied: the daemon. Flags like dockerd's; serves the Docker Engine API.

    wharfied [-H unix:///run/wharfie/wharfie.sock] [--data-root /var/lib/wharfie]
             [--exec-root /run/wharfie] [--default-runtime wharfie-runtime]
             [--log-level info] [--pidfile /run/wharfie/wharfied.pid]
             [--tlsverify --tlscacert CA --tlscert CERT --tlskey KEY]

Access to the API is root-equivalent (as with Docker): the unix socket is mode 0660,
group `wharfie`; TCP is refused unless it is loopback or mutual TLS is configured.
Containers keep running when wharfied stops; the next wharfied re-adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import ipaddress
import logging
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.api.serve import Server

log = logging.getLogger("wharfie.daemon")

DEFAULT_HOST = "unix:///run/wharfie/wharfie.sock"
SOCKET_GROUP = "wharfie"
FD_RESERVE = 512  # descriptors kept for everything but API connections
BACKLOG = 128  # accepted in batches of this many: a bigger batch raised the RSS high-water


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="wharfied", description="The Wharfie daemon.")
    p.add_argument("-H", "--host", action="append", default=[], help="socket(s) to listen on")
    p.add_argument("--data-root", default="/var/lib/wharfie")
    p.add_argument("--exec-root", default="/run/wharfie")
    p.add_argument("--default-runtime", default="wharfie-runtime")
    p.add_argument(
        "--log-level", "-l", default="info", choices=["debug", "info", "warn", "error", "fatal"]
    )
    p.add_argument("--pidfile", "-p", default="")
    p.add_argument("--group", "-G", default=SOCKET_GROUP)
    p.add_argument("--tlsverify", action="store_true")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--tlscacert", default="")
    p.add_argument("--tlscert", default="")
    p.add_argument("--tlskey", default="")
    p.add_argument("--bip", default="172.29.0.0/16", help="subnet of the default bridge")
    p.add_argument("--bridge", default="wharfie0", help="name of the default bridge device")
    p.add_argument(
        "--no-masquerade",
        action="store_true",
        help="do not add the NAT rule for the default bridge",
    )
    p.add_argument(
        "--registry-mirror",
        action="append",
        default=[],
        help="mirror of docker.io, or HOST=URL for a mirror of HOST",
    )
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        help="registry host[:port] or CIDR reachable over HTTP / unverified TLS",
    )
    p.add_argument(
        "--blocked-registry",
        action="append",
        default=[],
        help="registry host never contacted (pulls and pushes naming it fail)",
    )
    p.add_argument(
        "--api-max-connections",
        type=int,
        default=2048,
        help="open API connections; past it the longest idle one is closed",
    )
    p.add_argument(
        "--api-header-timeout",
        type=float,
        default=30.0,
        help="seconds for a request head to arrive once it began",
    )
    p.add_argument(
        "--api-idle-timeout",
        type=float,
        default=300.0,
        help="seconds a connection may wait for its next request",
    )
    p.add_argument("--version", "-v", action="store_true")
    return p.parse_args(argv)


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
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
    protocol: Callable[[], asyncio.Protocol],
    tls: ssl.SSLContext | None,
    group: str,
) -> asyncio.AbstractServer:
    """A listener for `host` whose connections `protocol()` serves (Server.protocol)."""
    loop = asyncio.get_running_loop()
    url = urlsplit(host)
    if url.scheme in ("unix", ""):
        path = url.path or host
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        server = await loop.create_unix_server(protocol, path, backlog=BACKLOG)
        os.chmod(path, 0o660)
        os.chown(path, 0, _group_id(group))
        return server
    if url.scheme == "tcp":
        port = url.port or (2376 if tls else 2375)
        check_tcp(url.hostname or "", port, tls)
        return await loop.create_server(protocol, url.hostname, port, ssl=tls, backlog=BACKLOG)
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


def configure_limits(server: Server, args: argparse.Namespace) -> None:
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


async def serve(args: argparse.Namespace) -> None:
    from wharfie import api
    from wharfie.engine.core import Config, Engine

    config = Config(
        data_root=args.data_root,
        exec_root=args.exec_root,
        default_runtime=args.default_runtime,
        bridge_name=args.bridge,
        bridge_subnet=args.bip,
        masquerade=not args.no_masquerade,
    )
    engine = Engine(config)
    from wharfie.engine.images import configure

    configure(engine, args.registry_mirror, args.insecure_registry, args.blocked_registry)
    await engine.start()
    server = api.build(engine)
    configure_limits(server, args)
    tls = tls_context(args)
    listeners = [
        await listen(h, server.protocol, tls, args.group) for h in args.host or [DEFAULT_HOST]
    ]
    log.info("wharfied ready: %s", ", ".join(args.host or [DEFAULT_HOST]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down; containers keep running")
    for listener in listeners:
        listener.close()
    for task in list(server.connections):
        task.cancel()
    await engine.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        from wharfie import __version__

        print(f"wharfied version {__version__}")
        return 0
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(args.log_level, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        write_pidfile(args.pidfile)
        asyncio.run(serve(args))
    except InvalidArgument as exc:
        print(f"wharfied: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.pidfile and os.path.exists(args.pidfile):
            os.unlink(args.pidfile)
    return 0
