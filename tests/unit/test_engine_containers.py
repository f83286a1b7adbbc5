"""The container lifecycle service on its own, over fakes of the monitor, the store, the
event bus, volumes, networking and the rootfs: what it records, asks and announces."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fakes import Rig, containers_rig

from wharfie.engine.lifecycle_state import Move, transition
from wharfie.errors import Conflict, InvalidArgument, NotFound, WharfieError

Scenario = Callable[[Rig], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario) -> Rig:
    rig = containers_rig(str(tmp_path))

    async def main() -> None:
        await scenario(rig)
        await rig.tasks.settle()

    asyncio.run(main())
    return rig


async def created(rig: Rig, name: str = "web", **body: Any) -> str:
    out = await rig.ctr.create({"Image": "busybox", **body}, name, (1, 44))
    return str(out["Id"])


async def running(rig: Rig, name: str = "web", **body: Any) -> str:
    cid = await created(rig, name, **body)
    assert await rig.ctr.start(cid)
    return cid


def test_create_records_and_announces_a_container(tmp_path: Path) -> None:
    ids: list[str] = []

    async def scenario(rig: Rig) -> None:
        ids.append(await created(rig, Labels={"a": "b"}))

    rig = run(tmp_path, scenario)
    cid = ids[0]
    c = rig.index.find("web")
    assert c.id == cid and c.state.status == "created"
    assert c.runtime == "wharfie-runtime" and (c.path, c.args) == ("sh", [])
    stored = rig.store.doc(cid)
    assert stored["Name"] == "/web" and stored["State"]["Status"] == "created"
    assert stored["_w"]["runtime"] == "wharfie-runtime"
    assert rig.events.seen == [
        ("container", "create", cid, {"name": "web", "image": "busybox", "a": "b"})
    ]
    assert Path(rig.paths.container_dir(cid), "rw", "upper").is_dir()


def test_create_refuses_a_taken_name_and_a_bad_one(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await created(rig)
        with pytest.raises(Conflict, match='The container name "/web" is already in use'):
            await created(rig)
        with pytest.raises(InvalidArgument, match="Invalid container name"):
            await created(rig, "-bad")
        with pytest.raises(NotFound):
            await rig.ctr.create({"Image": "nope"}, "", (1, 44))

    rig = run(tmp_path, scenario)
    assert rig.events.actions() == ["create"]


def test_start_launches_through_the_monitor_and_records_running(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig)
        assert not await rig.ctr.start(cid), "a second start is a 304"

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert (c.state.status, c.state.pid, c.manual_stop) == ("running", 100, False)
    assert [r.id for r in rig.monitor.started] == [c.id]
    assert rig.monitor.started[0].log_path and rig.monitor.started[0].log_path.endswith(
        f"{c.id}-json.log"
    )
    assert Path(rig.paths.bundle_dir(c.id), "config.json").is_file()
    assert rig.net.prepared == [c.id] and c.id in rig.health.watching
    assert rig.events.actions() == ["create", "start"]
    assert rig.store.doc(c.id)["State"]["Running"] is True


def test_a_failed_start_says_die_with_docker_exit_codes(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await created(rig)
        rig.monitor.start_error = WharfieError('exec: "nope": executable file not found')
        with pytest.raises(WharfieError):
            await rig.ctr.start(cid)

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert (c.state.status, c.state.exit_code, c.state.running) == ("created", 127, False)
    assert rig.events.seen[-1][1:2] == ("die",) and rig.events.seen[-1][3]["exitCode"] == "127"
    assert rig.net.released == [c.id], "what the launch took is given back"


def test_exit_releases_reports_and_wakes_waiters(tmp_path: Path) -> None:
    results: list[dict[str, Any]] = []

    async def scenario(rig: Rig) -> None:
        cid = await running(rig)
        waiter = await rig.ctr.wait(cid, "")
        await rig.ctr.on_exit(cid, 3, 1767225600.5)
        results.append(await waiter)

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert (c.state.status, c.state.exit_code) == ("exited", 3)
    assert c.state.finished_at == "2026-01-01T00:00:00.5Z"
    assert results == [{"StatusCode": 3, "Error": None}]
    assert rig.monitor.forgotten == [c.id] and c.id not in rig.health.watching
    assert rig.events.actions() == ["create", "start", "die"]
    assert rig.events.seen[-1][3]["exitCode"] == "3"


def test_an_exit_of_a_container_that_is_not_running_is_ignored(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await created(rig)
        await rig.ctr.on_exit(cid, 1, None)
        await rig.ctr.on_exit("f" * 64, 1, None)  # unknown: nothing happens

    rig = run(tmp_path, scenario)
    assert rig.index.find("web").state.status == "created"
    assert rig.events.actions() == ["create"]


def test_pause_and_unpause_go_through_the_runtime(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig)
        await rig.ctr.pause(cid)
        with pytest.raises(Conflict, match="is already paused"):
            await rig.ctr.pause(cid)
        with pytest.raises(Conflict, match="cannot start a paused container"):
            await rig.ctr.start(cid)
        await rig.ctr.unpause(cid)
        with pytest.raises(Conflict, match="is not paused"):
            await rig.ctr.unpause(cid)

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert rig.monitor.runtime_calls == [["pause", c.id], ["resume", c.id]]
    assert rig.events.actions() == ["create", "start", "pause", "unpause"]
    assert c.state.status == "running"


def test_a_runtime_that_fails_to_pause_changes_nothing(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig)
        rig.monitor.answers["pause"] = (1, "", "no freezer")
        with pytest.raises(WharfieError, match="pause failed: no freezer"):
            await rig.ctr.pause(cid)

    rig = run(tmp_path, scenario)
    assert rig.index.find("web").state.status == "running"
    assert "pause" not in rig.events.actions()


def test_pause_of_a_created_container_is_refused_before_the_runtime(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await created(rig)
        with pytest.raises(Conflict, match=r"Container [0-9a-f]{64} is not running"):
            await rig.ctr.pause(cid)

    rig = run(tmp_path, scenario)
    assert rig.monitor.runtime_calls == []


def test_stop_signals_then_waits_for_the_exit(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig, StopSignal="SIGUSR1")

        async def exits_when_signalled() -> None:
            while not rig.monitor.signals:
                await asyncio.sleep(0.001)
            await rig.ctr.on_exit(cid, 0, None)

        task = asyncio.ensure_future(exits_when_signalled())
        assert await rig.ctr.stop(cid, 5, None)
        await task
        assert not await rig.ctr.stop(cid, 5, None), "stopping a stopped container is a 304"

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert rig.monitor.signals == [(c.id, 10)]
    assert c.manual_stop is True and c.state.status == "exited"
    assert rig.events.actions() == ["create", "start", "die"]


def test_kill_wording_and_events(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await created(rig)
        with pytest.raises(Conflict, match=f"Cannot kill container: web: Container {cid} is"):
            await rig.ctr.kill("web", "KILL")
        await rig.ctr.start(cid)
        await rig.ctr.kill("web", "HUP")

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert rig.monitor.signals == [(c.id, 1)]
    assert rig.events.seen[-1][1] == "kill" and rig.events.seen[-1][3]["signal"] == "1"
    assert c.manual_stop is False, "only KILL and TERM count as a manual stop"


def test_an_always_policy_restarts_after_an_exit(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig, HostConfig={"RestartPolicy": {"Name": "always"}})
        await rig.ctr.on_exit(cid, 1, None)
        c = rig.index.find(cid)
        assert c.restart_task is not None
        await c.restart_task

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert (c.state.status, c.restart_count, c.state.pid) == ("running", 1, 101)
    assert rig.events.actions() == ["create", "start", "die", "restart", "start"]


def test_a_stop_while_restarting_cancels_the_restart(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig, HostConfig={"RestartPolicy": {"Name": "always"}})
        await rig.ctr.on_exit(cid, 1, None)
        await asyncio.sleep(0)  # the restart task marks it restarting, then sleeps
        c = rig.index.find(cid)
        assert c.state.status == "restarting"
        assert not await rig.ctr.stop(cid, 1, None)

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert (c.state.status, c.state.restarting, c.restart_count) == ("exited", False, 0)
    assert len(rig.monitor.started) == 1
    assert rig.store.doc(c.id)["State"]["Status"] == "exited"


def test_remove_refuses_a_running_container_without_force(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await running(rig)
        with pytest.raises(Conflict, match='cannot remove container "/web": container is running'):
            await rig.ctr.remove("web", force=False, volumes=False)

    rig = run(tmp_path, scenario)
    assert rig.index.find("web").running


def test_remove_gives_everything_back_and_says_destroy(tmp_path: Path) -> None:
    results: list[dict[str, Any]] = []

    async def scenario(rig: Rig) -> None:
        cid = await created(rig)
        gone = await rig.ctr.wait(cid, "removed")
        await rig.ctr.remove("web", force=False, volumes=True)
        results.append(await gone)
        with pytest.raises(NotFound):
            rig.index.find(cid)

    rig = run(tmp_path, scenario)
    assert rig.store.rows == {}
    assert rig.volumes.detached and rig.volumes.detached[0][1] is True
    assert rig.net.forgotten and results == [{"StatusCode": 0, "Error": None}]
    assert rig.events.actions() == ["create", "destroy"]
    assert list(Path(rig.paths.containers_root()).iterdir()) == []


def test_force_remove_of_a_running_container_kills_it_first(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig)

        async def exits_when_killed() -> None:
            while not rig.monitor.signals:
                await asyncio.sleep(0.001)
            await rig.ctr.on_exit(cid, 137, None)

        task = asyncio.ensure_future(exits_when_killed())
        await rig.ctr.remove(cid, force=True, volumes=False)
        await task

    rig = run(tmp_path, scenario)
    assert rig.monitor.signals[0][1] == 9
    assert rig.events.actions()[-2:] == ["die", "destroy"]
    assert rig.index.all() == []


def test_start_of_a_container_being_removed_is_refused(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await created(rig)
        transition(rig.index.find(cid), Move.REMOVE, rig.events)
        with pytest.raises(Conflict, match="container is marked for removal and cannot be started"):
            await rig.ctr.start(cid)
        with pytest.raises(Conflict, match="removal of container web is already in progress"):
            await rig.ctr.remove("web", force=False, volumes=False)

    rig = run(tmp_path, scenario)
    assert rig.monitor.started == []


def test_rename_moves_the_name_and_says_so(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await created(rig)
        await created(rig, "other")
        with pytest.raises(Conflict, match="Error when allocating new name"):
            rig.ctr.rename("web", "other")
        rig.ctr.rename("web", "new")

    rig = run(tmp_path, scenario)
    c = rig.index.find("new")
    with pytest.raises(NotFound):
        rig.index.find("web")
    assert rig.store.doc(c.id)["Name"] == "/new"
    assert rig.events.seen[-1][1] == "rename" and rig.events.seen[-1][3]["oldName"] == "/web"


def test_update_of_a_running_container_asks_the_runtime(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig)
        await rig.ctr.update(cid, {"Memory": 64 << 20})

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert rig.monitor.runtime_calls[-1][:2] == ["update", "-r"]
    assert c.host_config["Memory"] == 64 << 20
    assert rig.store.doc(c.id)["HostConfig"]["Memory"] == 64 << 20
    assert rig.events.actions()[-1] == "update"


def test_auto_remove_after_exit(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig, HostConfig={"AutoRemove": True})
        await rig.ctr.on_exit(cid, 0, None)

    rig = run(tmp_path, scenario)
    assert rig.index.all() == [] and rig.store.rows == {}
    assert rig.events.actions() == ["create", "start", "die", "destroy"]


def test_remove_of_a_paused_container_needs_force_as_dockerd_says(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        cid = await running(rig)
        await rig.ctr.pause(cid)
        with pytest.raises(Conflict, match=f"You cannot remove a paused container {cid}"):
            await rig.ctr.remove(cid, force=False, volumes=False)

    rig = run(tmp_path, scenario)
    assert rig.index.find("web").paused and not rig.index.find("web").removing


def test_two_exits_of_one_run_record_one(tmp_path: Path) -> None:
    """The monitor's exit event and a re-adoption after a monitor restart may both report
    the same exit: the second finds it recorded and changes nothing."""

    async def scenario(rig: Rig) -> None:
        cid = await running(rig)
        await asyncio.gather(rig.ctr.on_exit(cid, 3, None), rig.ctr.on_exit(cid, 3, None))

    rig = run(tmp_path, scenario)
    c = rig.index.find("web")
    assert (c.state.status, c.state.exit_code) == ("exited", 3)
    assert rig.events.actions() == ["create", "start", "die"]
    assert rig.net.released == [c.id, c.id], "both released (idempotent)"
