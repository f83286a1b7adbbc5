"""The dashboard's pure parts: the access check, addresses, the stats line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wharfie.cli.dashboard import has_display
from wharfie.dashboard import auth, check_address
from wharfie.dashboard.stats import compact
from wharfie.errors import InvalidArgument

TOKEN = "s3cr3t-token"


def verdict(**kw: str) -> auth.Verdict:
    args = {"path": "/", "query": "", "cookie_header": "", "authorization": "", **kw}
    return auth.check(TOKEN, secure=False, **args)


def test_no_credentials_is_401_and_wrong_ones_403() -> None:
    assert verdict().status == 401
    assert verdict(query="token=nope").status == 403
    assert verdict(cookie_header="wharfie_dashboard=forged").status == 403
    assert verdict(authorization="Bearer nope").status == 403
    assert verdict(query="token=").status == 403


def test_token_sets_a_strict_httponly_cookie_and_redirects_without_it() -> None:
    v = verdict(path="/", query=f"token={TOKEN}&x=1")
    assert v.status == 0 and v.redirect == "/?x=1"
    assert "HttpOnly" in v.set_cookie and "SameSite=Strict" in v.set_cookie
    assert TOKEN not in v.set_cookie and "Secure" not in v.set_cookie
    assert (
        "Secure"
        in auth.check(
            TOKEN, path="/", query=f"token={TOKEN}", cookie_header="", authorization="", secure=True
        ).set_cookie
    )
    cookie = v.set_cookie.split(";")[0]
    assert verdict(cookie_header=f"other=1; {cookie}") == auth.Verdict(0)
    assert verdict(authorization=f"Bearer {TOKEN}") == auth.Verdict(0)


def test_same_origin() -> None:
    assert auth.same_origin("", "127.0.0.1:8000")
    assert auth.same_origin("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert not auth.same_origin("http://evil.example", "127.0.0.1:8000")
    assert not auth.same_origin("null", "127.0.0.1:8000")


@pytest.mark.parametrize(
    ("text", "host", "port", "loopback"),
    [
        ("", "127.0.0.1", 0, True),
        (":9000", "127.0.0.1", 9000, True),
        ("localhost:80", "localhost", 80, True),
        ("0.0.0.0:8443", "0.0.0.0", 8443, False),
        ("[::1]:7000", "::1", 7000, True),
        ("tcp://10.0.0.5:1", "10.0.0.5", 1, False),
    ],
)
def test_parse_address(text: str, host: str, port: int, loopback: bool) -> None:
    a = auth.parse_address(text or "127.0.0.1:0")
    assert (a.host, a.port, a.loopback) == (host, port, loopback)


def test_plain_http_off_loopback_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="without TLS"):
        check_address("0.0.0.0:8443", None)
    with pytest.raises(InvalidArgument, match="port"):
        check_address("127.0.0.1:http", None)
    assert check_address("127.0.0.1:0", None).loopback


def test_compact_stats_line() -> None:
    doc = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 300},
            "system_cpu_usage": 2000,
            "online_cpus": 2,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 5000, "limit": 10000, "stats": {"inactive_file": 1000}},
        "networks": {
            "eth0": {"rx_bytes": 10, "tx_bytes": 20},
            "eth1": {"rx_bytes": 1, "tx_bytes": 2},
        },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"op": "Read", "value": 7},
                {"op": "Write", "value": 9},
                {"op": "Total", "value": 16},
            ]
        },
    }
    assert compact(doc) == [40.0, 4000, 10000, 11, 22, 7, 9]


def test_a_browser_opens_only_with_a_display() -> None:
    assert not has_display({})
    assert has_display({"DISPLAY": ":0"})
    assert has_display({"BROWSER": "firefox"})


def test_live_lines_are_wrapped_one_by_one() -> None:
    from wharfie.dashboard.live import wrap

    assert wrap(b"event", b'{"a":1}\n{"b":2}\n') == (
        b'{"t":"event","d":{"a":1}}\n{"t":"event","d":{"b":2}}\n'
    )
    assert wrap(b"stats", b"\n") == b""


def test_compose_files_from_labels() -> None:
    from wharfie.dashboard.composeup import ProjectFiles, command, project_files
    from wharfie.errors import FailedPrecondition, NotFound

    labels = [
        {"com.docker.compose.project": "other"},
        {
            "com.docker.compose.project": "app",
            "com.docker.compose.project.config_files": "/srv/app/compose.yaml,/srv/app/o.yaml",
            "com.docker.compose.project.working_dir": "/srv/app",
        },
    ]
    p = project_files("app", labels)
    assert p == ProjectFiles("app", ("/srv/app/compose.yaml", "/srv/app/o.yaml"), "/srv/app")
    cmd = command("unix:///run/w.sock", p)
    assert cmd[1:] == [
        "-m",
        "wharfie.cli",
        "-H",
        "unix:///run/w.sock",
        "compose",
        "-p",
        "app",
        "-f",
        "/srv/app/compose.yaml",
        "-f",
        "/srv/app/o.yaml",
        "up",
        "-d",
    ]
    with pytest.raises(FailedPrecondition, match="is not known"):
        project_files("other", labels)
    with pytest.raises(NotFound):
        project_files("nope", labels)


def test_cli_help_flags_and_a_missing_daemon(tmp_path: Path) -> None:
    env = {**os.environ, "WHARFIE_HOST": f"unix://{tmp_path}/none.sock"}
    exe = [sys.executable, "-m", "wharfie.cli", "dashboard"]
    p = subprocess.run([*exe, "--help"], capture_output=True, env=env, timeout=30)
    assert p.returncode == 0 and b"--no-browser" in p.stdout
    p = subprocess.run([*exe, "--bogus"], capture_output=True, env=env, timeout=30)
    assert p.returncode == 125 and b"unknown flag: --bogus" in p.stderr
    p = subprocess.run(exe, capture_output=True, env=env, timeout=30)
    assert p.returncode == 1 and b"Cannot connect" in p.stderr
    assert b"Traceback" not in p.stderr


def test_merge_ends_with_either_source_and_closes_both() -> None:
    import asyncio
    from collections.abc import AsyncIterator

    from wharfie.dashboard.live import merge

    closed: list[str] = []

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b'{"Action":"start"}\n'
            await asyncio.sleep(0.05)
        finally:
            closed.append("events")

    async def stats() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b'{"stats":{}}\n'
                await asyncio.sleep(0.01)
        finally:
            closed.append("stats")

    async def run() -> list[bytes]:
        return [line async for line in merge(events(), stats())]

    lines = asyncio.run(run())
    assert lines[0] == b'{"t":"hello"}\n'
    assert b'{"t":"event","d":{"Action":"start"}}\n' in lines
    assert b'{"t":"stats","d":{"stats":{}}}\n' in lines
    assert sorted(closed) == ["events", "stats"]
