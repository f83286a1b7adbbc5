"""The real docker CLI (on a private dockerd) and skopeo against our registry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ourregistry import OurRegistry
from regimages import busybox_layout, multiarch_layout

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.peers import DockerPeer, _htpasswd_line, private_dockerd


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("layout") / "busybox"
    busybox_layout(path)
    return path


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory, layout: Path) -> Iterator[DockerPeer]:
    base = tmp_path_factory.mktemp("dockerd")
    archive = base / "busybox.tar"
    skopeo("copy", f"oci:{layout}:latest", f"docker-archive:{archive}:busybox:latest")
    with private_dockerd(base / "d") as peer:
        peer.cli("load", "-i", str(archive), check=True)
        yield peer


def skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    out = subprocess.run(["skopeo", *args], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    return out


def ok(out: subprocess.CompletedProcess[bytes]) -> str:
    assert out.returncode == 0, out.stderr.decode() + out.stdout.decode()
    return out.stdout.decode()


def push_rmi_pull_run(docker: DockerPeer, ref: str) -> None:
    ok(docker.cli("tag", "busybox:latest", ref))
    ok(docker.cli("push", ref))
    ok(docker.cli("rmi", ref, "busybox:latest"))  # the layers go too: the pull must fetch them
    assert docker.cli("image", "inspect", ref).returncode != 0
    ok(docker.cli("pull", ref))
    out = ok(docker.cli("run", "--rm", "--network", "none", ref, "echo", "hello from registry"))
    assert out.strip() == "hello from registry"
    ok(docker.cli("tag", ref, "busybox:latest"))
    ok(docker.cli("rmi", ref))


def test_docker_push_rmi_pull_run(dockerd: DockerPeer, registry: OurRegistry) -> None:
    push_rmi_pull_run(dockerd, f"{registry.addr}/team/busybox:v1")
    log = registry.access_log()
    assert any(e["method"] == "PATCH" and e["status"] == 202 for e in log)
    assert any(
        e["method"] == "GET" and "/blobs/" in str(e["path"]) and e["status"] == 200 for e in log
    )


def test_skopeo_copy_in_and_out(layout: Path, registry: OurRegistry, tmp_path: Path) -> None:
    dest = f"docker://{registry.addr}/skopeo/busybox:1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", dest)
    skopeo("copy", "--src-tls-verify=false", dest, f"oci:{tmp_path / 'out'}:copy")
    want = sorted(p.name for p in (layout / "blobs" / "sha256").iterdir())
    got = sorted(p.name for p in (tmp_path / "out" / "blobs" / "sha256").iterdir())
    assert got == want  # same manifest, config and layer digests: byte for byte
    skopeo("copy", "--src-tls-verify=false", dest, f"docker-archive:{tmp_path / 'a.tar'}")
    assert (tmp_path / "a.tar").stat().st_size > 500_000


def test_docker_login_htpasswd(dockerd: DockerPeer, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("alice", "s3cret") + "\n")
    reg = OurRegistry(
        tmp_path / "reg", config=f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
    )
    reg.start()
    try:
        ref = f"{reg.addr}/alice/busybox:v1"
        ok(dockerd.cli("tag", "busybox:latest", ref))
        assert dockerd.cli("push", ref).returncode != 0  # no credentials yet
        bad = dockerd.cli("login", reg.addr, "-u", "alice", "--password-stdin", input=b"nope")
        assert bad.returncode != 0
        ok(dockerd.cli("login", reg.addr, "-u", "alice", "--password-stdin", input=b"s3cret"))
        push_rmi_pull_run(dockerd, ref)
        ok(dockerd.cli("logout", reg.addr))
    finally:
        reg.stop()


def test_docker_login_token(dockerd: DockerPeer, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("bob", "pw-b0b") + "\n" + _htpasswd_line("eve", "pw-eve"))
    config = (
        f"auth:\n  token:\n    htpasswd: {htpasswd}\n    access:\n"
        "      - {account: bob, name: '*', actions: [pull, push, delete]}\n"
        "      - {account: eve, name: '*', actions: [pull]}\n"
    )
    reg = OurRegistry(tmp_path / "reg", config=config)
    reg.start()
    try:
        ref = f"{reg.addr}/bob/busybox:v1"
        ok(dockerd.cli("tag", "busybox:latest", ref))
        assert dockerd.cli("push", ref).returncode != 0
        ok(dockerd.cli("login", reg.addr, "-u", "bob", "--password-stdin", input=b"pw-b0b"))
        # docker asked for an offline token: it keeps our refresh token, not the password
        config = json.loads((dockerd.base / "docker-config" / "config.json").read_text())
        assert config["auths"][reg.addr].get("identitytoken")
        assert "pw-b0b" not in json.dumps(config)
        push_rmi_pull_run(dockerd, ref)
        # eve may pull but not push
        ok(dockerd.cli("login", reg.addr, "-u", "eve", "--password-stdin", input=b"pw-eve"))
        ok(dockerd.cli("pull", ref))
        ok(dockerd.cli("tag", "busybox:latest", f"{reg.addr}/bob/other:v1"))
        denied = dockerd.cli("push", f"{reg.addr}/bob/other:v1")
        assert denied.returncode != 0
        assert b"denied" in denied.stderr.lower() + denied.stdout.lower()
        ok(dockerd.cli("logout", reg.addr))
    finally:
        reg.stop()


def test_skopeo_copies_a_multi_arch_index(registry: OurRegistry, tmp_path: Path) -> None:
    digest, index = multiarch_layout(tmp_path / "multi")
    dest = f"docker://{registry.addr}/skopeo/multi:1"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{tmp_path / 'multi'}:multi", dest)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", dest).stdout
    assert raw == index  # the index, byte for byte (indented as pushed)
    skopeo("copy", "--all", "--src-tls-verify=false", f"{dest}", f"oci:{tmp_path / 'back'}:multi")
    back = json.loads((tmp_path / "back" / "index.json").read_text())
    assert back["manifests"][0]["digest"] == digest
    arm = skopeo("inspect", "--tls-verify=false", "--override-arch", "arm64", dest).stdout
    assert json.loads(arm)["Architecture"] == "arm64"
