"""IPv6 networks, addresses, link-local IPs, DNS and isolation; compared with dockerd.

Only ULA subnets (fd00::/8) on bridges the tests make: nothing leaves the host."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Daemon, busybox_tar, docker_cli
from support.filedaemon import FileDaemon
from support.peers import DockerPeer, private_dockerd

Cli = Callable[..., subprocess.CompletedProcess[bytes]]
N = os.getpid() % 4000 + 1000  # a /48 of our own: fd00:<N>::/48


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerPeer]:
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    base = tmp_path_factory.mktemp("ipv6-dockerd")
    with private_dockerd(base) as p:
        r = p.cli("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=busybox_tar(base))
        assert r.returncode == 0, r.stderr
        yield p


def _both(daemon: Daemon, peer: DockerPeer) -> dict[str, tuple[Cli, str]]:
    def ours(*args: str) -> subprocess.CompletedProcess[bytes]:
        return docker_cli(daemon, *args)

    return {"wharfied": (ours, str(daemon.sock)), "dockerd": (peer.cli, str(peer.sock))}


def _call(sock: str, method: str, path: str, body: object = None) -> tuple[int, Any]:
    args = ["curl", "-s", "--unix-socket", sock, "-X", method, "-w", "\n%{http_code}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = subprocess.run(
        [*args, f"http://x/v1.41{path}"], capture_output=True, text=True, timeout=60
    ).stdout
    text, _, code = out.rpartition("\n")
    return int(code), (json.loads(text) if text.startswith("{") else {})


def _api(sock: str, method: str, path: str, body: object = None) -> tuple[int, str]:
    code, doc = _call(sock, method, path, body)
    return code, str(doc.get("message", ""))


def _json(cli: Cli, *args: str) -> Any:
    p = cli(*args)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_networks_and_addresses_match_dockerd(daemon: Daemon, peer: DockerPeer, name: str) -> None:
    seen: dict[str, Any] = {}
    for who, (cli, _sock) in _both(daemon, peer).items():
        a, b = f"{name}-a", f"{name}-b"
        v4 = f"10.234.{N % 250}.0/24"
        assert (
            cli("network", "create", "--ipv6", "--subnet", f"fd00:{N:x}:1::/64", a).returncode == 0
        )
        p = cli(
            "network",
            "create",
            "--ipv6",
            "--subnet",
            v4,
            "--gateway",
            v4.replace(".0/", ".1/")[:-3],
            "--subnet",
            f"fd00:{N:x}:2::/64",
            "--gateway",
            f"fd00:{N:x}:2::fe",
            b,
        )
        assert p.returncode == 0, p.stderr
        try:
            cli("run", "-d", "--name", f"{name}-c1", "--network", a, "busybox", "sleep", "300")
            p = cli(
                "run",
                "-d",
                "--name",
                f"{name}-c2",
                "--network",
                b,
                "--ip6",
                f"fd00:{N:x}:2::99",
                "--link-local-ip",
                "169.254.1.5",
                "--link-local-ip",
                "fe80::77",
                "busybox",
                "sleep",
                "300",
            )
            assert p.returncode == 0, (who, p.stderr)
            nets = {n: _json(cli, "network", "inspect", n)[0] for n in (a, b)}
            eps = {
                c: _json(cli, "inspect", f"{name}-{c}")[0]["NetworkSettings"]["Networks"]
                for c in ("c1", "c2")
            }
            addrs = cli("exec", f"{name}-c2", "ip", "-o", "addr", "show", "eth0").stdout.decode()
            hosts = cli("exec", f"{name}-c2", "cat", "/etc/hosts").stdout.decode()
            routes = cli("exec", f"{name}-c1", "ip", "-6", "route", "show", "default").stdout
            seen[who] = {
                "enable": [nets[n]["EnableIPv6"] for n in (a, b)],
                "ipam_a_v6": nets[a]["IPAM"]["Config"][1],
                "ipam_b": nets[b]["IPAM"]["Config"],
                "c1": {
                    k: eps["c1"][a][k]
                    for k in ("IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen")
                },
                "c2": {
                    k: eps["c2"][b][k]
                    for k in (
                        "IPv6Gateway",
                        "GlobalIPv6Address",
                        "GlobalIPv6PrefixLen",
                        "IPAMConfig",
                    )
                },
                "addrs": sorted(
                    w.split()[3] for w in addrs.splitlines() if " inet" in w and "fe80::42" not in w
                ),
                "hosts_v6": [ln for ln in hosts.splitlines() if ln.startswith("fd00")],
                "route": routes.split()[:3],
            }
        finally:
            cli("rm", "-f", f"{name}-c1", f"{name}-c2")
            cli("network", "rm", a, b)
    ours, theirs = seen["wharfied"], seen["dockerd"]
    ours["hosts_v6"] = [ln.split("\t")[0] for ln in ours["hosts_v6"]]
    theirs["hosts_v6"] = [ln.split("\t")[0] for ln in theirs["hosts_v6"]]
    assert ours == theirs
    assert ours["c1"]["GlobalIPv6Address"] == f"fd00:{N:x}:1::2"


def test_errors_match_dockerd(daemon: Daemon, peer: DockerPeer, name: str) -> None:
    results = {}
    for who, (cli, sock) in _both(daemon, peer).items():
        net = f"{name}-n"
        v6 = f"fd00:{N:x}:3::/64"
        assert cli("network", "create", "--ipv6", "--subnet", v6, net).returncode == 0
        out = []
        for body in (
            {"Name": f"{name}-x", "EnableIPv6": True},
            {"Name": f"{name}-x", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": v6}]}},
            {
                "Name": f"{name}-x",
                "EnableIPv6": True,
                "IPAM": {
                    "Config": [{"Subnet": f"fd00:{N:x}:4::/64"}, {"Subnet": f"fd00:{N:x}:5::/64"}]
                },
            },
        ):
            out.append(_api(sock, "POST", "/networks/create", body))
        for ipam in (
            {"IPv6Address": f"fd00:{N:x}:9::5"},
            {"IPv6Address": "zz"},
            {"LinkLocalIPs": ["zz"]},
        ):
            code, doc = _call(
                sock,
                "POST",
                "/containers/create",
                {
                    "Image": "busybox",
                    "HostConfig": {"NetworkMode": net},
                    "NetworkingConfig": {"EndpointsConfig": {net: {"IPAMConfig": ipam}}},
                },
            )
            msg = str(doc.get("message", ""))
            if code == 201:  # dockerd checks some only at start
                code, msg = _api(sock, "POST", f"/containers/{doc['Id']}/start")
                cli("rm", "-f", doc["Id"])
            out.append((code >= 400, msg))
        p = cli("run", "--rm", "--ip6", f"fd00:{N:x}:3::9", "busybox", "true")
        out.append((p.returncode, p.stderr.decode().splitlines()[0]))
        cli("network", "rm", net)
        results[who] = [(c, m.replace(name, "<n>")) for c, m in out]
    assert results["wharfied"] == results["dockerd"]


def test_dns_connectivity_and_isolation(daemon: Daemon, name: str) -> None:
    a, b = f"{name}-a", f"{name}-b"
    for net, sub in ((a, 6), (b, 7)):
        p = docker_cli(
            daemon, "network", "create", "--ipv6", "--subnet", f"fd00:{N:x}:{sub}::/64", net
        )
        assert p.returncode == 0, p.stderr
    try:
        for c, net in (("s1", a), ("s2", a), ("t1", b)):
            assert (
                docker_cli(
                    daemon,
                    "run",
                    "-d",
                    "--name",
                    f"{name}-{c}",
                    "--network",
                    net,
                    "busybox",
                    "sleep",
                    "300",
                ).returncode
                == 0
            )
        aaaa = docker_cli(
            daemon, "exec", f"{name}-s2", "nslookup", "-type=AAAA", f"{name}-s1", "127.0.0.11"
        ).stdout.decode()
        assert f"Address: fd00:{N:x}:6::2" in aaaa
        a_rec = docker_cli(
            daemon, "exec", f"{name}-s2", "nslookup", "-type=A", f"{name}-s1", "127.0.0.11"
        ).stdout.decode()
        assert "fd00" not in a_rec and "Address: " in a_rec.split("Name:")[-1]
        ptr = docker_cli(daemon, "exec", f"{name}-s2", "nslookup", f"fd00:{N:x}:6::2", "127.0.0.11")
        assert f"{name}-s1.{a}" in ptr.stdout.decode(), ptr.stdout
        ping = docker_cli(daemon, "exec", f"{name}-s2", "ping", "-6", "-c1", "-W2", f"{name}-s1")
        assert ping.returncode == 0, ping.stdout
        cross = docker_cli(daemon, "exec", f"{name}-t1", "ping", "-c1", "-W1", f"fd00:{N:x}:6::2")
        assert cross.returncode != 0  # another network: dropped by the ip6 table
        gw = docker_cli(daemon, "exec", f"{name}-t1", "ping", "-c1", "-W2", f"fd00:{N:x}:7::1")
        assert gw.returncode == 0  # its own gateway (the bridge) answers
        nid = _json(lambda *x: docker_cli(daemon, *x), "network", "inspect", a)[0]["Id"]
        accept = [
            "-w",
            "-C",
            "FORWARD",
            "-i",
            f"br-{nid[:12]}",
            "-o",
            f"br-{nid[:12]}",
            "-j",
            "ACCEPT",
        ]
        assert subprocess.run(["ip6tables", *accept], capture_output=True).returncode == 0
    finally:
        docker_cli(daemon, "rm", "-f", f"{name}-s1", f"{name}-s2", f"{name}-t1")
        docker_cli(daemon, "network", "rm", a, b)
    assert subprocess.run(["ip6tables", *accept], capture_output=True).returncode == 1


def test_default_bridge_ipv6_from_the_daemon_config(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root")
    d = FileDaemon(tmp_path / "w", 5)
    d.start({"ipv6": True, "fixed-cidr-v6": f"fd00:{N:x}:77::/64"})
    try:
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(tmp_path), repository="busybox", tag="latest"
        )
        bridge = _json(lambda *a: docker_cli(d, *a), "network", "inspect", "bridge")[0]
        assert bridge["EnableIPv6"] is True
        assert bridge["IPAM"]["Config"][1] == {"Subnet": f"fd00:{N:x}:77::/64"}
        p = docker_cli(d, "run", "-d", "--name", "v6", "busybox", "sleep", "60")
        assert p.returncode == 0, p.stderr
        net = _json(lambda *a: docker_cli(d, *a), "inspect", "v6")[0]["NetworkSettings"]
        mac = net["MacAddress"].replace(":", "")
        # dockerd 20.10 (measured): the subnet with the MAC as host part, gateway ::1
        want = (
            f"fd00:{N:x}:77::{mac[0:4].lstrip('0')}:{mac[4:8].lstrip('0')}:{mac[8:12].lstrip('0')}"
        )
        assert net["GlobalIPv6Address"] == want and net["IPv6Gateway"] == f"fd00:{N:x}:77::1"
        hosts = docker_cli(d, "exec", "v6", "cat", "/etc/hosts").stdout.decode()
        assert f"{want}\t" in hosts
        assert (
            docker_cli(d, "exec", "v6", "ping", "-c1", "-W2", f"fd00:{N:x}:77::1").returncode == 0
        )
    finally:
        leaked = d.teardown()
    assert not leaked


def test_published_ports_on_ipv6(daemon: Daemon, peer: DockerPeer, name: str) -> None:
    from support.peers import free_port

    seen = {}
    for who, (cli, _sock) in _both(daemon, peer).items():
        net, web = f"{name}-n", f"{name}-web"
        assert (
            cli("network", "create", "--ipv6", "--subnet", f"fd00:{N:x}:8::/64", net).returncode
            == 0
        )
        lo6, dual = free_port(), free_port()
        try:
            p = cli(
                "run",
                "-d",
                "--name",
                web,
                "--network",
                net,
                "-p",
                f"[::1]:{lo6}:80",
                "-p",
                f"{dual}:80",
                "busybox",
                "sh",
                "-c",
                "mkdir /w && echo hi6 > /w/index.html && httpd -f -p 80 -h /w",
            )
            assert p.returncode == 0, (who, p.stderr)
            port = (
                cli("port", web).stdout.decode().replace(str(lo6), "LO6").replace(str(dual), "DUAL")
            )
            fetched = []
            for url in (
                f"http://[::1]:{lo6}/",
                f"http://[::1]:{dual}/",
                f"http://127.0.0.1:{dual}/",
            ):
                for _ in range(50):
                    got = subprocess.run(
                        ["curl", "-s", "-g", "-m", "5", url], capture_output=True, text=True
                    ).stdout
                    if got:
                        break
                fetched.append(got)
            seen[who] = (sorted(port.splitlines()), fetched)
        finally:
            cli("rm", "-f", web)
            cli("network", "rm", net)
    assert seen["wharfied"] == seen["dockerd"]
    assert seen["wharfied"][1] == ["hi6\n"] * 3
    assert seen["wharfied"][0] == [
        "80/tcp -> 0.0.0.0:DUAL",
        "80/tcp -> [::1]:LO6",
        "80/tcp -> [::]:DUAL",
    ]


def test_ipv6_ports_and_dns_survive_a_daemon_restart(tmp_path: Path) -> None:
    import signal

    from support.peers import free_port

    if os.geteuid() != 0:
        pytest.skip("wharfied needs root")
    d = FileDaemon(tmp_path / "w", 4)
    d.start()
    try:
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(tmp_path), repository="busybox", tag="latest"
        )
        net = "r6"
        assert (
            docker_cli(
                d, "network", "create", "--ipv6", "--subnet", f"fd00:{N:x}:9::/64", net
            ).returncode
            == 0
        )
        port = free_port()
        p = docker_cli(
            d,
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            net,
            "-p",
            f"[::1]:{port}:80",
            "busybox",
            "sh",
            "-c",
            "mkdir /w && echo hi6 > /w/index.html && httpd -f -p 80 -h /w",
        )
        assert p.returncode == 0, p.stderr
        assert (
            docker_cli(
                d, "run", "-d", "--name", "cli", "--network", net, "busybox", "sleep", "300"
            ).returncode
            == 0
        )

        def fetch() -> str:
            for _ in range(50):
                out = subprocess.run(
                    ["curl", "-s", "-g", "-m", "2", f"http://[::1]:{port}/"],
                    capture_output=True,
                    text=True,
                ).stdout
                if out:
                    return out
            return ""

        assert fetch() == "hi6\n"
        d.stop(signal.SIGKILL)
        d.start()
        assert fetch() == "hi6\n"
        aaaa = docker_cli(d, "exec", "cli", "nslookup", "-type=AAAA", "web", "127.0.0.11")
        assert f"fd00:{N:x}:9::2" in aaaa.stdout.decode()
        docker_cli(d, "rm", "-f", "web", "cli")
        assert docker_cli(d, "network", "rm", net).returncode == 0
    finally:
        leaked = d.teardown()
    assert not leaked


UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 81))
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(65535)
    s.sendto(b"echo:" + data, addr)
"""


