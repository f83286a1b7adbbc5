"""What the embedded DNS answers: names of containers on the user networks the asker is on.

`wharfie.network.dns.Resolver` serves 127.0.0.11 inside each container on a user network
and asks these three questions: the addresses of a name (`lookup`), the name of an address
(`reverse`, PTR) and where to forward the rest (`own_upstreams`, the container's `--dns`).
"""

from __future__ import annotations

from typing import Any

from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.engine.net.records import Network
from wharfie.errors import NotFound


class ContainerNames:
    def __init__(
        self, index: ContainerIndex, user_networks: dict[str, Network], daemon_dns: list[str]
    ) -> None:
        self.index = index
        self.user = user_networks  # the Networks service's own dict: id -> record
        self.daemon_dns = daemon_dns
        # a cluster network's names (services, tasks.<service>, task names), as the swarm
        # agent last set them: network id -> lower-case name -> addresses
        self.cluster: dict[str, dict[str, list[str]]] = {}

    def lookup(self, asker: str, name: str) -> list[str] | None:
        """Addresses of `name` on the user networks `asker` is on; None if none has it."""
        me = self.index.get(asker)
        if me is None:
            return None
        mine = {nid for nid in me.private.get("endpoints") or {} if nid in self.user}
        found: list[str] = []
        for nid in mine:
            net_name = self.user[nid].name
            suffix = "." + net_name.lower()
            short = name[: -len(suffix)] if name.endswith(suffix) else name
            cluster = self.cluster.get(nid, {}).get(short.lower())
            if cluster:
                found.extend(cluster)
                continue
            targets = self._link_targets(me, net_name, short)
            for c in self.index.all():
                ep = (c.private.get("endpoints") or {}).get(nid)
                if ep is None:
                    continue
                if short in _names_of(c, net_name) or c.id in targets:
                    found.append(str(ep["ip"]))
                    if ep.get("ip6"):
                        found.append(str(ep["ip6"]))
        return found or None

    def _link_targets(self, me: Container, net_name: str, alias: str) -> set[str]:
        """Network-scoped links (`--link name:alias` on a user network, EndpointsConfig
        Links): the ids `alias` names for `me` alone on network `net_name`."""
        wanted = (me.doc["NetworkSettings"].get("Networks") or {}).get(net_name)
        out = set()
        for spec in (wanted or {}).get("Links") or []:
            name, _, link_alias = str(spec).partition(":")
            if (link_alias or name) == alias:
                try:
                    out.add(self.index.find(name.lstrip("/")).id)
                except NotFound:
                    continue
        return out

    def reverse(self, asker: str, ip: str) -> list[str] | None:
        """Names of the container holding `ip` on a user network `asker` shares (PTR)."""
        me = self.index.get(asker)
        if me is None:
            return None
        mine = {nid for nid in me.private.get("endpoints") or {} if nid in self.user}
        for nid in mine:
            for c in self.index.all():
                ep = (c.private.get("endpoints") or {}).get(nid)
                if ep is not None and ip in (ep["ip"], ep.get("ip6")):
                    return [f"{c.name}.{self.user[nid].name}"]
        return None

    def own_upstreams(self, asker: str) -> list[tuple[str, int]] | None:
        """A container's `--dns` servers: where its embedded DNS forwards (as Docker)."""
        c = self.index.get(asker)
        servers = (c.host_config.get("Dns") or self.daemon_dns) if c is not None else []
        return [(s, 53) for s in servers if ":" not in s] or None


def _names_of(c: Any, net_name: str) -> set[str]:
    settings = (c.doc["NetworkSettings"].get("Networks") or {}).get(net_name) or {}
    names = {c.name.lower(), c.id[:12]}
    names.update(str(a).lower() for a in settings.get("Aliases") or [])
    return names
