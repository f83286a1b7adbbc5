"""Bad input: Docker's status codes and wording, and a daemon that keeps serving."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from support.daemon import Daemon, docker_cli, sleeper

pytestmark = pytest.mark.root


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def call(d: Daemon, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    conn = UnixHTTP(str(d.sock))
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    assert resp.getheader("Api-Version") == "1.44"
    if resp.status >= 400:
        assert resp.getheader("Content-Type") == "application/json"
    conn.close()
    return resp.status, (json.loads(raw) if raw and raw[:1] in b"{[" else {})


def test_malformed_json(daemon: Daemon) -> None:
    status, body = call(daemon, "POST", "/v1.44/containers/create", b"{not json")
    assert status == 400
    assert "invalid" in body["message"].lower()
    assert call(daemon, "GET", "/_ping")[0] == 200


def test_wrong_field_type(daemon: Daemon) -> None:
    payload = json.dumps({"Image": "busybox", "HostConfig": {"Memory": "lots"}}).encode()
    status, body = call(daemon, "POST", "/containers/create", payload)
    assert status == 400
    assert "Memory" in body["message"]
    payload = json.dumps({"Image": "busybox", "Cmd": 5}).encode()
    assert call(daemon, "POST", "/containers/create", payload)[0] == 400


def test_missing_image_is_404(daemon: Daemon) -> None:
    payload = json.dumps({"Image": "nosuch/image:9"}).encode()
    status, body = call(daemon, "POST", "/containers/create", payload)
    assert status == 404
    assert body["message"] == "No such image: nosuch/image:9"


def test_name_conflict_and_rm_running(daemon: Daemon, name: str) -> None:
    sleeper(daemon, name)
    try:
        payload = json.dumps({"Image": "busybox"}).encode()
        status, body = call(daemon, "POST", f"/containers/create?name={name}", payload)
        assert status == 409
        assert body["message"].startswith(f'Conflict. The container name "/{name}" is already')
        status, body = call(daemon, "DELETE", f"/containers/{name}")
        assert status == 409
        assert body["message"] == (
            f'cannot remove container "/{name}": container is running: stop the container '
            "before removing or force remove"
        )
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_bad_mounts(daemon: Daemon) -> None:
    p = docker_cli(
        daemon,
        "run",
        "--rm",
        "--mount",
        "type=bind,src=/nonexistent-wharfie,dst=/x",
        "busybox",
        "true",
    )
    assert p.returncode == 125
    assert b"bind source path does not exist" in p.stderr
    p = docker_cli(daemon, "run", "--rm", "-v", "/tmp:relative", "busybox", "true")
    assert p.returncode == 125
    assert call(daemon, "GET", "/_ping")[0] == 200


def test_unknown_user(daemon: Daemon) -> None:
    p = docker_cli(daemon, "run", "--rm", "--user", "nosuchuser", "busybox", "true")
    assert p.returncode != 0
    assert b"unable to find user nosuchuser" in p.stderr
    left = docker_cli(daemon, "ps", "-aq", "--filter", "status=created")
    assert left.returncode == 0


def test_unknown_container_and_exec(daemon: Daemon) -> None:
    missing = {"message": "No such container: nosuch"}
    assert call(daemon, "GET", "/containers/nosuch/json") == (404, missing)
    assert call(daemon, "GET", "/exec/nosuch/json")[0] == 404
    assert call(daemon, "GET", "/v1.12/version")[0] == 400
    assert call(daemon, "GET", "/v1.99/version")[0] == 400


def test_kill_stopped_is_409(daemon: Daemon, name: str) -> None:
    assert docker_cli(daemon, "create", "--name", name, "busybox", "true").returncode == 0
    try:
        status, body = call(daemon, "POST", f"/containers/{name}/kill")
        assert status == 409
        assert "is not running" in body["message"]
    finally:
        docker_cli(daemon, "rm", "-f", name)
