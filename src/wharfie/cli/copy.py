"""`cp` both ways over the archive endpoints (notes §2.6), and `-` for raw tar."""

from __future__ import annotations

import os
import sys
import tarfile

from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from wharfie.client.api import Client

DIR_BIT = 1 << 31


class _IterReader:
    """A read()-able view of an iterator of byte pieces (for tarfile's stream mode)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces
        self.buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            piece = next(self.pieces, b"")
            if not piece:
                break
            self.buf += piece
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data


class _NoChownTar(tarfile.TarFile):
    """docker cp extracts as the calling user: no chown to the archive's owners."""

    def chown(self, tarinfo: tarfile.TarInfo, targetpath: Any, numeric_owner: bool) -> None:
        return None


def path_stat(client: Client, ref: str, path: str) -> dict[str, Any] | None:
    """The container path's stat (X-Docker-Container-Path-Stat), None if it does not exist."""
    import base64

    from wharfie.oci import jsonio

    try:
        resp = client.request("HEAD", f"/containers/{ref}/archive", query={"path": path})
    except APIError as exc:
        if exc.status == 404 and "container" not in exc.message.lower():
            return None
        raise
    header = resp.headers.get("x-docker-container-path-stat")
    if not header:
        return None
    doc: dict[str, Any] = jsonio.loads(base64.b64decode(header))
    return doc


def from_container(client: Client, ref: str, src: str, dst: str) -> None:
    resp = client.request("GET", f"/containers/{ref}/archive", query={"path": src}, stream=True)
    with resp:
        if dst == "-":
            from wharfie.cli.container import write_stream

            write_stream(resp.iter_bytes(), None)
            return
        if os.path.isdir(dst):
            target_dir, rename = dst, None
        else:
            parent = os.path.dirname(dst.rstrip("/")) or "."
            if not os.path.isdir(parent):
                raise NotFound(f"destination directory {parent!r} does not exist")
            target_dir, rename = parent, os.path.basename(dst.rstrip("/"))
        reader = _IterReader(resp.iter_bytes())
        with _NoChownTar.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            top = None
            for member in tar:
                if top is None:
                    top = member.name.split("/", 1)[0]
                if rename and (member.name == top or member.name.startswith(top + "/")):
                    member.name = rename + member.name[len(top) :]
                tar.extract(member, target_dir, filter="tar")


def to_container(
    client: Client, ref: str, src: str, dst: str, *, archive: bool = False, follow: bool = False
) -> None:
    query: dict[str, Any] = {"noOverwriteDirNonDir": True, "copyUIDGID": archive or None}
    if src == "-":
        query["path"] = dst
        stdin = iter(lambda: os.read(0, 65536), b"")
        client.request("PUT", f"/containers/{ref}/archive", query=query, body=stdin)
        return
    if not os.path.lexists(src):
        raise NotFound(f"lstat {src}: no such file or directory")
    st = path_stat(client, ref, dst)
    if st is not None and int(st.get("mode", 0)) & DIR_BIT:
        query["path"], arcname = dst, os.path.basename(src.rstrip("/")) or "."
    else:
        if st is not None and os.path.isdir(src):
            raise InvalidArgument("cannot copy directory to file")
        if st is None and dst.endswith("/"):
            raise NotFound(f"Could not find the file {dst} in container {ref}")
        query["path"] = os.path.dirname(dst.rstrip("/")) or "/"
        arcname = os.path.basename(dst.rstrip("/"))
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", dereference=follow) as tar:
        tar.add(src, arcname=arcname)
    data = buf.getvalue()
    chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
    client.request("PUT", f"/containers/{ref}/archive", query=query, body=chunks)
    sys.stdout.flush()
