"""Registry auth: htpasswd basic auth on the reference registry, and the bearer-token flow
through a token gateway written here (WWW-Authenticate challenge, token endpoint with basic
credentials, tokens checked per scope), with `login`/`logout` and config.json."""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from test_distribution import ok, unique_image

from support.daemon import Daemon, docker_cli, wharfie_cli
from support.peers import ReferenceRegistry

USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceRegistry]:
    reg = ReferenceRegistry(tmp_path_factory.mktemp("basic-reg"), htpasswd={USER: PASSWORD})
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


class TokenGateway:
    """Bearer auth in front of a registry: /token hands out tokens for basic credentials,
    /v2/... needs a token whose scopes cover the repository (else 401 + challenge)."""

    def __init__(self, backend: ReferenceRegistry) -> None:
        self.backend = backend
        self.tokens: dict[str, set[str]] = {}
        self.token_requests: list[dict[str, list[str]]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                gateway.handle(self)

            do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        if parts.path == "/token":
            return self._token(h, parse_qs(parts.query))
        scope = _scope_for(h.command, parts.path)
        token = h.headers.get("Authorization", "").removeprefix("Bearer ")
        if (
            scope
            and scope not in self.tokens.get(token, set())
            and not (
                scope.endswith(":pull")
                and scope.replace(":pull", ":pull,push") in self.tokens.get(token, set())
            )
        ):
            return self._challenge(h, scope)
        if not scope and token not in self.tokens:
            return self._challenge(h, "")
        self._forward(h)

    def _challenge(self, h: BaseHTTPRequestHandler, scope: str) -> None:
        value = f'Bearer realm="http://{self.addr}/token",service="gateway"'
        if scope:
            value += f',scope="{scope}"'
        body = json.dumps(
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        ).encode()
        _drain(h)
        h.send_response(401)
        h.send_header("WWW-Authenticate", value)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _token(self, h: BaseHTTPRequestHandler, q: dict[str, list[str]]) -> None:
        self.token_requests.append(q)
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if h.headers.get("Authorization") != want:
            body = b'{"details":"incorrect username or password"}'
            h.send_response(401)
        else:
            token = secrets.token_hex(16)
            self.tokens[token] = set(q.get("scope", []))
            body = json.dumps({"token": token, "expires_in": 300}).encode()
            h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        body = _drain(h)
        conn = http.client.HTTPConnection(self.backend.addr, timeout=60)
        headers = {
            k: v
            for k, v in h.headers.items()
            if k.lower() not in ("authorization", "host", "transfer-encoding")
        }
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        )
        headers["Content-Length"] = str(len(body))
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            if k.lower() == "location":
                v = v.replace(self.backend.addr, self.addr)
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
        conn.close()


def _drain(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        parts = []
        while (size := int(h.rfile.readline().split(b";")[0].strip(), 16)) > 0:
            parts.append(h.rfile.read(size))
            h.rfile.readline()
        while h.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(parts)
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n else b""


def _scope_for(method: str, path: str) -> str:
    if not path.startswith("/v2/") or path == "/v2/":
        return ""
    rest = path[4:]
    for marker in ("/manifests/", "/blobs/", "/tags/"):
        if marker in rest:
            repo = rest.split(marker, 1)[0]
            action = "pull" if method in ("GET", "HEAD") else "pull,push"
            return f"repository:{repo}:{action}"
    return ""


@pytest.fixture(scope="module")
def gateway(basic_registry: ReferenceRegistry) -> Iterator[TokenGateway]:
    gw = TokenGateway(basic_registry)
    try:
        yield gw
    finally:
        gw.close()


def _docker_config(d: Daemon) -> dict[str, object]:
    path = d.base / "docker-config" / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_token_auth_login_push_pull(daemon: Daemon, gateway: TokenGateway, name: str) -> None:
    ref = f"{gateway.addr}/{name}:v1"
    image_id = unique_image(daemon, ref)
    p = docker_cli(daemon, "push", ref)
    assert p.returncode != 0
    assert b"unauthorized" in p.stderr, p.stderr
    out = ok(
        docker_cli(
            daemon, "login", "-u", USER, "--password-stdin", gateway.addr, input=PASSWORD.encode()
        )
    )
    assert "Login Succeeded" in out
    ok(docker_cli(daemon, "push", ref))
    ok(docker_cli(daemon, "rmi", ref))
    ok(docker_cli(daemon, "pull", ref))
    assert ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip() == image_id
    scopes = [s for q in gateway.token_requests for s in q.get("scope", [])]
    assert f"repository:{name}:pull,push" in scopes and f"repository:{name}:pull" in scopes
    assert all(q.get("service") == ["gateway"] for q in gateway.token_requests)
    ok(docker_cli(daemon, "logout", gateway.addr))
    ok(docker_cli(daemon, "rmi", ref))


def test_token_auth_bad_password_is_401(daemon: Daemon, gateway: TokenGateway) -> None:
    p = docker_cli(daemon, "login", "-u", USER, "--password-stdin", gateway.addr, input=b"wrong")
    assert p.returncode != 0
    assert (
        f"Error response from daemon: login attempt to http://{gateway.addr}/v2/ failed "
        "with status: 401 Unauthorized"
    ).encode() in p.stderr, p.stderr


def test_basic_auth_with_wharfie_login_logout(
    daemon: Daemon, basic_registry: ReferenceRegistry, name: str, tmp_path: Path
) -> None:
    env_home = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    ref = f"{basic_registry.addr}/{name}:v1"
    unique_image(daemon, ref)

    def cli(*args: str, input: bytes | None = None) -> object:
        import os
        import subprocess
        import sys

        exe = Path(sys.executable).parent / "wharfie"
        return subprocess.run(
            [str(exe), *args],
            input=input,
            capture_output=True,
            env={**os.environ, **daemon.env, **env_home},
            timeout=60,
        )

    p = cli("push", ref)
    assert p.returncode != 0 and b"no basic auth credentials" in p.stderr, p.stderr
    p = cli("login", "-u", USER, "--password-stdin", basic_registry.addr, input=b"nope")
    assert p.returncode != 0
    assert b"failed with status: 401 Unauthorized" in p.stderr, p.stderr
    p = cli("login", "-u", USER, "--password-stdin", basic_registry.addr, input=PASSWORD.encode())
    assert p.returncode == 0 and p.stdout == b"Login Succeeded\n", p.stderr
    cfg = json.loads((tmp_path / "cfg" / "config.json").read_text())
    auth = cfg["auths"][basic_registry.addr]["auth"]
    assert base64.b64decode(auth).decode() == f"{USER}:{PASSWORD}"
    p = cli("push", ref)
    assert p.returncode == 0, p.stderr
    ok(wharfie_cli(daemon, "rmi", ref))
    p = cli("pull", ref)
    assert p.returncode == 0, p.stderr
    ok(wharfie_cli(daemon, "rmi", ref))
    p = cli("create", "--name", name, ref)  # create's (and run's) own pull logs in too
    assert p.returncode == 0 and b"Unable to find image" in p.stderr, p.stderr
    ok(wharfie_cli(daemon, "rm", name))
    p = cli("logout", basic_registry.addr)
    assert p.stdout == f"Removing login credentials for {basic_registry.addr}\n".encode()
    assert basic_registry.addr not in json.loads(
        (tmp_path / "cfg" / "config.json").read_text()
    ).get("auths", {})
    ok(wharfie_cli(daemon, "rmi", ref))
