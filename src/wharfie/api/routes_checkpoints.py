"""Routes of /containers/{id}/checkpoints (dockerd's experimental checkpoint router)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.api.decoding import arg, json_body
from wharfie.api.http import HTTPError, Reply, Request, Response, Router, json_response
from wharfie.engine.checkpoints import (
    CheckpointDirForbidden,
    CheckpointError,
    Checkpoints,
    CreateOptions,
    ExperimentalOff,
)

if TYPE_CHECKING:
    from wharfie.api.backends import ContainerBackend


def http_error(exc: Exception) -> HTTPError | None:
    """The status dockerd answers a checkpoint error with (None: the usual mapping)."""
    if isinstance(exc, ExperimentalOff):
        return HTTPError(501, str(exc))
    if isinstance(exc, CheckpointDirForbidden):
        return HTTPError(403, str(exc))
    if isinstance(exc, CheckpointError):
        return HTTPError(500, str(exc))
    return None


class CheckpointRoutes:
    def __init__(self, checkpoints: Checkpoints) -> None:
        self.cp = checkpoints

    def register(self, r: Router) -> None:
        r.add("GET", "/containers/(?P<ref>.*)/checkpoints", self.list)
        r.add("POST", "/containers/(?P<ref>.*)/checkpoints", self.create)
        r.add("DELETE", "/containers/(?P<ref>[^/]+)/checkpoints/(?P<name>[^/]+)", self.delete)

    async def list(self, req: Request, ref: str) -> Reply:
        try:
            return json_response(self.cp.list(ref, arg(req, "dir")))
        except (ExperimentalOff, CheckpointError) as exc:
            raise _mapped(exc) from exc

    async def create(self, req: Request, ref: str) -> Reply:
        try:
            self.cp._check_experimental()
            opts = CreateOptions.from_body(await json_body(req, empty={}))
            await self.cp.create(ref, opts)
        except (ExperimentalOff, CheckpointError) as exc:
            raise _mapped(exc) from exc
        return Response(201)

    async def delete(self, req: Request, ref: str, name: str) -> Reply:
        try:
            self.cp.delete(ref, name, arg(req, "dir"))
        except (ExperimentalOff, CheckpointError) as exc:
            raise _mapped(exc) from exc
        return Response(204)


def _mapped(exc: Exception) -> HTTPError:
    err = http_error(exc)
    assert err is not None
    return err


async def start(cp: Checkpoints, containers: ContainerBackend, req: Request, ref: str) -> Reply:
    """`POST /containers/{id}/start?checkpoint=NAME[&checkpoint-dir=DIR]`."""
    try:
        path = cp.restore_path(ref, arg(req, "checkpoint"), arg(req, "checkpoint-dir"))
        if path is None:
            return Response(304)
        started = await containers.start(ref, restore=path)
    except (CheckpointDirForbidden, CheckpointError) as exc:
        raise _mapped(exc) from exc
    return Response(204 if started else 304)
