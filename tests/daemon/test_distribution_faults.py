"""Faults and bad input: unknown image/tag, unreachable registry, a blob that does not
match its digest, a download cut mid-way (resumed with Range), the registry killed during a
pull, wharfied killed -9 during a pull, and malicious layers. Each leaves nothing behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_distribution import layer_tar, ok, unique_image

from support.daemon import Daemon, docker_cli
from support.peers import ReferenceRegistry


def _state(d: Daemon) -> tuple[list[str], int, list[str], list[str]]:
    images = sorted(ok(docker_cli(d, "images", "-aq", "--no-trunc")).split())
    blobs = len(list((d.data / "content" / "sha256").iterdir()))
    ingest = os.listdir(d.data / "content" / "ingest")
    tmp = [x for x in os.listdir(d.data / "snapshots") if x.startswith("tmp-")]
    return images, blobs, ingest, tmp


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceRegistry]:
    reg = ReferenceRegistry(tmp_path_factory.mktemp("registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


# -- bad input ----------------------------------------------------------------------------


def test_unknown_image_and_tag(daemon: Daemon, registry: ReferenceRegistry, name: str) -> None:
    before = _state(daemon)
    p = docker_cli(daemon, "pull", f"{registry.addr}/{name}")
    assert p.returncode == 1
    assert p.stderr.decode() == (
        f"Error response from daemon: manifest for {registry.addr}/"
        f"{name}:latest not found: manifest unknown: manifest unknown\n"
    )
    unique_image(daemon, f"{registry.addr}/{name}:v1")
    ok(docker_cli(daemon, "push", f"{registry.addr}/{name}:v1"))
    ok(docker_cli(daemon, "rmi", f"{registry.addr}/{name}:v1"))
    p = docker_cli(daemon, "pull", f"{registry.addr}/{name}:nosuchtag")
    assert p.stderr.decode() == (
        f"Error response from daemon: manifest for {registry.addr}/{name}:nosuchtag not found: "
        "manifest unknown: manifest unknown\n"
    )
    assert _state(daemon)[0] == before[0]


def test_unreachable_registry(daemon: Daemon) -> None:
    before = _state(daemon)
    p = docker_cli(daemon, "pull", "127.0.0.1:1/x")
    assert p.returncode == 1
    assert p.stderr.decode() == (
        'Error response from daemon: Get "http://127.0.0.1:1/v2/": '
        "dial tcp 127.0.0.1:1: connect: connection refused\n"
    )
    assert _state(daemon) == before


def test_push_of_missing_image(daemon: Daemon, registry: ReferenceRegistry, name: str) -> None:
    p = docker_cli(daemon, "push", f"{registry.addr}/{name}:v")
    assert p.returncode == 1
    # as dockerd (graph-driver store, 20.10 to 25): the error follows the stream's first line
    assert f"tag does not exist: {registry.addr}/{name}:v" in p.stderr.decode()


# -- a registry of our own that misbehaves --------------------------------------------------


class FakeRegistry:
    """Serves one image; `mode`: "bad" (layer bytes differ from the digest), "cut" (the
    first layer GET stops half-way; later ones honour Range), or a malicious layer."""

    def __init__(self, layer: bytes, mode: str = "", lie: bytes | None = None) -> None:
        self.layer = gzip.compress(layer, compresslevel=1)
        self.served = lie if lie is not None else self.layer
        self.mode = mode
        self.ranges: list[str] = []
        self.layer_gets = 0
        diff = "sha256:" + hashlib.sha256(layer).hexdigest()
        self.config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/bin/busybox", "sh"]},
                "rootfs": {"type": "layers", "diff_ids": [diff]},
            }
        ).encode()
        self.layer_digest = "sha256:" + hashlib.sha256(self.layer).hexdigest()
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(self.config),
                    "digest": _digest(self.config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(self.layer),
                        "digest": self.layer_digest,
                    }
                ],
            }
        ).encode()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        if path == "/v2/":
            return _send(h, 200, b"{}", "application/json")
        if "/manifests/" in path:
            return _send(
                h,
                200,
                self.manifest,
                "application/vnd.docker.distribution.manifest.v2+json",
                {"Docker-Content-Digest": _digest(self.manifest)},
            )
        if path.endswith(_digest(self.config)):
            return _send(h, 200, self.config, "application/octet-stream")
        if path.endswith(self.layer_digest):
            return self._layer(h)
        _send(
            h,
            404,
            b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}',
            "application/json",
        )

    def _layer(self, h: BaseHTTPRequestHandler) -> None:
        if h.command == "GET":
            self.layer_gets += 1
        rng = h.headers.get("Range", "")
        if rng:
            self.ranges.append(rng)
            start = int(rng.removeprefix("bytes=").split("-")[0])
            body = self.served[start:]
            h.send_response(206)
            h.send_header(
                "Content-Range", f"bytes {start}-{len(self.served) - 1}/{len(self.served)}"
            )
        else:
            body = self.served
            h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if self.mode == "cut" and self.layer_gets == 1 and not rng:
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
            return
        h.wfile.write(body)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    ctype: str,
    extra: dict[str, str] | None = None,
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (extra or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def _busybox_layer(extra: dict[str, bytes] | None = None) -> bytes:
    return layer_tar(
        {
            "bin/busybox": Path("/bin/busybox").read_bytes(),
            "unique": os.urandom(16),
            **(extra or {}),
        }
    )


def test_blob_not_matching_its_digest_is_rejected(daemon: Daemon, name: str) -> None:
    layer = _busybox_layer()
    good = gzip.compress(layer, compresslevel=1)
    evil = gzip.compress(_busybox_layer(), compresslevel=1)[: len(good)].ljust(len(good), b"\0")
    fake = FakeRegistry(layer, lie=evil)
    try:
        before = _state(daemon)
        p = docker_cli(daemon, "pull", f"{fake.addr}/{name}:v1")
        assert p.returncode == 1
        assert b"does not match its digest" in p.stderr or b"invalid gzip" in p.stderr, p.stderr
        assert _state(daemon) == before
    finally:
        fake.close()


def test_cut_download_resumes_with_range(daemon: Daemon, name: str) -> None:
    fake = FakeRegistry(_busybox_layer({"pad": os.urandom(4 << 20)}), mode="cut")
    try:
        out = ok(docker_cli(daemon, "pull", f"{fake.addr}/{name}:v1"))
        assert "Retrying in" in out and "Pull complete" in out
        assert fake.ranges and fake.ranges[0].startswith("bytes=") and fake.ranges[0] != "bytes=0-"
        assert (
            ok(
                docker_cli(
                    daemon,
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    f"{fake.addr}/{name}:v1",
                    "/bin/busybox",
                    "true",
                )
            )
            == ""
        )
        ok(docker_cli(daemon, "rmi", f"{fake.addr}/{name}:v1"))
    finally:
        fake.close()


def _evil_tar(kind: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:

        def add(info: tarfile.TarInfo, data: bytes = b"") -> None:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)

        if kind == "traversal":
            add(tarfile.TarInfo("../../../../tmp/wharfie-escape"), b"x")
        elif kind == "symlink-dir":
            link = tarfile.TarInfo("etc")
            link.type, link.linkname = tarfile.SYMTYPE, "/tmp"
            add(link)
            add(tarfile.TarInfo("etc/wharfie-escape"), b"x")
        elif kind == "hardlink-out":
            link = tarfile.TarInfo("passwd")
            link.type, link.linkname = tarfile.LNKTYPE, "../../../../etc/passwd"
            add(link)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["traversal", "symlink-dir", "hardlink-out"])
def test_malicious_layer_is_rejected(daemon: Daemon, name: str, kind: str) -> None:
    fake = FakeRegistry(_evil_tar(kind))
    try:
        before = _state(daemon)
        p = docker_cli(daemon, "pull", f"{fake.addr}/{name}:v1")
        assert p.returncode == 1, p.stdout
        assert b"failed to register layer: " in p.stderr, p.stderr
        assert not os.path.exists("/tmp/wharfie-escape")
        assert _state(daemon) == before
    finally:
        fake.close()


# -- killing things mid-pull ----------------------------------------------------------------


def _big_image(d: Daemon, ref: str, mib: int) -> None:
    """An image with a layer of `mib` MiB of random data, pushed as `ref`."""
    unique_image(d, ref, extra=os.urandom(mib << 20))
    ok(docker_cli(d, "push", ref, timeout=120))
    ok(docker_cli(d, "rmi", ref))


def _pull_until_downloading(d: Daemon, ref: str) -> tuple[threading.Thread, list[object]]:
    import docker

    seen = threading.Event()
    result: list[object] = []

    def run() -> None:
        api = docker.APIClient(base_url=d.host, timeout=120)
        try:
            for msg in api.pull(ref, stream=True, decode=True):
                if msg.get("status") == "Downloading":
                    seen.set()
                result.append(msg)
        except Exception as exc:
            result.append(exc)
        seen.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert seen.wait(60)
    return t, result


@pytest.mark.slow
def test_registry_killed_mid_pull(daemon: Daemon, registry: ReferenceRegistry, name: str) -> None:
    ref = f"{registry.addr}/{name}:big"
    _big_image(daemon, ref, 96)
    before = _state(daemon)
    t, result = _pull_until_downloading(daemon, ref)
    registry.kill()
    time.sleep(0.3)
    registry.start()
    t.join(120)
    failed = [
        m for m in result if isinstance(m, Exception) or (isinstance(m, dict) and m.get("error"))
    ]
    if failed:  # failed cleanly: nothing new, and a retry works
        assert _state(daemon)[:2] == before[:2]
        ok(docker_cli(daemon, "pull", ref, timeout=120))
    assert (
        ok(docker_cli(daemon, "run", "--rm", "--network", "none", ref, "/bin/busybox", "true"))
        == ""
    )
    ok(docker_cli(daemon, "rmi", ref))


@pytest.mark.slow
def test_wharfied_killed_mid_pull_leaves_a_consistent_store(
    tmp_path: Path, daemon: Daemon, registry: ReferenceRegistry, name: str
) -> None:
    ref = f"{registry.addr}/{name}:big"
    _big_image(daemon, ref, 96)
    d = Daemon(tmp_path / "own", 7)
    d.start()
    try:
        t, _ = _pull_until_downloading(d, ref)
        assert d.proc is not None
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        t.join(30)
        d.start()
        images, _, ingest, tmp = _state(d)
        assert images == [] and ingest == [] and tmp == []
        layers = [n for n in os.listdir(d.data / "snapshots") if len(n) == 64]
        assert layers == []  # a layer renamed into place without its row is swept
        tarsplit = d.data / "content" / "tarsplit"
        assert not tarsplit.exists() or not list(tarsplit.iterdir())
        ok(docker_cli(d, "pull", ref, timeout=120))
        assert (
            ok(docker_cli(d, "run", "--rm", "--network", "none", ref, "/bin/busybox", "true")) == ""
        )
    finally:
        leaked = d.teardown()
        assert not leaked
