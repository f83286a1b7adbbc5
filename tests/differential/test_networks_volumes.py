"""Networks and volumes: create, inspect, list filters, connect, remove, errors."""

from __future__ import annotations

import json
from typing import Any

from harness import Side
from test_containers import BB, sleeper


def test_networks(differ) -> None:
    def s(d: Side) -> None:
        d.call(
            "create",
            "POST",
            "/networks/create",
            {
                "Name": "dn1",
                "Labels": {"a": "1"},
                "IPAM": {"Config": [{"Subnet": "10.251.7.0/24"}]},
            },
        )
        d.call("inspect", "GET", "/networks/dn1")
        d.call("create-dup", "POST", "/networks/create", {"Name": "dn1", "CheckDuplicate": True})
        d.call("create-no-name", "POST", "/networks/create", {})
        d.call("create-empty", "POST", "/networks/create", b"")
        d.call("create-bad-driver", "POST", "/networks/create", {"Name": "dn2", "Driver": "nope"})
        d.call(
            "create-bad-subnet",
            "POST",
            "/networks/create",
            {"Name": "dn3", "IPAM": {"Config": [{"Subnet": "300.1.1.0/24"}]}},
        )
        d.call(
            "create-overlap",
            "POST",
            "/networks/create",
            {"Name": "dn4", "IPAM": {"Config": [{"Subnet": "10.251.7.0/25"}]}},
        )
        d.call(
            "create-gw-outside",
            "POST",
            "/networks/create",
            {
                "Name": "dn5",
                "IPAM": {"Config": [{"Subnet": "10.251.9.0/24", "Gateway": "10.9.9.9"}]},
            },
        )
        d.call("create-labels-list", "POST", "/networks/create", {"Name": "dn6", "Labels": ["x"]})
        d.call("create-name-int", "POST", "/networks/create", {"Name": 5})
        d.call(
            "create-lowercase", "POST", "/networks/create", {"name": "dn7", "labels": {"b": "2"}}
        )
        d.call("inspect-lowercase", "GET", "/networks/dn7")
        d.call("create-predefined", "POST", "/networks/create", {"Name": "host"})
        d.call("inspect-missing", "GET", "/networks/nosuch")
        d.call("list-bad-filter", "GET", '/networks?filters={"bogus":["x"]}')
        d.call("list-type-bad", "GET", '/networks?filters={"type":["weird"]}')
        sleeper(d, "nc1")
        d.call("connect", "POST", "/networks/dn1/connect", {"Container": "nc1"}, kind="none")
        d.call("connect-again", "POST", "/networks/dn1/connect", {"Container": "nc1"})
        d.call("connect-missing-ctr", "POST", "/networks/dn1/connect", {"Container": "nosuch"})
        d.call("connect-missing-net", "POST", "/networks/nosuch/connect", {"Container": "nc1"})
        d.call("connect-bad-body", "POST", "/networks/dn1/connect", {"Container": 1})
        d.call("rm-in-use", "DELETE", "/networks/dn1")
        d.call("disconnect", "POST", "/networks/dn1/disconnect", {"Container": "nc1"}, kind="none")
        d.call("disconnect-again", "POST", "/networks/dn1/disconnect", {"Container": "nc1"})
        d.call("rm", "DELETE", "/networks/dn1", kind="none")
        d.call("rm-missing", "DELETE", "/networks/dn1")
        d.call("rm-predefined", "DELETE", "/networks/bridge")

    differ(s)


def test_volumes(differ) -> None:
    def s(d: Side) -> None:
        d.call("create", "POST", "/volumes/create", {"Name": "dv1", "Labels": {"a": "1"}})
        d.call("create-again", "POST", "/volumes/create", {"Name": "dv1"})
        d.call("inspect", "GET", "/volumes/dv1")
        d.call("create-bad-name", "POST", "/volumes/create", {"Name": "a/b"})
        d.call("create-newline-name", "POST", "/volumes/create", {"Name": "abc\n"})
        d.call("create-one-char", "POST", "/volumes/create", {"Name": "a"})
        d.call("create-bad-driver", "POST", "/volumes/create", {"Name": "dv2", "Driver": "nope"})
        d.call(
            "create-bad-opts",
            "POST",
            "/volumes/create",
            {"Name": "dv3", "DriverOpts": {"bogus": "1"}},
        )
        d.call("create-labels-list", "POST", "/volumes/create", {"Name": "dv4", "Labels": ["x"]})
        d.call("create-lowercase", "POST", "/volumes/create", {"name": "dv5"})
        d.call("inspect-lowercase", "GET", "/volumes/dv5")
        d.call("create-garbage", "POST", "/volumes/create", b"{x")
        d.call("create-empty", "POST", "/volumes/create", b"")
        d.call("inspect-missing", "GET", "/volumes/nosuch")
        d.call("list", "GET", '/volumes?filters={"name":["dv1"]}')
        d.call("list-bad-filter", "GET", '/volumes?filters={"bogus":["x"]}')
        d.call("list-dangling-bad", "GET", '/volumes?filters={"dangling":["maybe"]}')
        d.raw("POST", "/containers/create?name=vc1", {**BB, "HostConfig": {"Binds": ["dv1:/data"]}})
        d.call("rm-in-use", "DELETE", "/volumes/dv1")
        d.call("rm-missing", "DELETE", "/volumes/nosuch")
        d.call("rm-force-missing", "DELETE", "/volumes/nosuch?force=1", kind="none")
        d.raw("DELETE", "/containers/vc1")
        d.call("rm", "DELETE", "/volumes/dv1", kind="none")

    differ(s)


