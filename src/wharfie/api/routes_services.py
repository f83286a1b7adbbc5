"""Routes of swarm services and tasks (/services, /tasks), served by the node's swarm
membership through the narrow `ServiceBackend`. Filters are dockerd's: `id` and `name` are
prefixes; a task's `service` and `node` may be names; `_up-to-date` keeps the tasks made from
the service's current spec."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol

from wharfie.api import schemas_swarm
from wharfie.api.decoding import arg, flag, json_body, number, tail, timestamp_ns
from wharfie.api.http import Reply, Request, Response, Router, Stream, json_response
from wharfie.cluster import networks
from wharfie.cluster.admin import NodeView
from wharfie.cluster.agent import LogLine, LogRequest
from wharfie.cluster.networks import StoredNetwork
from wharfie.cluster.orchestrator import TaskView
from wharfie.cluster.services import TERMINAL, render_service, render_task
from wharfie.cluster.servicestore import StoredService
from wharfie.engine import filters, gojson
from wharfie.engine.streams import frame
from wharfie.errors import InvalidArgument, NotFound
from wharfie.times import format_nano

MUX = "application/vnd.docker.multiplexed-stream"

SERVICE_FILTERS = ("id", "label", "mode", "name", "runtime")
TASK_FILTERS = ("_up-to-date", "desired-state", "id", "label", "name", "node", "runtime", "service")
REF = r"(?P<ref>[^/]+)"


class ServiceBackend(Protocol):
    state: Any

    async def create_service(self, doc: dict[str, Any]) -> str: ...
    async def services(self) -> list[StoredService]: ...
    async def service(self, ref: str) -> StoredService: ...
    async def update_service(
        self, ref: str, version: int, doc: dict[str, Any] | None, rollback: bool
    ) -> None: ...
    async def remove_service(self, ref: str) -> None: ...
    async def tasks(self) -> tuple[list[TaskView], dict[str, int]]: ...
    async def nodes(self) -> tuple[list[NodeView], str, str]: ...
    async def cluster_networks(self) -> list[StoredNetwork]: ...
    async def task_logs(
        self, tasks: list[TaskView], req: LogRequest
    ) -> list[tuple[TaskView, LogLine]]: ...


class ServiceRoutes:
    def __init__(self, backend: ServiceBackend) -> None:
        self.b = backend

    def register(self, r: Router) -> None:
        r.add("POST", "/services/create", self.create)
        r.add("GET", "/services", self.list)
        r.add("GET", f"/services/{REF}", self.inspect)
        r.add("POST", f"/services/{REF}/update", self.update)
        r.add("DELETE", f"/services/{REF}", self.remove)
        r.add("GET", f"/services/{REF}/logs", self.logs)
        r.add("GET", "/tasks", self.list_tasks)
        r.add("GET", f"/tasks/{REF}", self.inspect_task)
        r.add("GET", f"/tasks/{REF}/logs", self.logs)

    async def create(self, req: Request) -> Reply:
        doc = _spec(await json_body(req, empty={}))
        return json_response({"ID": await self.b.create_service(doc)}, 201)

    async def list(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        filters.validate(f, SERVICE_FILTERS)
        for mode in f.get("mode", []):
            if mode not in ("replicated", "global", "replicated-job", "global-job"):
                raise InvalidArgument(f"Invalid filter: 'mode'='{mode}'")
        found = [s for s in await self.b.services() if _service_matches(f, s)]
        docs = [render_service(s.service, s.version, False) for s in found]
        if flag(req, "status"):
            tasks, _ = await self.b.tasks()
            views, _, _ = await self.b.nodes()
            for doc, s in zip(docs, found, strict=True):
                doc["ServiceStatus"] = _status(s, tasks, views)
        return json_response(docs)

    async def inspect(self, req: Request, ref: str) -> Reply:
        s = await self.b.service(ref)
        return json_response(render_service(s.service, s.version, flag(req, "insertDefaults")))

    async def update(self, req: Request, ref: str) -> Reply:
        if not arg(req, "version"):
            raise InvalidArgument("invalid service version ''")
        version = number(req, "version", 0)
        body = await json_body(req, empty={})
        rollback = arg(req, "rollback") == "previous"
        await self.b.update_service(ref, version, None if rollback else _spec(body), rollback)
        return json_response({})

    async def remove(self, req: Request, ref: str) -> Reply:
        await self.b.remove_service(ref)
        return Response(200)

    async def logs(self, req: Request, ref: str) -> Reply:
        """`GET /services/{id}/logs` and `/tasks/{id}/logs`: the tasks' lines from every node,
        each prefixed as dockerd does with its details when asked (`details=1`, which the CLI
        always asks for). Followed by polling every second."""
        stdout, stderr = flag(req, "stdout"), flag(req, "stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        tasks, _ = await self.b.tasks()
        if req.path.startswith("/tasks/") or "/tasks/" in req.path:
            chosen = [tv for tv in tasks if tv.task.id == ref or tv.task.id.startswith(ref)][:1]
            if not chosen:
                raise NotFound(f"task {ref} not found")
        else:
            s = await self.b.service(ref)
            chosen = [tv for tv in tasks if tv.task.service_id == s.service.id]
        query = LogRequest(
            timestamp_ns(arg(req, "since")) or 0, tail(arg(req, "tail", "all")), stdout, stderr
        )
        details, timestamps, follow = (
            flag(req, "details"),
            flag(req, "timestamps"),
            flag(req, "follow"),
        )

        def render(tv: TaskView, line: LogLine) -> bytes:
            prefix = b""
            if timestamps:
                prefix += format_nano(line.time_ns).encode() + b" "
            if details:
                prefix += (
                    f"com.docker.swarm.node.id={tv.task.node_id},"
                    f"com.docker.swarm.service.id={tv.task.service_id},"
                    f"com.docker.swarm.task.id={tv.task.id} "
                ).encode()
            data = prefix + line.data
            return frame(line.stream, data)

        async def chunks() -> AsyncIterator[bytes]:
            lines = await self.b.task_logs(chosen, query)
            if lines:
                yield b"".join(render(tv, ln) for tv, ln in lines)
            last = max((ln.time_ns for _, ln in lines), default=0)
            while follow:
                await asyncio.sleep(1.0)
                tasks_now, _ = await self.b.tasks()
                ids = {tv.task.service_id for tv in chosen}
                current = [tv for tv in tasks_now if tv.task.service_id in ids]
                more = await self.b.task_logs(current, LogRequest(last + 1, -1, stdout, stderr))
                if more:
                    last = max(ln.time_ns for _, ln in more)
                    yield b"".join(render(tv, ln) for tv, ln in more)

        return Stream(chunks(), MUX)

    async def list_tasks(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        filters.validate(f, TASK_FILTERS)
        for state in f.get("desired-state", []):
            if state not in ("running", "shutdown", "accepted"):
                raise InvalidArgument(f"Invalid desired-state filter: '{state}'")
        services = {s.service.id: s for s in await self.b.services()}
        if "service" in f:
            wanted = set()
            for ref in f["service"]:
                try:
                    wanted.add((await self.b.service(ref)).service.id)
                except NotFound:
                    continue
            f["service"] = sorted(wanted)
        views, _, _ = await self.b.nodes()
        if "node" in f:
            f["node"] = [_node_id(views, ref, self.b.state) for ref in f["node"]]
        tasks, versions = await self.b.tasks()
        nets = {n.network.id: n for n in await self.b.cluster_networks()}
        out = []
        for tv in tasks:
            s = services.get(tv.task.service_id)
            if _task_matches(f, tv, s):
                out.append(
                    render_task(
                        tv.task,
                        versions[tv.task.id],
                        tv.status,
                        s.service.spec if s else None,
                        _attachments(tv, nets),
                    )
                )
        return json_response(out)

    async def inspect_task(self, req: Request, ref: str) -> Reply:
        tasks, versions = await self.b.tasks()
        hits = [tv for tv in tasks if tv.task.id == ref] or [
            tv for tv in tasks if tv.task.id.startswith(ref)
        ]
        if len(hits) != 1:
            raise NotFound(f"task {ref} not found")
        tv = hits[0]
        services = {s.service.id: s for s in await self.b.services()}
        s = services.get(tv.task.service_id)
        nets = {n.network.id: n for n in await self.b.cluster_networks()}
        return json_response(
            render_task(
                tv.task,
                versions[tv.task.id],
                tv.status,
                s.service.spec if s else None,
                _attachments(tv, nets),
            )
        )


def _attachments(tv: TaskView, nets: dict[str, StoredNetwork]) -> list[dict[str, Any]]:
    return [
        networks.render_attachment(nets[nid].network, nets[nid].version, addr)
        for nid, addr in tv.task.addresses.items()
        if nid in nets
    ]


def _spec(body: Any) -> dict[str, Any]:
    schema = schemas_swarm.SERVICE_SPEC
    if not isinstance(body, dict):
        raise gojson.type_error(body, "", schema[0])
    out: dict[str, Any] = gojson.canonical(body, schema)
    gojson.check(out, schema)
    return out


def _labels_match(want: list[str], labels: dict[str, str]) -> bool:
    for item in want:
        k, sep, v = item.partition("=")
        if k not in labels or (sep and labels[k] != v):
            return False
    return True


def _service_matches(f: dict[str, list[str]], s: StoredService) -> bool:
    svc = s.service
    if "id" in f and not any(svc.id.startswith(v) for v in f["id"]):
        return False
    if "name" in f and not any(svc.spec.name.startswith(v) for v in f["name"]):
        return False
    if "mode" in f and svc.spec.mode not in f["mode"]:
        return False
    return _labels_match(f.get("label", []), svc.spec.labels)


def _task_matches(f: dict[str, list[str]], tv: TaskView, s: StoredService | None) -> bool:
    t = tv.task
    if "id" in f and not any(t.id.startswith(v) for v in f["id"]):
        return False
    if "service" in f and t.service_id not in f["service"]:
        return False
    if "node" in f and t.node_id not in f["node"]:
        return False
    if "name" in f:
        name = f"{s.service.spec.name}.{t.slot or t.node_id}" if s else ""
        if not any(name.startswith(v) for v in f["name"]):
            return False
    if "desired-state" in f:
        desired = t.desired_state
        if not any(
            desired == want
            or (want == "running" and desired == "complete" and tv.observed not in TERMINAL)
            for want in f["desired-state"]
        ):
            return False
    # swarmkit matches a task's `label` filter against its service's labels (docker stack ps)
    if "label" in f and not (s and _labels_match(f["label"], s.service.spec.labels)):
        return False
    stale = s is None or t.spec_version != s.service.spec_version
    return not ("_up-to-date" in f and stale)


def _node_id(views: list[NodeView], ref: str, state: Any) -> str:
    if ref == "self" and state is not None:
        return str(state.node_id)
    for v in views:
        if ref in (v.node.id, v.node.name, v.node.description.hostname):
            return v.node.id
    return ref


def _status(s: StoredService, tasks: list[TaskView], nodes: list[NodeView]) -> dict[str, int]:
    svc = s.service
    ready = {v.node.id for v in nodes if v.state == "ready"}
    mine = [tv for tv in tasks if tv.task.service_id == svc.id]
    running = sum(
        1
        for tv in mine
        if tv.task.desired_state in ("running", "complete")
        and tv.observed == "running"
        and tv.task.node_id in ready
    )
    completed = sum(1 for tv in mine if tv.observed == "complete")
    if svc.spec.mode == "replicated":
        desired = svc.spec.replicas
    elif svc.spec.mode == "replicated-job":
        desired = min(svc.spec.max_concurrent, max(0, svc.spec.total_completions - completed))
    else:
        desired = sum(
            1
            for tv in mine
            if tv.task.desired_state in ("running", "complete") and tv.observed not in TERMINAL
        )
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": completed}
