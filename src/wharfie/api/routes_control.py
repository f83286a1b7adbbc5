"""Routes of a manager's control endpoint (the cluster protocol of wharfie.cluster.control),
served over TLS on the swarm's listen address. Not part of the Docker API.

The caller's identity is its TLS client certificate, checked by the handshake against the
cluster's root CA; only `GET /control/v1/ca` and `POST /control/v1/join` are open to a caller
without one (join is authorised by its token instead).
"""

from __future__ import annotations

import base64
import ssl
from typing import Any, Protocol

from wharfie.api.decoding import json_body
from wharfie.api.http import HTTPError, Reply, Request, Response, Router, json_response
from wharfie.cluster import pki
from wharfie.cluster.admission import JoinRequest
from wharfie.cluster.agent import LogLine, LogRequest
from wharfie.cluster.records import NodeDescription
from wharfie.cluster.services import TaskStatus, status_from_store
from wharfie.errors import InvalidArgument

PREFIX = "/control/v1"


class ControlBackend(Protocol):
    def root_ca_pem(self) -> bytes: ...
    async def admit(self, req: JoinRequest) -> dict[str, Any]: ...
    async def worker_heartbeat(self, node_id: str) -> dict[str, Any]: ...
    async def forget(self, node_id: str) -> None: ...
    async def node_assignments(self, node_id: str, wait: str = "") -> dict[str, Any]: ...
    async def node_plane(self, node_id: str, keep: list[str]) -> dict[str, Any]: ...
    async def node_attach(self, node_id: str, ref: str, container_id: str) -> dict[str, Any]: ...
    async def promote_node(
        self, node_id: str, csr_pem: bytes, listen_addr: str
    ) -> dict[str, Any]: ...
    async def renew_node(self, node_id: str, csr_pem: bytes) -> dict[str, Any]: ...
    async def local_task_log(self, caller: str, task_id: str, req: LogRequest) -> list[LogLine]: ...
    async def node_report(self, node_id: str, statuses: list[tuple[str, TaskStatus]]) -> None: ...


class ControlRoutes:
    def __init__(self, backend: ControlBackend) -> None:
        self.backend = backend

    def register(self, r: Router) -> None:
        r.add("GET", PREFIX + "/ca", self.ca)
        r.add("POST", PREFIX + "/join", self.join)
        r.add("POST", PREFIX + "/heartbeat", self.heartbeat)
        r.add("POST", PREFIX + "/forget", self.forget)
        r.add("POST", PREFIX + "/assignments", self.assignments)
        r.add("POST", PREFIX + "/netplane", self.netplane)
        r.add("POST", PREFIX + "/attach", self.attach)
        r.add("POST", PREFIX + "/status", self.status)
        r.add("POST", PREFIX + "/promote", self.promote)
        r.add("POST", PREFIX + "/renew", self.renew)
        r.add("POST", PREFIX + "/logs", self.logs)

    async def ca(self, req: Request) -> Reply:
        return json_response({"RootCA": self.backend.root_ca_pem().decode()})

    async def join(self, req: Request) -> Reply:
        body = await json_body(req, empty={})
        if not isinstance(body, dict):
            raise InvalidArgument("a join request is a JSON object")
        try:
            desc = dict(body.get("Description") or {})
            desc["plugins"] = [tuple(p) for p in desc.get("plugins") or []]
            join = JoinRequest(
                token=str(body.get("Token") or ""),
                csr_pem=str(body.get("CSR") or "").encode(),
                advertise_addr=str(body.get("AdvertiseAddr") or ""),
                listen_addr=str(body.get("ListenAddr") or "0.0.0.0:2377"),
                availability=str(body.get("Availability") or ""),
                description=NodeDescription(**desc),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid join request: {exc}") from None
        return json_response(await self.backend.admit(join))

    async def heartbeat(self, req: Request) -> Reply:
        return json_response(await self.backend.worker_heartbeat(self._caller(req)))

    async def forget(self, req: Request) -> Reply:
        await self.backend.forget(self._caller(req))
        return Response(200)

    async def assignments(self, req: Request) -> Reply:
        node_id = self._caller(req)
        body = await json_body(req, empty={})
        wait = body.get("Wait") or "" if isinstance(body, dict) else None
        if not isinstance(wait, str):
            raise InvalidArgument("invalid assignments request: Wait must be a string")
        return json_response(await self.backend.node_assignments(node_id, wait))

    async def netplane(self, req: Request) -> Reply:
        body = await json_body(req, empty={})
        keep = [str(c) for c in (body.get("Keep") or [])]
        return json_response(await self.backend.node_plane(self._caller(req), keep))

    async def attach(self, req: Request) -> Reply:
        body = await json_body(req, empty={})
        return json_response(
            await self.backend.node_attach(
                self._caller(req), str(body.get("Network") or ""), str(body.get("Container") or "")
            )
        )

    async def status(self, req: Request) -> Reply:
        node_id = self._caller(req)
        body = await json_body(req, empty={})
        try:
            statuses = [
                (str(item["TaskID"]), status_from_store(str(item["Status"]).encode()))
                for item in (body or {}).get("Statuses") or []
            ]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(f"invalid status report: {exc}") from None
        await self.backend.node_report(node_id, statuses)
        return Response(200)

    async def promote(self, req: Request) -> Reply:
        node_id = self._caller(req)
        body = await json_body(req, empty={})
        if not isinstance(body, dict):
            raise InvalidArgument("a promote request is a JSON object")
        csr = str(body.get("CSR") or "").encode()
        listen = str(body.get("ListenAddr") or "0.0.0.0:2377")
        return json_response(await self.backend.promote_node(node_id, csr, listen))

    async def renew(self, req: Request) -> Reply:
        node_id = self._caller(req)
        body = await json_body(req, empty={})
        if not isinstance(body, dict):
            raise InvalidArgument("a renew request is a JSON object")
        return json_response(
            await self.backend.renew_node(node_id, str(body.get("CSR") or "").encode())
        )

    async def logs(self, req: Request) -> Reply:
        """A task's log lines on this node, for a manager serving `service logs`."""
        caller = self._caller(req, manager=True)
        body = await json_body(req, empty={})
        if not isinstance(body, dict):
            raise InvalidArgument("a logs request is a JSON object")
        try:
            q = LogRequest(
                since_ns=int(body.get("Since") or 0),
                tail=int(body.get("Tail", -1)),
                stdout=bool(body.get("Stdout", True)),
                stderr=bool(body.get("Stderr", True)),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid logs request: {exc}") from None
        lines = await self.backend.local_task_log(caller, str(body.get("TaskID") or ""), q)
        return json_response(
            {"Lines": [[ln.stream, ln.time_ns, base64.b64encode(ln.data).decode()] for ln in lines]}
        )

    def _caller(self, req: Request, manager: bool = False) -> str:
        """The node id in the caller's certificate, re-checked against the root CA."""
        obj = req.writer.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if isinstance(obj, ssl.SSLObject) else None
        if not der:
            raise HTTPError(401, "a node certificate is required")
        pem = ssl.DER_cert_to_PEM_cert(der).encode()
        try:
            who = pki.identity(self.backend.root_ca_pem(), pem)
        except InvalidArgument as exc:
            raise HTTPError(403, str(exc)) from None
        if manager and who.role != pki.MANAGER:
            raise HTTPError(403, "only a manager may ask this")
        return who.node_id
