"""Networking's one home in the engine.

* `records`: the `Network` record (and its `Subnet`s); `present`: its inspect document.
* `networks`: the `Networks` service: records kept in the store, drivers, the firewall
  table, published ports held, create/inspect/list/remove/prune.
* `ipamconfig`: a new network's subnets, checked and completed (pure).
* `drivers`: driver objects (`wharfie.network`) made from records.
* `names`: what the embedded DNS answers (names of containers on user networks).
* `setup`: `NetSetup`, a container's network at create, start, stop, connect, disconnect.
* `etcfiles`: a container's /etc/hostname, /etc/hosts and /etc/resolv.conf.

The low-level mechanisms (netlink, bridges, veths, nftables, the DNS server) are the
`wharfie.network` package; this package decides what to make of them.
"""

from wharfie.engine.net.etcfiles import EtcFiles
from wharfie.engine.net.networks import NetConfig, Networks
from wharfie.engine.net.records import Network, Subnet
from wharfie.engine.net.setup import NetSetup

__all__ = ["EtcFiles", "NetConfig", "NetSetup", "Network", "Networks", "Subnet"]
