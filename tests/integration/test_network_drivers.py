"""Package-level tests on the real kernel (root): macvlan links born in a namespace, bridge
MTU and hairpin, the nft table applied and removed, port reservations, the embedded DNS
serving inside a namespace. Own names (`wt`/`wtm` + hex), own subnets (10.222.x), own table;
everything is removed and checked."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharfie.errors import FailedPrecondition
from wharfie.network import Bridge, Macvlan, create_netns, delete_netns, dns, nft, ports
from wharfie.network.ports import Binding, PortAllocated

pytestmark = pytest.mark.root

if os.geteuid() != 0 or shutil.which("nsenter") is None:
    pytest.skip("needs root and nsenter", allow_module_level=True)


def _third() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    return 10 + (int(worker) if worker.isdigit() else 0) * 4


def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={ns}", *argv], capture_output=True, text=True)


@pytest.fixture
def namespaces(tmp_path: Path) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for ns in made:
        delete_netns(ns)


def _ns(tmp_path: Path, made: list[str]) -> str:
    path = str(tmp_path / uuid.uuid4().hex)
    create_netns(path)
    made.append(path)
    return path


def test_macvlan_links_on_a_veth_parent_reach_each_other(
    tmp_path: Path, namespaces: list[str]
) -> None:
    parent = "wtm" + uuid.uuid4().hex[:8]
    subprocess.run(
        ["ip", "link", "add", parent, "type", "veth", "peer", "name", parent + "p"], check=True
    )
    try:
        for dev in (parent, parent + "p"):
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        mv = Macvlan(parent, f"10.222.{_third()}.0/24", "n" * 64)
        mv.ensure()
        a, b = _ns(tmp_path, namespaces), _ns(tmp_path, namespaces)
        ea = mv.attach("a" * 64, a, f"10.222.{_third()}.2", "eth0", True)
        mv.attach("b" * 64, b, f"10.222.{_third()}.3", "eth0", True)
        assert "macvlan" in in_ns(a, "ip", "-d", "link", "show", "eth0").stdout
        ping = in_ns(a, "busybox", "ping", "-c1", "-W2", f"10.222.{_third()}.3")
        assert ping.returncode == 0, ping.stdout + ping.stderr
        mv.detach(ea)
        assert "eth0" not in in_ns(a, "ip", "-o", "link").stdout
        with pytest.raises(FailedPrecondition, match="parent interface was not found"):
            Macvlan("wtmnosuch0", "10.9.9.0/24", "x").ensure()
    finally:
        subprocess.run(["ip", "link", "del", parent], capture_output=True)


def test_bridge_mtu_and_hairpin(tmp_path: Path, namespaces: list[str]) -> None:
    name = "wt" + uuid.uuid4().hex[:8]
    br = Bridge(
        name, f"10.222.{_third() + 1}.0/24", "i" * 64, user_defined=True, masquerade=False, mtu=9000
    )
    try:
        br.ensure()
        ns = _ns(tmp_path, namespaces)
        ep = br.attach("c" * 64, ns, f"10.222.{_third() + 1}.2", "eth0", True)
        assert "mtu 9000" in in_ns(ns, "ip", "-o", "link", "show", "eth0").stdout
        hairpin = Path(f"/sys/class/net/{ep.host_veth}/brport/hairpin_mode").read_text()
        assert hairpin.strip() == "1"
        assert Path(f"/proc/sys/net/ipv4/conf/{name}/route_localnet").read_text().strip() == "1"
    finally:
        br.remove()
        br.close()
    assert subprocess.run(["ip", "link", "show", name], capture_output=True).returncode != 0


def test_nft_table_applied_replaced_and_removed() -> None:
    table = "wharfie_wt" + uuid.uuid4().hex[:8]
    rs = nft.Ruleset(
        [nft.NetRule("wtx1", "10.1.0.0/24")],
        [nft.PortRule("tcp", "", 18080, "10.1.0.2", 80, "wtx1")],
    )
    try:
        nft.apply(nft.render(table, rs))
        nft.apply(nft.render(table, nft.Ruleset(rs.networks, [])))  # replaced in one go
        listed = subprocess.run(
            ["nft", "list", "table", "ip", table], capture_output=True, text=True
        ).stdout
        assert "dport 18080" not in listed and "chain forward" in listed
    finally:
        nft.delete_table(table)
    assert table not in nft.list_tables()


def test_reservations_hold_ports_until_released() -> None:
    r = ports.Reservations()
    got = r.reserve("c1", [Binding("tcp", 80, "127.0.0.1", 0), Binding("udp", 53, "", 0)])
    assert all(b.host_port > 0 for b in got)
    with pytest.raises(PortAllocated, match="port is already allocated"):
        r.reserve("c2", [Binding("tcp", 80, "127.0.0.1", got[0].host_port)])
    with pytest.raises(PortAllocated):  # all or nothing: the free one is not kept either
        r.reserve(
            "c3",
            [Binding("tcp", 81, "127.0.0.1", 0), Binding("tcp", 80, "127.0.0.1", got[0].host_port)],
        )
    assert r.owners() == ["c1"]
    r.release("c1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", got[0].host_port))


def test_embedded_dns_answers_inside_a_namespace(tmp_path: Path, namespaces: list[str]) -> None:
    ns = _ns(tmp_path, namespaces)

    def lookup(asker: str, name: str) -> list[str] | None:
        return ["10.0.0.9"] if (asker, name) == ("c", "db") else None

    async def main() -> str:
        r = dns.Resolver(lookup, [])
        await r.serve("c", ns)
        try:
            proc = await asyncio.create_subprocess_exec(
                "nsenter",
                f"--net={ns}",
                "busybox",
                "nslookup",
                "db",
                "127.0.0.11",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            return out.decode()
        finally:
            r.stop("c")

    out = asyncio.run(main())
    assert "10.0.0.9" in out, out
