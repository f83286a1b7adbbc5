"""exec: extra processes in a running container, created then started, as Docker does.

The process spec starts from the container's own (bundle config.json) so an exec
gets the same capabilities, environment and seccomp policy, then applies the exec's
Cmd, Env, WorkingDir, User, Tty and Privileged.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wharfie.engine import users, validate
from wharfie.engine.emitter import Events
from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.engine.paths import Paths
from wharfie.errors import Conflict, NotFound
from wharfie.monitor.client import ExecRequest, RuntimeRef, StartError
from wharfie.oci import jsonio
from wharfie.oci.capabilities import NAMES as ALL_CAPS

KEEP_DONE = 600.0  # seconds an ended exec stays inspectable


def _future() -> asyncio.Future[int]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class Exec:
    """One exec: its validated config (`validate.exec_create`) and what became of it."""

    id: str
    container: Container
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    started: bool = False
    ended_at: float = 0.0  # time.monotonic() of its end
    done: asyncio.Future[int] = field(default_factory=_future)

    def inspect(self) -> dict[str, Any]:
        from wharfie.engine import present_exec

        return present_exec.inspect(self)


class Launcher(Protocol):
    """Starts an exec's process (the monitor client)."""

    async def exec(self, req: ExecRequest, sock_fd: int | None) -> int: ...


class Execs:
    """Built with the container index, the event bus, the monitor (`launcher()`: the
    connected client, which changes when the monitor is reconnected), the runtime of a
    container (`runtime_ref(name)`) and the paths (a container's bundle)."""

    def __init__(
        self,
        index: ContainerIndex,
        events: Events,
        launcher: Callable[[], Launcher],
        runtime_ref: Callable[[str | None], RuntimeRef],
        paths: Paths,
    ) -> None:
        self.index = index
        self.events = events
        self.launcher = launcher
        self.runtime_ref = runtime_ref
        self.paths = paths
        self.by_id: dict[str, Exec] = {}

    def create(self, ref: str, body: Any) -> str:
        c = self.index.find(ref)
        config = validate.exec_create(body)
        _check_running(c)
        self._expire()
        eid = secrets.token_hex(32)
        self.by_id[eid] = Exec(eid, c, config)
        c.doc["ExecIDs"] = [*(c.doc.get("ExecIDs") or []), eid]
        self.events.emit(
            "container",
            f"exec_create: {' '.join(config['Cmd'])}",
            c.id,
            {**c.event_attrs(), "execID": eid},
        )
        return eid

    def get(self, eid: str) -> Exec:
        ex = self.by_id.get(eid)
        if ex is None:
            raise NotFound(f"No such exec instance: {eid}")
        return ex

    def check_startable(self, ex: Exec) -> None:
        if ex.started:
            raise Conflict(f"Error: Exec command {ex.id} has already run")
        _check_running(ex.container)

    async def start(
        self,
        ex: Exec,
        sock_fd: int | None,
        console: tuple[int, int] | None,
        stream_tty: bool | None = None,
    ) -> int:
        """Start the process; with sock_fd its stdio is that (hijacked) socket, raw or in
        Docker's frames as `stream_tty` says (the start request's Tty; None: the exec's).
        Returns the pid."""
        self.check_startable(ex)
        ex.started = True
        c = ex.container
        req = ExecRequest(
            container_id=c.id,
            exec_id=ex.id,
            runtime=self.runtime_ref(c.runtime or None),
            process=self._process(ex),
            tty=bool(ex.config.get("Tty")),
            stdin=bool(ex.config.get("AttachStdin")),
            stdout=bool(ex.config.get("AttachStdout")),
            stderr=bool(ex.config.get("AttachStderr")),
            detach_keys=_keys(ex.config.get("DetachKeys")),
            console_size=console,
            stream_tty=stream_tty,
        )
        try:
            ex.pid = await self.launcher().exec(req, sock_fd)
        except StartError as exc:
            msg = str(exc)
            self.finish(ex, 127 if "not found" in msg or "no such file" in msg else 126)
            raise
        ex.running = ex.exit_code is None  # a short process may have exited already
        self.events.emit(
            "container",
            f"exec_start: {' '.join(ex.config['Cmd'])}",
            c.id,
            {**c.event_attrs(), "execID": ex.id},
        )
        return ex.pid

    async def settle(self, ex: Exec) -> None:
        """A client that read its exec's stream to the end asks for the exit code at once:
        if the process is already gone, wait the moment it takes its exit to reach us."""
        if ex.running and not _alive(ex.pid):
            try:
                await asyncio.wait_for(asyncio.shield(ex.done), 2.0)
            except TimeoutError:
                pass  # the monitor is slow: report it as still running

    def still_running(self, eid: str) -> bool:
        """Whether an exec known here has not reported its exit yet."""
        ex = self.by_id.get(eid)
        return ex is not None and ex.exit_code is None

    def on_exit(self, eid: str, code: int) -> None:
        ex = self.by_id.get(eid)
        if ex is not None:
            self.finish(ex, code)
            self.events.emit(
                "container",
                "exec_die",
                ex.container.id,
                {**ex.container.event_attrs(), "execID": eid, "exitCode": str(code)},
            )

    def finish(self, ex: Exec, code: int) -> None:
        ex.running = False
        ex.exit_code = code
        ex.ended_at = time.monotonic()
        if not ex.done.done():
            ex.done.set_result(code)

    def _process(self, ex: Exec) -> dict[str, Any]:
        c = ex.container
        with open(os.path.join(self.paths.bundle_dir(c.id), "config.json")) as f:
            base: dict[str, Any] = jsonio.loads(f.read())["process"]
        proc = dict(base)
        proc["args"] = list(ex.config["Cmd"])
        proc["terminal"] = bool(ex.config.get("Tty"))
        env = list(base.get("env") or [])
        extra = list(ex.config.get("Env") or [])
        keys = {e.split("=", 1)[0] for e in extra}
        proc["env"] = [e for e in env if e.split("=", 1)[0] not in keys] + extra
        if ex.config.get("Tty") and not any(e.startswith("TERM=") for e in proc["env"]):
            proc["env"].append("TERM=xterm")
        if ex.config.get("WorkingDir"):
            proc["cwd"] = ex.config["WorkingDir"]
        if ex.config.get("User"):
            rootfs = os.path.join(self.paths.bundle_dir(c.id), "rootfs")
            uid, gid, groups = users.resolve_user(rootfs, str(ex.config["User"]))
            proc["user"] = {"uid": uid, "gid": gid, "additionalGids": groups}
        if ex.config.get("Privileged"):
            caps = sorted(ALL_CAPS)
            proc["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
        proc.pop("consoleSize", None)
        return proc

    def _expire(self) -> None:
        now = time.monotonic()
        for eid in [
            e for e, x in self.by_id.items() if x.ended_at and now - x.ended_at > KEEP_DONE
        ]:
            del self.by_id[eid]

    def forget_container(self, cid: str) -> None:
        for eid in [e for e, x in self.by_id.items() if x.container.id == cid]:
            del self.by_id[eid]


PF_EXITING = 0x4  # linux/sched.h: set first thing in do_exit, before the process's files close


def _alive(pid: int) -> bool:
    """False once the process is exiting or has exited (gone, a zombie waiting for its reaper,
    or on its way there: a client that saw its stream end must not see it running)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0] != b"Z" and not int(fields[6]) & PF_EXITING
    except (OSError, IndexError, ValueError):
        return False


def _check_running(c: Container) -> None:
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    if c.paused:
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")


def _keys(spec: Any) -> bytes | None:
    return validate.detach_keys(str(spec)) if spec else None
