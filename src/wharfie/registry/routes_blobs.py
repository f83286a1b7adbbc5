"""Blob routes: GET/HEAD/DELETE of blobs (with Range), and the upload endpoints."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from wharfie.registry.codes import RegistryError
from wharfie.registry.httpserver import Request, Response
from wharfie.registry.names import check_digest

if TYPE_CHECKING:
    from wharfie.registry.app import Registry
    from wharfie.registry.uploads import Upload

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CONTENT_RANGE = re.compile(r"(?:bytes )?(\d+)-(\d+)(?:/(\d+|\*))?")


def blob_range(header: str, size: int) -> tuple[int, int] | None:
    """(offset, count) of a single `Range: bytes=a-b`; None to send the whole blob."""
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # a form we do not serve partially (e.g. several ranges): whole body
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        count = min(int(last), size)
        if count == 0:
            raise RegistryError("RANGE_INVALID", "range not satisfiable", {"size": size})
        return size - count, count
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RegistryError("RANGE_INVALID", "range not satisfiable", {"size": size})
    return start, end - start + 1


def get_blob(reg: Registry, req: Request, name: str, digest: str) -> Response:
    hexd = check_digest(digest)
    if not reg.storage.has_layer(name, hexd):
        reg.storage.require_repo(name)
        raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
    path = reg.storage.blob_path(hexd)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError as exc:
        raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest}) from exc
    headers = {
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": digest,
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
    span = blob_range(req.headers["range"], size) if "range" in req.headers else None
    if span is None:
        return Response(200, headers=headers).send_file(path, 0, size)
    offset, count = span
    headers["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{size}"
    return Response(206, headers=headers).send_file(path, offset, count)


def delete_blob(reg: Registry, req: Request, name: str, digest: str) -> Response:
    reg.require_delete()
    hexd = check_digest(digest)
    if not reg.storage.unlink_layer(name, hexd):
        reg.storage.require_repo(name)
        raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
    reg.metrics.count("blob_delete")
    return Response(202, headers={"Docker-Content-Digest": digest})


def _status(name: str, up: Upload, status: int) -> Response:
    headers = {
        "Location": f"/v2/{name}/blobs/uploads/{up.uuid}",
        "Range": f"0-{max(up.offset - 1, 0)}",
        "Docker-Upload-UUID": up.uuid,
    }
    return Response(status, headers=headers)


def _created(reg: Registry, name: str, hexd: str) -> Response:
    reg.storage.link_layer(name, hexd)
    digest = f"sha256:{hexd}"
    return Response(
        201, headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
    )


def start_upload(reg: Registry, req: Request, name: str) -> Response:
    mount, source = req.query.get("mount"), req.query.get("from")
    if mount and source and reg.may_pull(req, source):
        mounted = check_digest(mount)
        if reg.storage.has_layer(source, mounted):
            reg.metrics.count("blob_mount")
            return _created(reg, name, mounted)
    want = req.query.get("digest")
    hexd = check_digest(want) if want is not None else None
    up = reg.uploads.start(name)
    if hexd is None:
        if req.has_body:  # a body without a digest: keep it as the first chunk
            _append(reg, req, up)
        return _status(name, up, 202)
    return _finish(reg, req, name, up, hexd)


def _append(reg: Registry, req: Request, up: Upload) -> None:
    crange = req.headers.get("content-range")
    if crange is not None:
        m = _CONTENT_RANGE.fullmatch(crange.strip())
        if m is None:
            raise RegistryError(
                "RANGE_INVALID", "malformed Content-Range", {"range": crange}, status=416
            )
        start, end = int(m.group(1)), int(m.group(2))
        if start != up.offset or end < start:
            raise RegistryError(
                "RANGE_INVALID",
                f"chunk must start at {up.offset}",
                {"range": crange, "offset": up.offset},
                status=416,
            )
        if req.length is not None and req.length != end - start + 1:
            raise RegistryError("SIZE_INVALID", "Content-Range and Content-Length disagree")
    with up.lock:
        reg.uploads.append(up, req.readinto, req.length)


def patch_upload(reg: Registry, req: Request, name: str, uid: str) -> Response:
    up = reg.uploads.get(name, uid)
    _append(reg, req, up)
    return _status(name, up, 202)


def upload_status(reg: Registry, req: Request, name: str, uid: str) -> Response:
    return _status(name, reg.uploads.get(name, uid), 204)


def put_upload(reg: Registry, req: Request, name: str, uid: str) -> Response:
    up = reg.uploads.get(name, uid)
    want = req.query.get("digest")
    if not want:
        raise RegistryError("DIGEST_INVALID", "digest parameter missing")
    return _finish(reg, req, name, up, check_digest(want))


def _finish(reg: Registry, req: Request, name: str, up: Upload, hexd: str) -> Response:
    if req.has_body and not req.consumed:
        _append(reg, req, up)
    with up.lock:
        reg.uploads.finish(up, hexd)
    reg.metrics.count("blob_push")
    return _created(reg, name, hexd)


def cancel_upload(reg: Registry, req: Request, name: str, uid: str) -> Response:
    up = reg.uploads.get(name, uid)
    reg.uploads.forget(up)
    return Response(204)
