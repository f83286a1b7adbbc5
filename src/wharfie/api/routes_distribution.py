"""Pull, push, save, load, /auth and /distribution: the image routes that stream.

Pull and push answer with Docker's JSON progress stream. Errors that happen before the
first progress message get a real status (404 unknown image, 401 bad credentials, 503
registry unreachable), as moby does; later ones go into the stream as
`{"errorDetail": {"message": …}, "error": …}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from wharfie.api.decoding import arg
from wharfie.api.http import HTTPError, Reply, Request, Stream, json_response
from wharfie.engine.files import consume_in_thread
from wharfie.engine.images import AuthConfig, Unauthorized, decode_registry_auth
from wharfie.errors import InvalidArgument, Unavailable, WharfieError
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.api.backends_images import DistributionBackend

Progress = Callable[[dict[str, Any]], None]
_DONE = object()


def _line(obj: object) -> bytes:
    return jsonio.dumps(obj).encode() + b"\r\n"


def _auth(req: Request) -> AuthConfig:
    return decode_registry_auth(req.headers.get("x-registry-auth", ""))


def _error(exc: BaseException) -> BaseException:
    if isinstance(exc, Unauthorized):
        return HTTPError(401, str(exc))
    return exc


async def progress_stream(work: Callable[[Progress], Awaitable[Any]]) -> Reply:
    """Run `work(progress)`; stream its messages; raise its error if it fails first."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def progress(msg: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, msg)

    task = asyncio.ensure_future(work(progress))
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    first = await queue.get()
    failed = task.exception() if first is _DONE else None
    if failed is not None:
        raise _error(failed) from failed
    return Stream(_drain(first, queue, task))


async def _drain(
    first: Any, queue: asyncio.Queue[Any], task: asyncio.Future[Any]
) -> AsyncIterator[bytes]:
    item = first
    while item is not _DONE:
        yield _line(item)
        item = await queue.get()
    exc = task.exception()
    if exc is not None:
        yield _line({"errorDetail": {"message": str(exc)}, "error": str(exc)})


async def pull(e: DistributionBackend, req: Request) -> Reply:
    ref = arg(req, "fromImage")
    tag = arg(req, "tag")
    if not ref:
        raise InvalidArgument("fromImage is required")
    auth = _auth(req)
    platform = arg(req, "platform")
    if tag:
        ref = f"{ref}@{tag}" if tag.startswith("sha256:") else f"{ref}:{tag}"
    elif _bare(ref):  # moby: no tag and none in fromImage pulls every tag
        return await progress_stream(
            lambda progress: e.pull_all_tags(ref, auth, platform, progress)
        )
    return await progress_stream(lambda progress: e.pull(ref, auth, platform, progress))


def _bare(ref: str) -> bool:
    """No tag or digest in a reference ("h:5000/x" has none; "x:1", "x@sha256:…" have)."""
    if "@" in ref:
        return False
    return ref.rfind(":") <= ref.rfind("/")


async def push(e: DistributionBackend, req: Request, name: str) -> Reply:
    auth = _auth(req)
    return await progress_stream(lambda progress: e.push(name, arg(req, "tag"), auth, progress))


async def save(e: DistributionBackend, names: list[str]) -> Reply:
    chunks = e.save(names)  # resolves first: 404 before any byte
    return Stream(_in_thread(chunks), content_type="application/x-tar")


async def _in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    def batch() -> bytes:
        out, size = [], 0
        for piece in chunks:
            out.append(piece)
            size += len(piece)
            if size >= 4 << 20:
                break
        return b"".join(out)

    while data := await asyncio.to_thread(batch):
        yield data


async def load(e: DistributionBackend, req: Request) -> Reply:
    """As dockerd: the load's outcome, error included, is in the 200 stream."""
    try:
        lines = await consume_in_thread(req.chunks(), e.load)
    except WharfieError as exc:
        failure = str(exc)
        lines = []
    else:
        failure = ""

    async def out() -> AsyncIterator[bytes]:
        for line in lines:
            yield _line({"stream": line + "\n"})
        if failure:
            yield _line({"errorDetail": {"message": failure}, "error": failure})

    return Stream(out())


async def auth(e: DistributionBackend, req: Request) -> Reply:
    body = await req.json()
    if not isinstance(body, dict):
        raise InvalidArgument("invalid auth configuration: want a JSON object")
    try:
        result = await e.login(AuthConfig.from_json(body))
    except Unauthorized as exc:
        raise HTTPError(401, str(exc)) from exc
    return json_response(result)


async def inspect(e: DistributionBackend, req: Request, name: str) -> Reply:
    """dockerd answers an unreachable registry here with an unclassified error: 500 (not the
    503 of a pull), as `docker service create` meets it on a machine without a registry."""
    try:
        out = await e.distribution_inspect(name, _auth(req))
    except Unauthorized as exc:
        raise HTTPError(401, str(exc)) from exc
    except Unavailable as exc:
        raise HTTPError(500, str(exc)) from exc
    return json_response(out)


def dumps(obj: Any) -> str:
    return json.dumps(obj)
