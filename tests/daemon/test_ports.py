"""Published ports through the real docker CLI and wharfie: a busybox httpd served to the
host on 127.0.0.1 and on the host's other addresses, random ports, -P, hairpin, `port`
and ps output, a port already published, and no nft rule or held port left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import docker
import pytest

from support.daemon import Daemon, docker_cli, wharfie_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _host_address() -> str:
    """The host's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.254", 9))
            return str(s.getsockname()[0])
        except OSError:
            return ""


def _get(url: str, tries: int = 40) -> str:
    last: Exception | None = None
    for _ in range(tries):  # httpd may not listen yet
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return str(r.read().decode())
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise AssertionError(f"{url}: {last}")


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    return p.stdout.decode()


def _httpd(daemon: Daemon, name: str, *args: str) -> str:
    p = docker_cli(
        daemon,
        "run",
        "-d",
        "--label",
        "wtest=ports",
        "--name",
        name,
        *args,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    )
    return _ok(p).strip()


@pytest.fixture
def cleanup(daemon: Daemon) -> Iterator[None]:
    yield
    client = docker.APIClient(base_url=daemon.host, timeout=60)
    for c in client.containers(all=True, filters={"label": "wtest=ports"}):
        client.remove_container(c["Id"], force=True)


def _rules(daemon: Daemon) -> str:
    return subprocess.run(
        ["nft", "list", "table", "ip", f"wharfie_{daemon.bridge}"], capture_output=True, text=True
    ).stdout


def test_published_port_serves_httpd_on_loopback_and_host_addresses(
    daemon: Daemon, name: str, cleanup: None
) -> None:
    port = _free_port()
    cid = _httpd(daemon, name, "-p", f"{port}:80")
    assert _get(f"http://127.0.0.1:{port}/hostname").strip() == cid[:12]
    addr = _host_address()
    if addr:
        assert _get(f"http://{addr}:{port}/hostname").strip() == cid[:12]
    assert _ok(docker_cli(daemon, "port", name)).split("\n")[:2] == [
        f"80/tcp -> 0.0.0.0:{port}",
        f"80/tcp -> [::]:{port}",  # as dockerd: on :: too (relayed to the IPv4 address)
    ]
    assert _ok(wharfie_cli(daemon, "port", name, "80")).split() == [
        f"0.0.0.0:{port}",
        f":::{port}",
    ]
    ps = _ok(docker_cli(daemon, "ps", "--filter", f"name={name}", "--format", "{{.Ports}}"))
    assert ps.strip() == f"0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp"
    assert _get(f"http://[::1]:{port}/hostname").strip() == cid[:12]  # relayed
    # hairpin: the container reaches itself through the host's published port
    gateway = docker.APIClient(base_url=daemon.host).inspect_container(cid)["NetworkSettings"][
        "Gateway"
    ]
    out = _ok(
        docker_cli(
            daemon,
            "exec",
            name,
            "sh",
            "-c",
            f"timeout 3 wget -q -O- http://{gateway}:{port}/hostname || exit 1",
        )
    )
    assert out.strip() == cid[:12]
    _ok(docker_cli(daemon, "rm", "-f", name))
    assert f"dport {port} " not in _rules(daemon)
    with socket.socket() as s:  # the daemon no longer holds the port
        s.bind(("0.0.0.0", port))


def test_loopback_binding_random_ports_and_publish_all(
    daemon: Daemon, name: str, cleanup: None
) -> None:
    port = _free_port()
    cid = _httpd(daemon, name, "-p", f"127.0.0.1:{port}:80")
    assert _get(f"http://127.0.0.1:{port}/hostname").strip() == cid[:12]
    addr = _host_address()
    if addr:
        with pytest.raises(AssertionError):
            _get(f"http://{addr}:{port}/hostname", tries=1)
    cid2 = _httpd(daemon, name + "r", "-p", "80")
    mapped = _ok(wharfie_cli(daemon, "port", name + "r", "80/tcp")).split()
    assert len(mapped) == 2 and mapped[1].endswith(mapped[0].rpartition(":")[2])  # and on ::
    host_ip, _, host_port = mapped[0].rpartition(":")
    assert host_ip == "0.0.0.0" and int(host_port) > 0
    assert _get(f"http://127.0.0.1:{host_port}/hostname").strip() == cid2[:12]
    cid3 = _httpd(daemon, name + "p", "--expose", "80", "-P")
    ports = docker.APIClient(base_url=daemon.host).inspect_container(cid3)["NetworkSettings"][
        "Ports"
    ]
    assert list(ports) == ["80/tcp"] and ports["80/tcp"][0]["HostPort"] != "0"
    assert _get(f"http://127.0.0.1:{ports['80/tcp'][0]['HostPort']}/hostname").strip() == cid3[:12]