def _udp_ask(port: int, payload: bytes) -> bytes:
    import socket

    # A proxy under load may take a while to bind: ask again for up to 15 s, each time from a
    # new source port (a flow that met no listener may stay tracked as dead for that port).
    for _ in range(30):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            s.sendto(payload, ("::1", port))
            try:
                return s.recv(100)
            except (TimeoutError, ConnectionRefusedError):
                continue
    return b""


def test_ipv4_container_ports_on_ipv6(daemon: Daemon, peer: DockerPeer, name: str) -> None:
    """A container without IPv6 (the default bridge): `-p N:80` is published on `::` too
    and `-p [::1]:M:80` is accepted, both relayed to its IPv4 address (dockerd's
    docker-proxy), and so is UDP; compared with dockerd."""
    import sys

    from support.peers import free_port

    seen = {}
    for who, (cli, _sock) in _both(daemon, peer).items():
        web = f"{name}-web4"
        dual, lo6, udp = free_port(), free_port(), free_port()
        try:
            p = cli(
                "run",
                "-d",
                "--name",
                web,
                "-p",
                f"{dual}:80",
                "-p",
                f"[::1]:{lo6}:80",
                "-p",
                f"{udp}:81/udp",
                "busybox",
                "sh",
                "-c",
                "mkdir /w && echo hi4 > /w/index.html && httpd -f -p 80 -h /w",
            )
            assert p.returncode == 0, (who, p.stderr)
            doc = _json(cli, "inspect", web)[0]
            ports = {
                k: sorted(
                    (b["HostIp"], {dual: "DUAL", lo6: "LO6", udp: "UDP"}[int(b["HostPort"])])
                    for b in v
                )
                for k, v in doc["NetworkSettings"]["Ports"].items()
            }
            fetched = []
            for url in (
                f"http://[::1]:{lo6}/",
                f"http://[::1]:{dual}/",
                f"http://127.0.0.1:{dual}/",
            ):
                for _ in range(50):
                    got = subprocess.run(
                        ["curl", "-s", "-g", "-m", "5", url], capture_output=True, text=True
                    ).stdout
                    if got:
                        break
                fetched.append(got)
            echo = subprocess.Popen(
                [
                    "nsenter",
                    f"--net=/proc/{doc['State']['Pid']}/ns/net",
                    sys.executable,
                    "-c",
                    UDP_ECHO,
                ],
                stdout=subprocess.PIPE,
            )
            try:
                assert echo.stdout is not None and echo.stdout.readline() == b"ready\n"
                answers = [_udp_ask(udp, b"one"), _udp_ask(udp, b"two")]
            finally:
                echo.kill()
                echo.wait()
            seen[who] = (ports, fetched, answers)
        finally:
            cli("rm", "-f", web)
    assert seen["wharfied"] == seen["dockerd"]
    assert seen["wharfied"][1] == ["hi4\n"] * 3
    assert seen["wharfied"][2] == [b"echo:one", b"echo:two"]
    assert seen["wharfied"][0] == {
        "80/tcp": [("0.0.0.0", "DUAL"), ("::", "DUAL"), ("::1", "LO6")],
        "81/udp": [("0.0.0.0", "UDP"), ("::", "UDP")],
    }


