"""The container and system routes on fake backends (api/backends.py): a route parses the
request, makes one call on its backend and renders the answer; errors map to statuses."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from wharfie.api.http import Router
from wharfie.api.routes_containers import ContainerRoutes
from wharfie.api.routes_system import SystemRoutes
from wharfie.api.serve import Server
from wharfie.errors import Conflict, NotFound


class FakeContainers:
    """Only what the tested routes call; every call is recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.started = False

    def find(self, ref: str) -> Any:
        self.calls.append(("find", ref))
        raise NotFound(f"No such container: {ref}")

    async def start(self, ref: str) -> bool:
        self.calls.append(("start", ref))
        if ref == "paused":
            raise Conflict("cannot start a paused container, try unpause instead")
        was, self.started = self.started, True
        return not was

    async def inspect(self, ref: str, size: bool) -> dict[str, Any]:
        self.calls.append(("inspect", ref, size))
        return {"Id": ref, "SizeRw": 1} if size else {"Id": ref}

    async def resize(self, ref: str, height: int, width: int) -> None:
        self.calls.append(("resize", ref, height, width))

    def remove_link(self, ref: str) -> None:
        self.calls.append(("remove_link", ref))

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        self.calls.append(("remove", ref, force, volumes))


class FakeExecs:
    async def inspect(self, eid: str) -> dict[str, Any]:
        return {"ID": eid, "Running": False}


class FakeSystem:
    def version(self) -> dict[str, Any]:
        return {"Version": "fake"}

    def info(self) -> dict[str, Any]:
        return {"Containers": 3}

    def df(self) -> dict[str, Any]:
        return {"LayersSize": 7}

    async def events(self, filters: Any, since: Any, until: Any) -> Any:
        yield {"Type": "container", "Action": "start", "filters": filters}


class FakeSwarm:
    """A node in no swarm, as /_ping and /info show it."""

    def ping_header(self) -> str:
        return "inactive"

    async def info(self) -> dict[str, Any]:
        return {"LocalNodeState": "inactive"}


def serve(tmp_path: Path, containers: FakeContainers) -> tuple[Server, str]:
    router = Router()
    SystemRoutes(FakeSystem(), FakeSwarm()).register(router)
    ContainerRoutes(containers, FakeExecs()).register(router)  # type: ignore[arg-type]
    return Server(router), str(tmp_path / f"api{os.getpid()}.sock")


def ask_all(tmp_path: Path, requests: list[str]) -> tuple[FakeContainers, list[tuple[int, bytes]]]:
    containers = FakeContainers()
    server, path = serve(tmp_path, containers)

    async def main() -> list[tuple[int, bytes]]:
        listener = await asyncio.get_running_loop().create_unix_server(server.protocol, path)
        out = []
        try:
            for line in requests:
                reader, writer = await asyncio.open_unix_connection(path)
                writer.write(f"{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                raw = await asyncio.wait_for(reader.read(), 5)
                writer.close()
                head, _, body = raw.partition(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                if b"chunked" in head.lower():
                    body = _unchunk(body)
                out.append((status, body))
        finally:
            listener.close()
        return out

    return containers, asyncio.run(main())


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, body = out + rest[:n], rest[n + 2 :]
    return out


def test_system_routes_answer_from_their_backend(tmp_path: Path) -> None:
    _, answers = ask_all(
        tmp_path,
        [
            "GET /version",
            "GET /info",
            "GET /system/df",
            'GET /events?until=1&filters={"type":["container"]}',
        ],
    )
    assert [s for s, _ in answers] == [200, 200, 200, 200]
    assert json.loads(answers[0][1]) == {"Version": "fake"}
    assert json.loads(answers[1][1]) == {"Containers": 3, "Swarm": {"LocalNodeState": "inactive"}}
    assert json.loads(answers[2][1]) == {"LayersSize": 7}
    event = json.loads(answers[3][1].splitlines()[0])
    assert event["Action"] == "start" and event["filters"] == {"type": ["container"]}


def test_container_routes_make_one_backend_call_each(tmp_path: Path) -> None:
    containers, answers = ask_all(
        tmp_path,
        [
            "POST /containers/web/start",
            "POST /containers/web/start",
            "POST /containers/paused/start",
            "GET /containers/web/json?size=1",
            "POST /containers/web/resize?h=24&w=80",
            "DELETE /containers/parent/alias?link=1",
            "DELETE /containers/web?force=1&v=1",
            "GET /exec/e1/json",
        ],
    )
    assert [s for s, _ in answers] == [204, 304, 409, 200, 200, 204, 204, 200]
    assert json.loads(answers[2][1]) == {
        "message": "cannot start a paused container, try unpause instead"
    }
    assert json.loads(answers[3][1]) == {"Id": "web", "SizeRw": 1}
    assert json.loads(answers[7][1]) == {"ID": "e1", "Running": False}
    assert containers.calls == [
        ("start", "web"),
        ("start", "web"),
        ("start", "paused"),
        ("inspect", "web", True),
        ("resize", "web", 24, 80),
        ("remove_link", "parent/alias"),
        ("remove", "web", True, True),
    ]


def test_a_missing_container_is_a_404_from_the_backend(tmp_path: Path) -> None:
    containers, answers = ask_all(tmp_path, ['GET /containers/json?filters={"before":["x"]}'])
    assert answers[0][0] == 404
    assert json.loads(answers[0][1]) == {"message": "No such container: x"}
    assert containers.calls == [("find", "x")]
