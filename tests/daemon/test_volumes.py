"""Volumes through the real docker CLI: named and anonymous volumes, copy-up, binds,
tmpfs, --volumes-from, the /volumes endpoints and their errors."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

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
    _ok(docker_cli(daemon, "run", "--rm", "-v", f"{vol}:/data", "busybox",
                   "sh", "-c", "echo hello > /data/f"))
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
    _ok(docker_cli(daemon, "create", "--name", name, "-v", f"{vol}:/data",
                   "-v", f"{tmp_path}:/host:ro", "--mount", "type=tmpfs,target=/t",
                   "busybox", "true"))
    mounts = {m["Destination"]: m for m in _inspect(daemon, name)["Mounts"]}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == vol
    assert mounts["/data"]["Driver"] == "local" and mounts["/data"]["RW"] is True
    assert mounts["/host"] == {"Type": "bind", "Source": str(tmp_path), "Destination": "/host",
                               "Mode": "ro", "RW": False, "Propagation": "rprivate"}
    assert mounts["/t"]["Type"] == "tmpfs"
    _ok(docker_cli(daemon, "rm", name))
    _ok(docker_cli(daemon, "volume", "rm", vol))


def test_volume_in_use_is_409_and_unknown_is_404(daemon: Daemon, name: str) -> None:
    vol = _vol()
    cid = _ok(docker_cli(daemon, "create", "--name", name, "-v", f"{vol}:/data", "busybox",
                         "true")).strip()
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
