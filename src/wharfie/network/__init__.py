"""Container networking: NetworkMode none, host and bridge, over raw rtnetlink.

No `ip` process runs on a container's start path: links, addresses and routes are made
with netlink messages on a socket (`_nlmsg` packs them, `_rtnl` sends them), and network
namespaces are entered only by short-lived threads (`_netns`). The pure `IPAM` hands out
addresses; the engine persists them. See docs/network.md.

* `none`: the engine creates a namespace (`create_netns`) and attaches nothing: only `lo`.
* `host`: the container shares the host's namespace; nothing here is called.
* `bridge`: `Bridge.ensure()` at start-up, then `attach()` / `detach()` per container.
"""

from __future__ import annotations

from wharfie.network._netns import create_netns, delete_netns, netns_links
from wharfie.network.bridge import Bridge, Endpoint, host_veth_name
from wharfie.network.ipam import IPAM, mac_for_ip

__all__ = [
    "IPAM",
    "Bridge",
    "Endpoint",
    "create_netns",
    "delete_netns",
    "host_veth_name",
    "mac_for_ip",
    "netns_links",
]
