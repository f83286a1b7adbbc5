"""The engine's small shared pieces on their own: the routes' container backend
(ContainerAPI, ExecAPI) over fakes, runtimes, the monitor link, the task spawner, paths."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeMonitor, RecordingEvents, bare_container, containers_rig

from wharfie.engine.container_api import ContainerAPI, ExecAPI
from wharfie.engine.lifecycle_state import Move, transition
from wharfie.engine.listing import ContainerListing
from wharfie.engine.monitorlink import MonitorLink
from wharfie.engine.paths import Paths
from wharfie.engine.runtimes import Runtimes
from wharfie.engine.tasks import Tasks
from wharfie.errors import Conflict, InvalidArgument


class Execs:
    def __init__(self) -> None:
        self.forgotten: list[str] = []
        self.settled: list[str] = []

    def forget_container(self, ref: str) -> None:
        self.forgotten.append(ref)

    def get(self, eid: str) -> Any:
        return _Exec(eid)

    async def settle(self, ex: Any) -> None:
        self.settled.append(ex.id)


class _Exec:
    def __init__(self, eid: str) -> None:
        self.id = eid

    def inspect(self) -> dict[str, Any]:
        return {"ID": self.id}


class Pruner:
    async def prune_containers(self, raw_filters: str) -> dict[str, Any]:
        return {"filters": raw_filters}


def api(tmp_path: Path) -> tuple[ContainerAPI, Any, Execs]:
    rig = containers_rig(str(tmp_path))
    execs = Execs()
    a = ContainerAPI(
        index=rig.index,
        lifecycle=rig.ctr,
        listing=ContainerListing(
            index=rig.index, images=rig.ctr.images, volumes=rig.volumes, paths=rig.paths
        ),
        runtimes=rig.ctr.runtimes,
        runtime=rig.monitor,
        events=rig.events,
        files=None,  # type: ignore[arg-type]
        stats=None,  # type: ignore[arg-type]
        top=None,  # type: ignore[arg-type]
        execs=execs,  # type: ignore[arg-type]
        pruner=Pruner(),
        remove_link=lambda ref: None,
    )
    return a, rig, execs


def test_the_container_backend_delegates_and_renders(tmp_path: Path) -> None:
    a, rig, execs = api(tmp_path)

    async def main() -> None:
        made = await a.create({"Image": "busybox"}, "web", (1, 44))
        cid = made["Id"]
        with pytest.raises(Conflict, match=f"Container {cid} is not running"):
            await a.resize("web", 10, 20)
        assert await a.start("web")
        await a.resize("web", 10, 20)
        doc = await a.inspect("web", size=True)
        assert doc["Id"] == cid and doc["State"]["Running"] and "SizeRw" in doc
        assert "SizeRw" not in await a.inspect("web", size=False)
        a.attached(rig.index.find("web"))
        assert [row["Id"] for row in a.list_containers(False, -1, "", False)] == [cid]
        assert await a.prune("{}") == {"filters": "{}"}
        await rig.ctr.on_exit(cid, 0, None)
        await a.remove("web", force=False, volumes=False)

    asyncio.run(main())
    assert rig.monitor.resized == [(rig.monitor.started[0].id, 10, 20)]
    assert rig.events.actions() == ["create", "start", "attach", "die", "destroy"]
    assert execs.forgotten == ["web"], "a removed container's execs are forgotten"


def test_the_exec_backend_settles_before_inspecting() -> None:
    execs, monitor = Execs(), FakeMonitor()
    x = ExecAPI(execs=execs, runtime=monitor)  # type: ignore[arg-type]

    async def main() -> dict[str, Any]:
        await x.resize("e1", 5, 6)
        return await x.inspect("e1")

    assert asyncio.run(main()) == {"ID": "e1"}
    assert execs.settled == ["e1"] and monitor.resized == [("e1", 5, 6)]


def test_runtimes_resolve_names_and_refuse_unknown_ones(tmp_path: Path) -> None:
    r = Runtimes("wharfie-runtime", str(tmp_path), {"mine": "/opt/mine"})
    ours = r.ref(None)
    assert (ours.name, ours.in_process, ours.root) == (
        "wharfie-runtime",
        True,
        str(tmp_path / "runtime" / "wharfie-runtime"),
    )
    assert r.ref("mine").path == "/opt/mine" and not r.ref("mine").in_process
    with pytest.raises(InvalidArgument, match="unknown or invalid runtime name: nope-rt"):
        r.check("nope-rt")
    assert r.warnings("nope-rt") == [] and r.warnings("wharfie-runtime") == []


def test_the_monitor_link_refuses_calls_until_connected() -> None:
    link = MonitorLink()
    assert not link.connected
    with pytest.raises(RuntimeError, match="the monitor is not connected"):
        asyncio.run(link.signal("x", 9))


def test_tasks_keep_a_reference_and_log_failures(caplog: pytest.LogCaptureFixture) -> None:
    tasks = Tasks()

    async def boom() -> None:
        raise ValueError("background boom")

    async def main() -> None:
        task = tasks.spawn(boom())
        assert task in tasks.tasks
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="wharfie.engine"):
        asyncio.run(main())
    assert tasks.tasks == set()
    assert "background task failed" in caplog.text and "background boom" in caplog.text


def test_paths_of_a_container(tmp_path: Path) -> None:
    p = Paths(str(tmp_path / "d"), str(tmp_path / "e"))
    p.make_roots()
    assert Path(p.containers_root()).is_dir() and Path(p.netns_root()).is_dir()
    assert p.rootfs("c") == str(tmp_path / "e" / "containers" / "c" / "rootfs")
    assert p.rw_upper("c") == str(tmp_path / "d" / "containers" / "c" / "rw" / "upper")
    assert not p.rootfs_mounted("c")
    assert p.monitor_socket() == str(tmp_path / "e" / "monitor.sock")


def test_a_removing_container_ignores_a_late_restart(tmp_path: Path) -> None:
    c = bare_container()
    transition(c, Move.START, RecordingEvents(), pid=1)
    transition(c, Move.EXIT, RecordingEvents(), code=1)
    transition(c, Move.REMOVE, RecordingEvents())
    rig = containers_rig(str(tmp_path))
    rig.index.add(c)
    asyncio.run(rig.ctr._restart_later(c))
    assert c.state.status == "exited" and not c.state.restarting
