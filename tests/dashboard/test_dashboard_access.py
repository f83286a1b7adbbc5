"""Access control of the dashboard listener against a real wharfied (no browser)."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dashkit import Dash, http

from support.daemon import Daemon, wharfie_cli

pytestmark = [pytest.mark.root]


def login(dash: Dash) -> str:
    status, headers, _ = http(dash.url)
    assert status == 303 and headers["Location"] == "/"
    return str(headers["Set-Cookie"].split(";")[0])


def test_without_the_token_the_page_and_the_api_are_refused(dash: Dash) -> None:
    status, _, body = http(dash.base + "/")
    assert status == 401 and b"wharfie dashboard" in body
    for path in ("/api/containers/json", "/api/_ping", "/dash/live", "/static/js/app.js"):
        status, _, body = http(dash.base + path)
        assert status == 401, (path, status)
    status, _, body = http(dash.base + "/api/containers/json?token=wrong")
    assert status == 403 and b"bad access token" in body
    status, _, _ = http(dash.base + "/", headers={"Cookie": "wharfie_dashboard=forged"})
    assert status == 403
    status, _, _ = http(dash.base + "/api/info", headers={"Authorization": "Bearer nope"})
    assert status == 403


def test_with_the_token_the_cookie_opens_page_api_and_assets(dash: Dash) -> None:
    cookie = login(dash)
    status, headers, body = http(dash.base + "/", headers={"Cookie": cookie})
    assert status == 200
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    tagged = re.search(rb'src="(/static/[0-9a-f]{16}/js/app.js)"', body)
    assert tagged, body
    status, headers, body = http(dash.base + tagged.group(1).decode(), headers={"Cookie": cookie})
    assert status == 200 and headers["Content-Type"] == "text/javascript"
    assert "immutable" in headers["Cache-Control"]
    status, headers, body = http(dash.base + "/static/vendor/xterm.mjs", headers={"Cookie": cookie})
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    status, _, body = http(dash.base + "/api/containers/json?all=1", headers={"Cookie": cookie})
    assert status == 200 and body.startswith(b"[")
    status, _, _ = http(dash.base + "/api/info", headers={"Authorization": f"Bearer {dash.token}"})
    assert status == 200
    # the daemon's own errors come through with their status and message
    status, _, body = http(dash.base + "/api/containers/nope/json", headers={"Cookie": cookie})
    assert status == 404 and b"No such container: nope" in body
    status, _, _ = http(dash.base + "/static/../server.py", headers={"Cookie": cookie})
    assert status == 404
    status, _, _ = http(dash.base + "/static/nope.js", headers={"Cookie": cookie})
    assert status == 404


def test_cross_site_writes_and_websockets_are_refused(dash: Dash) -> None:
    cookie = login(dash)
    status, _, body = http(
        dash.base + "/api/containers/prune",
        method="POST",
        data=b"",
        headers={"Cookie": cookie, "Origin": "http://evil.example"},
    )
    assert status == 403 and b"cross-origin" in body
    host = dash.base.split("://")[1]
    key = base64.b64encode(os.urandom(16)).decode()
    for extra in ("", f"Cookie: {cookie}\r\nOrigin: http://evil.example\r\n"):
        with socket.create_connection(tuple(host.rsplit(":", 1))) as s:  # type: ignore[arg-type]
            s.sendall(
                (
                    f"GET /dash/exec/x HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
                ).encode()
            )
            head = s.recv(200)
        assert head.split(b" ")[1] in (b"401", b"403"), head


def test_terminal_of_a_missing_exec_is_a_clear_404(dash: Dash) -> None:
    cookie = login(dash)
    host = dash.base.split("://")[1]
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(tuple(host.rsplit(":", 1))) as s:  # type: ignore[arg-type]
        s.sendall(
            (
                f"GET /dash/exec/nope HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
            ).encode()
        )
        reply = s.recv(1000)
    assert reply.startswith(b"HTTP/1.1 404") and b"No such exec instance" in reply, reply


def test_the_url_is_stable_and_the_token_never_reaches_the_log(daemon: Daemon, dash: Dash) -> None:
    again = wharfie_cli(daemon, "dashboard", "--no-browser", check=True).stdout.decode()
    assert again.strip() == f"Wharfie dashboard: {dash.url}"
    http(dash.url)
    http(dash.base + f"/api/nope?token={dash.token}")
    http(dash.base + f"/api/containers/json?token={dash.token}")
    time.sleep(0.2)
    log = daemon.log.read_text()
    assert "dashboard listening on http://127.0.0.1:" in log
    assert dash.token not in log
    state = daemon.data / "dashboard.json"
    assert state.stat().st_mode & 0o777 == 0o600


def test_plain_http_off_loopback_is_refused_before_anything_starts(tmp_path: Path) -> None:
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "wharfie.daemon",
            "-H",
            f"unix://{tmp_path}/w.sock",
            "--data-root",
            str(tmp_path / "data"),
            "--exec-root",
            str(tmp_path / "exec"),
            "--dashboard-addr",
            "0.0.0.0:0",
        ],
        capture_output=True,
        timeout=30,
    )
    assert p.returncode == 1
    assert b"refusing to serve the dashboard on 0.0.0.0:0 without TLS" in p.stderr
    assert b"Traceback" not in p.stderr
    assert not (tmp_path / "exec" / "monitor.pid").exists()


def test_live_stream_carries_events_and_stats(daemon: Daemon, dash: Dash) -> None:
    import json
    import urllib.request

    name = "dash-live-" + str(time.time_ns())[-6:]
    req = urllib.request.Request(
        dash.base + f"/dash/live?since={int(time.time())}",
        headers={"Authorization": f"Bearer {dash.token}"},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        assert json.loads(resp.readline()) == {"t": "hello"}
        p = wharfie_cli(daemon, "run", "-d", "--name", name, "busybox", "sleep", "300")
        assert p.returncode == 0, p.stderr
        cid = p.stdout.decode().strip()
        seen_event = seen_stats = False
        deadline = time.monotonic() + 15
        while not (seen_event and seen_stats) and time.monotonic() < deadline:
            msg = json.loads(resp.readline())
            if msg["t"] == "event" and msg["d"]["Actor"]["ID"] == cid:
                seen_event = True
            if msg["t"] == "stats" and cid in msg["d"]["stats"]:
                cpu, mem, limit = msg["d"]["stats"][cid][:3]
                assert cpu >= 0 and mem > 0 and limit > 0
                seen_stats = True
        assert seen_event and seen_stats
    wharfie_cli(daemon, "rm", "-f", name)


def test_tls_listener_serves_https_with_a_secure_cookie(tmp_path: Path) -> None:
    """`--dashboard-addr` with TLS: https in the URL, the cookie marked Secure, the token
    still required."""
    import ssl
    import urllib.request

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    # The shared test daemon: its teardown stops the monitor's warden too (a monitor killed
    # alone is forked again by its warden, and was left running by every run of this test).
    d = Daemon(
        tmp_path / "d",
        0,
        extra_args=("--tls", "--tlscert", str(cert), "--tlskey", str(key),
                    "--dashboard-addr", "127.0.0.1:0"),
    )  # fmt: skip
    d.start()
    log = d.log
    try:
        deadline = time.monotonic() + 20
        while b"dashboard listening" not in log.read_bytes():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        state = json.loads((d.data / "dashboard.json").read_text())
        base = f"https://127.0.0.1:{state['port']}"
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
        try:
            opener.open(base + "/api/_ping", timeout=10)
            raise AssertionError("no token, yet served")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        req = urllib.request.Request(
            base + "/api/_ping", headers={"Authorization": f"Bearer {state['token']}"}
        )
        with opener.open(req, timeout=10) as resp:
            assert resp.status == 200
        # plain HTTP on the TLS port gets no page
        with socket.create_connection(("127.0.0.1", state["port"])) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            try:
                assert not s.recv(100).startswith(b"HTTP/1.1 200")
            except (TimeoutError, ConnectionError):
                pass

        # the Secure flag on the cookie
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kw: object) -> None:
                return None

        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
        try:
            opener.open(base + f"/?token={state['token']}", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 303
            assert "Secure" in exc.headers["Set-Cookie"]
    finally:
        assert d.teardown() == []
