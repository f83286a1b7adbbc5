"""Health checks: the image's or the run's HEALTHCHECK, probed with exec, as Docker does.

Status goes "starting" -> "healthy" on the first passing probe, and "unhealthy"
after `Retries` failures in a row; failures inside the start period do not count.
Each probe's output (up to 4 KiB) and exit code are kept (the last five), shown by
inspect under State.Health, and status changes are events ("health_status: ...").
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, Protocol

from wharfie.engine import present
from wharfie.engine.lifecycle_state import EventSink, notify
from wharfie.engine.model import Container, HealthRecord
from wharfie.engine.tasks import Spawner
from wharfie.errors import WharfieError

log = logging.getLogger("wharfie.engine")

SECOND = 1_000_000_000
MAX_OUTPUT = 4096
KEEP = 5


def probe_command(test: list[str]) -> list[str] | None:
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:]) or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return list(test)


class ProbeExecs(Protocol):
    """What a probe needs of the exec service: make an exec, start it on a socket."""

    def create(self, ref: str, body: Any) -> str: ...

    def get(self, eid: str) -> Any: ...

    async def start(self, ex: Any, sock_fd: int | None, console: tuple[int, int] | None) -> Any: ...


class Saver(Protocol):
    def save(self, c: Container) -> None: ...


class Health:
    def __init__(
        self, *, execs: ProbeExecs, index: Saver, events: EventSink, tasks: Spawner
    ) -> None:
        self.execs = execs
        self.index = index
        self.events = events
        self.tasks = tasks

    def watch(self, c: Container) -> None:
        hc = c.config.get("Healthcheck") or {}
        cmd = probe_command(list(hc.get("Test") or []))
        if cmd is None:
            c.health = None
            return
        c.health = HealthRecord()
        c.health_task = self.tasks.spawn(self._loop(c, hc, cmd))

    def stop(self, c: Container) -> None:
        if c.health_task is not None:
            c.health_task.cancel()
            c.health_task = None

    async def _loop(self, c: Container, hc: dict[str, Any], cmd: list[str]) -> None:
        interval = (hc.get("Interval") or 30 * SECOND) / SECOND
        timeout = (hc.get("Timeout") or 30 * SECOND) / SECOND
        start_period = (hc.get("StartPeriod") or 0) / SECOND
        start_interval = (hc.get("StartInterval") or 5 * SECOND) / SECOND
        retries = int(hc.get("Retries") or 3)
        began = time.monotonic()
        while c.running:
            in_start = time.monotonic() - began < start_period
            await asyncio.sleep(start_interval if in_start and start_period else interval)
            if not c.running:
                return
            if c.paused:
                continue
            code, output, started = await self._probe(c, cmd, timeout)
            self._record(c, code, output, started, retries, in_start)

    async def _probe(self, c: Container, cmd: list[str], timeout: float) -> tuple[int, str, str]:
        started = present.rfc3339nano(time.time_ns())
        ours, theirs = socket.socketpair()
        try:
            ex_id = self.execs.create(
                c.id, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True}
            )
            ex = self.execs.get(ex_id)
            await self.execs.start(ex, theirs.fileno(), None)
            theirs.close()
            output = await asyncio.wait_for(_read_all(ours), timeout)
            done: asyncio.Future[int] = ex.done
            code = await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            return -1, f"Health check exceeded timeout ({timeout:g}s)", started
        except WharfieError as exc:
            return -1, str(exc), started
        finally:
            ours.close()
            theirs.close()
        return code, _demux_text(output), started

    def _record(
        self, c: Container, code: int, output: str, started: str, retries: int, in_start: bool
    ) -> None:
        health = c.health
        if health is None:
            return
        health.log = [
            *health.log,
            {
                "Start": started,
                "End": present.rfc3339nano(time.time_ns()),
                "ExitCode": code,
                "Output": output[:MAX_OUTPUT],
            },
        ][-KEEP:]
        old = health.status
        if code == 0:
            health.status, health.failing_streak = "healthy", 0
        elif not in_start or old != "starting":
            health.failing_streak += 1
            if health.failing_streak >= retries:
                health.status = "unhealthy"
        self.index.save(c)
        if health.status != old:
            notify(c, f"health_status: {health.status}", self.events)


async def _read_all(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    parts: list[bytes] = []
    while True:
        data = await loop.sock_recv(sock, 65536)
        if not data:
            return b"".join(parts)
        parts.append(data)


def _demux_text(raw: bytes) -> str:
    out = []
    i = 0
    while i + 8 <= len(raw):
        size = int.from_bytes(raw[i + 4 : i + 8], "big")
        out.append(raw[i + 8 : i + 8 + size])
        i += 8 + size
    return b"".join(out).decode("utf-8", "replace")
