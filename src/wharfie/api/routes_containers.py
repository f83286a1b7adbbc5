"""Routes of /containers and /exec: parse, make one engine call, render."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from wharfie.api.http import HIJACKED, Reply, Request, Response, Router, Stream, json_response
from wharfie.engine import present, validate
from wharfie.engine.streams import LogQuery, in_thread, log_chunks
from wharfie.errors import Conflict, InvalidArgument
from wharfie.monitor.client import AttachOptions
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
ID = r"(?P<ref>[^/]+)"


def _time(text: str) -> int:
    return int(present.parse_time(text) * 1_000_000_000) if text else 0


class ContainerRoutes:
    def __init__(self, engine: Engine) -> None:
        self.e = engine

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
        limit = req.qint("limit", -1)
        if req.qbool("latest"):
            limit = 1
        rows = self.e.list_containers(
            req.qbool("all") or limit > 0, limit, req.q("filters"), req.qbool("size")
        )
        return json_response(rows)

    async def create(self, req: Request) -> Reply:
        body = await req.json()
        out = await self.e.ctr.create(body, req.q("name"), req.api_version)
        return json_response(out, 201)

    async def prune(self, req: Request) -> Reply:
        from wharfie.engine import system

        return json_response(await system.prune_containers(self.e, req.q("filters")))

    async def inspect(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        doc = c.inspect()
        if req.qbool("size"):
            from wharfie.engine.system import dir_size

            doc["SizeRw"] = dir_size(os.path.join(self.e.container_dir(c.id), "rw", "upper"))
        runtime = str(c.host_config.get("Runtime") or "")
        warnings = await asyncio.to_thread(self.e.runtime_warnings, runtime) if runtime else []
        if warnings:  # e.g. wharfie-vm without KVM: the container runs emulated
            doc["RuntimeWarnings"] = warnings
        return json_response(doc)

    async def start(self, req: Request, ref: str) -> Reply:
        started = await self.e.ctr.start(ref)
        return Response(204 if started else 304)

    async def stop(self, req: Request, ref: str) -> Reply:
        t = req.q("t")
        stopped = await self.e.ctr.stop(ref, int(t) if t else None, req.q("signal") or None)
        return Response(204 if stopped else 304)

    async def restart(self, req: Request, ref: str) -> Reply:
        t = req.q("t")
        await self.e.ctr.restart(ref, int(t) if t else None, req.q("signal") or None)
        return Response(204)

    async def kill(self, req: Request, ref: str) -> Reply:
        await self.e.ctr.kill(ref, req.q("signal", "KILL"))
        return Response(204)

    async def pause(self, req: Request, ref: str) -> Reply:
        await self.e.ctr.pause(ref)
        return Response(204)

    async def unpause(self, req: Request, ref: str) -> Reply:
        await self.e.ctr.unpause(ref)
        return Response(204)

    async def wait(self, req: Request, ref: str) -> Reply:
        fut = await self.e.ctr.wait(ref, req.q("condition"))
        return Stream(_wait_body(req, fut))

    async def remove(self, req: Request, ref: str) -> Reply:
        await self.e.ctr.remove(ref, force=req.qbool("force"), volumes=req.qbool("v"))
        self.e.execs_service.forget_container(ref)
        return Response(204)

    async def rename(self, req: Request, ref: str) -> Reply:
        self.e.ctr.rename(ref, req.q("name"))
        return Response(204)

    async def update(self, req: Request, ref: str) -> Reply:
        return json_response(self.e.ctr.update(ref, await req.json()))

    async def resize(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        h, w = req.qint("h", 0), req.qint("w", 0)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        await self.e.need_monitor().resize(c.id, h, w)
        return Response(200)

    async def attach(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        keys = validate.detach_keys(req.q("detachKeys")) if req.q("detachKeys") else None
        mux = not c.tty
        self.e.events.emit("container", "attach", c.id, c.event_attrs())
        await req.upgrade(MUX if mux and req.api_version >= (1, 42) else RAW)
        sock_fd = req.socket_fd()
        if req.qbool("logs"):
            q = LogQuery(
                follow=False,
                stdout=req.qbool("stdout"),
                stderr=req.qbool("stderr"),
                since_ns=0,
                until_ns=0,
                tail=-1,
                timestamps=False,
            )
            async for chunk in in_thread(lambda: log_chunks(c, q)):
                req.writer.write(chunk)
                await req.writer.drain()
            await req.flush()
        # as moby: a stream attach to a stopped container waits for its next start
        if req.qbool("stream") and (c.running or c.state["Status"] in ("created", "exited")):
            opts = AttachOptions(
                stdin=req.qbool("stdin"),
                stdout=req.qbool("stdout"),
                stderr=req.qbool("stderr"),
                tty=c.tty,
                detach_keys=keys,
            )
            await self.e.need_monitor().attach(c.id, sock_fd, opts)
        return HIJACKED

    async def logs(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        stdout, stderr = req.qbool("stdout"), req.qbool("stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        if (c.host_config.get("LogConfig") or {}).get("Type") == "none":
            raise InvalidArgument("configured logging driver does not support reading")
        tail = req.q("tail", "all")
        q = LogQuery(
            follow=req.qbool("follow"),
            stdout=stdout,
            stderr=stderr,
            since_ns=_time(req.q("since")),
            until_ns=_time(req.q("until")),
            tail=-1 if tail in ("", "all") else max(0, int(tail)),
            timestamps=req.qbool("timestamps"),
        )
        kind = RAW if c.tty or req.api_version < (1, 42) else MUX
        return Stream(in_thread(lambda: log_chunks(c, q)), kind)

    async def top(self, req: Request, ref: str) -> Reply:
        from wharfie.engine import streams

        c = self.e.find(ref)
        out = await asyncio.to_thread(streams.top, self.e, c, req.q("ps_args"))
        return json_response(out)

    async def stats(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        stream = req.qbool("stream", True)
        return Stream(self.e.stats.stream(c, stream, req.qbool("one-shot")))

    async def changes(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        return json_response(await asyncio.to_thread(self.e.files.changes, c) or None)

    async def export(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        return Stream(self.e.files.export(c), "application/x-tar")

    async def archive_head(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        header = await asyncio.to_thread(self.e.files.stat_header, c, _path(req))
        return Response(
            200,
            headers={"X-Docker-Container-Path-Stat": header, "Content-Type": "application/json"},
        )

    async def archive_get(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        header, chunks = await self.e.files.get_archive(c, _path(req))
        return Stream(chunks, "application/x-tar", headers={"X-Docker-Container-Path-Stat": header})

    async def archive_put(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        await self.e.files.put_archive(
            c,
            _path(req),
            req.chunks(),
            req.qbool("noOverwriteDirNonDir"),
            req.qbool("copyUIDGID"),
        )
        return Response(200)

    async def exec_create(self, req: Request, ref: str) -> Reply:
        eid = self.e.execs_service.create(ref, await req.json())
        return json_response({"Id": eid}, 201)

    async def exec_start(self, req: Request, eid: str) -> Reply:
        ex = self.e.execs_service.get(eid)
        body = await req.json() or {}
        if not isinstance(body, dict):
            raise InvalidArgument(
                "json: cannot unmarshal into Go value of type container.ExecStartOptions"
            )
        size = body.get("ConsoleSize") or None
        console = (int(size[0]), int(size[1])) if size and size[0] else None
        if body.get("Detach"):
            await self.e.execs_service.start(ex, None, console)
            return Response(200)
        self.e.execs_service.check_startable(ex)
        await req.upgrade(RAW if ex.config.get("Tty") else MUX)
        await self.e.execs_service.start(ex, req.socket_fd(), console)
        return HIJACKED

    async def exec_resize(self, req: Request, eid: str) -> Reply:
        ex = self.e.execs_service.get(eid)
        await self.e.need_monitor().resize(ex.id, req.qint("h", 0), req.qint("w", 0))
        return Response(200)

    async def exec_inspect(self, req: Request, eid: str) -> Reply:
        ex = self.e.execs_service.get(eid)
        await self.e.execs_service.settle(ex)
        return json_response(ex.inspect())

    async def commit(self, req: Request) -> Reply:
        c = self.e.find(req.q("container"))
        config = await req.json()
        repo, tag = req.q("repo"), req.q("tag")
        reference = f"{repo}:{tag}" if repo and tag else repo
        image_id = await self.e.files.commit(
            c,
            reference=reference or None,
            author=req.q("author"),
            comment=req.q("comment"),
            changes=req.qlist("changes"),
            config=config if isinstance(config, dict) else None,
            pause=req.qbool("pause", True),
        )
        return json_response({"Id": image_id}, 201)


def _path(req: Request) -> str:
    path = req.q("path")
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
