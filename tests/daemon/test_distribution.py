"""Pull and push against Debian's reference registry, through the docker CLI, the wharfie
CLI, docker-py and skopeo."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, docker_cli, wharfie_cli
from support.peers import ReferenceRegistry

SKOPEO = "/usr/bin/skopeo"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceRegistry]:
    reg = ReferenceRegistry(tmp_path_factory.mktemp("registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


def ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    return p.stdout.decode()


def layer_tar(files: dict[str, bytes]) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unique_image(d: Daemon, ref: str, extra: bytes = b"") -> str:
    """An image of its own (busybox + a unique file), so a pull really downloads."""
    import uuid

    tar = layer_tar(
        {"bin/busybox": Path("/bin/busybox").read_bytes(), "unique": uuid.uuid4().bytes + extra}
    )
    return ok(
        docker_cli(d, "import", "-c", 'CMD ["/bin/busybox", "sh"]', "-", ref, input=tar)
    ).strip()


def test_docker_cli_push_then_pull_and_run(
    daemon: Daemon, registry: ReferenceRegistry, name: str
) -> None:
    ref = f"{registry.addr}/{name}:v1"
    unique_image(daemon, ref)
    out = ok(docker_cli(daemon, "push", ref))
    assert f"The push refers to repository [{registry.addr}/{name}]" in out
    assert "v1: digest: sha256:" in out
    image_id = ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip()
    ok(docker_cli(daemon, "rmi", ref))
    out = ok(docker_cli(daemon, "pull", ref))
    assert "Digest: sha256:" in out and f"Downloaded newer image for {ref}" in out
    assert "Pull complete" in out
    assert ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip() == image_id
    digests = json.loads(ok(docker_cli(daemon, "inspect", "-f", "{{json .RepoDigests}}", ref)))
    assert digests and digests[0].startswith(f"{registry.addr}/{name}@sha256:")
    assert (
        ok(
            docker_cli(
                daemon, "run", "--rm", "--network", "none", ref, "/bin/busybox", "echo", "hi"
            )
        )
        == "hi\n"
    )
    out = ok(docker_cli(daemon, "pull", ref))
    assert f"Image is up to date for {ref}" in out
    ok(docker_cli(daemon, "rmi", ref))


def test_wharfie_cli_push_pull_round_trip(
    daemon: Daemon, registry: ReferenceRegistry, name: str
) -> None:
    ref = f"{registry.addr}/{name}"
    unique_image(daemon, f"{ref}:a")
    ok(wharfie_cli(daemon, "tag", f"{ref}:a", f"{ref}:b"))
    out = ok(wharfie_cli(daemon, "push", "-a", ref))
    assert "a: digest: sha256:" in out and "b: digest: sha256:" in out
    assert "Pushed" in out
    assert "Layer already exists" in out  # the second tag's layer
    ok(wharfie_cli(daemon, "tag", f"{ref}:a", f"{ref}-copy:a"))
    out = ok(wharfie_cli(daemon, "push", f"{ref}-copy:a"))
    assert f"Mounted from {name}" in out  # cross-repository mount
    ok(wharfie_cli(daemon, "rmi", f"{ref}:a", f"{ref}:b", f"{ref}-copy:a"))
    out = ok(wharfie_cli(daemon, "pull", f"{ref}:b"))
    assert "Pull complete" in out and "Status: Downloaded newer image" in out
    images = ok(wharfie_cli(daemon, "images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert f"{ref}:b" in images.split()
    assert (
        ok(
            wharfie_cli(
                daemon, "run", "--rm", "--network", "none", f"{ref}:b", "/bin/busybox", "echo", "ok"
            )
        )
        == "ok\n"
    )
    ok(wharfie_cli(daemon, "rmi", f"{ref}:b"))
    out = ok(wharfie_cli(daemon, "pull", "-a", ref))  # every tag the registry lists
    assert "a: Pulling from" in out and "b: Pulling from" in out
    tags = ok(wharfie_cli(daemon, "images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert f"{ref}:a" in tags and f"{ref}:b" in tags
    ok(wharfie_cli(daemon, "rmi", f"{ref}:a", f"{ref}:b"))


def test_pull_and_push_emit_events(daemon: Daemon, registry: ReferenceRegistry, name: str) -> None:
    import time

    import docker

    ref = f"{registry.addr}/{name}:v1"
    since = time.time() - 1
    unique_image(daemon, ref)
    ok(docker_cli(daemon, "push", ref))
    ok(docker_cli(daemon, "rmi", ref))
    ok(docker_cli(daemon, "pull", ref))
    api = docker.APIClient(base_url=daemon.host)
    events = list(
        api.events(since=since, until=time.time() + 1, decode=True, filters={"type": "image"})
    )
    actions = [(e["Action"], e["Actor"]["Attributes"].get("name")) for e in events]
    assert ("push", ref) in actions and ("pull", ref) in actions
    ok(docker_cli(daemon, "rmi", ref))


def test_pull_by_digest_and_distribution_inspect(
    daemon: Daemon, registry: ReferenceRegistry, name: str
) -> None:
    import docker

    ref = f"{registry.addr}/{name}:v1"
    unique_image(daemon, ref)
    ok(docker_cli(daemon, "push", ref))
    api = docker.APIClient(base_url=daemon.host)
    info = api.inspect_distribution(ref)
    digest = info["Descriptor"]["digest"]
    assert info["Descriptor"]["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert info["Platforms"][0]["os"] == "linux"
    ok(docker_cli(daemon, "rmi", ref))
    by_digest = f"{registry.addr}/{name}@{digest}"
    ok(docker_cli(daemon, "pull", by_digest))
    assert (
        ok(
            docker_cli(
                daemon, "run", "--rm", "--network", "none", by_digest, "/bin/busybox", "echo", "ok"
            )
        )
        == "ok\n"
    )
    ok(docker_cli(daemon, "rmi", by_digest))


def test_skopeo_reads_what_we_pushed(
    daemon: Daemon, registry: ReferenceRegistry, name: str
) -> None:
    ref = f"{registry.addr}/{name}:v1"
    ok(docker_cli(daemon, "tag", "busybox", ref))
    ok(docker_cli(daemon, "push", ref))
    out = json.loads(
        ok(
            subprocess.run(
                [SKOPEO, "inspect", "--tls-verify=false", f"docker://{ref}"],
                capture_output=True,
                timeout=60,
            )
        )
    )
    image_id = ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip()
    raw = json.loads(
        ok(
            subprocess.run(
                [SKOPEO, "inspect", "--raw", "--config", "--tls-verify=false", f"docker://{ref}"],
                capture_output=True,
                timeout=60,
            )
        )
    )
    assert out["Os"] == "linux" and len(out["Layers"]) == 1
    assert raw["rootfs"]["diff_ids"] == json.loads(
        ok(docker_cli(daemon, "inspect", "-f", "{{json .RootFS.Layers}}", ref))
    )
    assert image_id.startswith("sha256:")
    ok(docker_cli(daemon, "rmi", ref))


def _oci_layout(base: Path, files: dict[str, bytes], compression: str) -> Path:
    """An OCI layout of one image whose layer holds `files` (gzip or zstd)."""
    import gzip
    import hashlib
    import io
    import tarfile

    import zstandard

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            tf.addfile(info, io.BytesIO(data))
    tar = buf.getvalue()
    blob = gzip.compress(tar) if compression == "gzip" else zstandard.compress(tar)
    blobs = base / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return "sha256:" + h

    diff = "sha256:" + hashlib.sha256(tar).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": f"application/vnd.oci.image.layer.v1.tar+{compression}",
                    "digest": put(blob),
                    "size": len(blob),
                }
            ],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": put(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    (base / "index.json").write_text(json.dumps(index))
    (base / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return base


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_image_pushed_by_skopeo_pulls_and_runs(
    daemon: Daemon, registry: ReferenceRegistry, name: str, tmp_path: Path, compression: str
) -> None:
    busybox = Path("/bin/busybox")
    layout = _oci_layout(
        tmp_path / "oci",
        {"bin/busybox": busybox.read_bytes(), "hello.txt": b"from skopeo\n"},
        compression,
    )
    ref = f"{registry.addr}/{name}:v1"
    ok(
        subprocess.run(
            [SKOPEO, "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{ref}"],
            capture_output=True,
            timeout=120,
        )
    )
    ok(docker_cli(daemon, "pull", ref))
    out = ok(
        docker_cli(
            daemon, "run", "--rm", "--network", "none", ref, "/bin/busybox", "cat", "/hello.txt"
        )
    )
    assert out == "from skopeo\n"
    ok(docker_cli(daemon, "rmi", ref))
