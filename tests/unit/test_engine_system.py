"""The system service and the container list on their own: info's counts, df, prune,
`ps` rows and their filters, over an index of typed records and fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fakes import FakeImages, FakeStore, FakeVolumes, RecordingEvents, bare_container

from wharfie import distribution
from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import Move, transition
from wharfie.engine.listing import ContainerListing
from wharfie.engine.paths import Paths
from wharfie.engine.system import System, SystemConfig


class Removals:
    def __init__(self, index: ContainerIndex) -> None:
        self.index, self.removed = index, list[str]()

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        assert not force and not volumes
        self.removed.append(ref)
        self.index.drop(self.index.find(ref))


class Builds:
    def usage(self) -> list[dict[str, Any]]:
        return [{"ID": "cache1"}]


class Rig:
    def __init__(self, root: Path) -> None:
        self.index = ContainerIndex(FakeStore())
        self.paths = Paths(str(root / "data"), str(root / "exec"))
        self.events = RecordingEvents()
        self.listing = ContainerListing(
            index=self.index, images=FakeImages(), volumes=FakeVolumes(), paths=self.paths
        )
        self.removals = Removals(self.index)
        self.warnings = ["WARNING: the container monitor died at then"]
        self.system = System(
            config=SystemConfig(
                data_root=self.paths.data_root,
                default_runtime="wharfie-runtime",
                log_driver="json-file",
                live_restore=True,
                runtimes={"mine": "/usr/bin/mine"},
            ),
            index=self.index,
            images=FakeImages(),
            events=self.events,
            listing=self.listing,
            lifecycle=self.removals,
            volumes=FakeVolumes(),
            builds=Builds(),
            warnings=self.warnings,
            runtime_warnings=lambda name: ["no KVM"] if name == "wharfie-vm" else [],
            registry_settings=lambda: distribution.Settings.from_flags(
                mirrors=["https://mirror.example"], insecure=["10.0.0.0/8", "reg.local:5000"]
            ),
            daemon_id="d" * 64,
        )

    def add(self, n: int, status: str, created: str, **labels: str) -> str:
        c = bare_container(str(n) * 64, f"c{n}", Labels=labels)
        c.created = created
        if status in ("running", "paused", "exited"):
            transition(c, Move.START, RecordingEvents(), pid=n)
        if status == "paused":
            transition(c, Move.PAUSE, RecordingEvents())
        if status == "exited":
            transition(c, Move.EXIT, RecordingEvents(), code=n)
        self.index.add(c)
        upper = Path(self.paths.rw_upper(c.id))
        upper.mkdir(parents=True)
        (upper / "f").write_bytes(b"x" * 8192 * n)
        return c.id


def test_info_counts_and_settings(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.add(1, "running", "2026-01-01T00:00:01Z")
    r.add(2, "paused", "2026-01-01T00:00:02Z")
    r.add(3, "exited", "2026-01-01T00:00:03Z")
    r.add(4, "created", "2026-01-01T00:00:04Z")
    info = r.system.info()
    counts = {k: info[k] for k in info if k.startswith("Containers")}
    assert counts == {
        "Containers": 4,
        "ContainersRunning": 1,
        "ContainersPaused": 1,
        "ContainersStopped": 2,
    }
    assert info["ID"] == "d" * 64 and info["Images"] == 1
    assert info["Runtimes"]["mine"] == {"path": "/usr/bin/mine"}
    assert info["Warnings"] == [r.warnings[0], "WARNING: no KVM"]
    reg = info["RegistryConfig"]
    assert reg["Mirrors"] == ["https://mirror.example/"]
    assert reg["InsecureRegistryCIDRs"] == ["127.0.0.0/8", "10.0.0.0/8"]
    assert reg["IndexConfigs"]["reg.local:5000"]["Secure"] is False


def test_df_lists_containers_with_their_writable_size(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.add(1, "running", "2026-01-01T00:00:01Z")
    df = r.system.df()
    assert df["LayersSize"] == 1000 and df["Images"][0]["Containers"] == 1
    assert [row["SizeRw"] for row in df["Containers"]] == [8192]
    assert df["BuildCache"] == [{"ID": "cache1"}] and df["Volumes"] == []


def test_prune_removes_stopped_containers_that_match(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    running = r.add(1, "running", "2026-01-01T00:00:01Z")
    old = r.add(2, "exited", "2026-01-01T00:00:02Z", keep="no")
    kept = r.add(3, "exited", "2026-01-01T00:00:03Z", keep="yes")
    out = asyncio.run(r.system.prune_containers('{"label":{"keep=no":true}}'))
    assert out == {"ContainersDeleted": [old], "SpaceReclaimed": 16384}
    assert r.removals.removed == [old]
    assert {c.id for c in r.index.all()} == {running, kept}
    assert r.events.seen[-1] == ("container", "prune", "", {"reclaimed": "16384"})


def test_prune_with_nothing_to_do_says_null(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.add(1, "running", "2026-01-01T00:00:01Z")
    out = asyncio.run(r.system.prune_containers(""))
    assert out == {"ContainersDeleted": None, "SpaceReclaimed": 0}


def test_the_list_is_newest_first_running_only_unless_all(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    a = r.add(1, "running", "2026-01-01T00:00:01Z")
    b = r.add(2, "exited", "2026-01-01T00:00:02Z")
    c = r.add(3, "running", "2026-01-01T00:00:03Z")
    assert [row["Id"] for row in r.listing.list(False, -1, "", False)] == [c, a]
    assert [row["Id"] for row in r.listing.list(True, -1, "", False)] == [c, b, a]
    assert [row["Id"] for row in r.listing.list(True, 1, "", False)] == [c]
    exited = r.listing.list(True, -1, '{"status":["exited"]}', True)
    assert [(row["Id"], row["State"], row["SizeRw"], row["SizeRootFs"]) for row in exited] == [
        (b, "exited", 16384, 16384 + 1000)
    ]
    row = r.listing.row(r.index.find(a))
    assert row["Names"] == ["/c1"] and row["Command"] == "sh" and row["Status"].startswith("Up ")


def test_events_come_from_the_bus(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.events.emit("container", "start", "x", {})

    async def first() -> dict[str, Any]:
        async for event in r.system.events({}, None, None):
            return event
        raise AssertionError("no event")

    assert asyncio.run(first())["Action"] == "start"
