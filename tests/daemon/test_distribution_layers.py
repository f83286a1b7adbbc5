"""Layer application through a real pull: two layers (gzip and zstd) with whiteouts, an
opaque dir, hard links, symlinks, device nodes, a fifo, xattrs and ownership, served by a
static registry of the test's own; the container sees the merged result."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import zstandard
from test_distribution import ok

from support.daemon import Daemon, docker_cli


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class StaticRegistry:
    """Serves fixed blobs and one manifest (tag v1) for any repository."""

    def __init__(self, manifest: bytes, media_type: str, blobs: dict[str, bytes]) -> None:
        self.manifest, self.media_type, self.blobs = manifest, media_type, blobs
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                reg.handle(self)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        status, body, ctype, extra = 404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', "x", {}
        if h.path == "/v2/":
            status, body = 200, b"{}"
        elif "/manifests/" in h.path:
            status, body, ctype = 200, self.manifest, self.media_type
            extra = {"Docker-Content-Digest": _digest(self.manifest)}
        else:
            digest = h.path.rsplit("/", 1)[-1]
            if digest in self.blobs:
                status, body, ctype = 200, self.blobs[digest], "application/octet-stream"
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _layer(entries: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info in entries:
            body = data.get(info.name)
            if body is not None:
                info.size = len(body)
            tf.addfile(info, io.BytesIO(body) if body is not None else None)
    return buf.getvalue()


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, **kw: object
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    for k, v in kw.items():
        setattr(info, k, v)
    return info


@pytest.fixture
def registry() -> Iterator[StaticRegistry]:
    base = _layer(
        [
            _info("bin", tarfile.DIRTYPE, 0o755),
            _info("bin/busybox", mode=0o755),
            _info("gone.txt"),
            _info("opaque", tarfile.DIRTYPE, 0o755),
            _info("opaque/a"),
            _info(
                "keep.txt",
                mode=0o640,
                uid=1000,
                gid=1000,
                pax_headers={"SCHILY.xattr.user.wharfie": "kept"},
            ),
            _info("keep-link", tarfile.LNKTYPE, linkname="keep.txt"),
            _info("sym", tarfile.SYMTYPE, linkname="/keep.txt"),
            _info("devs", tarfile.DIRTYPE, 0o755),
            _info("devs/node", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3),
            _info("fifo", tarfile.FIFOTYPE, 0o600),
            _info("suid", mode=0o4755),
        ],
        {
            "bin/busybox": Path("/bin/busybox").read_bytes(),
            "gone.txt": b"bye",
            "opaque/a": b"a",
            "keep.txt": b"kept\n",
            "suid": b"#!/bin/sh\n",
        },
    )
    top = _layer(
        [
            _info(".wh.gone.txt"),
            _info("opaque", tarfile.DIRTYPE, 0o755),
            _info("opaque/.wh..wh..opq"),
            _info("opaque/new"),
        ],
        {".wh.gone.txt": b"", "opaque/.wh..wh..opq": b"", "opaque/new": b"new"},
    )
    blobs_raw = [gzip.compress(base), zstandard.compress(top)]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/busybox", "sh"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(base), _digest(top)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(blobs_raw[0]),
                    "size": len(blobs_raw[0]),
                },
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                    "digest": _digest(blobs_raw[1]),
                    "size": len(blobs_raw[1]),
                },
            ],
        }
    ).encode()
    blobs = {_digest(b): b for b in [*blobs_raw, config]}
    reg = StaticRegistry(manifest, "application/vnd.oci.image.manifest.v1+json", blobs)
    try:
        yield reg
    finally:
        reg.close()


def test_layers_applied_with_whiteouts_links_devices_xattrs_owners(
    daemon: Daemon, registry: StaticRegistry, name: str
) -> None:
    ref = f"{registry.addr}/{name}:v1"
    ok(docker_cli(daemon, "pull", ref))

    def sh(script: str) -> str:
        return ok(
            docker_cli(
                daemon, "run", "--rm", "--network", "none", ref, "/bin/busybox", "sh", "-c", script
            )
        )

    out = sh(
        "export PATH=/bin; busybox ls /gone.txt 2>&1; busybox ls /opaque; "
        "busybox stat -c '%u:%g %a %h' /keep.txt; busybox readlink /sym; busybox cat /sym; "
        "busybox stat -c '%F %t,%T' /devs/node; busybox stat -c '%F' /fifo; "
        "busybox stat -c '%a' /suid"
    )
    lines = out.splitlines()
    assert "No such file or directory" in lines[0]
    assert lines[1] == "new"
    assert lines[2] == "1000:1000 640 2"
    assert lines[3:5] == ["/keep.txt", "kept"]
    assert lines[5] == "character special file 1,3"
    assert lines[6] == "fifo"
    assert lines[7] == "4755"
    lower = json.loads(ok(docker_cli(daemon, "inspect", "-f", "{{json .GraphDriver.Data}}", ref)))[
        "LowerDir"
    ]
    assert os.getxattr(os.path.join(lower, "keep.txt"), "user.wharfie") == b"kept"
    # save rebuilds both layers byte for byte (diff ids checked while streaming)
    archive = ok_bytes(docker_cli(daemon, "save", ref))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        assert len(json.load(tf.extractfile("manifest.json"))[0]["Layers"]) == 2  # type: ignore[arg-type]
    ok(docker_cli(daemon, "rmi", ref))


def ok_bytes(p: object) -> bytes:
    assert p.returncode == 0, p.stderr  # type: ignore[attr-defined]
    return p.stdout  # type: ignore[attr-defined, no-any-return]
