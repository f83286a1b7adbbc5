"""wharfied (through the docker and wharfie CLIs) pushes to and pulls from `wharfie registry`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, docker_cli, wharfie_cli
from support.peers import _htpasswd_line

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))

from ourregistry import OurRegistry


def ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    return p.stdout.decode()


def _unique_image(d: Daemon, ref: str) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for path, data in (
            ("bin/busybox", Path("/bin/busybox").read_bytes()),
            ("unique", uuid.uuid4().bytes),
        ):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            tf.addfile(info, io.BytesIO(data))
    ok(docker_cli(d, "import", "-c", 'CMD ["/bin/busybox", "sh"]', "-", ref, input=buf.getvalue()))


@pytest.fixture(scope="module")
def our_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OurRegistry]:
    reg = OurRegistry(tmp_path_factory.mktemp("our-registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


def test_wharfied_push_pull_run(daemon: Daemon, our_registry: OurRegistry, name: str) -> None:
    ref = f"{our_registry.addr}/{name}:v1"
    _unique_image(daemon, ref)
    image_id = ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip()
    out = ok(docker_cli(daemon, "push", ref))
    assert "v1: digest: sha256:" in out
    ok(docker_cli(daemon, "rmi", ref))
    out = ok(wharfie_cli(daemon, "pull", ref))
    assert "Pull complete" in out or "Downloaded newer image" in out
    assert ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip() == image_id
    assert (
        ok(
            docker_cli(
                daemon, "run", "--rm", "--network", "none", ref, "/bin/busybox", "echo", "hi"
            )
        )
        == "hi\n"
    )
    log = our_registry.access_log()
    assert any(
        e["method"] == "PUT" and f"/v2/{name}/manifests/v1" in str(e["path"]) and e["status"] == 201
        for e in log
    )
    assert any(
        e["method"] == "GET" and f"/v2/{name}/blobs/" in str(e["path"]) and e["status"] == 200
        for e in log
    )
    ok(docker_cli(daemon, "rmi", ref))


def test_wharfied_login_htpasswd(daemon: Daemon, tmp_path: Path, name: str) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("wuser", "wpass") + "\n")
    reg = OurRegistry(
        tmp_path / "reg", config=f"auth:\n  htpasswd:\n    realm: t\n    path: {htpasswd}\n"
    )
    reg.start()
    try:
        ref = f"{reg.addr}/{name}:v1"
        _unique_image(daemon, ref)
        assert docker_cli(daemon, "push", ref).returncode != 0
        ok(docker_cli(daemon, "login", "-u", "wuser", "--password-stdin", reg.addr, input=b"wpass"))
        ok(docker_cli(daemon, "push", ref))
        ok(docker_cli(daemon, "rmi", ref))
        ok(docker_cli(daemon, "pull", ref))
        ok(docker_cli(daemon, "logout", reg.addr))
        ok(docker_cli(daemon, "rmi", ref))
    finally:
        reg.stop()


def test_wharfied_login_token(daemon: Daemon, tmp_path: Path, name: str) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("tuser", "tpass") + "\n" + _htpasswd_line("ro", "ro"))
    reg = OurRegistry(
        tmp_path / "reg",
        config=(
            f"auth:\n  token:\n    htpasswd: {htpasswd}\n    access:\n"
            "      - {account: tuser, name: '*', actions: ['*']}\n"
            "      - {account: ro, name: '*', actions: [pull]}\n"
        ),
    )
    reg.start()
    try:
        ref = f"{reg.addr}/{name}:v1"
        _unique_image(daemon, ref)
        assert docker_cli(daemon, "push", ref).returncode != 0
        ok(docker_cli(daemon, "login", "-u", "tuser", "--password-stdin", reg.addr, input=b"tpass"))
        ok(docker_cli(daemon, "push", ref))
        ok(docker_cli(daemon, "rmi", ref))
        ok(docker_cli(daemon, "pull", ref))
        ok(docker_cli(daemon, "login", "-u", "ro", "--password-stdin", reg.addr, input=b"ro"))
        ok(docker_cli(daemon, "tag", ref, f"{reg.addr}/{name}:v2"))
        denied = docker_cli(daemon, "push", f"{reg.addr}/{name}:v2")
        assert denied.returncode != 0
        ok(docker_cli(daemon, "logout", reg.addr))
        ok(docker_cli(daemon, "rmi", ref, f"{reg.addr}/{name}:v2"))
    finally:
        reg.stop()
