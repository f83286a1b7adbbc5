"""Test images made offline: an OCI image layout of busybox-static (one gzip layer)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from wharfie.cli.bootstrap import BUSYBOX, build_tar


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> str:
    digest = sha(data)
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    return digest


def busybox_layout(layout: Path, tag: str = "latest", extra: bytes | None = None) -> str:
    """An OCI layout at `layout` holding busybox as `tag`; returns the manifest digest.

    `extra` adds a second layer with a file /extra.bin of those bytes (for big images).
    """
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    tars = [build_tar(BUSYBOX)]
    if extra is not None:
        tars.append(_file_tar("extra.bin", extra))
    layers, diff_ids = [], []
    for tar in tars:
        gz = gzip.compress(tar, compresslevel=1, mtime=0)
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _blob(layout, gz),
                "size": len(gz),
            }
        )
        diff_ids.append(sha(tar))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin:/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _blob(layout, config),
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    mdigest = _blob(layout, manifest)
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": mdigest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return mdigest


def multiarch_layout(layout: Path, tag: str = "multi") -> tuple[str, bytes]:
    """An OCI layout whose `tag` is an image index of an amd64 and an arm64 manifest (same
    busybox layer, configs that differ); returns the index's digest and bytes."""
    busybox_layout(layout, "single")
    single = json.loads((layout / "index.json").read_text())["manifests"][0]
    manifest = json.loads((layout / "blobs" / "sha256" / single["digest"][7:]).read_bytes())
    config = json.loads(
        (layout / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_bytes()
    )
    children = []
    for arch in ("amd64", "arm64"):
        cfg = json.dumps({**config, "architecture": arch}).encode()
        m = json.dumps(
            {
                **manifest,
                "config": {**manifest["config"], "digest": _blob(layout, cfg), "size": len(cfg)},
            }
        ).encode()
        children.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _blob(layout, m),
                "size": len(m),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": children,
        },
        indent=2,
    ).encode()
    digest = _blob(layout, index)
    top = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest,
                "size": len(index),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(top))
    return digest, index


def _file_tar(name: str, data: bytes) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
