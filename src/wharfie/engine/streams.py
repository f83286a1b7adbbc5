"""What flows out of a container: logs, stats, top, and its files (archive, export, diff).

Log files are read in a worker thread and framed here: Docker's multiplexed frames
for non-TTY containers (8-byte header, stream 1/2, big-endian length), plain bytes
for TTY ones; `timestamps` prefixes every line with its RFC3339Nano time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from wharfie import cgroups, logs
from wharfie.engine import present, statsfmt
from wharfie.errors import Conflict, InvalidArgument, WharfieError
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.model import Container
    from wharfie.monitor.client import RuntimeRef

log = logging.getLogger(__name__)
STREAM_NO = {"stdout": 1, "stderr": 2}
_HEADER = struct.Struct(">BxxxI")


def frame(stream: str, data: bytes) -> bytes:
    return _HEADER.pack(STREAM_NO.get(stream, 1), len(data)) + data


async def in_thread(make: Callable[[], Iterator[bytes]], depth: int = 8) -> AsyncIterator[bytes]:
    """Run a blocking generator in a worker thread; yield its items on the event loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(depth)
    done = object()
    cancelled = False

    def pump() -> None:
        try:
            for item in make():
                if cancelled:
                    return
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
            asyncio.run_coroutine_threadsafe(queue.put(done), loop).result()
        except BaseException as exc:  # handed to the consumer, who re-raises it
            asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()

    worker = loop.run_in_executor(None, pump)
    try:
        while True:
            item = await queue.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancelled = True
        while not worker.done():  # unblock a producer waiting on a full queue
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            await asyncio.sleep(0)


class LogQuery:
    def __init__(
        self,
        *,
        follow: bool,
        stdout: bool,
        stderr: bool,
        since_ns: int,
        until_ns: int,
        tail: int,
        timestamps: bool,
    ) -> None:
        self.follow = follow
        self.stdout = stdout
        self.stderr = stderr
        self.since_ns = since_ns
        self.until_ns = until_ns
        self.tail = tail
        self.timestamps = timestamps


def log_chunks(c: Container, q: LogQuery) -> Iterator[bytes]:
    """Blocking: the framed log of a container, batched into chunks of about 256 KiB;
    when following, what is held goes out as soon as the reader catches up."""
    path = str(c.doc["LogPath"])
    tty = c.tty
    batch: list[bytes] = []
    size = 0
    for stream, data, t_ns in _entries(c, path, q):
        if not stream:  # follow() caught up: send what is held before it waits
            if batch:
                yield b"".join(batch)
                batch, size = [], 0
            continue
        if q.timestamps:
            data = present.rfc3339nano(t_ns).encode() + b" " + data
        piece = data if tty else frame(stream, data)
        batch.append(piece)
        size += len(piece)
        if size >= 262144:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def _entries(c: Container, path: str, q: LogQuery) -> Iterator[tuple[str, bytes, int]]:
    if not os.path.exists(path) and not (q.follow and c.running):
        return
    follow = q.follow and c.running and not q.until_ns
    if follow and q.tail < 0 and not q.timestamps:
        yield from _follow(c, path, q, q.since_ns)  # the whole log, then what comes
        return
    last_ns = 0
    if follow:  # what is in the file now is read below; follow() takes over after it
        for _, _, t_ns in logs.read_raw(path, stdout=q.stdout, stderr=q.stderr):
            last_ns = t_ns
    until = last_ns if follow else q.until_ns
    if q.tail >= 0 or q.timestamps:
        for e in logs.read(
            path, stdout=q.stdout, stderr=q.stderr, since_ns=q.since_ns, until_ns=until, tail=q.tail
        ):
            yield e.stream, e.data, e.time_ns
    else:
        yield from logs.read_raw(
            path, stdout=q.stdout, stderr=q.stderr, since_ns=q.since_ns, until_ns=until
        )
    if follow:
        yield from _follow(c, path, q, max(q.since_ns, last_ns + 1))


def _follow(
    c: Container, path: str, q: LogQuery, since_ns: int
) -> Iterator[tuple[str, bytes, int]]:
    for stream, data, t_ns in logs.follow(
        path,
        stdout=q.stdout,
        stderr=q.stderr,
        since_ns=since_ns,
        stop=lambda: not c.running,
        idle_marks=True,
    ):
        if not q.timestamps or not stream:
            yield stream, data, t_ns
            continue
        for line in data.splitlines(keepends=True):  # every line gets its time prefix
            yield stream, line, t_ns


