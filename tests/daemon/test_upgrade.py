"""Upgrade: wharfied opens a data root written before the metadata schema had versions
(tests/fixtures/dataroot-v0.tar.gz, made by tests/fixtures/make_dataroot_v0.py with the
code of that time), brings it to the current version, and every object survives. A data
root from a newer wharfied is refused with a clear message and left as it was."""

from __future__ import annotations

import fcntl
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, docker_cli
from wharfie.engine import schema

pytestmark = pytest.mark.root

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dataroot-v0.tar.gz"
# Records hold absolute paths under the data root, so the fixture is unpacked where it was
# made; a lock keeps concurrent test runs on this machine from sharing it.
BASE = Path("/tmp/wharfie-upgrade-v0")


@pytest.fixture
def v0_root() -> Iterator[Path]:
    with open("/tmp/wharfie-upgrade-v0.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(BASE, ignore_errors=True)
        BASE.mkdir()
        with tarfile.open(FIXTURE) as tar:
            tar.extractall(BASE, filter="tar")
        try:
            yield BASE
        finally:
            shutil.rmtree(BASE, ignore_errors=True)


def _user_version(data: Path) -> int:
    db = sqlite3.connect(str(data / "wharfie.db"))
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _inspect(d: Daemon, *args: str) -> dict[str, object]:
    p = docker_cli(d, *args)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)[0]
    assert isinstance(doc, dict)
    return doc


def test_a_v0_data_root_upgrades_and_every_object_survives(v0_root: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"  # the fixture's build context, as make_dataroot_v0.py wrote it
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM upg/hello:1\nCOPY f /f\nLABEL built=v0\n")
    (ctx / "f").write_text("copied by a build\n")
    assert _user_version(v0_root / "data") == 0
    d = Daemon(v0_root, 0)
    d.bridge = "wtupg0"  # the fixture's default bridge
    d.subnet = "10.219.0.1/24"
    d.start()
    try:
        assert _user_version(v0_root / "data") == schema.CURRENT
        ps = docker_cli(d, "ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.decode()
        assert sorted(ps.splitlines()) == ["upg-a created", "upg-b exited"], ps
        a = _inspect(d, "container", "inspect", "upg-a")
        assert a["Config"]["Labels"] == {"fixture": "v0"}  # type: ignore[index]
        assert "A=1" in a["Config"]["Env"]  # type: ignore[index]
        assert a["HostConfig"]["RestartPolicy"] == {  # type: ignore[index]
            "Name": "on-failure",
            "MaximumRetryCount": 3,
        }
        assert list(a["NetworkSettings"]["Networks"]) == ["upgnet"]  # type: ignore[index]
        assert [m["Name"] for m in a["Mounts"]] == ["upgvol"]  # type: ignore[attr-defined]
        b_logs = docker_cli(d, "logs", "upg-b")
        assert b_logs.stdout == b"hello from v0\n", b_logs
        tags = docker_cli(d, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode()
        assert {"upg/hello:1", "upg/hello:latest", "upg/built:1"} <= set(tags.split()), tags
        built = _inspect(d, "image", "inspect", "upg/built:1")
        assert built["Config"]["Labels"] == {"built": "v0"}  # type: ignore[index]
        net = _inspect(d, "network", "inspect", "upgnet")
        assert net["Labels"] == {"fixture": "v0"}
        assert net["IPAM"]["Config"][0]["Subnet"] == "10.219.1.0/24"  # type: ignore[index]
        vol = _inspect(d, "volume", "inspect", "upgvol")
        assert vol["Labels"] == {"fixture": "v0"}
        df = json.loads(docker_cli(d, "system", "df", "-v", "--format", "{{json .}}").stdout)
        assert len(df["BuildCache"]) == 2, df["BuildCache"]
        # The old records still run: the container made before the upgrade starts and
        # prints from its image's layer; a new build hits the old build cache.
        start = docker_cli(d, "start", "-a", "upg-a")
        assert start.returncode == 0 and start.stdout == b"hello from v0\n", start
        rebuilt = docker_cli(d, "build", "-q", "-t", "upg/built:2", str(ctx))
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert rebuilt.stdout.decode().strip() == built["Id"]
    finally:
        leaked = d.teardown()
    assert leaked == []


def test_a_data_root_from_a_newer_wharfied_is_refused(v0_root: Path) -> None:
    db = sqlite3.connect(str(v0_root / "data" / "wharfie.db"))
    db.execute(f"PRAGMA user_version = {schema.CURRENT + 1}")
    db.close()
    before = (v0_root / "data" / "wharfie.db").read_bytes()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "wharfie.daemon",
            "-H",
            f"unix://{v0_root}/w.sock",
            "--data-root",
            str(v0_root / "data"),
            "--exec-root",
            str(v0_root / "exec"),
            "--bridge",
            "wtupg0",
            "--bip",
            "10.219.0.1/24",
            "--no-masquerade",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=Daemon(v0_root, 0).env,
    )
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert (
        f"wharfied: {v0_root}/data/wharfie.db was written by a newer wharfied (metadata "
        f"schema version {schema.CURRENT + 1}); this wharfied knows versions up to "
        f"{schema.CURRENT} and will not downgrade it"
    ) in p.stderr, p.stderr
    assert (v0_root / "data" / "wharfie.db").read_bytes() == before
