"""`serve(config)`: the registry process (storage, auth, HTTP server, signals)."""

from __future__ import annotations

import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from wharfie.errors import InvalidArgument
from wharfie.registry.app import Registry
from wharfie.registry.auth import make_authorizer
from wharfie.registry.config import Config
from wharfie.registry.httpserver import Server
from wharfie.registry.storage import Storage


def _tls(cfg: Config) -> ssl.SSLContext | None:
    if not cfg.tls_cert and not cfg.tls_key:
        return None
    if not (cfg.tls_cert and cfg.tls_key):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"TLS certificate/key: {exc}") from exc
    return ctx


def _accesslog(target: str) -> IO[str] | None:
    if target == "off":
        return None
    if target == "-":
        return sys.stderr
    return open(target, "a", buffering=1)  # lives as long as the process


def build(cfg: Config) -> tuple[Registry, Server]:
    tls = _tls(cfg)
    storage = Storage(cfg.root, fsync=cfg.fsync)
    authorizer = make_authorizer(cfg.htpasswd, cfg.realm, cfg.token)
    registry = Registry(
        storage,
        authorizer,
        delete=cfg.delete,
        accesslog=_accesslog(cfg.accesslog),
        tls=tls is not None,
        readonly=cfg.readonly,
    )
    try:
        server = Server(cfg.host, cfg.port, registry.handle, tls)
    except OSError as exc:
        raise InvalidArgument(f"cannot listen on {cfg.host}:{cfg.port}: {exc}") from exc
    return registry, server


def serve(cfg: Config, ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then finish the requests in progress (at most 30 s).
    `ready(port)` is called once listening."""
    registry, server = build(cfg)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not cfg.readonly:
        threading.Thread(
            target=_purge_loop, args=(registry, cfg.upload_purge_age), daemon=True
        ).start()
    if ready is not None:
        ready(server.port)
    server.serve_forever()
    _drain(registry, DRAIN_TIMEOUT)


DRAIN_TIMEOUT = 30.0


def _drain(registry: Registry, timeout: float) -> None:
    """After the listener closed: let requests in progress finish (idle keep-alives do not
    count), for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while registry.metrics.in_flight > 0 and time.monotonic() < deadline:
        time.sleep(0.05)


PURGE_EVERY = 3600.0


def _purge_loop(registry: Registry, age: float) -> None:
    """Drop upload sessions idle for longer than `age`, once an hour (as distribution does)."""
    while True:
        time.sleep(PURGE_EVERY)
        try:
            registry.uploads.purge(age)
        except OSError as exc:  # keep serving; say why the purge failed
            registry.log_error(f"upload purge failed: {exc}")
