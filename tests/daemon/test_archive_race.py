"""The stat header of `docker cp` while the container swaps a path for a symlink to /etc
(issue 21): hundreds of HEAD and GET archive requests, and never a word about the host."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from typing import Any

import docker
import pytest

from support.daemon import Daemon

pytestmark = pytest.mark.root

SWAPPER = (
    "mkdir -p /d && echo swapped-in-dir > /d/passwd && "
    "while true; do mv /d /d.real; ln -s /etc /d; rm /d; mv /d.real /d; done"
)


def _stat(header: str) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(header)))


@pytest.mark.parametrize(
    "requests", [500, pytest.param(5000, marks=pytest.mark.full, id="5000")], ids=str
)
def test_stat_header_never_reports_the_host_during_a_symlink_swap(
    daemon: Daemon, name: str, requests: int
) -> None:
    api = docker.APIClient(base_url=daemon.host)
    cid = api.create_container("busybox", ["sh", "-c", SWAPPER], name=name)["Id"]
    api.start(cid)
    try:
        ex = api.exec_create(cid, ["stat", "-c", "%s", "/etc/passwd"])
        size = api.exec_start(ex).decode().strip()
        inside = {len("swapped-in-dir\n"), int(size)}
        host = os.stat("/etc/passwd")
        assert host.st_size not in inside, "pick another file: the sizes coincide"
        url = api._url("/containers/{0}/archive", cid)
        seen = {"dir": 0, "link": 0, "missing": 0}
        for i in range(requests):
            if i % 5:
                r = api.head(url, params={"path": "/d/passwd"})
                if r.status_code == 404:
                    seen["missing"] += 1
                    continue
                assert r.status_code == 200, r.text
                st = _stat(r.headers["X-Docker-Container-Path-Stat"])
                body = b""
            else:
                try:
                    stream, st = api.get_archive(cid, "/d/passwd")
                except docker.errors.NotFound:
                    seen["missing"] += 1
                    continue
                body = b"".join(stream)
            assert st["size"] in inside, f"reported a file that is not the container's: {st}"
            seen["dir" if st["size"] == len("swapped-in-dir\n") else "link"] += 1
            if body:
                with tarfile.open(fileobj=io.BytesIO(body)) as tf:
                    member = tf.next()
                    assert member is not None and member.size in inside
        assert seen["dir"] > 0, seen
    finally:
        api.remove_container(cid, force=True)


def test_put_archive_during_a_symlink_swap_never_writes_on_the_host(
    daemon: Daemon, name: str
) -> None:
    api = docker.APIClient(base_url=daemon.host)
    marker = f"wharfie-race-{os.getpid()}-{name}.txt"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(marker)
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"in\n"))
    data = buf.getvalue()
    cid = api.create_container("busybox", ["sh", "-c", SWAPPER], name=name)["Id"]
    api.start(cid)
    placed = 0
    try:
        for _ in range(200):
            try:
                placed += bool(api.put_archive(cid, "/d", data))
            except docker.errors.APIError as exc:  # the path was missing at that instant
                assert exc.status_code in (400, 404), exc
            assert not os.path.exists(f"/etc/{marker}"), "a write escaped to the host"
        assert placed > 0
    finally:
        api.remove_container(cid, force=True)
        if os.path.exists(f"/etc/{marker}"):
            os.unlink(f"/etc/{marker}")
