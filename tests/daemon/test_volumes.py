"""Volumes through the real docker CLI: named and anonymous volumes, copy-up, binds,
tmpfs, --volumes-from, the /volumes endpoints and their errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import pytest

from support.daemon import Daemon, docker_cli

pytestmark = pytest.mark.root


def _ok(p: object) -> str:
    assert p.returncode == 0, p.stderr  # type: ignore[attr-defined]
    return p.stdout.decode()  # type: ignore[attr-defined, no-any-return]


def _vol(prefix: str = "v") -> str:
    return prefix + uuid.uuid4().hex[:10]


def _inspect(d: Daemon, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(_ok(docker_cli(d, "inspect", name)))[0]  # type: ignore[no-any-return]


def test_named_volume_persists_across_containers(daemon: Daemon, name: str) -> None:
    vol = _vol()
    _ok(
        docker_cli(
            daemon,
            "run",
            "--rm",
            "-v",
            f"{vol}:/data",
            "busybox",
            "sh",
            "-c",
            "echo hello > /data/f",
        )
    )
    out = _ok(docker_cli(daemon, "run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f"))
    assert out == "hello\n"
    info = json.loads(_ok(docker_cli(daemon, "volume", "inspect", vol)))[0]
    assert info["Name"] == vol and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Mountpoint"].endswith(f"/volumes/{vol}/_data")
    assert Path(info["Mountpoint"], "f").read_text() == "hello\n"
    _ok(docker_cli(daemon, "volume", "rm", vol))
    assert not Path(info["Mountpoint"]).exists()


def test_inspect_mounts_fields(daemon: Daemon, name: str, tmp_path: Path) -> None:
    vol = _vol()
    _ok(
        docker_cli(
            daemon,
            "create",
            "--name",
            name,
            "-v",
            f"{vol}:/data",
            "-v",
            f"{tmp_path}:/host:ro",
            "--mount",
            "type=tmpfs,target=/t",
            "busybox",
            "true",
        )
    )
    mounts = {m["Destination"]: m for m in _inspect(daemon, name)["Mounts"]}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == vol
    assert mounts["/data"]["Driver"] == "local" and mounts["/data"]["RW"] is True
    assert mounts["/host"] == {
        "Type": "bind",
        "Source": str(tmp_path),
        "Destination": "/host",
        "Mode": "ro",
        "RW": False,
        "Propagation": "rprivate",
    }
    assert mounts["/t"]["Type"] == "tmpfs"
    _ok(docker_cli(daemon, "rm", name))
    _ok(docker_cli(daemon, "volume", "rm", vol))


def test_volume_in_use_is_409_and_unknown_is_404(daemon: Daemon, name: str) -> None:
    vol = _vol()
    cid = _ok(
        docker_cli(daemon, "create", "--name", name, "-v", f"{vol}:/data", "busybox", "true")
    ).strip()
    p = docker_cli(daemon, "volume", "rm", vol)
    assert p.returncode == 1
    assert f"remove {vol}: volume is in use - [{cid}]" in p.stderr.decode()
    p = docker_cli(daemon, "volume", "rm", "-f", vol)
    assert p.returncode == 1 and "volume is in use" in p.stderr.decode()
    _ok(docker_cli(daemon, "rm", name))
    _ok(docker_cli(daemon, "volume", "rm", vol))
    p = docker_cli(daemon, "volume", "inspect", vol)
    assert p.returncode == 1 and f"get {vol}: no such volume" in p.stderr.decode()
    _ok(docker_cli(daemon, "volume", "rm", "-f", vol))  # -f: a missing volume is fine


def _seed_image(d: Daemon, name: str) -> str:
    """An image with /data/seed (owner 1234:5678, mode 0640) and VOLUME /data."""
    image = f"seed{name}"
    _ok(
        docker_cli(
            d,
            "run",
            "--name",
            f"{name}-seed",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /data/sub && echo from-image > /data/seed && "
            "chown 1234:5678 /data/seed && chmod 0640 /data/seed && "
            "ln -s seed /data/link && chmod 0750 /data",
        )
    )
    _ok(docker_cli(d, "commit", "--change", "VOLUME /data", f"{name}-seed", image))
    _ok(docker_cli(d, "rm", f"{name}-seed"))
    return image


STAT = "stat -c '%u:%g %a' /data/seed /data; readlink /data/link; cat /data/seed"


def test_copy_up_into_named_and_anonymous_volumes(daemon: Daemon, name: str) -> None:
    image = _seed_image(daemon, name)
    vol = _vol()
    try:
        expected = "1234:5678 640\n0:0 750\nseed\nfrom-image\n"
        out = _ok(docker_cli(daemon, "run", "--rm", "-v", f"{vol}:/data", image, "sh", "-c", STAT))
        assert out == expected
        out = _ok(docker_cli(daemon, "run", "--name", name, image, "sh", "-c", STAT))
        assert out == expected
        anon = next(m for m in _inspect(daemon, name)["Mounts"] if m["Destination"] == "/data")
        assert anon["Type"] == "volume" and len(anon["Name"]) == 64
        # a volume that is not empty is not filled again
        _ok(
            docker_cli(
                daemon,
                "run",
                "--rm",
                "-v",
                f"{vol}:/data",
                image,
                "sh",
                "-c",
                "rm /data/seed; echo mine > /data/other",
            )
        )
        out = _ok(docker_cli(daemon, "run", "--rm", "-v", f"{vol}:/data", image, "ls", "/data"))
        assert out.split() == ["link", "other", "sub"]
        # nocopy: a new volume stays empty
        out = _ok(
            docker_cli(
                daemon, "run", "--rm", "-v", f"{vol}x:/data:nocopy", image, "ls", "-A", "/data"
            )
        )
        assert out == ""
        out = _ok(
            docker_cli(
                daemon,
                "run",
                "--rm",
                "--mount",
                f"type=volume,src={vol}y,dst=/data,volume-nocopy",
                image,
                "ls",
                "-A",
                "/data",
            )
        )
        assert out == ""
    finally:
        docker_cli(daemon, "rm", "-fv", name)
        docker_cli(daemon, "volume", "rm", vol, f"{vol}x", f"{vol}y")
        docker_cli(daemon, "rmi", image)


def _volume_names(d: Daemon) -> set[str]:
    return set(_ok(docker_cli(d, "volume", "ls", "-q")).split())


def test_anonymous_volumes_removed_with_rm_v_only(daemon: Daemon, name: str) -> None:
    image = _seed_image(daemon, name)
    try:
        _ok(docker_cli(daemon, "create", "--name", name, "-v", "/scratch", image, "true"))
        anon = {m["Name"] for m in _inspect(daemon, name)["Mounts"]}
        assert len(anon) == 2 and anon <= _volume_names(daemon)  # /scratch and image's /data
        _ok(docker_cli(daemon, "rm", name))
        assert anon <= _volume_names(daemon)  # kept without -v
        for v in anon:
            labels = json.loads(_ok(docker_cli(daemon, "volume", "inspect", v)))[0]["Labels"]
            assert "com.docker.volume.anonymous" in labels
        _ok(docker_cli(daemon, "volume", "rm", *anon))
        vol = _vol()
        _ok(
            docker_cli(
                daemon,
                "create",
                "--name",
                name,
                "-v",
                "/scratch",
                "-v",
                f"{vol}:/named",
                image,
                "true",
            )
        )
        anon = {m["Name"] for m in _inspect(daemon, name)["Mounts"]} - {vol}
        _ok(docker_cli(daemon, "rm", "-v", name))
        names = _volume_names(daemon)
        assert not anon & names
        assert vol in names  # rm -v keeps named volumes
        _ok(docker_cli(daemon, "volume", "rm", vol))
        # --rm (AutoRemove) removes them too
        _ok(docker_cli(daemon, "run", "--rm", "--name", name, "-v", "/scratch", image, "true"))
        assert _volume_names(daemon) == names - {vol}
    finally:
        docker_cli(daemon, "rm", "-fv", name)
        docker_cli(daemon, "rmi", image)


def test_read_only_bind_refuses_writes(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("host\n")
    for spec in (
        ["-v", f"{tmp_path}:/h:ro"],
        ["--mount", f"type=bind,src={tmp_path},dst=/h,readonly"],
    ):
        p = docker_cli(
            daemon, "run", "--rm", *spec, "busybox", "sh", "-c", "cat /h/f; echo x > /h/g"
        )
        assert p.returncode != 0
        assert p.stdout == b"host\n"
        assert b"Read-only file system" in p.stderr
        assert not (tmp_path / "g").exists()
    out = _ok(
        docker_cli(
            daemon,
            "run",
            "--rm",
            "-v",
            f"{tmp_path}:/h",
            "busybox",
            "sh",
            "-c",
            "echo w > /h/g; cat /h/g",
        )
    )
    assert out == "w\n" and (tmp_path / "g").read_text() == "w\n"


def test_bind_of_a_missing_source(daemon: Daemon, tmp_path: Path) -> None:
    missing = tmp_path / "new" / "dir"
    p = docker_cli(
        daemon, "run", "--rm", "--mount", f"type=bind,src={missing},dst=/x", "busybox", "true"
    )
    assert p.returncode == 125
    assert (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}'
    ) in p.stderr.decode()
    _ok(docker_cli(daemon, "run", "--rm", "-v", f"{missing}:/x", "busybox", "true"))
    assert missing.is_dir()  # -v creates it, as Docker does


def test_volumes_from_and_sharing(daemon: Daemon, name: str) -> None:
    vol = _vol()
    try:
        _ok(
            docker_cli(
                daemon,
                "run",
                "-d",
                "--name",
                name,
                "-v",
                f"{vol}:/data",
                "-v",
                "/anon",
                "busybox",
                "sh",
                "-c",
                "echo 1 > /data/a; echo 2 > /anon/b; sleep 300",
            )
        )
        out = _ok(
            docker_cli(
                daemon,
                "run",
                "--rm",
                "--volumes-from",
                name,
                "busybox",
                "sh",
                "-c",
                "sleep 0.3; cat /data/a /anon/b; echo 3 > /data/c",
            )
        )
        assert out == "1\n2\n"
        # the running container sees the other's write at once: one volume, shared
        out = _ok(docker_cli(daemon, "exec", name, "cat", "/data/c"))
        assert out == "3\n"
        p = docker_cli(
            daemon,
            "run",
            "--rm",
            "--volumes-from",
            f"{name}:ro",
            "busybox",
            "sh",
            "-c",
            "echo 4 > /data/d",
        )
        assert p.returncode != 0 and b"Read-only file system" in p.stderr
        api = docker.APIClient(base_url=daemon.host)
        hc = api.create_host_config(volumes_from=["nosuch" + name])
        with pytest.raises(docker.errors.NotFound, match="No such container: nosuch"):
            api.create_container("busybox", "true", host_config=hc)
    finally:
        docker_cli(daemon, "rm", "-fv", name)
        docker_cli(daemon, "volume", "rm", vol)


def test_tmpfs_mounts(daemon: Daemon) -> None:
    out = _ok(
        docker_cli(
            daemon,
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
            "busybox",
            "sh",
            "-c",
            "stat -c %a /t; grep ' /t ' /proc/mounts; "
            "dd if=/dev/zero of=/t/f bs=1k count=2048 2>&1; true",
        )
    )
    lines = out.splitlines()
    assert lines[0] == "1770"
    assert "tmpfs" in lines[1] and "size=1024k" in lines[1]
    assert "No space left on device" in out
    out = _ok(
        docker_cli(
            daemon,
            "run",
            "--rm",
            "--tmpfs",
            "/t:size=2m",
            "busybox",
            "grep",
            " /t ",
            "/proc/mounts",
        )
    )
    assert "size=2048k" in out


def test_bind_propagation(daemon: Daemon, name: str, tmp_path: Path) -> None:
    _ok(
        docker_cli(
            daemon,
            "create",
            "--name",
            name,
            "-v",
            f"{tmp_path}:/x:rslave,ro",
            "--mount",
            f"type=bind,src={tmp_path},dst=/y,bind-propagation=rprivate",
            "busybox",
            "true",
        )
    )
    try:
        mounts = {m["Destination"]: m for m in _inspect(daemon, name)["Mounts"]}
        assert mounts["/x"]["Propagation"] == "rslave" and mounts["/x"]["RW"] is False
        assert mounts["/y"]["Propagation"] == "rprivate"
        _ok(docker_cli(daemon, "start", "-a", name))
    finally:
        docker_cli(daemon, "rm", name)
