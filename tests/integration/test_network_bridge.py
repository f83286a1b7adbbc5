"""The bridge driver and network namespaces on this host's real kernel (root).

Every test uses its own bridge ("wt" + 8 hex), its own /26 out of 10.213.0.0/16 (chosen
by xdist worker, so parallel workers never overlap) and namespaces under tmp_path; the
fixtures delete the bridge, its iptables rules and the namespaces, and fail if a link is
left. Connectivity is checked with busybox ping run inside a namespace by nsenter.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wharfie.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from wharfie.network import Bridge, Endpoint, create_netns, delete_netns, mac_for_ip, netns_links

pytestmark = pytest.mark.root

_subnets = itertools.count()


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("nsenter", "busybox", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


if _missing():
    pytest.skip(_missing() or "", allow_module_level=True)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def in_ns(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return run("nsenter", f"--net={netns}", *argv, check=False)


def ping_from(netns: str | None, ip: str) -> bool:
    prefix = ["nsenter", f"--net={netns}"] if netns else []
    done = subprocess.run([*prefix, "busybox", "ping", "-c1", "-W1", ip], capture_output=True)
    return done.returncode == 0


def link_exists(name: str) -> bool:
    return run("ip", "link", "show", "dev", name, check=False).returncode == 0


def unique_subnet() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    slot = (int(worker) if worker.isdigit() else 0) * 128 + next(_subnets) % 128
    return f"10.213.{slot // 4}.{(slot % 4) * 64}/26"


@pytest.fixture
def bridge() -> Iterator[Bridge]:
    b = Bridge(f"wt{uuid.uuid4().hex[:8]}", unique_subnet())
    try:
        yield b
    finally:
        b.remove()
        b.close()
    assert not link_exists(b.name)
    rules = (
        run("iptables", "-w", "-S", "FORWARD").stdout
        + run("iptables", "-w", "-t", "nat", "-S").stdout
    )
    assert b.name not in rules and b.subnet not in rules


@pytest.fixture
def make_netns(tmp_path: Path) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        path = str(tmp_path / f"ns{len(made)}")
        create_netns(path)
        made.append(path)
        return path

    try:
        yield make
    finally:
        for path in made:
            delete_netns(path)


def cid() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


# -- namespaces --------------------------------------------------------------------------------


def test_create_netns_holds_only_lo_and_lo_is_up(make_netns: Callable[[], str]) -> None:
    netns = make_netns()
    assert netns_links(netns) == ["lo"]
    assert "UP" in in_ns(netns, "ip", "-o", "link", "show", "lo").stdout.split(">")[0]
    assert ping_from(netns, "127.0.0.1")
    assert os.stat(netns).st_ino != os.stat("/proc/self/ns/net").st_ino  # not the host's
    with pytest.raises(Conflict):
        create_netns(netns)


def test_delete_netns_is_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "ns")
    create_netns(path)
    assert path in Path("/proc/self/mountinfo").read_text()
    delete_netns(path)
    delete_netns(path)
    assert not os.path.exists(path)
    assert path not in Path("/proc/self/mountinfo").read_text()


def test_netns_links_of_a_missing_or_wrong_path(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        netns_links(str(tmp_path / "absent"))
    (tmp_path / "plain").write_text("")
    with pytest.raises(InvalidArgument):
        netns_links(str(tmp_path / "plain"))


# -- the bridge --------------------------------------------------------------------------------


def _addr_info(name: str) -> dict[str, object]:
    [info] = json.loads(run("ip", "-j", "addr", "show", "dev", name).stdout)
    return dict(info)


def test_ensure_twice_is_idempotent(bridge: Bridge, capsys: pytest.CaptureFixture[str]) -> None:
    bridge.ensure(masquerade=False)
    start = time.perf_counter()
    bridge.ensure(masquerade=False)
    again = time.perf_counter() - start
    info = _addr_info(bridge.name)
    assert "UP" in info["flags"]  # type: ignore[operator]
    addrs = [(a["local"], a["prefixlen"]) for a in info["addr_info"] if a["family"] == "inet"]  # type: ignore[attr-defined]
    assert addrs == [(bridge.gateway, bridge.prefix_len)]
    assert info["address"] == mac_for_ip(bridge.gateway)
    kind = json.loads(run("ip", "-j", "-d", "link", "show", bridge.name).stdout)[0]
    assert kind["linkinfo"]["info_kind"] == "bridge"
    forward = run("iptables", "-w", "-S", "FORWARD").stdout
    assert forward.count(f"-i {bridge.name} -o {bridge.name} -j ACCEPT") == 1
    assert bridge.subnet not in run("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").stdout
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    with capsys.disabled():
        print(f"\n  ensure() on an existing bridge: {again * 1e3:.1f} ms (iptables -C included)")


def test_ensure_masquerade_rule_added_once(bridge: Bridge) -> None:
    bridge.ensure()
    bridge.ensure()
    nat = run("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").stdout
    assert nat.count(f"-A POSTROUTING -s {bridge.subnet} ! -o {bridge.name} -j MASQUERADE") == 1


def test_ensure_refuses_a_link_that_is_not_a_bridge(bridge: Bridge) -> None:
    run("ip", "link", "add", bridge.name, "type", "veth", "peer", "name", bridge.name + "p")
    with pytest.raises(FailedPrecondition, match="not a bridge"):
        bridge.ensure(masquerade=False)


def test_attach_before_ensure_fails_cleanly(bridge: Bridge, make_netns: Callable[[], str]) -> None:
    netns = make_netns()
    with pytest.raises(FailedPrecondition, match="does not exist"):
        bridge.attach(cid(), netns, bridge.ipam.allocate(set()))
    assert netns_links(netns) == ["lo"]


# -- endpoints ---------------------------------------------------------------------------------


def test_two_containers_reach_each_other_and_the_host(
    bridge: Bridge, make_netns: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    bridge.ensure(masquerade=False)
    a_ns, b_ns = make_netns(), make_netns()
    a_ip = bridge.ipam.allocate(set())
    b_ip = bridge.ipam.allocate({a_ip})
    a = bridge.attach(cid(), a_ns, a_ip)
    b = bridge.attach(cid(), b_ns, b_ip)
    try:
        assert a == Endpoint(
            a.container_id, a_ip, bridge.prefix_len, bridge.gateway, mac_for_ip(a_ip),
            "wh" + a.container_id[:11], a_ns,
        )  # fmt: skip
        _check_inside(bridge, a)
        assert ping_from(a_ns, b_ip) and ping_from(b_ns, a_ip)
        assert ping_from(None, a_ip) and ping_from(None, b_ip)
        assert ping_from(a_ns, bridge.gateway)
        assert sorted(bridge.stale_links(set())) == sorted([a.host_veth, b.host_veth])
        assert bridge.stale_links({a.container_id, b.container_id}) == []
    finally:
        bridge.detach(a)
        bridge.detach(b)
    assert not link_exists(a.host_veth) and not link_exists(b.host_veth)
    assert netns_links(a_ns) == ["lo"]
    bridge.detach(a)  # idempotent
    with capsys.disabled():
        print(f"\n  attach+detach: {_time_attach_detach(bridge, make_netns())}")


def _check_inside(bridge: Bridge, ep: Endpoint) -> None:
    [eth0] = json.loads(in_ns(ep.netns, "ip", "-j", "addr", "show", "dev", "eth0").stdout)
    assert eth0["address"] == ep.mac and "UP" in eth0["flags"]
    inet = [(a["local"], a["prefixlen"]) for a in eth0["addr_info"] if a["family"] == "inet"]
    assert inet == [(ep.ip, ep.prefix_len)]
    routes = json.loads(in_ns(ep.netns, "ip", "-j", "route", "show", "default").stdout)
    assert [(r["gateway"], r["dev"]) for r in routes] == [(bridge.gateway, "eth0")]
    master = json.loads(run("ip", "-j", "link", "show", "dev", ep.host_veth).stdout)[0]
    assert master["master"] == bridge.name and "UP" in master["flags"]


def _time_attach_detach(bridge: Bridge, netns: str) -> str:
    attach, detach = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        ep = bridge.attach(cid(), netns, bridge.ipam.allocate(set()))
        t1 = time.perf_counter()
        bridge.detach(ep)
        t2 = time.perf_counter()
        attach.append(t1 - t0)
        detach.append(t2 - t1)
    ms = sorted(x * 1e3 for x in attach)[2], sorted(x * 1e3 for x in detach)[2]
    return f"attach {ms[0]:.2f} ms, detach {ms[1]:.2f} ms (median of 5)"


def test_stale_links_and_remove_link(bridge: Bridge, make_netns: Callable[[], str]) -> None:
    bridge.ensure(masquerade=False)
    ep = bridge.attach(cid(), make_netns(), bridge.ipam.allocate(set()))
    assert bridge.stale_links({ep.container_id}) == []
    assert bridge.stale_links({cid()}) == [ep.host_veth]
    bridge.remove_link(ep.host_veth)
    assert not link_exists(ep.host_veth)
    assert bridge.stale_links(set()) == []
    bridge.remove_link(ep.host_veth)  # idempotent


def _host_veths(bridge: Bridge) -> list[str]:
    out = run("ip", "-j", "link", "show", "master", bridge.name).stdout
    return [link["ifname"] for link in json.loads(out or "[]")]


def test_address_outside_the_subnet_leaves_nothing(
    bridge: Bridge, make_netns: Callable[[], str]
) -> None:
    bridge.ensure(masquerade=False)
    netns = make_netns()
    for ip in ("192.0.2.77", bridge.gateway, "not-an-ip"):
        with pytest.raises(InvalidArgument):
            bridge.attach(cid(), netns, ip)
    assert _host_veths(bridge) == [] and netns_links(netns) == ["lo"]


def test_missing_netns_leaves_nothing(bridge: Bridge, tmp_path: Path) -> None:
    bridge.ensure(masquerade=False)
    with pytest.raises(NotFound):
        bridge.attach(cid(), str(tmp_path / "absent"), bridge.ipam.allocate(set()))
    assert _host_veths(bridge) == []


def test_same_container_twice_keeps_the_first_endpoint(
    bridge: Bridge, make_netns: Callable[[], str]
) -> None:
    bridge.ensure(masquerade=False)
    container = cid()
    ep = bridge.attach(container, make_netns(), bridge.ipam.allocate(set()))
    with pytest.raises(Conflict, match=ep.host_veth):
        bridge.attach(container, make_netns(), bridge.ipam.allocate({ep.ip}))
    assert _host_veths(bridge) == [ep.host_veth]
    assert ping_from(ep.netns, bridge.gateway)
    bridge.detach(ep)


def test_eth0_taken_in_the_netns_leaves_no_veth(
    bridge: Bridge, make_netns: Callable[[], str]
) -> None:
    bridge.ensure(masquerade=False)
    netns = make_netns()
    assert (
        in_ns(
            netns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"
        ).returncode
        == 0
    )
    with pytest.raises(Conflict):
        bridge.attach(cid(), netns, bridge.ipam.allocate(set()))
    assert _host_veths(bridge) == []


def test_failure_after_the_veth_exists_removes_it(
    bridge: Bridge, make_netns: Callable[[], str]
) -> None:
    """A namespace that already has a default route: the veth is made, the route is refused,
    and attach deletes the veth again."""
    bridge.ensure(masquerade=False)
    netns = make_netns()
    for argv in (
        ("ip", "link", "add", "other0", "type", "veth", "peer", "name", "other1"),
        ("ip", "link", "set", "other1", "up"),
        ("ip", "link", "set", "other0", "up"),
        ("ip", "addr", "add", "192.0.2.10/24", "dev", "other0"),
        ("ip", "route", "add", "default", "via", "192.0.2.1"),
    ):
        assert in_ns(netns, *argv).returncode == 0, argv
    with pytest.raises(Conflict, match="default route"):
        bridge.attach(cid(), netns, bridge.ipam.allocate(set()))
    assert _host_veths(bridge) == []
    assert sorted(netns_links(netns)) == ["lo", "other0", "other1"]


def test_concurrent_attach_from_threads(bridge: Bridge, make_netns: Callable[[], str]) -> None:
    """The daemon attaches from worker threads: one shared netlink socket must cope."""
    from concurrent.futures import ThreadPoolExecutor

    bridge.ensure(masquerade=False)
    spaces = [make_netns() for _ in range(6)]
    ips: list[str] = []
    for _ in spaces:
        ips.append(bridge.ipam.allocate(set(ips)))
    with ThreadPoolExecutor(6) as pool:
        eps = list(pool.map(lambda i: bridge.attach(cid(), spaces[i], ips[i]), range(6)))
    try:
        assert sorted(_host_veths(bridge)) == sorted(ep.host_veth for ep in eps)
        assert ping_from(spaces[0], ips[5]) and ping_from(spaces[5], ips[0])
    finally:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(bridge.detach, eps))
    assert _host_veths(bridge) == []
