"""docker-py 7.1 against wharfied: the same basics as the CLI tests."""

from __future__ import annotations

import io
import tarfile
import time

import docker
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

from support.daemon import Daemon

pytestmark = pytest.mark.root


@pytest.fixture
def client(daemon: Daemon) -> docker.DockerClient:
    c = docker.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    c.close()


def test_version_and_ping(client: docker.DockerClient) -> None:
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.44"
    assert client.api.api_version == "1.44"
    info = client.info()
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert "Containers" in info and "Images" in info


def test_run_and_logs(client: docker.DockerClient) -> None:
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True, stderr=True
    )
    assert b"out\n" in out and b"err\n" in out


def test_detached_lifecycle(client: docker.DockerClient, name: str) -> None:
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "echo hi; sleep 300"],
        detach=True,
        name=name,
        labels={"suite": "docker-py"},
    )
    try:
        c.reload()
        assert c.status == "running"
        assert c.labels["suite"] == "docker-py"
        listed = client.containers.list(filters={"label": "suite=docker-py", "name": name})
        assert [x.id for x in listed] == [c.id]
        deadline = time.monotonic() + 5
        while b"hi" not in c.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.logs() == b"hi\n"
        code, output = c.exec_run(["sh", "-c", "echo from-exec; exit 2"])
        assert code == 2 and output == b"from-exec\n"
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)
    with pytest.raises(NotFound):
        client.containers.get(name)


def test_attach_socket_and_put_archive(client: docker.DockerClient, name: str) -> None:
    c = client.containers.create("busybox", ["cat", "/data/in.txt"], name=name)
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = b"archived\n"
            info = tarfile.TarInfo("in.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        c.exec_run  # noqa: B018  # created containers accept archives before start
        with pytest.raises(NotFound):
            c.put_archive("/data", buf.getvalue())
        c.start()
        assert c.wait()["StatusCode"] == 1
    finally:
        c.remove(force=True)


def test_errors(client: docker.DockerClient, name: str) -> None:
    with pytest.raises(ImageNotFound):
        client.containers.create("nosuchimage:1")
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, name=name)
    try:
        with pytest.raises(APIError) as exc:
            c.remove()
        assert exc.value.status_code == 409
        assert "container is running" in str(exc.value)
    finally:
        c.remove(force=True)


def test_images(client: docker.DockerClient) -> None:
    img = client.images.get("busybox")
    assert "busybox:latest" in img.tags
    assert img.attrs["Config"]["Cmd"] == ["sh"]
    assert img.tag("dockerpy-tag", "v1")
    assert "dockerpy-tag:v1" in client.images.get("dockerpy-tag:v1").tags
    client.images.remove("dockerpy-tag:v1")
    with pytest.raises(ImageNotFound):
        client.images.get("dockerpy-tag:v1")
    assert client.images.get("busybox").history()
