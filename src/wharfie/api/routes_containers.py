"""Routes of /containers and /exec: parse, make one engine call, render."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from wharfie.api.decoding import EOF, arg, atoi, flag, json_body, number, number_opt, timestamp_ns
from wharfie.api.http import HIJACKED, Reply, Request, Response, Router, Stream, json_response
from wharfie.engine import filters, gojson, links, validate
from wharfie.engine.streams import LogQuery, in_thread, log_chunks
from wharfie.errors import Conflict, InvalidArgument, NotFound
from wharfie.monitor.client import AttachOptions, StartError
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
ID = r"(?P<ref>[^/]+)"


def _time(text: str) -> int:
    return timestamp_ns(text) or 0


def _tail(text: str) -> int:
    """moby: "all", anything that is not a number, and negative numbers mean every line."""
    try:
        n = atoi(text)
    except InvalidArgument:
        return -1
    return n if n >= 0 else -1


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
            self.e.find(ref)  # as moby: a pivot that does not exist is an error
        if flag(req, "latest"):
            limit = 1
        rows = self.e.list_containers(
            flag(req, "all") or limit > 0, limit, arg(req, "filters"), flag(req, "size")
        )
        return json_response(rows)

    async def create(self, req: Request) -> Reply:
        body = await json_body(req, required=EOF)
        out = await self.e.ctr.create(body, arg(req, "name"), req.api_version)
        return json_response(out, 201)

    async def prune(self, req: Request) -> Reply:
        from wharfie.engine import system

        return json_response(await system.prune_containers(self.e, arg(req, "filters")))

    async def inspect(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        doc = c.inspect()
        for key in ("SizeRw", "SizeRootFs"):  # omitempty in moby's types
            doc.pop(key, None)
        if doc.get("HostConfig", {}).get("Init", False) is None:
            doc["HostConfig"] = {k: v for k, v in doc["HostConfig"].items() if k != "Init"}
        if flag(req, "size"):
            doc["SizeRw"], doc["SizeRootFs"] = self.e.sizes(c)
        runtime = str(c.host_config.get("Runtime") or "")
        warnings = await asyncio.to_thread(self.e.runtime_warnings, runtime) if runtime else []
        if warnings:  # e.g. wharfie-vm without KVM: the container runs emulated
            doc["RuntimeWarnings"] = warnings
        return json_response(doc)

    async def start(self, req: Request, ref: str) -> Reply:
        if arg(req, "checkpoint"):
            from wharfie.api import routes_checkpoints

            return await routes_checkpoints.start(self.e, req, ref)
        started = await self.e.ctr.start(ref)
        return Response(204 if started else 304)

    async def stop(self, req: Request, ref: str) -> Reply:
        t = number_opt(req, "t")
        stopped = await self.e.ctr.stop(ref, t, arg(req, "signal") or None)
        return Response(204 if stopped else 304)

    async def restart(self, req: Request, ref: str) -> Reply:
        t = number_opt(req, "t")
        await self.e.ctr.restart(ref, t, arg(req, "signal") or None)
        return Response(204)

    async def kill(self, req: Request, ref: str) -> Reply:
        await self.e.ctr.kill(ref, arg(req, "signal", "KILL"))
        return Response(204)

    async def pause(self, req: Request, ref: str) -> Reply:
        await self.e.ctr.pause(ref)
        return Response(204)

    async def unpause(self, req: Request, ref: str) -> Reply:
        await self.e.ctr.unpause(ref)
        return Response(204)

    async def wait(self, req: Request, ref: str) -> Reply:
        fut = await self.e.ctr.wait(ref, arg(req, "condition"))
        return Stream(_wait_body(req, fut))

    async def remove(self, req: Request, ref: str) -> Reply:
        if flag(req, "link"):  # docker rm --link parent/alias
            links.remove_link(self.e, ref)
            return Response(204)
        if "/" in ref:
            raise NotFound(f"No such container: {ref}")
        await self.e.ctr.remove(ref, force=flag(req, "force"), volumes=flag(req, "v"))
        self.e.execs_service.forget_container(ref)
        return Response(204)

    async def rename(self, req: Request, ref: str) -> Reply:
        self.e.ctr.rename(ref, arg(req, "name"))
        return Response(204)

    async def update(self, req: Request, ref: str) -> Reply:
        body = validate.container_update(await json_body(req, empty={}))
        return json_response(await self.e.ctr.update(ref, body))

    async def resize(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        h, w = number(req, "h", 0), number(req, "w", 0)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        await self.e.need_monitor().resize(c.id, h, w)
        return Response(200)

    async def attach(self, req: Request, ref: str) -> Reply:
        try:
            c = self.e.find(ref)
            keys = validate.detach_keys(arg(req, "detachKeys")) if arg(req, "detachKeys") else None
        except (NotFound, InvalidArgument) as exc:  # moby writes these as a raw stream
            status = 404 if isinstance(exc, NotFound) else 400
            return Response(status, f"{exc}\r\n".encode(), RAW)
        mux = not c.tty
        self.e.events.emit("container", "attach", c.id, c.event_attrs())
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
            async for chunk in in_thread(lambda: log_chunks(c, q)):
                req.writer.write(chunk)
                await req.writer.drain()
            await req.flush()
        # as moby: a stream attach to a stopped container waits for its next start
        if flag(req, "stream") and (c.running or c.state["Status"] in ("created", "exited")):
            opts = AttachOptions(
                stdin=flag(req, "stdin"),
                stdout=flag(req, "stdout"),
                stderr=flag(req, "stderr"),
                tty=c.tty,
                detach_keys=keys,
            )
            await self.e.need_monitor().attach(c.id, sock_fd, opts)
        return HIJACKED

    async def logs(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        stdout, stderr = flag(req, "stdout"), flag(req, "stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        if (c.host_config.get("LogConfig") or {}).get("Type") == "none":
            raise InvalidArgument("configured logging driver does not support reading")
        tail = arg(req, "tail", "all")
        q = LogQuery(
            follow=flag(req, "follow"),
            stdout=stdout,
            stderr=stderr,
            since_ns=_time(arg(req, "since")),
            until_ns=_time(arg(req, "until")),
            tail=_tail(tail),
            timestamps=flag(req, "timestamps"),
        )
        kind = RAW if c.tty or req.api_version < (1, 42) else MUX
        return Stream(in_thread(lambda: log_chunks(c, q)), kind)

    async def top(self, req: Request, ref: str) -> Reply:
        from wharfie.engine import streams

        c = self.e.find(ref)
        out = await streams.top(self.e, c, arg(req, "ps_args"))
        return json_response(out)

    async def stats(self, req: Request, ref: str) -> Reply:
        c = self.e.find(ref)
        stream = flag(req, "stream", True)
        return Stream(self.e.stats.stream(c, stream, flag(req, "one-shot")))

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
            flag(req, "noOverwriteDirNonDir"),
            flag(req, "copyUIDGID"),
        )
        return Response(200)

    async def exec_create(self, req: Request, ref: str) -> Reply:
        eid = self.e.execs_service.create(ref, await json_body(req, empty={}))
        return json_response({"Id": eid}, 201)

    async def exec_start(self, req: Request, eid: str) -> Reply:
        ex = self.e.execs_service.get(eid)
        body = validate.exec_start(await json_body(req, empty={}))
        size = body.get("ConsoleSize") or None
        console = (int(size[0]), int(size[1])) if size and size[0] else None
        if body.get("Detach"):
            await self.e.execs_service.start(ex, None, console)
            return Response(200)
        self.e.execs_service.check_startable(ex)
        # As moby's postContainerExecStart: the start request's Tty decides the framing of
        # the stream (the exec's own Tty only whether the process gets a terminal).
        mux = not body.get("Tty")
        await req.upgrade(MUX if mux and req.api_version >= (1, 42) else RAW)
        try:
            await self.e.execs_service.start(ex, req.socket_fd(), console, stream_tty=not mux)
        except StartError as exc:  # as moby: after the upgrade, the error is in the stream
            line = f"{exec_failure(str(exc))}\r\n".encode()
            req.writer.write(struct.pack(">BxxxI", 1, len(line)) + line if mux else line)
            await req.flush()
        return HIJACKED

    async def exec_resize(self, req: Request, eid: str) -> Reply:
        ex = self.e.execs_service.get(eid)
        await self.e.need_monitor().resize(ex.id, number(req, "h", 0), number(req, "w", 0))
        return Response(200)

    async def exec_inspect(self, req: Request, eid: str) -> Reply:
        ex = self.e.execs_service.get(eid)
        await self.e.execs_service.settle(ex)
        return json_response(ex.inspect())

    async def commit(self, req: Request) -> Reply:
        c = self.e.find(arg(req, "container"))
        config = await json_body(req)
        if config is not None and not isinstance(config, dict):
            raise gojson.type_error(config, "", "runconfig.ContainerConfigWrapper")
        repo, tag = arg(req, "repo"), arg(req, "tag")
        reference = f"{repo}:{tag}" if repo and tag else repo
        image_id = await self.e.files.commit(
            c,
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
