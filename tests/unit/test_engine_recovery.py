"""Start-up recovery and the monitor's death and return, on fakes: what the monitor says
runs is adopted, what exited while we were away goes through the exit path, what nobody
runs is marked exited, leftovers of unknown containers are removed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from fakes import FakeHealth, FakeMonitor, FakeStore, FakeVolumes, RecordingEvents

from wharfie.engine import present_container
from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import Move, State, transition
from wharfie.engine.links import Links
from wharfie.engine.model import Container
from wharfie.engine.paths import Paths
from wharfie.engine.recovery import Recovery


class FakeLifecycle:
    """The container service as recovery calls it; exits go through the transition."""

    def __init__(self, index: ContainerIndex, events: RecordingEvents) -> None:
        self.index, self.events = index, events
        self.calls: list[tuple[str, str]] = []

    async def start(self, ref: str) -> bool:
        self.calls.append(("start", ref))
        return True

    async def on_exit(self, cid: str, code: int, finished: float | str | None) -> None:
        self.calls.append(("on_exit", cid))
        transition(self.index.find(cid), Move.EXIT, self.events, code=code)

    async def release(self, c: Container) -> None:
        self.calls.append(("release", c.id))

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        self.calls.append(("remove", ref))
        self.index.drop(self.index.find(ref))

    def cgroups_path(self, c: Container) -> str:
        return f"/wharfie-unit-test-no-such-cgroup/{c.id}"


class FakeBridge:
    def __init__(self, stale: list[str]) -> None:
        self.stale, self.removed = stale, list[str]()

    def stale_links(self, running: set[str]) -> list[str]:
        return self.stale

    def remove_link(self, name: str) -> None:
        self.removed.append(name)


def record(n: int, state: State, **host: Any) -> dict[str, Any]:
    c = Container(
        id=str(n) * 64,
        name=f"c{n}",
        created="2026-01-01T00:00:00Z",
        path="sh",
        args=[],
        doc={"Config": {"Image": "busybox"}, "HostConfig": dict(host)},
        state=state,
    )
    return present_container.stored(c)


class FakeExecs:
    """Exec sessions: `running` ids, and the exits recorded."""

    def __init__(self, running: set[str]) -> None:
        self.running = set(running)
        self.exits: dict[str, int] = {}

    def still_running(self, eid: str) -> bool:
        return eid in self.running

    def on_exit(self, eid: str, code: int) -> None:
        self.running.discard(eid)
        self.exits[eid] = code


class World:
    def __init__(self, root: Path, rows: list[dict[str, Any]]) -> None:
        self.store = FakeStore(rows)
        self.index = ContainerIndex(self.store)
        self.events = RecordingEvents()
        self.monitor = FakeMonitor()
        self.lifecycle = FakeLifecycle(self.index, self.events)
        self.health, self.volumes = FakeHealth(), FakeVolumes()
        self.bridge = FakeBridge(["veth-stale"])
        self.paths = Paths(str(root / "data"), str(root / "exec"))
        self.paths.make_roots()
        self.warnings: list[str] = []
        self.execs = FakeExecs({"e-running", "e-ended"})
        self.recovery = Recovery(
            index=self.index,
            store=self.store,
            runtime=self.monitor,
            lifecycle=self.lifecycle,
            health=self.health,
            volumes=self.volumes,
            bridge=self.bridge,
            links=Links(self.index, "b" * 64),
            paths=self.paths,
            events=self.events,
            warnings=self.warnings,
            daemon_id="d" * 64,
            execs=self.execs,
        )


RUNNING = State(status="running", running=True, pid=10, started_at="2026-01-01T00:00:01Z")


def test_recover_adopts_finishes_and_marks_lost(tmp_path: Path) -> None:
    rows = [
        record(1, RUNNING),  # still running: adopted with the monitor's pid
        record(2, RUNNING),  # exited while we were away
        record(3, RUNNING),  # unknown to the monitor: lost
        record(4, State()),  # created: left alone
        record(5, State(), RestartPolicy={"Name": "always"}),  # started again
        record(6, State(status="exited", exit_code=1), AutoRemove=True),  # removed
    ]
    w = World(tmp_path, rows)
    w.monitor.containers = [
        {"id": "1" * 64, "status": "running", "pid": 4242},
        {"id": "2" * 64, "status": "exited", "exit_code": 3},
    ]
    asyncio.run(w.recovery.recover())
    c1, c2, c3, c4 = (w.index.find(str(n) * 64) for n in (1, 2, 3, 4))
    assert (c1.state.status, c1.state.pid) == ("running", 4242)
    assert c1.state.started_at == RUNNING.started_at, "adoption keeps the start time"
    assert w.store.doc(c1.id)["State"]["Pid"] == 4242 and c1.id in w.health.watching
    assert (c2.state.status, c2.state.exit_code) == ("exited", 3)
    assert (c3.state.status, c3.state.exit_code) == ("exited", 255)
    assert ("release", c3.id) in w.lifecycle.calls
    assert c4.state.status == "created"
    assert ("start", "5" * 64) in w.lifecycle.calls
    assert ("remove", "6" * 64) in w.lifecycle.calls and w.index.get("6" * 64) is None
    assert w.volumes.recovered == 1 and w.bridge.removed == ["veth-stale"]
    assert w.events.actions() == ["die"], "only the exit seen late is announced"


def test_recover_removes_leftovers_of_unknown_containers(tmp_path: Path) -> None:
    w = World(tmp_path, [record(1, State())])
    orphan = Path(w.paths.container_dir("9" * 64), "rw")
    orphan.mkdir(parents=True)
    kept = Path(w.paths.container_dir("1" * 64))
    kept.mkdir()
    bundle = Path(w.paths.bundle_dir("8" * 64))
    bundle.mkdir()
    asyncio.run(w.recovery.recover())
    assert not orphan.parent.exists() and not bundle.exists() and kept.is_dir()


def test_the_monitor_dying_is_a_warning_and_an_event(tmp_path: Path) -> None:
    w = World(tmp_path, [])
    w.recovery.monitor_lost()
    w.recovery.monitor_lost()
    assert len(w.warnings) == 1 and "the container monitor died" in w.warnings[0]
    assert w.events.actions() == ["monitor-died", "monitor-died"]
    assert w.events.seen[0][:3] == ("daemon", "monitor-died", "d" * 64)


def test_a_new_monitor_re_adopts_and_finishes_what_ended(tmp_path: Path) -> None:
    w = World(tmp_path, [record(1, RUNNING), record(2, RUNNING), record(3, RUNNING)])
    asyncio.run(w.recovery.recover())  # nothing known: all three lost...
    for n in (1, 2, 3):  # ...so make them running again, as if started since
        transition(w.index.find(str(n) * 64), Move.START, RecordingEvents(), pid=n)
    w.events.seen.clear()
    hello = {
        "containers": [
            {"id": "1" * 64, "status": "running", "pid": 111},
            {"id": "2" * 64, "status": "exited", "exit_code": 0},
        ]
    }
    asyncio.run(w.recovery.monitor_back(hello))
    c1, c2, c3 = (w.index.find(str(n) * 64) for n in (1, 2, 3))
    assert c1.state.pid == 111 and c1.running
    assert c2.state.status == "exited"
    assert c3.running, "one the new monitor does not know is left running, not killed"
    assert w.events.actions() == ["die", "monitor-restarted"]
    assert w.events.seen[-1][3]["containers"] == "1"
    assert os.path.isdir(w.paths.containers_root())


def test_a_new_monitor_reports_execs_that_ended_while_none_ran(tmp_path: Path) -> None:
    import asyncio

    w = World(tmp_path, [])
    hello = {
        "containers": [],
        "execs": [
            {"exec_id": "e-running", "status": "running"},
            {"exec_id": "e-ended", "status": "exited", "exit_code": 5},
            {"exec_id": "e-unknown", "status": "exited", "exit_code": 1},
        ],
    }
    asyncio.run(w.recovery.monitor_back(hello))
    assert w.execs.exits == {"e-ended": 5}
    assert w.execs.running == {"e-running"}


def test_recover_drops_links_to_containers_that_are_gone(tmp_path: Path) -> None:
    """As dockerd's registerLinks at start-up: a link whose child was removed (dangling
    until then) is dropped; a link to a container that exists is kept."""
    parent = record(1, State(), Links=["/c2:/c1/kept", "/gone:/c1/old"])
    parent["_w"]["links"] = [
        {"child": "2" * 64, "alias": "kept"},
        {"child": "9" * 64, "alias": "old", "gone": "/gone", "boot": "an-earlier-daemon"},
    ]
    w = World(tmp_path, [parent, record(2, State())])
    asyncio.run(w.recovery.recover())
    c1 = w.index.find("1" * 64)
    assert c1.private["links"] == [{"child": "2" * 64, "alias": "kept"}]
    assert c1.doc["HostConfig"]["Links"] == ["/c2:/c1/kept"]
    assert w.store.doc(c1.id)["HostConfig"]["Links"] == ["/c2:/c1/kept"]