def test_udp_on_ipv6_loopback_of_an_ipv6_container(
    daemon: Daemon, peer: DockerPeer, name: str
) -> None:
    """UDP published on [::1] of a container with IPv6 is relayed (no route_localnet in
    IPv6), as docker-proxy does; compared with dockerd."""
    import sys

    from support.peers import free_port

    seen = {}
    for who, (cli, _sock) in _both(daemon, peer).items():
        net, box = f"{name}-u", f"{name}-udp6"
        subnet = f"fd00:{N:x}:a::/64"
        assert cli("network", "create", "--ipv6", "--subnet", subnet, net).returncode == 0
        lo6, dual = free_port(), free_port()
        try:
            p = cli(
                "run", "-d", "--name", box, "--network", net,
                "-p", f"[::1]:{lo6}:81/udp", "-p", f"{dual}:81/udp",
                "busybox", "sleep", "300",
            )  # fmt: skip
            assert p.returncode == 0, (who, p.stderr)
            pid = _json(cli, "inspect", box)[0]["State"]["Pid"]
            echo = subprocess.Popen(
                ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", UDP_ECHO],
                stdout=subprocess.PIPE,
            )
            try:
                assert echo.stdout is not None and echo.stdout.readline() == b"ready\n"
                seen[who] = [_udp_ask(lo6, b"lo6"), _udp_ask(dual, b"dual")]
            finally:
                echo.kill()
                echo.wait()
        finally:
            cli("rm", "-f", box)
            cli("network", "rm", net)
    assert seen["wharfied"] == seen["dockerd"] == [b"echo:lo6", b"echo:dual"]
