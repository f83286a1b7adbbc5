"""Routes of /containers and /exec: parse, make one engine call, render."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

from wharfie.api.backends import ContainerBackend, ExecBackend
from wharfie.api.decoding import (
    EOF,
    arg,
    atoi,
    flag,
    json_body,
    number,
    number_opt,
    tail,
    timestamp_ns,
)
from wharfie.api.http import HIJACKED, Reply, Request, Response, Router, Stream, json_response
from wharfie.engine import filters, gojson, validate
from wharfie.engine.checkpoints import Checkpoints
from wharfie.engine.streams import LogQuery, in_thread
from wharfie.errors import InvalidArgument, NotFound
from wharfie.monitor.client import AttachOptions, StartError
from wharfie.oci import jsonio

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
ID = r"(?P<ref>[^/]+)"


def _time(text: str) -> int:
    return timestamp_ns(text) or 0


class ContainerRoutes:
    def __init__(
        self,
        containers: ContainerBackend,
        execs: ExecBackend,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.b = containers
        self.x = execs
        self.checkpoints = checkpoints  # for start?checkpoint= (api/routes_checkpoints.py)

    def register(self, r: Router) -> None:
        p = "/containers/" + ID
        r.add("GET", "/containers/json", self.list)
        r.add("POST", "/containers/create", self.create)
        r.add("POST", "/containers/prune", self.prune)
        r.add("GET", p + "/json", self.inspect)
        r.add("POST", p + "/start", self.start)
        r.add("POST", p + "/stop", self.stop)
        r.add("POST", p + "/restart", self.restart)
        r.add("POST", p + "/kill", self.kill)
        r.add("POST", p + "/pause", self.pause)
        r.add("POST", p + "/unpause", self.unpause)
        r.add("POST", p + "/wait", self.wait)
        r.add("DELETE", p, self.remove)
        r.add("DELETE", "/containers/(?P<ref>/?[^/]+/[^/]+)", self.remove)  # ?link=1
        r.add("POST", p + "/rename", self.rename)
        r.add("POST", p + "/update", self.update)
        r.add("POST", p + "/resize", self.resize)
        r.add("POST", p + "/attach", self.attach)
        r.add("GET", p + "/logs", self.logs)
        r.add("GET", p + "/top", self.top)
        r.add("GET", p + "/stats", self.stats)
        r.add("GET", p + "/changes", self.changes)
        r.add("GET", p + "/export", self.export)
        r.add("HEAD", p + "/archive", self.archive_head)
        r.add("GET", p + "/archive", self.archive_get)
        r.add("PUT", p + "/archive", self.archive_put)
        r.add("POST", p + "/exec", self.exec_create)
        r.add("POST", "/exec/(?P<eid>[^/]+)/start", self.exec_start)
        r.add("POST", "/exec/(?P<eid>[^/]+)/resize", self.exec_resize)
        r.add("GET", "/exec/(?P<eid>[^/]+)/json", self.exec_inspect)
        r.add("POST", "/commit", self.commit)

    async def list(self, req: Request) -> Reply:
        limit = number(req, "limit", -1)
        f = filters.parse(arg(req, "filters"))
        _check_list_filters(f)
        for ref in f.get("before", []) + f.get("since", []):
            self.b.find(ref)  # as moby: a pivot that does not exist is an error
        if flag(req, "latest"):
            limit = 1
        rows = self.b.list_containers(
            flag(req, "all") or limit > 0, limit, arg(req, "filters"), flag(req, "size")
        )
        return json_response(rows)

    async def create(self, req: Request) -> Reply:
        body = await json_body(req, required=EOF)
        out = await self.b.create(body, arg(req, "name"), req.api_version)
        return json_response(out, 201)

    async def prune(self, req: Request) -> Reply:
        return json_response(await self.b.prune(arg(req, "filters")))

    async def inspect(self, req: Request, ref: str) -> Reply:
        return json_response(await self.b.inspect(ref, flag(req, "size")))

    async def start(self, req: Request, ref: str) -> Reply:
        if arg(req, "checkpoint"):
            from wharfie.api import routes_checkpoints

            if self.checkpoints is None:
                raise InvalidArgument("checkpoint is only supported in experimental mode")
            return await routes_checkpoints.start(self.checkpoints, self.b, req, ref)
        started = await self.b.start(ref)
        return Response(204 if started else 304)

    async def stop(self, req: Request, ref: str) -> Reply:
        t = number_opt(req, "t")
        stopped = await self.b.stop(ref, t, arg(req, "signal") or None)
        return Response(204 if stopped else 304)

    async def restart(self, req: Request, ref: str) -> Reply:
        t = number_opt(req, "t")
        await self.b.restart(ref, t, arg(req, "signal") or None)
        return Response(204)

    async def kill(self, req: Request, ref: str) -> Reply:
        await self.b.kill(ref, arg(req, "signal", "KILL"))
        return Response(204)

    async def pause(self, req: Request, ref: str) -> Reply:
        await self.b.pause(ref)
        return Response(204)

    async def unpause(self, req: Request, ref: str) -> Reply:
        await self.b.unpause(ref)
        return Response(204)

    async def wait(self, req: Request, ref: str) -> Reply:
        fut = await self.b.wait(ref, arg(req, "condition"))
        return Stream(_wait_body(req, fut))

    async def remove(self, req: Request, ref: str) -> Reply:
        if flag(req, "link"):  # docker rm --link parent/alias
            self.b.remove_link(ref)
            return Response(204)
        if "/" in ref:
            raise NotFound(f"No such container: {ref}")
        await self.b.remove(ref, force=flag(req, "force"), volumes=flag(req, "v"))
        return Response(204)

    async def rename(self, req: Request, ref: str) -> Reply:
        self.b.rename(ref, arg(req, "name"))
        return Response(204)

    async def update(self, req: Request, ref: str) -> Reply:
        body = validate.container_update(await json_body(req, empty={}))
        return json_response(await self.b.update(ref, body))

    async def resize(self, req: Request, ref: str) -> Reply:
        await self.b.resize(ref, number(req, "h", 0), number(req, "w", 0))
        return Response(200)

    async def attach(self, req: Request, ref: str) -> Reply:
        try:
            c = self.b.find(ref)
            keys = validate.detach_keys(arg(req, "detachKeys")) if arg(req, "detachKeys") else None
        except (NotFound, InvalidArgument) as exc:  # moby writes these as a raw stream
            status = 404 if isinstance(exc, NotFound) else 400
            return Response(status, f"{exc}\r\n".encode(), RAW)
        mux = not c.tty
        self.b.attached(c)
        await req.upgrade(MUX if mux and req.api_version >= (1, 42) else RAW)
        sock_fd = req.socket_fd()
        if flag(req, "logs"):
            q = LogQuery(
                follow=False,
                stdout=flag(req, "stdout"),
                stderr=flag(req, "stderr"),
                since_ns=0,
                until_ns=0,
                tail=-1,
                timestamps=False,
            )
            async for chunk in in_thread(lambda: self.b.logs(c, q)):
                req.writer.write(chunk)
                await req.writer.drain()
            await req.flush()
        # as moby: a stream attach to a stopped container waits for its next start
        if flag(req, "stream") and (c.running or c.state.status in ("created", "exited")):
            opts = AttachOptions(
                stdin=flag(req, "stdin"),
                stdout=flag(req, "stdout"),
                stderr=flag(req, "stderr"),
                tty=c.tty,
                detach_keys=keys,
            )
            await self.b.attach(c, sock_fd, opts)
        return HIJACKED

    async def logs(self, req: Request, ref: str) -> Reply:
        c = self.b.find(ref)
        stdout, stderr = flag(req, "stdout"), flag(req, "stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        if (c.host_config.get("LogConfig") or {}).get("Type") == "none":
            raise InvalidArgument("configured logging driver does not support reading")
        tail_text = arg(req, "tail", "all")
        q = LogQuery(
            follow=flag(req, "follow"),
            stdout=stdout,
            stderr=stderr,
            since_ns=_time(arg(req, "since")),
            until_ns=_time(arg(req, "until")),
            tail=tail(tail_text),
            timestamps=flag(req, "timestamps"),
        )
        kind = RAW if c.tty or req.api_version < (1, 42) else MUX
        return Stream(in_thread(lambda: self.b.logs(c, q)), kind)

    async def top(self, req: Request, ref: str) -> Reply:
        return json_response(await self.b.top(ref, arg(req, "ps_args")))

    async def stats(self, req: Request, ref: str) -> Reply:
        stream = flag(req, "stream", True)
        return Stream(self.b.stats(ref, stream, flag(req, "one-shot")))

    async def changes(self, req: Request, ref: str) -> Reply:
        return json_response(await self.b.changes(ref) or None)

    async def export(self, req: Request, ref: str) -> Reply:
        return Stream(self.b.export(ref), "application/x-tar")

    async def archive_head(self, req: Request, ref: str) -> Reply:
        header = await self.b.stat_path(ref, _path(req))
        return Response(
            200,
            headers={"X-Docker-Container-Path-Stat": header, "Content-Type": "application/json"},
        )

    async def archive_get(self, req: Request, ref: str) -> Reply:
        header, chunks = await self.b.get_archive(ref, _path(req))
        return Stream(chunks, "application/x-tar", headers={"X-Docker-Container-Path-Stat": header})

    async def archive_put(self, req: Request, ref: str) -> Reply:
        await self.b.put_archive(
            ref,
            _path(req),
            req.chunks(),
            flag(req, "noOverwriteDirNonDir"),
            flag(req, "copyUIDGID"),
        )
        return Response(200)

    async def exec_create(self, req: Request, ref: str) -> Reply:
        eid = self.x.create(ref, await json_body(req, empty={}))
        return json_response({"Id": eid}, 201)

    async def exec_start(self, req: Request, eid: str) -> Reply:
        ex = self.x.get(eid)
        body = validate.exec_start(await json_body(req, empty={}))
        size = body.get("ConsoleSize") or None
        console = (int(size[0]), int(size[1])) if size and size[0] else None
        if body.get("Detach"):
            await self.x.start(ex, None, console)
            return Response(200)
        self.x.check_startable(ex)
        # As moby's postContainerExecStart: the start request's Tty decides the framing of
        # the stream (the exec's own Tty only whether the process gets a terminal).
        mux = not body.get("Tty")
        await req.upgrade(MUX if mux and req.api_version >= (1, 42) else RAW)
        try:
            await self.x.start(ex, req.socket_fd(), console, stream_tty=not mux)
        except StartError as exc:  # as moby: after the upgrade, the error is in the stream
            line = f"{exec_failure(str(exc))}\r\n".encode()
            req.writer.write(struct.pack(">BxxxI", 1, len(line)) + line if mux else line)
            await req.flush()
        return HIJACKED

    async def exec_resize(self, req: Request, eid: str) -> Reply:
        await self.x.resize(eid, number(req, "h", 0), number(req, "w", 0))
        return Response(200)

    async def exec_inspect(self, req: Request, eid: str) -> Reply:
        return json_response(await self.x.inspect(eid))

    async def commit(self, req: Request) -> Reply:
        ref = arg(req, "container")
        self.b.find(ref)  # 404 before the body is read
        config = await json_body(req)
        if config is not None and not isinstance(config, dict):
            raise gojson.type_error(config, "", "runconfig.ContainerConfigWrapper")
        repo, tag = arg(req, "repo"), arg(req, "tag")
        reference = f"{repo}:{tag}" if repo and tag else repo
        image_id = await self.b.commit(
            ref,
            reference=reference or None,
            author=arg(req, "author"),
            comment=arg(req, "comment"),
            changes=req.qlist("changes"),
            config=config if isinstance(config, dict) else None,
            pause=flag(req, "pause", True),
        )
        return json_response({"Id": image_id}, 201)


def _check_list_filters(f: dict[str, list[str]]) -> None:
    """moby's container list filter checks: known keys, known states and health values,
    numeric exit codes (each with moby 25's wording)."""
    filters.validate(f, filters.CONTAINER_FILTERS)
    for key, allowed in (("status", filters.STATES), ("health", filters.HEALTH)):
        for value in f.get(key, []):
            if value not in allowed:
                raise InvalidArgument(f"invalid filter '{key}={value}'")
    for value in f.get("exited", []):
        atoi(value)


def exec_failure(message: str) -> str:
    """A runtime's refusal to start an exec process, worded as dockerd (with runc) words it."""
    if message.startswith("OCI runtime"):
        return message
    if message.startswith("exec failed: "):  # runc's own wording already has the middle
        return f"OCI runtime exec failed: {message}: unknown"
    prefix = "OCI runtime exec failed: exec failed: unable to start container process"
    return f"{prefix}: {message}: unknown"


def _path(req: Request) -> str:
    path = arg(req, "path")
    if not path:
        raise InvalidArgument("path is required")
    return path


async def _wait_body(req: Request, fut: asyncio.Future[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Headers are already out (the CLI blocks on them); the body waits for the exit.
    A client that goes away (`run -d` drops its wait) ends the wait."""
    gone: asyncio.Future[Any] = asyncio.ensure_future(req.reader.read(1))
    try:
        await asyncio.wait({fut, gone}, return_when=asyncio.FIRST_COMPLETED)
        if fut.done():
            yield jsonio.dumps(fut.result()).encode() + b"\n"
    finally:
        gone.cancel()
        try:
            await gone  # the reader must be free before the connection's next request
        except (asyncio.CancelledError, ConnectionError):
            pass
