"""Container networking: NetworkMode none, host and bridge, over raw rtnetlink.

No `ip` process runs on a container's start path: links, addresses and routes are made
with netlink messages on a socket (`_nlmsg` packs them, `_rtnl` sends them), and network
namespaces are entered only by short-lived threads (`_netns`). The pure `IPAM` hands out
addresses; the engine persists them. See docs/network.md.

* `none`: the engine creates a namespace (`create_netns`) and attaches nothing: only `lo`.
* `host`: the container shares the host's namespace; nothing here is called.
* `bridge`: `Bridge.ensure()` at start-up, then `attach()` / `detach()` per container;
  the default network and each user-defined one (`br-<id12>`).
* `macvlan`: `Macvlan(parent, ...)`, a link on the parent born in the container's namespace.
* `nft`: the daemon's nftables table (isolation, published ports), rendered whole.
* `ports`: published ports planned (pure) and held by bound sockets.
* `dns`: the embedded resolver at 127.0.0.11 inside each container on a user network.
"""

from __future__ import annotations

from wharfie.network import dns, nft, overlay, ports, relay, vip
from wharfie.network._netns import create_netns, delete_netns, netns_links
from wharfie.network.bridge import Bridge, Endpoint, host_veth_name
from wharfie.network.ipam import IPAM, mac_for_ip
from wharfie.network.macvlan import Macvlan

__all__ = [
    "IPAM",
    "Bridge",
    "Endpoint",
    "Macvlan",
    "create_netns",
    "delete_netns",
    "dns",
    "host_veth_name",
    "mac_for_ip",
    "netns_links",
    "nft",
    "overlay",
    "ports",
    "relay",
    "vip",
]