# ---------------------------------------------------------------------- stats
class StatsReader:
    """Stats and OOM reports come from the container's runtime, which owns its cgroups:

    - wharfie-runtime: in-process (`wharfie.runtime.admin.stats` / `oom_killed`, what its
      `events --stats` prints), from the cgroup paths the runtime recorded;
    - runc and other runtimes with runc's CLI: `<runtime> events --stats ID` (runc 1.1's
      JSON), run directly (not through the monitor: nothing to supervise);
    - a runtime without `events` (crun 1.8 has none): the engine reads the cgroup it named
      in the container's spec, through wharfie.cgroups, into the same runc shape.

    OOM: runc reports OOM kills only as they happen (`events` without --stats, a process
    per container), and refuses `events` once the container stopped. So only wharfie-runtime
    answers "was it OOM-killed?" after the exit; for the others the cgroup the spec named is
    read before the runtime deletes it.
    """

    def __init__(
        self,
        cgroups_path: Callable[[Container], str],
        runtime_ref: Callable[[str | None], RuntimeRef],
    ) -> None:
        self.cgroups_path = cgroups_path
        self.runtime_ref = runtime_ref
        self._no_events: set[str] = set()  # runtimes found to have no `events` command

    def runtime_stats(self, c: Container) -> dict[str, Any]:
        """runc's stats data for a running container, from its runtime (blocking)."""
        ref = self.runtime_ref(c.runtime or None)
        if ref.in_process:
            from wharfie.runtime import admin

            return admin.stats(ref.root, c.id)
        if ref.path not in self._no_events:
            argv = [ref.path, "--root", ref.root, "events", "--stats", c.id]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            if done.returncode == 0:
                return _stats_data(done.stdout, ref.name)
            if "unknown command" not in done.stderr and "No help topic" not in done.stderr:
                raise WharfieError(f"{ref.name} events --stats: {done.stderr.strip()}")
            self._no_events.add(ref.path)
        return self._cgroup_stats(c)

    def _cgroup_stats(self, c: Container) -> dict[str, Any]:
        from wharfie.runtime import admin

        return admin.runc_stats(cgroups.for_container(self.cgroups_path(c), c.id).stats())

    def oom_killed(self, c: Container) -> bool:
        """Whether the stopped (not yet deleted) container's cgroup recorded an OOM kill."""
        ref = self.runtime_ref(c.runtime or None)
        try:
            if ref.in_process:
                from wharfie.runtime import admin

                return admin.oom_killed(ref.root, c.id)
            return cgroups.for_container(self.cgroups_path(c), c.id).oom_killed()
        except (OSError, WharfieError):
            return False

    def sample(self, c: Container) -> dict[str, Any]:
        return {
            "data": self.runtime_stats(c),
            "system": statsfmt.system_cpu_ns(),
            "time": time.time(),
            "net": statsfmt.net_dev(c.state.pid) if c.running else {},
        }

    def render(self, c: Container, now: dict[str, Any], pre: dict[str, Any] | None) -> bytes:
        doc = statsfmt.docker_stats(
            container_id=c.id,
            name="/" + c.name,
            data=now["data"],
            pre=pre["data"] if pre else None,
            system_ns=now["system"],
            pre_system_ns=pre["system"] if pre else 0,
            online_cpus=os.cpu_count() or 1,
            read_time=now["time"],
            pre_time=pre["time"] if pre else None,
            networks=now["net"] or None,
        )
        return jsonio.dumps(doc).encode() + b"\n"

    async def stream(self, c: Container, stream: bool, one_shot: bool) -> AsyncIterator[bytes]:
        if not c.running:
            yield self._empty(c)
            return
        pre = None
        if not stream and not one_shot:
            pre = await asyncio.to_thread(self.sample, c)
            await asyncio.sleep(1.0)  # moby samples twice so CPU % has a delta
        while True:
            if not c.running:
                return
            try:
                now = await asyncio.to_thread(self.sample, c)
            except (OSError, WharfieError) as exc:
                if c.running:  # not the usual race with its exit: say why the stream ends
                    log.warning("stats of %s: %s", c.id[:12], exc)
                return  # it stopped between the check and the read
            yield self.render(c, now, pre)
            if not stream:
                return
            pre = now
            await asyncio.sleep(1.0)

    def _empty(self, c: Container) -> bytes:
        return (
            jsonio.dumps(
                {
                    "read": present.rfc3339nano(0),
                    "preread": present.rfc3339nano(0),
                    "id": c.id,
                    "name": "/" + c.name,
                    "pids_stats": {},
                    "blkio_stats": statsfmt.blkio_block(None),  # as moby: every key, null
                    "num_procs": 0,
                    "storage_stats": {},
                    "cpu_stats": statsfmt.cpu_block(None),  # as moby: zero counters
                    "precpu_stats": statsfmt.cpu_block(None),
                    "memory_stats": {},
                }
            ).encode()
            + b"\n"
        )


def _stats_data(out: str, runtime: str) -> dict[str, Any]:
    """The `data` of the stats line `events --stats` printed."""
    for line in out.splitlines():
        try:
            event = jsonio.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "stats":
            data = event.get("data")
            if isinstance(data, dict):
                return data
    raise WharfieError(f"{runtime} events --stats printed no stats: {out[:200]!r}")


# ------------------------------------------------------------------------ top
async def top(
    pids_of: Callable[[Container], Awaitable[list[int]]], c: Container, ps_args: str
) -> dict[str, Any]:
    """`ps` of the host, cut to the pids the container's runtime reports (as dockerd)."""
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    pids = set(await pids_of(c))
    return await asyncio.to_thread(_ps_rows, ps_args, pids)


def _ps_rows(ps_args: str, pids: set[int]) -> dict[str, Any]:
    args = ps_args.split() if ps_args else ["-ef"]
    try:
        out = subprocess.run(
            ["ps", *args], capture_output=True, text=True, errors="replace", check=True
        ).stdout
    except ValueError as exc:  # a NUL in the arguments
        raise InvalidArgument(f"ps: {exc}") from exc
    except subprocess.CalledProcessError as exc:
        # bad `ps_args` are the client's: 400 with the first line of ps's complaint (dockerd
        # passes that line on, as a 500)
        first = (exc.stderr or "").strip().splitlines()
        raise InvalidArgument(f"ps: {first[0] if first else exc}") from exc
    return parse_ps(out, pids)


def parse_ps(output: str, pids: set[int]) -> dict[str, Any]:
    lines = output.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:  # `ps_args` chose the columns: the client's mistake
        raise InvalidArgument(f"Couldn't find PID field in ps output: {lines[:1]}")
    col = titles.index("PID")
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            procs.append(fields)
    return {"Titles": titles, "Processes": procs}
