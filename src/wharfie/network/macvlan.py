"""The macvlan network driver, bridge mode: each container gets a macvlan link on a parent.

There is no bridge device and no host-side end: the link is born inside the container's
namespace (`IFLA_NET_NS_FD`) as a child of the parent interface, with Docker's MAC for its
address. Containers on the same parent reach each other directly (bridge mode); the host
itself does not reach them through the parent, as with Docker. Detaching deletes the
link inside the namespace (or, once the namespace is gone, there is nothing left).
"""

from __future__ import annotations

import os

from wharfie.errors import FailedPrecondition, InvalidArgument, NotFound
from wharfie.network._netns import open_netns, socket_in
from wharfie.network._rtnl import Netlink
from wharfie.network.bridge import Endpoint, _error, _mac_bytes, configure_peer
from wharfie.network.ipam import IPAM, mac_for_ip


class Macvlan:
    def __init__(
        self,
        parent: str,
        subnet: str,
        network_id: str,
        gateway: str | None = None,
        network_name: str = "",
        internal: bool = False,
    ) -> None:
        if not parent:
            raise InvalidArgument("macvlan needs a parent interface (-o parent=<interface>)")
        self.parent = parent
        self.network_id = network_id
        self.internal = internal
        self.ipam = IPAM(subnet, gateway, network_name)
        self.subnet = str(self.ipam.subnet)
        self.gateway = self.ipam.gateway

    def __repr__(self) -> str:
        return f"Macvlan(parent={self.parent!r}, {self.subnet!r})"

    def ensure(self) -> None:
        """Check the parent exists (a macvlan network makes no host device of its own)."""
        self._parent_index()

    def _parent_index(self) -> int:
        with Netlink() as nl:
            try:
                link = nl.get_link(self.parent)
            except OSError as e:
                raise _error(e, f"look up parent interface {self.parent}") from e
        if link is None:
            raise FailedPrecondition(
                f"invalid subinterface vlan name {self.parent}, example formatting is eth0.10"
                if "." in self.parent
                else f"-o parent interface was not found on the host: {self.parent}"
            )
        return link.index

    def attach(
        self,
        container_id: str,
        netns_path: str,
        ip: str,
        ifname: str,
        default_route: bool,
        ip6: str = "",
        link_local: tuple[str, ...] = (),
    ) -> Endpoint:
        if ip6 or link_local:
            raise InvalidArgument("IPv6 and link-local addresses are not supported on macvlan")
        if not self.ipam.contains(ip):
            raise InvalidArgument(f"address {ip} is not a container address of {self.subnet}")
        ep = Endpoint(
            container_id,
            ip,
            self.ipam.prefix_len,
            self.gateway,
            mac_for_ip(ip),
            "",
            netns_path,
            ifname,
            self.network_id,
        )
        parent = self._parent_index()
        fd = open_netns(netns_path)
        try:
            with socket_in(fd, netns_path) as ns:
                try:
                    with Netlink() as nl:
                        nl.create_macvlan(ifname, parent, _mac_bytes(ep.mac), fd)
                except OSError as e:
                    raise _error(e, f"attach container {container_id[:12]} to macvlan") from e
                try:
                    route = self.gateway if default_route and not self.internal else None
                    configure_peer(ns, ep, self.ipam.broadcast, route)
                except BaseException:
                    ns.delete_link(ifname)
                    raise
        finally:
            os.close(fd)
        return ep

    def detach(self, ep: Endpoint) -> None:
        """Delete the link inside the namespace; nothing to do if the namespace is gone."""
        try:
            fd = open_netns(ep.netns)
        except NotFound:
            return
        try:
            with socket_in(fd, ep.netns) as ns:
                try:
                    ns.delete_link(ep.ifname)
                except OSError as e:
                    raise _error(e, f"delete {ep.ifname} of {ep.container_id[:12]}") from e
        finally:
            os.close(fd)

    def remove(self) -> None:
        """Nothing on the host belongs to the network itself."""

    def close(self) -> None:
        """No socket is kept open."""
