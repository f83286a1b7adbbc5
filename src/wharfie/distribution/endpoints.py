"""Which hosts to talk to for a registry: mirrors first, then the registry; and which are
insecure (HTTP allowed, certificates not verified).

As Docker: loopback registries (127.0.0.0/8, ::1, localhost) are insecure by default;
`--insecure-registry` adds hosts or CIDRs. Docker's `--registry-mirror URL` mirrors
docker.io; ours also takes `host=URL` to mirror any registry. `--blocked-registry HOST`
(podman's `blocked = true` in registries.conf) refuses a registry before any lookup or
connection: for air-gapped hosts, and for the test daemons, which must never reach off
the machine when a test names an image that is not local.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wharfie.distribution.auth import AuthConfig
from wharfie.distribution.client import Registry
from wharfie.errors import FailedPrecondition, InvalidArgument


@dataclass
class Settings:
    mirrors: dict[str, list[str]] = field(default_factory=dict)  # registry host -> base URLs
    insecure: list[str] = field(default_factory=list)  # hosts, host:port, or CIDRs
    blocked: list[str] = field(default_factory=list)  # registry hosts never contacted

    @classmethod
    def from_flags(
        cls, mirrors: list[str], insecure: list[str], blocked: list[str] | None = None
    ) -> Settings:
        out = cls(insecure=list(insecure), blocked=list(blocked or []))
        for m in mirrors:
            host, eq, url = m.partition("=")
            if not eq:
                host, url = "docker.io", m
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidArgument(f"invalid mirror: {m!r}: want [host=]http(s)://host[:port]")
            out.mirrors.setdefault(host, []).append(url.rstrip("/"))
        return out

    def is_insecure(self, host: str) -> bool:
        name = urlsplit("//" + host).hostname or host
        if name == "localhost" or _is_loopback(name):
            return True
        for entry in self.insecure:
            if entry in (host, name):
                return True
            if "/" in entry and _in_cidr(name, entry):
                return True
        return False

    def registries(self, host: str, auth: AuthConfig) -> list[Registry]:
        """Mirrors (anonymous, as Docker) then the registry itself; FailedPrecondition for a
        blocked registry (its mirrors are blocked with it)."""
        if host in self.blocked:
            raise FailedPrecondition(
                f"registry {host} is blocked on this daemon (--blocked-registry)"
            )
        out = []
        for url in self.mirrors.get(host, []):
            netloc = urlsplit(url).netloc
            out.append(
                Registry(netloc, AuthConfig(), insecure=self.is_insecure(netloc), base_url=url)
            )
        out.append(Registry(host, auth, insecure=self.is_insecure(host)))
        return out


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _in_cidr(name: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(name) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
