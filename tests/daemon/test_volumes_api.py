"""Volumes through docker-py and the wharfie CLI: the /volumes endpoints (fields, filters,
prune, errors), driver options (tmpfs and bind devices), system df, daemon restarts."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import docker
import pytest

from support.daemon import Daemon, docker_cli, wharfie_cli

pytestmark = pytest.mark.root


def _ok(p: object) -> str:
    assert p.returncode == 0, p.stderr  # type: ignore[attr-defined]
    return p.stdout.decode()  # type: ignore[attr-defined, no-any-return]


def _vol() -> str:
    return "v" + uuid.uuid4().hex[:10]


def _api(d: Daemon) -> docker.APIClient:
    return docker.APIClient(base_url=d.host)


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def test_create_inspect_list_filters(daemon: Daemon) -> None:
    api = _api(daemon)
    a, b = _vol(), _vol()
    try:
        created = api.create_volume(a, labels={"team": "x", "tier": "db"})
        assert set(created) == {
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope",
        }
        assert created["Labels"] == {"team": "x", "tier": "db"} and created["Scope"] == "local"
        assert api.create_volume(a)["CreatedAt"] == created["CreatedAt"]  # idempotent
        api.create_volume(b, driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs"})
        assert api.inspect_volume(b)["Options"] == {"type": "tmpfs", "device": "tmpfs"}
        cid = api.create_container(
            "busybox", "true", host_config=api.create_host_config(binds=[f"{b}:/data"])
        )["Id"]

        def names(**filters: object) -> set[str]:
            vols = api.volumes(filters=filters)["Volumes"] or []
            return {v["Name"] for v in vols} & {a, b}

        assert names() == {a, b}
        assert names(label="team=x") == {a}
        assert names(label="tier") == {a}
        assert names(name=a[:6]) == {a}
        assert names(driver="local") == {a, b}
        assert names(dangling=True) == {a}
        assert names(dangling=False) == {b}
        with pytest.raises(docker.errors.APIError, match="invalid filter 'bogus'"):
            api.volumes(filters={"bogus": "1"})
        api.remove_container(cid)
    finally:
        for v in (a, b):
            docker_cli(daemon, "volume", "rm", v)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (["-o", "foo=bar"], 'invalid option: "foo"'),
        (["-o", "type=tmpfs"], 'missing required option: "device"'),
        (["-o", "size=10m"], "quota size requested but no quota support"),
        (["-d", "nfsplugin"], 'error looking up volume plugin nfsplugin: plugin "nfsplugin" not'),
    ],
)
def test_invalid_volume_options(daemon: Daemon, opts: list[str], message: str) -> None:
    p = docker_cli(daemon, "volume", "create", *opts, _vol())
    assert p.returncode == 1
    assert message in p.stderr.decode()


def test_invalid_names_and_mount_config_are_400(daemon: Daemon) -> None:
    api = _api(daemon)
    with pytest.raises(docker.errors.APIError) as err:
        api.create_volume("bad name")
    assert err.value.status_code == 400 and "includes invalid characters" in str(err.value)
    bad = {
        "Type": "volume",
        "Target": "/v",
        "Source": "x",
        "BindOptions": {"Propagation": "shared"},
    }
    with pytest.raises(docker.errors.APIError) as err:
        api.create_container("busybox", "true", host_config={"Mounts": [bad]})
    assert err.value.status_code == 400
    assert 'invalid mount config for type "volume": BindOptions must not be specified' in str(
        err.value
    )
    with pytest.raises(docker.errors.APIError) as err:
        api.create_container("busybox", "true", host_config={"Binds": ["a b:/x"]})
    assert err.value.status_code == 400


def test_remove_in_use_409_and_unknown_404(daemon: Daemon) -> None:
    api = _api(daemon)
    v = _vol()
    api.create_volume(v)
    cid = api.create_container(
        "busybox", "true", host_config=api.create_host_config(binds=[f"{v}:/d"])
    )["Id"]
    with pytest.raises(docker.errors.APIError) as err:
        api.remove_volume(v)
    assert err.value.status_code == 409
    assert f"remove {v}: volume is in use - [{cid}]" in str(err.value)
    api.remove_container(cid)
    api.remove_volume(v)
    with pytest.raises(docker.errors.NotFound, match=f"get {v}: no such volume"):
        api.inspect_volume(v)
    with pytest.raises(docker.errors.NotFound):
        api.remove_volume(v)


def test_prune_anonymous_by_default_all_on_request(daemon: Daemon, name: str) -> None:
    api = _api(daemon)
    named, used = _vol(), _vol()
    api.create_volume(named, labels={"p": name})
    api.create_volume(used, labels={"p": name})
    _ok(
        docker_cli(
            daemon, "create", "--name", name, "-v", "/anon", "-v", f"{used}:/u", "busybox", "true"
        )
    )
    anon = next(
        m["Name"] for m in api.inspect_container(name)["Mounts"] if m["Destination"] == "/anon"
    )
    try:
        out = api.prune_volumes()
        assert anon not in (out["VolumesDeleted"] or [])  # in use
        _ok(docker_cli(daemon, "rm", name))
        out = api.prune_volumes(filters={"label": f"p={name}"})
        assert named not in (out["VolumesDeleted"] or [])  # named: kept without all=true
        out = api.prune_volumes()
        assert anon in (out["VolumesDeleted"] or [])
        out = _ok(wharfie_cli(daemon, "volume", "prune", "-a", "-f", "--filter", f"label=p={name}"))
        assert out.startswith("Deleted Volumes:\n") and named in out and used in out
        assert "Total reclaimed space:" in out
    finally:
        docker_cli(daemon, "rm", "-f", name)
        docker_cli(daemon, "volume", "rm", named, used, anon)


def test_tmpfs_volume_is_mounted_while_used(daemon: Daemon, name: str) -> None:
    v = _vol()
    _ok(
        docker_cli(
            daemon,
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=1m,mode=0770",
            v,
        )
    )
    mountpoint = json.loads(_ok(docker_cli(daemon, "volume", "inspect", v)))[0]["Mountpoint"]
    try:
        _ok(
            docker_cli(
                daemon,
                "run",
                "-d",
                "--name",
                name,
                "-v",
                f"{v}:/data",
                "busybox",
                "sh",
                "-c",
                "echo hi > /data/f; sleep 300",
            )
        )
        assert _mounted(mountpoint)
        out = _ok(
            docker_cli(
                daemon,
                "run",
                "--rm",
                "-v",
                f"{v}:/data",
                "busybox",
                "sh",
                "-c",
                "sleep 0.2; cat /data/f; grep ' /data ' /proc/mounts",
            )
        )
        assert out.startswith("hi\ntmpfs /data tmpfs") and "size=1024k" in out
        assert _mounted(mountpoint)  # the first user still has it
        _ok(docker_cli(daemon, "rm", "-f", name))
        assert not _mounted(mountpoint)  # unmounted with its last user
    finally:
        docker_cli(daemon, "rm", "-f", name)
        docker_cli(daemon, "volume", "rm", v)


def test_bind_device_volume(daemon: Daemon, tmp_path: Path) -> None:
    v = _vol()
    (tmp_path / "hostfile").write_text("on host\n")
    _ok(
        docker_cli(
            daemon,
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            f"device={tmp_path}",
            v,
        )
    )
    try:
        out = _ok(
            docker_cli(
                daemon,
                "run",
                "--rm",
                "-v",
                f"{v}:/data",
                "busybox",
                "sh",
                "-c",
                "cat /data/hostfile; echo new > /data/made",
            )
        )
        assert out == "on host\n"
        assert (tmp_path / "made").read_text() == "new\n"
        _ok(docker_cli(daemon, "volume", "rm", v))
        assert (tmp_path / "hostfile").exists()  # removing the volume leaves the device alone
        v2 = _vol()
        _ok(
            docker_cli(
                daemon,
                "volume",
                "create",
                "-o",
                "type=none",
                "-o",
                "o=bind",
                "-o",
                f"device={tmp_path}/missing",
                v2,
            )
        )
        p = docker_cli(daemon, "run", "--rm", "-v", f"{v2}:/data", "busybox", "true")
        assert p.returncode != 0 and b"failed to mount local volume" in p.stderr
        _ok(docker_cli(daemon, "volume", "rm", v2))
    finally:
        docker_cli(daemon, "volume", "rm", v)


def test_system_df_volumes(daemon: Daemon, name: str) -> None:
    v = _vol()
    _ok(
        docker_cli(
            daemon,
            "run",
            "--name",
            name,
            "-v",
            f"{v}:/data",
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/zero of=/data/f bs=1k count=100 2>/dev/null",
        )
    )
    try:
        df = _api(daemon).df()
        row = next(x for x in df["Volumes"] if x["Name"] == v)
        assert row["UsageData"] == {"Size": 102400, "RefCount": 1}
        out = _ok(docker_cli(daemon, "system", "df", "-v"))
        assert v in out
        out = _ok(wharfie_cli(daemon, "system", "df"))
        assert "Local Volumes" in out
        _ok(docker_cli(daemon, "rm", name))
        row = next(x for x in _api(daemon).df()["Volumes"] if x["Name"] == v)
        assert row["UsageData"]["RefCount"] == 0
    finally:
        docker_cli(daemon, "rm", "-f", name)
        docker_cli(daemon, "volume", "rm", v)


def test_wharfie_cli_volume_commands(daemon: Daemon) -> None:
    v = _vol()
    assert _ok(wharfie_cli(daemon, "volume", "create", "--label", "k=v", v)) == v + "\n"
    out = _ok(wharfie_cli(daemon, "volume", "ls", "--filter", f"name={v}"))
    assert out.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert out.splitlines()[1].split() == ["local", v]
    assert _ok(wharfie_cli(daemon, "volume", "ls", "-q", "-f", f"name={v}")) == v + "\n"
    fmt = _ok(wharfie_cli(daemon, "volume", "inspect", "-f", "{{.Name}} {{.Labels.k}}", v))
    assert fmt == f"{v} v\n"
    out = _ok(
        wharfie_cli(
            daemon,
            "run",
            "--rm",
            "-v",
            f"{v}:/d",
            "busybox",
            "sh",
            "-c",
            "echo w > /d/f && cat /d/f",
        )
    )
    assert out == "w\n"
    p = wharfie_cli(daemon, "volume", "inspect", v + "nope")
    assert p.returncode == 1 and f"get {v}nope: no such volume" in p.stderr.decode()
    assert _ok(wharfie_cli(daemon, "volume", "rm", v)) == v + "\n"
    p = wharfie_cli(daemon, "volume", "rm", v)
    assert p.returncode == 1 and "no such volume" in p.stderr.decode()


@pytest.mark.slow
def test_volumes_survive_daemon_restart(daemon: Daemon, name: str) -> None:
    v, t = _vol(), _vol()
    _ok(docker_cli(daemon, "volume", "create", "--label", "keep=1", v))
    _ok(docker_cli(daemon, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", t))
    _ok(
        docker_cli(
            daemon, "run", "--rm", "-v", f"{v}:/data", "busybox", "sh", "-c", "echo kept > /data/f"
        )
    )
    _ok(
        docker_cli(
            daemon,
            "run",
            "-d",
            "--name",
            name,
            "-v",
            f"{t}:/t",
            "busybox",
            "sh",
            "-c",
            "echo in-tmpfs > /t/f; sleep 300",
        )
    )
    tmount = json.loads(_ok(docker_cli(daemon, "volume", "inspect", t)))[0]["Mountpoint"]
    try:
        daemon.stop(signal.SIGKILL)
        daemon.start()
        info = json.loads(_ok(docker_cli(daemon, "volume", "inspect", v)))[0]
        assert info["Labels"] == {"keep": "1"}
        out = _ok(
            docker_cli(daemon, "run", "--rm", "-v", f"{v}:/data", "busybox", "cat", "/data/f")
        )
        assert out == "kept\n"
        # the running container's tmpfs volume stayed mounted and is still counted
        assert _mounted(tmount)
        assert _ok(docker_cli(daemon, "exec", name, "cat", "/t/f")) == "in-tmpfs\n"
        p = docker_cli(daemon, "volume", "rm", t)
        assert p.returncode == 1 and "volume is in use" in p.stderr.decode()
        _ok(docker_cli(daemon, "rm", "-f", name))
        assert not _mounted(tmount)
    finally:
        docker_cli(daemon, "rm", "-f", name)
        docker_cli(daemon, "volume", "rm", v, t)
        assert not os.path.exists(tmount)


def test_volume_events(daemon: Daemon, name: str) -> None:
    api = _api(daemon)
    v = _vol()
    start = time.time() - 1
    _ok(docker_cli(daemon, "run", "--name", name, "-v", f"{v}:/d", "busybox", "true"))
    _ok(docker_cli(daemon, "rm", name))
    _ok(docker_cli(daemon, "volume", "rm", v))
    events = api.events(since=start, until=time.time() + 1, decode=True, filters={"type": "volume"})
    seen = [(e["Action"], e["Actor"]["ID"]) for e in events if e["Actor"]["ID"] == v]
    assert seen == [("create", v), ("mount", v), ("unmount", v), ("destroy", v)]


def test_ps_filter_volume(daemon: Daemon, name: str, tmp_path: Path) -> None:
    v = _vol()
    _ok(
        docker_cli(
            daemon,
            "create",
            "--name",
            name,
            "-v",
            f"{v}:/data",
            "-v",
            f"{tmp_path}:/h",
            "busybox",
            "true",
        )
    )
    try:
        for value in (v, "/data", str(tmp_path)):
            out = _ok(
                docker_cli(
                    daemon, "ps", "-a", "--format", "{{.Names}}", "--filter", f"volume={value}"
                )
            )
            assert out.split() == [name]
        out = _ok(docker_cli(daemon, "ps", "-a", "-q", "--filter", "volume=nosuch" + v))
        assert out == ""
    finally:
        docker_cli(daemon, "rm", name)
        docker_cli(daemon, "volume", "rm", v)