def _fetch(host: str, port: int) -> str:
    """GET / over TCP (a few tries: httpd may not listen yet): the body, or the error."""
    import socket
    import time

    err = ""
    for _ in range(40):
        try:
            with socket.create_connection((host, port), timeout=3) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            if data:
                return data.partition(b"\r\n\r\n")[2].decode()
        except OSError as e:
            err = type(e).__name__
        time.sleep(0.1)
    return err


def _udp_echo_in(pid: int) -> Any:
    import subprocess
    import sys

    code = (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.bind(('0.0.0.0', 81))\nprint('ready', flush=True)\nwhile True:\n"
        "    data, addr = s.recvfrom(65535)\n    s.sendto(b'echo:' + data, addr)\n"
    )
    p = subprocess.Popen(
        ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
    )
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    return p


def _udp_ask(host: str, port: int, payload: bytes) -> str:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for _ in range(10):
            s.sendto(payload, (host, port))
            try:
                return s.recv(100).decode()
            except TimeoutError:
                continue
    return "timeout"


def test_published_ports(differ) -> None:
    """A container on the default bridge (IPv4 only) publishing TCP and UDP: the port map
    (0.0.0.0 and :: for a wildcard, ::1 accepted), the list's Ports, and what a client
    reaches on 127.0.0.1, [::1] and the :: twin (docker-proxy relays across families)."""
    from support.peers import free_port

    def s(d: Side) -> None:
        dual, lo6, udp = free_port(), free_port(), free_port()
        names = {str(dual): "DUAL", str(lo6): "LO6", str(udp): "UDP"}

        def ports(value: Any) -> Any:
            text = json.dumps(value)
            for port, label in names.items():
                text = text.replace(f'"{port}"', f'"{label}"').replace(f" {port}", f' "{label}"')
            return json.loads(text)

        body = {
            **BB,
            "Cmd": ["sh", "-c", "mkdir /w && echo hi > /w/index.html && httpd -f -p 80 -h /w"],
            "ExposedPorts": {"80/tcp": {}, "81/udp": {}},
            "HostConfig": {
                "PortBindings": {
                    "80/tcp": [{"HostPort": str(dual)}],
                    "81/udp": [{"HostPort": str(udp)}],
                }
            },
        }
        d.call("create", "POST", "/containers/create?name=pp1", body)
        d.call("start", "POST", "/containers/pp1/start", kind="none")
        doc = d.json("GET", "/containers/pp1/json")
        d.note("inspect-ports", ports(doc["NetworkSettings"]["Ports"]))
        row = d.json("GET", "/containers/json?filters=" + json.dumps({"name": ["pp1"]}))[0]
        listed = sorted(row["Ports"], key=lambda p: (p["Type"], p.get("IP", "")))
        d.note("list-ports", ports([{**p, "PublicPort": str(p["PublicPort"])} for p in listed]))
        d.note("tcp-127.0.0.1", _fetch("127.0.0.1", dual))
        d.note("tcp-::1-twin", _fetch("::1", dual))
        echo = _udp_echo_in(int(doc["State"]["Pid"]))
        try:
            d.note("udp-127.0.0.1", _udp_ask("127.0.0.1", udp, b"a"))
            d.note("udp-::1-twin", _udp_ask("::1", udp, b"b"))
        finally:
            echo.kill()
            echo.wait()
        lo = {
            **body,
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "::1", "HostPort": str(lo6)}]}},
        }
        d.call("create-lo6", "POST", "/containers/create?name=pp2", lo)
        d.call("start-lo6", "POST", "/containers/pp2/start", kind="none")
        doc = d.json("GET", "/containers/pp2/json")
        d.note("inspect-lo6-ports", ports(doc["NetworkSettings"]["Ports"]))
        d.note("tcp-::1", _fetch("::1", lo6))
        clash = {
            **body,
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "::1", "HostPort": str(lo6)}]}},
        }
        d.raw("POST", "/containers/create?name=pp3", clash)
        r = d.raw("POST", "/containers/pp3/start")
        d.note("start-clash-status", r.status)
        d.call("rm-running", "DELETE", "/containers/pp1?force=1", kind="none")
        d.note("tcp-::1-after-rm", _fetch("::1", dual) != "hi\n")

    differ(s)
