"""An external etcd for the cluster's state (`--cluster-store etcd://host:port,...`), instead
of the member every manager runs by default.

The daemon's `--cluster-store-opt` names the client identity that etcd wants, with dockerd's
old option names: `kv.cacertfile`, `kv.certfile`, `kv.keyfile` (all three, or none). Without
them the store is reached over plain HTTP, which is allowed on loopback only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from wharfie.cluster.kv import TLSFiles
from wharfie.errors import InvalidArgument

SCHEME = "etcd://"
TLS_OPTS = ("kv.cacertfile", "kv.certfile", "kv.keyfile")


@dataclass(frozen=True)
class ExternalStore:
    endpoints: list[str]  # https://host:port (http:// on loopback without TLS)
    tls: TLSFiles | None


def parse(url: str, opts: dict[str, str]) -> ExternalStore | None:
    """The daemon's cluster-store settings; None when there are none (the embedded member)."""
    if not url:
        if opts:
            raise InvalidArgument("--cluster-store-opt given without --cluster-store")
        return None
    if not url.startswith(SCHEME):
        raise InvalidArgument(f"invalid cluster store {url!r}: want etcd://host:port[,host:port]")
    unknown = sorted(set(opts) - set(TLS_OPTS))
    if unknown:
        raise InvalidArgument(f"unknown cluster store option {unknown[0]!r}")
    given = [opts.get(k, "") for k in TLS_OPTS]
    if any(given) and not all(given):
        raise InvalidArgument("cluster store TLS needs kv.cacertfile, kv.certfile and kv.keyfile")
    tls = TLSFiles(*given) if all(given) else None
    endpoints = []
    for hostport in url[len(SCHEME) :].split(","):
        host, _, port = hostport.strip().rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"invalid cluster store endpoint {hostport!r}: want host:port")
        if tls is None and not _loopback(host):
            raise InvalidArgument(
                f"cluster store endpoint {hostport}: off loopback the store is reached with TLS "
                "only (--cluster-store-opt kv.cacertfile=...,kv.certfile=...,kv.keyfile=...)"
            )
        shown = f"[{host}]" if ":" in host else host
        endpoints.append(f"{'https' if tls else 'http'}://{shown}:{port}")
    return ExternalStore(endpoints, tls)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
