"""Pure parts of engine/net/setup.py and engine/net/etcfiles.py: modes, ps ports, resolv.conf."""

from __future__ import annotations

from typing import Any

from wharfie.engine.net import etcfiles, modes


class _C:
    def __init__(self, host_config: dict[str, Any], ports: dict[str, Any] | None = None) -> None:
        self.host_config = host_config
        self.doc = {"NetworkSettings": {"Ports": ports or {}}}


def test_kind_and_mode_of_network_modes() -> None:
    cases = {
        "": "bridge",
        "default": "bridge",
        "bridge": "bridge",
        "host": "host",
        "none": "none",
        "container:abc": "container",
        "mynet": "network",
    }
    for mode, kind in cases.items():
        assert modes.kind_of(mode) == kind
    assert [modes.mode_of(m) for m in ("mynet", "container:x", "host", "none")] == [
        "bridge",
        "bridge",
        "host",
        "none",
    ]


def test_ps_ports_rows() -> None:
    c = _C({}, {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None})
    assert modes.ps_ports(c) == [  # type: ignore[arg-type]
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ]


def test_resolv_conf_for_user_networks_and_dns_options(monkeypatch: Any) -> None:
    monkeypatch.setattr(etcfiles, "_read", lambda path: "search corp\nnameserver 127.0.0.53\n")
    user = etcfiles._resolv_for(_C({"DnsOptions": ["timeout:2"]}), "network", True)  # type: ignore[arg-type]
    # as dockerd (20.10 and 25): ndots:0 after the options that set no ndots
    assert user == "nameserver 127.0.0.11\nsearch corp\noptions timeout:2 ndots:0\n"
    plain = etcfiles._resolv_for(_C({}), "bridge", False)  # type: ignore[arg-type]
    assert "127.0.0.53" not in plain and "nameserver 8.8.8.8" in plain
    custom = etcfiles._resolv_for(
        _C({"Dns": ["10.1.1.1"], "DnsSearch": ["a.b"]}),
        "bridge",  # type: ignore[arg-type]
        False,
    )
    assert custom.splitlines() == ["search a.b", "nameserver 10.1.1.1"]
