"""`network create` bodies and `port` lines (pure parts of cli/network.py)."""

from __future__ import annotations

import pytest

from wharfie.cli.network import create_body, port_lines
from wharfie.errors import InvalidArgument


def test_create_body_as_dockers_cli_sends_it() -> None:
    body = create_body(
        "n",
        [
            "--subnet",
            "10.9.0.0/24",
            "--gateway",
            "10.9.0.254",
            "--ip-range",
            "10.9.0.128/25",
            "--internal",
            "--label",
            "a=b",
            "-o",
            "parent=eth0",
            "-d",
            "macvlan",
        ],
    )
    assert body["Name"] == "n" and body["Driver"] == "macvlan" and body["Internal"] is True
    assert body["IPAM"]["Config"] == [
        {"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25", "Gateway": "10.9.0.254"}
    ]
    assert body["Labels"] == {"a": "b"} and body["Options"] == {"parent": "eth0"}
    assert create_body("m", [])["IPAM"] == {"Driver": "default", "Options": {}, "Config": []}
    with pytest.raises(InvalidArgument, match="corresponding subnet"):
        create_body("x", ["--gateway", "10.0.0.1"])


def test_port_lines() -> None:
    ports = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
        "9/udp": None,
        "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
    }
    assert port_lines(ports) == ["80/tcp -> 0.0.0.0:8080", "443/tcp -> 127.0.0.1:8443"]
    assert port_lines(ports, "443") == ["127.0.0.1:8443"]
    assert port_lines(ports, "9/udp") == []
