"""The bridge network driver: a Linux bridge, and one veth pair per attached container.

`Bridge` is one network: a bridge device with the subnet's gateway address, plus the
iptables rules it needs. The default network is `Bridge()` (wharfie0, 172.29.0.0/16); a
user-defined network is another instance with its own name and subnet.

Lifecycle: `ensure()` once at daemon start-up (idempotent), `stale_links()` and
`remove_link()` to clean up after a crash, then `attach()` when a container with its own
network namespace starts and `detach()` when it stops. Attaching costs a thread (to open a
netlink socket inside the namespace) and six netlink round trips, no process.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import threading
from typing import NamedTuple

from wharfie.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    WharfieError,
)
from wharfie.network import _iptables, nft
from wharfie.network._netns import open_netns, socket_in
from wharfie.network._nlmsg import Link
from wharfie.network._rtnl import Netlink
from wharfie.network.ipam import IPAM, IPAM6, mac_for_ip

_IFNAMSIZ = 15  # usable characters in an interface name
_VETH_PREFIX = "wh"
_ID_CHARS = 11
_PEER_NAME = "eth0"


class Endpoint(NamedTuple):
    container_id: str
    ip: str
    prefix_len: int
    gateway: str
    mac: str
    host_veth: str  # "" for drivers without a host end (macvlan)
    netns: str
    ifname: str = "eth0"
    network_id: str = ""
    ip6: str = ""  # on an IPv6-enabled network
    prefix_len6: int = 0
    gateway6: str = ""
    link_local: tuple[str, ...] = ()  # --link-local-ip, as given ("169.254.1.5", "fe80::7")


def host_veth_name(container_id: str, network_id: str = "") -> str:
    """`wh` + 11 characters: the container id's on the default network, else a hash of the
    container and network ids (one container has one veth per network)."""
    if not container_id:
        raise InvalidArgument("empty container id")
    if not network_id:
        return _VETH_PREFIX + container_id[:_ID_CHARS]
    import hashlib

    digest = hashlib.sha256(f"{network_id}/{container_id}".encode()).hexdigest()
    return _VETH_PREFIX + digest[:_ID_CHARS]


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def _packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def _error(e: OSError, context: str) -> WharfieError:
    """The WharfieError category of a failed netlink call, with context."""
    message = f"{context}: {e.strerror or e}"
    if e.errno == errno.EEXIST:
        return Conflict(message)
    if e.errno in (errno.ENODEV, errno.ENOENT):
        return NotFound(message)
    if e.errno in (errno.EINVAL, errno.ERANGE):
        return InvalidArgument(message)
    return Unavailable(message)


class Bridge:
    def __init__(
        self,
        name: str = "wharfie0",
        subnet: str = "172.29.0.0/16",
        network_id: str = "",
        gateway: str | None = None,
        network_name: str = "bridge",
        user_defined: bool = False,
        ip_range: str | None = None,
        masquerade: bool = True,
        mtu: int = 0,
        subnet6: str | None = None,
        gateway6: str | None = None,
    ) -> None:
        if not name or len(name) > _IFNAMSIZ or "/" in name or " " in name:
            raise InvalidArgument(f"invalid bridge name {name!r} (1 to {_IFNAMSIZ} characters)")
        self.name = name
        self.network_id = network_id
        self.user_defined = user_defined
        self.masquerade = masquerade
        self.mtu = mtu  # 0: the kernel's default (1500)
        self.ipam = IPAM(subnet, gateway, network_name, ip_range)
        self.subnet = str(self.ipam.subnet)
        self.gateway = self.ipam.gateway
        self.prefix_len = self.ipam.prefix_len
        self.ipam6 = IPAM6(subnet6, gateway6, network_name) if subnet6 else None
        self._nl: Netlink | None = None
        self._nl_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Bridge({self.name!r}, {self.subnet!r}, gateway={self.gateway!r})"

    def _netlink(self) -> Netlink:
        with self._nl_lock:
            if self._nl is None:
                self._nl = Netlink()
            return self._nl

    def close(self) -> None:
        """Close the netlink socket (a later call opens a new one)."""
        with self._nl_lock:
            if self._nl is not None:
                self._nl.close()
                self._nl = None

    # -- the bridge itself -------------------------------------------------------------------

    def ensure(self, masquerade: bool | None = None) -> None:
        """Create the bridge if absent, give it the gateway address, set it up, enable IPv4
        forwarding and `route_localnet` (published ports DNAT 127.0.0.1 to containers), and
        add the iptables rules (masquerading the subnet if asked, default: the constructor's)."""
        if masquerade is None:
            masquerade = self.masquerade
        link = self._ensure_link()
        nl = self._netlink()
        try:
            nl.add_address(
                link.index,
                _packed(self.gateway),
                self.prefix_len,
                _packed(self.ipam.broadcast),
                self.name,
                replace=True,
            )
            if self.ipam6 is not None:
                _set_sysctl(f"/proc/sys/net/ipv6/conf/{self.name}/disable_ipv6", "0")
                nl.add_address(
                    link.index,
                    _packed(self.ipam6.gateway),
                    self.ipam6.prefix_len,
                    b"",
                    self.name,
                    replace=True,
                )
            if not link.up:
                nl.set_up(link.index, self.name)
        except OSError as e:
            raise _error(e, f"configure bridge {self.name}") from e
        _enable_forwarding()
        _set_sysctl(f"/proc/sys/net/ipv4/conf/{self.name}/route_localnet", "1")
        self._firewall(masquerade)

    def _ensure_link(self) -> Link:
        nl = self._netlink()
        try:
            link = nl.get_link(self.name)
            if link is None:
                try:
                    nl.create_bridge(self.name, _mac_bytes(mac_for_ip(self.gateway)), self.mtu)
                except OSError as e:
                    if e.errno != errno.EEXIST:  # made meanwhile by someone else: fine
                        raise
                link = nl.get_link(self.name)
        except OSError as e:
            raise _error(e, f"create bridge {self.name}") from e
        if link is None:
            raise Unavailable(f"bridge {self.name} vanished while being created")
        if link.kind != "bridge":
            raise FailedPrecondition(f"{self.name} exists and is not a bridge ({link.kind})")
        return link

    def _firewall(self, masquerade: bool) -> None:
        exe = _iptables.binary()
        if exe is None:
            import logging

            logging.getLogger(__name__).warning(
                "iptables not found: bridge %s gets no forwarding or masquerade rules", self.name
            )
            return
        try:
            _iptables.ensure(exe, _iptables.rules(self.name, self.subnet, masquerade))
            exe6 = _iptables.binary("ip6tables") if self.ipam6 is not None else None
            if exe6 is not None:
                _iptables.ensure(exe6, _iptables.rules6(self.name))
        except OSError as e:
            raise Unavailable(f"iptables rules for bridge {self.name}: {e}") from e

    def remove(self) -> None:
        """Delete the bridge and every iptables rule ensure() may have added; idempotent.
        For a default bridge, also the daemon's nftables table (named after it)."""
        if not self.user_defined:
            try:
                nft.delete_table(nft.table_name(self.name))
            except OSError as e:
                raise Unavailable(f"remove nftables table of {self.name}: {e}") from e
        exe = _iptables.binary()
        if exe is not None:
            try:
                _iptables.remove(exe, _iptables.rules(self.name, self.subnet, True))
                exe6 = _iptables.binary("ip6tables") if self.ipam6 is not None else None
                if exe6 is not None:
                    _iptables.remove(exe6, _iptables.rules6(self.name))
            except OSError as e:
                raise Unavailable(f"remove iptables rules of bridge {self.name}: {e}") from e
        self.remove_link(self.name)

    def _index(self) -> int:
        try:
            link = self._netlink().get_link(self.name)
        except OSError as e:
            raise _error(e, f"look up bridge {self.name}") from e
        if link is None:
            raise FailedPrecondition(f"bridge {self.name} does not exist")
        return link.index

    # -- endpoints ---------------------------------------------------------------------------

    def veth_name(self, container_id: str) -> str:
        return host_veth_name(container_id, self.network_id if self.user_defined else "")

    def attach(
        self,
        container_id: str,
        netns_path: str,
        ip: str,
        ifname: str = _PEER_NAME,
        default_route: bool = True,
        ip6: str = "",
        link_local: tuple[str, ...] = (),
    ) -> Endpoint:
        """Connect the namespace at `netns_path` to this bridge as `ifname` with address `ip`
        (and `ip6` on an IPv6 network, and link-local addresses), and default routes through
        the gateways if `default_route`."""
        if not self.ipam.contains(ip):
            raise InvalidArgument(
                f"address {ip} is not a container address of {self.name} ({self.subnet})"
            )
        if ip6 and (self.ipam6 is None or not self.ipam6.contains(ip6)):
            raise InvalidArgument(f"address {ip6} is not a container address of {self.name}")
        host = self.veth_name(container_id)
        endpoint = Endpoint(
            container_id,
            ip,
            self.prefix_len,
            self.gateway,
            mac_for_ip(ip),
            host,
            netns_path,
            ifname,
            self.network_id,
            ip6,
            self.ipam6.prefix_len if ip6 and self.ipam6 else 0,
            self.ipam6.gateway if ip6 and self.ipam6 else "",
            tuple(link_local),
        )
        master = self._index()
        fd = open_netns(netns_path)
        try:
            ns = socket_in(fd, netns_path)
            with ns:
                self._create_veth(endpoint, master, fd)
                try:
                    # hairpin: a container reaching its own published port through the
                    # host is DNATed back out of the port it came in by (br_netfilter)
                    self._hairpin(host)
                    route = self.gateway if default_route else None
                    configure_peer(ns, endpoint, self.ipam.broadcast, route)
                except BaseException as e:
                    self._undo(host, e)
                    raise
        finally:
            os.close(fd)
        return endpoint

    def _create_veth(self, endpoint: Endpoint, master: int, netns_fd: int) -> None:
        try:
            self._netlink().create_veth(
                endpoint.host_veth,
                master,
                endpoint.ifname,
                _mac_bytes(endpoint.mac),
                netns_fd,
                self.mtu,
            )
        except OSError as e:
            raise _error(e, f"attach container {endpoint.container_id[:12]} to {self.name}") from e

    def _hairpin(self, host: str) -> None:
        nl = self._netlink()
        link = nl.get_link(host)
        if link is None:
            raise Unavailable(f"veth {host} vanished before hairpin mode could be set")
        nl.set_hairpin(link.index, host)

    def _undo(self, host: str, cause: BaseException) -> None:
        try:
            self._netlink().delete_link(host)
        except OSError as e:
            cause.add_note(f"and removing veth {host} afterwards failed: {e}")

    def detach(self, endpoint: Endpoint) -> None:
        """Delete the container's veth pair (both ends go); nothing to do if it is gone."""
        self.remove_link(endpoint.host_veth)

    def remove_link(self, name: str) -> None:
        """Delete a link by name; nothing to do if it is gone."""
        try:
            self._netlink().delete_link(name)
        except OSError as e:
            raise _error(e, f"delete link {name}") from e

    def stale_links(self, known_container_ids: set[str]) -> list[str]:
        """Host veths on this bridge whose container is not among `known_container_ids`."""
        try:
            nl = self._netlink()
            bridge = nl.get_link(self.name)
            if bridge is None:
                return []
            ports = nl.links(master=bridge.index)
        except OSError as e:
            raise _error(e, f"list links of bridge {self.name}") from e
        known = {self.veth_name(cid) for cid in known_container_ids if cid}
        return [
            link.name
            for link in ports
            if link.kind == "veth" and link.name.startswith(_VETH_PREFIX) and link.name not in known
        ]


def configure_peer(ns: Netlink, endpoint: Endpoint, broadcast: str, gateway: str | None) -> None:
    """Set the container's end up with its addresses (IPv4; IPv6 and link-local ones if the
    endpoint has them), and default routes if `gateway`."""
    name = endpoint.ifname
    context = f"configure {name} of container {endpoint.container_id[:12]}"
    try:
        link = ns.get_link(name)
        if link is None:
            raise NotFound(f"{context}: {name} missing from {endpoint.netns}")
        ns.set_up(link.index, name)
        ip = _packed(endpoint.ip)
        ns.add_address(link.index, ip, endpoint.prefix_len, _packed(broadcast), name, replace=False)
        if gateway:
            ns.add_default_route(link.index, _packed(gateway), gateway)
        if endpoint.ip6:
            ns.add_address(
                link.index, _packed(endpoint.ip6), endpoint.prefix_len6, b"", name, replace=False
            )
            if gateway and endpoint.gateway6:
                ns.add_default_route(link.index, _packed(endpoint.gateway6), endpoint.gateway6)
        for text in endpoint.link_local:
            addr = ipaddress.ip_address(text)
            prefix = 64 if addr.version == 6 else 16
            bcast = b"" if addr.version == 6 else _packed("169.254.255.255")
            ns.add_address(link.index, addr.packed, prefix, bcast, name, replace=False)
    except OSError as e:
        raise _error(e, context) from e


def _set_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "r+") as f:
            if f.read().strip() != value:
                f.seek(0)
                f.write(value + "\n")
    except OSError as e:
        raise Unavailable(f"set {path} to {value}: {e}") from e


def _enable_forwarding() -> None:
    path = "/proc/sys/net/ipv4/ip_forward"
    try:
        with open(path, "r+") as f:
            if f.read().strip() != "1":
                f.seek(0)
                f.write("1\n")
    except OSError as e:
        raise Unavailable(f"enable IPv4 forwarding ({path}): {e}") from e
