"""engine/execs.py's Execs, built on its own: a fake monitor (the launcher), an event bus
and a container index; the container's bundle config.json is a real file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fakes_services import Events, Launcher, container, index_of, runtime_ref

from wharfie.engine.execs import Execs
from wharfie.engine.paths import Paths
from wharfie.errors import Conflict, NotFound
from wharfie.monitor.client import StartError

CID = "c1" * 32


def make(tmp_path: Path, launcher: Launcher, running: bool = True) -> tuple[Execs, Events]:
    bundle = tmp_path / "exec" / "containers" / CID
    bundle.mkdir(parents=True)
    process = {"args": ["sh"], "env": ["PATH=/bin", "HOME=/root"], "cwd": "/", "user": {}}
    (bundle / "config.json").write_text(json.dumps({"process": process}))
    events = Events()
    c = container(CID, "web", running=running, config={"Labels": {"app": "x"}})
    execs = Execs(
        index_of(c),
        events,
        lambda: launcher,
        runtime_ref,
        Paths(str(tmp_path / "data"), str(tmp_path / "exec")),
    )
    return execs, events


def test_an_exec_is_created_started_and_ends(tmp_path: Path) -> None:
    launcher = Launcher(pid=4321)

    async def scenario() -> None:
        execs, events = make(tmp_path, launcher)
        eid = execs.create("web", {"Cmd": ["ls", "-l"], "Env": ["HOME=/tmp"], "Tty": True})
        ex = execs.get(eid)
        assert ex.inspect()["Running"] is False
        assert ex.inspect()["ProcessConfig"] == {
            "tty": True,
            "entrypoint": "ls",
            "arguments": ["-l"],
            "privileged": False,
        }
        assert await execs.start(ex, None, None) == 4321
        (req,) = launcher.requests
        assert req.container_id == CID and req.exec_id == eid
        assert req.process["args"] == ["ls", "-l"]
        assert req.process["env"] == ["PATH=/bin", "HOME=/tmp", "TERM=xterm"]
        assert req.runtime.name == "wharfie-runtime"
        shown = ex.inspect()
        assert (shown["Running"], shown["Pid"], shown["ContainerID"]) == (True, 4321, CID)
        with pytest.raises(Conflict, match="has already run"):
            await execs.start(ex, None, None)
        execs.on_exit(eid, 3)
        assert await ex.done == 3
        assert (ex.inspect()["Running"], ex.inspect()["ExitCode"]) == (False, 3)
        actions = [a for _, a, _, _ in events.seen]
        assert actions == ["exec_create: ls -l", "exec_start: ls -l", "exec_die"]
        assert events.seen[-1][3]["exitCode"] == "3"
        assert events.seen[-1][3]["app"] == "x"
        execs.forget_container(CID)
        with pytest.raises(NotFound, match="No such exec instance"):
            execs.get(eid)

    asyncio.run(scenario())


def test_a_command_that_cannot_start_ends_with_docker_exit_codes(tmp_path: Path) -> None:
    launcher = Launcher(error="exec: nope: no such file or directory")

    async def scenario() -> None:
        execs, _ = make(tmp_path, launcher)
        ex = execs.get(execs.create(CID, {"Cmd": ["nope"]}))
        with pytest.raises(StartError):
            await execs.start(ex, None, None)
        assert ex.exit_code == 127 and not ex.running

    asyncio.run(scenario())


def test_exec_needs_a_running_container(tmp_path: Path) -> None:
    async def scenario() -> None:
        execs, events = make(tmp_path, Launcher(), running=False)
        with pytest.raises(Conflict, match=f"Container {CID} is not running"):
            execs.create(CID, {"Cmd": ["true"]})
        with pytest.raises(NotFound):
            execs.create("nobody", {"Cmd": ["true"]})
        assert events.seen == []

    asyncio.run(scenario())
