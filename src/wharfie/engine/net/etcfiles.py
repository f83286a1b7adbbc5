"""/etc/hostname, /etc/hosts and /etc/resolv.conf written for each container.

On user-defined networks resolv.conf names the embedded DNS server (127.0.0.11, with
`ndots:0` as Docker writes); elsewhere it is the host's, with loopback servers (which a
private namespace cannot reach) replaced by public ones, and `--dns*` options applied.
"""

from __future__ import annotations

import os
from typing import Protocol

from wharfie.engine.model import Container
from wharfie.engine.net.modes import hostname_of
from wharfie.engine.paths import Paths
from wharfie.network import resolvconf

HOSTS_HEAD = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


class HostsLines(Protocol):
    """The legacy links' /etc/hosts lines of a container (`engine.links.Links`)."""

    def hosts_lines(self, c: Container) -> str: ...


class EtcFiles:
    """Writes a container's three files under its directory. `gateway` is the default
    bridge's (`--add-host x:host-gateway`); `daemon_dns`, `daemon_search` and `daemon_opts`
    the daemon's `--dns`, `--dns-search` and `--dns-opt`."""

    def __init__(
        self,
        paths: Paths,
        links: HostsLines,
        gateway: str,
        daemon_dns: list[str],
        *,
        daemon_search: list[str] | None = None,
        daemon_opts: list[str] | None = None,
    ) -> None:
        self.paths = paths
        self.links = links
        self.gateway = gateway
        self.daemon_dns = daemon_dns
        self.daemon_search = list(daemon_search or [])
        self.daemon_opts = list(daemon_opts or [])

    def write(self, c: Container, kind: str, ip: str, user: bool) -> dict[str, str]:
        cdir = self.paths.container_dir(c.id)
        hostname = hostname_of(c)
        domain = c.config.get("Domainname") or ""
        paths = {
            "/etc/hostname": os.path.join(cdir, "hostname"),
            "/etc/hosts": os.path.join(cdir, "hosts"),
            "/etc/resolv.conf": os.path.join(cdir, "resolv.conf"),
        }
        _write(paths["/etc/hostname"], hostname + "\n")
        if kind == "host":
            _write(paths["/etc/hosts"], _read("/etc/hosts"))
        else:
            fqdn = f"{hostname}.{domain} {hostname}" if domain else hostname
            extra = "".join(
                f"{self._host_ip(h.split(':', 1)[1])}\t{h.split(':', 1)[0]}\n"
                for h in c.host_config.get("ExtraHosts") or []
                if ":" in h
            )
            if kind == "bridge":
                extra += self.links.hosts_lines(c)
            own = f"{ip}\t{fqdn}\n" if ip else ""
            first = next(iter((c.private.get("endpoints") or {}).values()), None)
            if own and first and first.get("ip6"):
                own += f"{first['ip6']}\t{fqdn}\n"
            _write(paths["/etc/hosts"], HOSTS_HEAD + extra + own)
        _write(paths["/etc/resolv.conf"], _resolv_for(c, kind, user, *self._dns_defaults()))
        c.doc.update(
            HostnamePath=paths["/etc/hostname"],
            HostsPath=paths["/etc/hosts"],
            ResolvConfPath=paths["/etc/resolv.conf"],
        )
        return paths

    def _host_ip(self, value: str) -> str:
        """`--add-host name:host-gateway` is the default bridge's gateway, as Docker's."""
        return self.gateway if value == "host-gateway" else value

    def rewrite_resolv(self, c: Container) -> None:
        """After a live connect to a user network: point resolv.conf at the embedded DNS."""
        path = os.path.join(self.paths.container_dir(c.id), "resolv.conf")
        if os.path.exists(path):
            _write(path, _resolv_for(c, "network", True, *self._dns_defaults()))

    def _dns_defaults(self) -> tuple[list[str], list[str], list[str]]:
        return self.daemon_dns, self.daemon_search, self.daemon_opts


def _resolv_for(
    c: Container,
    kind: str,
    user: bool,
    daemon_dns: list[str] | None = None,
    daemon_search: list[str] | None = None,
    daemon_opts: list[str] | None = None,
) -> str:
    """The container's resolv.conf: its Dns, DnsSearch and DnsOptions, or else the
    daemon's --dns, --dns-search and --dns-opt (network/resolvconf.py)."""
    host = c.host_config
    return resolvconf.render(
        _read("/etc/resolv.conf"),
        kind,
        user,
        list(host.get("Dns") or daemon_dns or []),
        list(host.get("DnsSearch") or daemon_search or []),
        list(host.get("DnsOptions") or daemon_opts or []),
    )


def resolv_conf(host: str, mode: str) -> str:
    """The host's resolv.conf as a container without DNS settings sees it."""
    return resolvconf.render(host, mode, False, [], [], [])


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
