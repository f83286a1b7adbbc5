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
from urllib.parse import urlsplit

from wharfie.errors import InvalidArgument

log = logging.getLogger("wharfie.daemon")

DEFAULT_HOST = "unix:///run/wharfie/wharfie.sock"
SOCKET_GROUP = "wharfie"


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
    p.add_argument("--registry-mirror", action="append", default=[],
                   help="mirror of docker.io, or HOST=URL for a mirror of HOST")
    p.add_argument("--insecure-registry", action="append", default=[],
                   help="registry host[:port] or CIDR reachable over HTTP / unverified TLS")
    p.add_argument("--blocked-registry", action="append", default=[],
                   help="registry host never contacted (pulls and pushes naming it fail)")
    p.add_argument("--dashboard-addr", default="",
                   help="serve the dashboard at HOST:PORT from start-up (off loopback: TLS only)")
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
    host: str, handle: object, tls: ssl.SSLContext | None, group: str
) -> asyncio.AbstractServer:
    url = urlsplit(host)
    if url.scheme in ("unix", ""):
        path = url.path or host
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        server = await asyncio.start_unix_server(handle, path)  # type: ignore[arg-type]
        os.chmod(path, 0o660)
        os.chown(path, 0, _group_id(group))
        return server
    if url.scheme == "tcp":
        port = url.port or (2376 if tls else 2375)
        check_tcp(url.hostname or "", port, tls)
        return await asyncio.start_server(handle, url.hostname, port, ssl=tls)  # type: ignore[arg-type]
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
    from wharfie.dashboard import Dashboard, check_address

    check_address(args.dashboard_addr, tls_context(args))  # before anything is started
    engine = Engine(config)
    from wharfie.engine.images import configure

    configure(engine, args.registry_mirror, args.insecure_registry, args.blocked_registry)
    await engine.start()
    server = api.build(engine)
    tls = tls_context(args)
    listeners = [
        await listen(h, server.handle, tls, args.group) for h in args.host or [DEFAULT_HOST]
    ]
    # The dashboard (wharfie.dashboard): started by `POST /wharfie/dashboard`, or at start-up
    # when --dashboard-addr is given or it was started before (its port and token are kept).
    unix = [h for h in args.host or [DEFAULT_HOST] if h.startswith("unix://")]
    dashboard = Dashboard(engine, server.router, address=args.dashboard_addr, tls=tls,
                          state_path=os.path.join(args.data_root, "dashboard.json"),
                          api_host=unix[0] if unix else "")
    dashboard.register(server.router)
    if args.dashboard_addr or dashboard.configured:
        await dashboard.start()
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
    await dashboard.close()
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
