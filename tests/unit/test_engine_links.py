"""engine/links.py, the pure parts: ParseLink and dockerd 20.10's ToEnv."""

from __future__ import annotations

import pytest

from wharfie.engine import links
from wharfie.errors import InvalidArgument, WharfieError


def test_parse() -> None:
    assert links.parse("db") == ("db", "db")
    assert links.parse("db:alias") == ("db", "alias")
    assert links.parse("/db:/web/alias") == ("db", "alias")
    with pytest.raises(WharfieError, match="bad format for links: a:b:c"):
        links.parse("a:b:c")
    with pytest.raises(InvalidArgument):
        links.parse("")


def test_to_env_ports_ranges_and_child_env() -> None:
    env = links.to_env(
        "/web/my-db",
        "10.0.0.2",
        ["8001/tcp", "8000/tcp", "8002/tcp", "53/udp", "7000/tcp", "7001/udp"],
        ["PATH=/bin", "HOME=/root", "A=b=c", "NOEQUALS"],
    )
    assert env[0] == "MY_DB_PORT=udp://10.0.0.2:53"
    assert "MY_DB_PORT_8000_TCP_START=tcp://10.0.0.2:8000" in env
    assert "MY_DB_PORT_8000_TCP_END=tcp://10.0.0.2:8002" in env
    assert "MY_DB_PORT_8000_TCP_PORT_START=8000" in env
    assert "MY_DB_PORT_8000_TCP_PORT_END=8002" in env
    assert not any(e.startswith("MY_DB_PORT_7000_TCP_START") for e in env)  # 2 ports: no range
    assert "MY_DB_PORT_7001_UDP_PROTO=udp" in env
    assert env[-2:] == ["MY_DB_NAME=/web/my-db", "MY_DB_ENV_A=b=c"]
    assert not any("_ENV_PATH" in e or "_ENV_HOME" in e for e in env)


def test_to_env_tcp_first_on_the_same_number() -> None:
    env = links.to_env("/p/x", "1.2.3.4", ["80/udp", "80/tcp"], [])
    assert env[0] == "X_PORT=tcp://1.2.3.4:80"


def test_to_env_without_ports() -> None:
    assert links.to_env("/p/x", "1.2.3.4", [], ["K=v"]) == ["X_NAME=/p/x", "X_ENV_K=v"]