def test_a_port_already_published_is_refused(daemon: Daemon, name: str, cleanup: None) -> None:
    port = _free_port()
    _httpd(daemon, name, "-p", f"{port}:80")
    p = docker_cli(
        daemon,
        "run",
        "-d",
        "--label",
        "wtest=ports",
        "--name",
        name + "b",
        "-p",
        f"{port}:80",
        "busybox",
        "sleep",
        "5",
    )
    assert p.returncode == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated".encode() in p.stderr
    with socket.socket() as holder:  # a port some other program holds
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        p = wharfie_cli(
            daemon,
            "run",
            "-d",
            "--label",
            "wtest=ports",
            "--name",
            name + "c",
            "-p",
            f"127.0.0.1:{taken}:80",
            "busybox",
            "sleep",
            "5",
        )
        assert p.returncode != 0 and b"already allocated" in p.stderr
    state = docker.APIClient(base_url=daemon.host).inspect_container(name + "b")["State"]
    assert state["Status"] == "created" or state["ExitCode"] != 0


def test_published_port_of_a_container_on_a_user_network(
    daemon: Daemon, name: str, cleanup: None
) -> None:
    third = int(daemon.subnet.split(".")[2])
    net = "tp" + name
    _ok(docker_cli(daemon, "network", "create", "--subnet", f"10.220.{third}.0/24", net))
    try:
        port = _free_port()
        cid = _httpd(daemon, name, "--network", net, "-p", f"127.0.0.1:{port}:80")
        assert _get(f"http://127.0.0.1:{port}/hostname").strip() == cid[:12]
    finally:
        client = docker.APIClient(base_url=daemon.host)
        for c in client.containers(all=True, filters={"label": "wtest=ports"}):
            client.remove_container(c["Id"], force=True)
        client.remove_network(net)


LOADER = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
PY = "/usr/bin/python3.11"
UDP_ECHO = """
import os
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"echo:" + data, peer)
"""


def test_published_udp_port(daemon: Daemon, name: str, cleanup: None) -> None:
    if not (os.path.exists(LOADER) and os.path.exists(PY)):
        pytest.skip("needs the host's python3.11 (bind-mounted into busybox) for a UDP server")
    port = _free_port()
    p = docker_cli(
        daemon,
        "run",
        "-d",
        "--label",
        "wtest=ports",
        "--name",
        name,
        "-v",
        "/usr:/usr:ro",
        "-p",
        f"127.0.0.1:{port}:9999/udp",
        "busybox",
        LOADER,
        PY,
        "-c",
        UDP_ECHO,
    )
    _ok(p)
    assert _ok(docker_cli(daemon, "port", name)).strip() == f"9999/udp -> 127.0.0.1:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        for _ in range(50):  # the server may not be bound yet
            s.sendto(b"ping", ("127.0.0.1", port))
            try:
                assert s.recv(100) == b"echo:ping"
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("no UDP echo through the published port")


def test_published_port_from_another_host(daemon: Daemon, name: str, cleanup: None) -> None:
    """A namespace wired to the host by a veth pair stands for another machine: its
    connection to the host's address is DNATed and forwarded into the bridge (FORWARD
    accepts for DNATed connections, with masquerading off as in the test daemons)."""
    third = int(daemon.subnet.split(".")[2])
    outside = f"wto{third}{os.getpid() % 1000}"[:15]
    host_ip, peer_ip = f"10.223.{third}.1", f"10.223.{third}.2"
    ns = f"/run/netns/{outside}"
    subprocess.run(["ip", "netns", "add", outside], check=True)
    try:
        subprocess.run(
            [
                "ip",
                "link",
                "add",
                outside,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                outside,
            ],
            check=True,
        )
        subprocess.run(["ip", "addr", "add", f"{host_ip}/30", "dev", outside], check=True)
        subprocess.run(["ip", "link", "set", outside, "up"], check=True)
        for cmd in (
            ["ip", "addr", "add", f"{peer_ip}/30", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
            ["ip", "link", "set", "lo", "up"],
        ):
            subprocess.run(["ip", "netns", "exec", outside, *cmd], check=True)
        port = _free_port()
        cid = _httpd(daemon, name, "-p", f"{port}:80")
        got = ""
        for _ in range(40):
            p = subprocess.run(
                [
                    "nsenter",
                    f"--net={ns}",
                    "busybox",
                    "wget",
                    "-q",
                    "-O-",
                    f"http://{host_ip}:{port}/hostname",
                ],
                capture_output=True,
                text=True,
                timeout=10,
            )
            got = p.stdout.strip()
            if got:
                break
            time.sleep(0.05)
        assert got == cid[:12]
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", outside], capture_output=True)
