"""save/load: docker-archive and OCI layout, both ways with a real dockerd; bad archives."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_distribution import layer_tar, ok, unique_image

from support.daemon import Daemon, docker_cli, wharfie_cli
from support.peers import DockerPeer, private_dockerd


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerPeer]:
    with private_dockerd(tmp_path_factory.mktemp("dockerd")) as peer:
        yield peer


def _count(d: Daemon) -> tuple[int, int]:
    images = ok(docker_cli(d, "images", "-aq")).split()
    blobs = list((d.data / "content" / "sha256").iterdir())
    return len(images), len(blobs)


def test_save_load_round_trip(daemon: Daemon, name: str, tmp_path: Path) -> None:
    image_id = unique_image(daemon, f"{name}:v1")
    archive = tmp_path / "img.tar"
    ok(wharfie_cli(daemon, "save", "-o", str(archive), f"{name}:v1"))
    with tarfile.open(archive) as tf:
        names = tf.getnames()
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        repos = json.load(tf.extractfile("repositories"))  # type: ignore[arg-type]
    assert {"index.json", "oci-layout", "manifest.json", "repositories"} <= set(names)
    assert manifest[0]["RepoTags"] == [f"{name}:v1"]
    assert repos == {name: {"v1": image_id.removeprefix("sha256:")}}
    ok(wharfie_cli(daemon, "rmi", f"{name}:v1"))
    out = ok(wharfie_cli(daemon, "load", "-i", str(archive)))
    assert out == f"Loaded image: {name}:v1\n"
    assert ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", f"{name}:v1")).strip() == image_id
    assert (
        ok(
            docker_cli(
                daemon,
                "run",
                "--rm",
                "--network",
                "none",
                f"{name}:v1",
                "/bin/busybox",
                "echo",
                "loaded",
            )
        )
        == "loaded\n"
    )
    # a second load of the same archive changes nothing
    assert ok(wharfie_cli(daemon, "load", "-i", str(archive))) == f"Loaded image: {name}:v1\n"
    ok(docker_cli(daemon, "rmi", f"{name}:v1"))


def test_docker_save_loads_into_wharfied(
    daemon: Daemon, dockerd: DockerPeer, name: str, tmp_path: Path
) -> None:
    tar = layer_tar({"bin/busybox": Path("/bin/busybox").read_bytes(), "peer": b"docker\n"})
    peer_id = (
        dockerd.cli(
            "import", "-c", 'CMD ["/bin/busybox","sh"]', "-", f"{name}:peer", input=tar, check=True
        )
        .stdout.decode()
        .strip()
    )
    archive = tmp_path / "from-docker.tar"
    p = dockerd.cli("save", "-o", str(archive), f"{name}:peer")
    assert p.returncode == 0, p.stderr
    out = ok(docker_cli(daemon, "load", "-i", str(archive)))
    assert f"Loaded image: {name}:peer" in out
    assert ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", f"{name}:peer")).strip() == peer_id
    assert (
        ok(
            docker_cli(
                daemon,
                "run",
                "--rm",
                "--network",
                "none",
                f"{name}:peer",
                "/bin/busybox",
                "cat",
                "/peer",
            )
        )
        == "docker\n"
    )
    ok(docker_cli(daemon, "rmi", f"{name}:peer"))
    dockerd.cli("rmi", f"{name}:peer")


def test_wharfie_save_loads_into_docker(
    daemon: Daemon, dockerd: DockerPeer, name: str, tmp_path: Path
) -> None:
    image_id = unique_image(daemon, f"{name}:ours")
    archive = tmp_path / "from-wharfie.tar"
    ok(docker_cli(daemon, "save", "-o", str(archive), f"{name}:ours"))
    p = dockerd.cli("load", "-i", str(archive))
    assert p.returncode == 0, p.stderr
    assert f"Loaded image: {name}:ours" in p.stdout.decode()
    got = dockerd.cli("inspect", "-f", "{{.Id}}", f"{name}:ours", check=True).stdout
    assert got.decode().strip() == image_id
    p = dockerd.cli(
        "run", "--rm", "--network", "none", f"{name}:ours", "/bin/busybox", "echo", "in docker"
    )
    assert p.returncode == 0 and p.stdout == b"in docker\n", p.stderr
    dockerd.cli("rmi", f"{name}:ours")
    ok(docker_cli(daemon, "rmi", f"{name}:ours"))


def test_oci_layout_archive_with_gzip_layer_loads(
    daemon: Daemon, name: str, tmp_path: Path
) -> None:
    from test_distribution import _oci_layout

    layout = _oci_layout(
        tmp_path / "oci", {"bin/busybox": Path("/bin/busybox").read_bytes(), "f": b"oci\n"}, "gzip"
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for p in sorted(layout.rglob("*")):
            tf.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    out = ok(docker_cli(daemon, "load", input=buf.getvalue()))
    assert out.startswith("Loaded image ID: sha256:")
    image_id = out.split()[-1]
    assert (
        ok(
            docker_cli(
                daemon, "run", "--rm", "--network", "none", image_id, "/bin/busybox", "cat", "/f"
            )
        )
        == "oci\n"
    )
    ok(docker_cli(daemon, "rmi", image_id))


@pytest.mark.parametrize("damage", ["truncated", "not-a-tar", "bad-layer", "no-manifest"])
def test_corrupt_archive_is_refused_and_leaves_nothing(
    daemon: Daemon, name: str, tmp_path: Path, damage: str
) -> None:
    unique_image(daemon, f"{name}:v1")
    good = ok_bytes(docker_cli(daemon, "save", f"{name}:v1"))
    ok(docker_cli(daemon, "rmi", f"{name}:v1"))
    before = _count(daemon)
    if damage == "truncated":
        data = good[: len(good) // 2]
    elif damage == "not-a-tar":
        data = b"this is not an archive" * 100
    elif damage == "no-manifest":
        data = _rewrite(good, drop={"manifest.json", "index.json"})
    else:
        data = _rewrite(good, corrupt_layers=True)
    p = docker_cli(daemon, "load", input=data)
    assert p.returncode != 0
    # as dockerd: the load answers 200 and its error is a line of the stream
    assert b"invalid archive" in p.stderr, p.stderr
    assert _count(daemon) == before
    assert not list((daemon.data / "content" / "ingest").iterdir())
    assert not [x for x in (daemon.data / "snapshots").iterdir() if x.name.startswith("tmp-")]


def ok_bytes(p: subprocess.CompletedProcess[bytes]) -> bytes:
    assert p.returncode == 0, p.stderr
    return p.stdout


def _rewrite(data: bytes, drop: set[str] | None = None, corrupt_layers: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        manifest = json.load(src.extractfile("manifest.json"))  # type: ignore[arg-type]
        layers = {x for m in manifest for x in m["Layers"]}
        for m in src.getmembers():
            if drop and m.name in drop:
                continue
            f = src.extractfile(m) if m.isfile() else None
            body = f.read() if f else b""
            if corrupt_layers and m.name in layers:
                body = body[:-2048] + b"\x01" * 2048
            dst.addfile(m, io.BytesIO(body) if f else None)
    return out.getvalue()


def test_save_and_load_two_images_in_one_archive(daemon: Daemon, name: str, tmp_path: Path) -> None:
    first = unique_image(daemon, f"{name}-a:v1")
    second = unique_image(daemon, f"{name}-b:v2")
    ok(docker_cli(daemon, "tag", f"{name}-a:v1", f"{name}-a:also"))
    archive = tmp_path / "two.tar"
    ok(docker_cli(daemon, "save", "-o", str(archive), f"{name}-a", f"{name}-b:v2"))
    ok(docker_cli(daemon, "rmi", f"{name}-a:v1", f"{name}-a:also", f"{name}-b:v2"))
    out = ok(docker_cli(daemon, "load", "-i", str(archive)))
    assert sorted(out.splitlines()) == sorted(
        [f"Loaded image: {name}-a:also", f"Loaded image: {name}-a:v1", f"Loaded image: {name}-b:v2"]
    )
    got = {
        ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", r)).strip()
        for r in (f"{name}-a:v1", f"{name}-b:v2")
    }
    assert got == {first, second}
    ok(docker_cli(daemon, "rmi", f"{name}-a:v1", f"{name}-a:also", f"{name}-b:v2"))
