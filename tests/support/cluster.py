"""Several wharfied nodes on one machine, each in its own network namespace.

The namespaces are joined by veths to a bridge in a hub namespace that the topology creates;
all traffic between nodes stays inside those namespaces. Each node's wharfied is started with
`nsenter --net=<netns>` (not `ip netns exec`, which remounts /sys and hides the cgroup
mounts), with its own data root, exec root, socket and bridge. `close()` stops every daemon
and the etcd members they started (by pid), then deletes the namespaces, which takes their
veths, bridges and firewall tables with them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from support.daemon import Daemon


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class NodeDaemon(Daemon):
    """A test daemon whose wharfied runs inside `netns`."""

    def __init__(
        self, base: Path, index: int, netns: str, addr: str, extra_args: tuple[str, ...] = ()
    ) -> None:
        super().__init__(base, index, extra_args)
        self.netns = netns
        self.addr = addr
        # the node's own bridge subnet, distinct from the hub's and the other nodes'
        self.subnet = f"10.215.{(os.getpid() * 5 + index) % 250}.0/24"
        self.command_prefix = ["nsenter", f"--net=/run/netns/{netns}"]

    def etcd_pids(self) -> list[int]:
        pid_file = self.data / "swarm" / "etcd" / "etcd.pid"
        try:
            pid = int(pid_file.read_text().strip())
            return [pid] if Path(f"/proc/{pid}").exists() else []
        except (OSError, ValueError):
            return []


@dataclass
class Topology:
    base: Path
    tag: str
    subnet_prefix: str  # "10.216.<n>"
    nodes: list[NodeDaemon] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    etcd_seen: set[int] = field(default_factory=set)
    _busybox: bytes | None = None

    @property
    def hub(self) -> str:
        return f"whub{self.tag}"

    def add_namespace(self) -> tuple[str, str]:
        """A node namespace wired to the hub (eth0 with its address, lo up): (name, address)."""
        i = len(self.namespaces)
        ns = f"wnode{self.tag}-{i}"
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        outer, inner = f"wh{self.tag}{i}"[:15], f"wi{self.tag}{i}"[:15]
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", outer, "netns", self.hub)
        _ip("link", "set", inner, "netns", ns)
        _ip("-n", self.hub, "link", "set", outer, "master", "br0", "up")
        addr = f"{self.subnet_prefix}.{i + 10}"
        _ip("-n", ns, "link", "set", inner, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return ns, addr

    def add_node(self, busybox: bool = False, extra_args: tuple[str, ...] = ()) -> NodeDaemon:
        i = len(self.nodes)
        ns, addr = self.add_namespace()
        node = NodeDaemon(self.base / f"node{i}", i, ns, addr, extra_args)
        self.nodes.append(node)
        node.start()
        if busybox:
            import docker

            from support.daemon import busybox_tar

            if self._busybox is None:
                self._busybox = busybox_tar(self.base)
            client = docker.APIClient(base_url=node.host)
            client.import_image_from_data(
                self._busybox, repository="busybox", tag="latest", changes=['CMD ["sh"]']
            )
        return node

    def remember_etcd(self) -> None:
        for n in self.nodes:
            self.etcd_seen.update(n.etcd_pids())

    def close(self) -> list[str]:
        """Stop everything; returns what leaked (mounts; devices and nft tables left in a
        node's namespace), for the caller to assert on."""
        self.remember_etcd()
        leaked: list[str] = []
        for n in self.nodes:
            if n.proc is None:  # killed by the test: its containers live on; bring it back
                subprocess.run(
                    ["ip", "-n", n.netns, "link", "set", "eth0", "up"], capture_output=True
                )
                try:
                    n.start()
                except RuntimeError as exc:
                    print(f"restarting node {n.addr} for its teardown: {exc}", file=sys.stderr)
            if n.proc is not None:  # no agent may start a task while the node is torn down
                subprocess.run(
                    ["docker", "-H", n.host, "swarm", "leave", "--force"],
                    capture_output=True,
                    timeout=60,
                )
            self.remember_etcd()
            leaked += n.teardown()
            leaked += namespace_leftovers(n.netns, n.bridge)
        for pid in self.etcd_seen:  # members a daemon left running on purpose (live state)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 5
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        nodes = {n.netns for n in self.nodes}
        for ns in self.namespaces:  # namespaces without a wharfied
            if ns not in nodes:
                leaked += namespace_leftovers(ns, "")
        for ns in [*self.namespaces, self.hub]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        return leaked


def namespace_leftovers(ns: str, bridge: str, settle: float = 10) -> list[str]:
    """`leftovers`, asked again for up to `settle` seconds while it finds something: a removed
    container's namespace is dropped, and the kernel destroys its veth pair (the host end in
    the node's namespace) in the background, later under load."""
    deadline = time.monotonic() + settle
    left = leftovers(ns, bridge)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = leftovers(ns, bridge)
    return left


def leftovers(ns: str, bridge: str) -> list[str]:
    """What a node's namespace still holds once its daemon has left the swarm and removed its
    containers: any link but lo, eth0 and the daemon's own default bridge (vxlan devices and
    their FDB entries, overlay bridges, veths), and any nftables table but that bridge's
    (VIP, ingress). The daemon's default bridge and its table stay by design, as docker0 does;
    the topology removes them with the namespace."""
    from wharfie.network import nft

    def run(*argv: str) -> str:
        # never raises: the caller deletes the namespaces after this, whatever it finds
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            left.append(f"{ns}: {' '.join(argv[-4:])} failed: {p.stderr.strip()}")
        return p.stdout

    left: list[str] = []
    for line in run("ip", "-n", ns, "-d", "-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name not in ("lo", "eth0", bridge):
            kind = next((k for k in ("vxlan", "bridge", "veth") if f" {k} " in line), "link")
            left.append(f"{ns}: {kind} {name}")
    tables = run("nsenter", f"--net=/run/netns/{ns}", "nft", "list", "tables")
    own = {f"{family} {nft.table_name(bridge)}" for family in ("ip", "ip6")} if bridge else set()
    for line in tables.splitlines():
        table = line.removeprefix("table ").strip()
        if not table or table in own:
            continue
        if table.split()[-1] not in IPTABLES_TABLES:
            left.append(f"{ns}: nft table {table}")
            continue
        # iptables' own tables (iptables-nft: the default bridge's rules): no rule may name
        # an overlay device
        rules = run("nsenter", f"--net=/run/netns/{ns}", "nft", "list", "table", *table.split())
        left += [
            f"{ns}: {table}: {r.strip()}" for r in rules.splitlines() if OVERLAY_DEVS.search(r)
        ]
    return left


IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")
OVERLAY_DEVS = re.compile(r"\"(wov|wvx)[0-9]+\"")  # overlay bridges, their VXLAN devices


def topology(base: Path) -> Topology:
    n = os.getpid() % 250
    tag = f"{os.getpid() % 10000:04d}"
    t = Topology(base, tag, f"10.216.{n}")
    _ip("netns", "add", t.hub)
    try:
        _ip("-n", t.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", t.hub, "link", "set", "br0", "up")
        _ip("-n", t.hub, "link", "set", "lo", "up")
    except BaseException:
        subprocess.run(["ip", "netns", "del", t.hub], capture_output=True)
        raise
    t.namespaces = []
    return t


def cli(node: Daemon, *args: str, ok: bool = True, timeout: float = 120) -> str:
    """The docker CLI against a node: its stdout, or (ok=False) its stderr, checking the
    exit status either way."""
    from support.daemon import docker_cli

    p = docker_cli(node, *args, timeout=timeout)
    if ok:
        assert p.returncode == 0, (args, p.stderr.decode())
        return p.stdout.decode()
    assert p.returncode != 0, (args, p.stdout.decode())
    return p.stderr.decode()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `check` until it holds; the seconds it took (AssertionError after `timeout`).
    A check that fails an assertion (a CLI call refused while the cluster changes) counts as
    not yet; the last such failure is reported at the timeout."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except AssertionError as exc:
            last = f" (last: {exc})"
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}{last}")
