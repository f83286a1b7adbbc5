"""A container's files: cp (archive), export, diff and commit.

A running container's root filesystem is its mounted overlay; a stopped one is
mounted for the length of the operation (counted, so two concurrent copies share
one mount) and unmounted afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import posixpath
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, BinaryIO, Protocol, TypeVar

from wharfie import volumes as vol
from wharfie.engine import containerfs
from wharfie.engine.emitter import Events
from wharfie.engine.model import Container
from wharfie.engine.paths import Paths
from wharfie.engine.streams import in_thread
from wharfie.errors import NotFound
from wharfie.images import ImageStore, archive
from wharfie.oci import jsonio

T = TypeVar("T")


class RootfsOwner(Protocol):
    """Who mounts a container's root filesystem and pauses it (`engine.containers`)."""

    def mount_rootfs(self, c: Container, image: Any) -> str: ...

    def unmount_rootfs(self, c: Container) -> None: ...

    async def pause(self, ref: str) -> None: ...

    async def unpause(self, ref: str) -> None: ...


class VolumeMounts(Protocol):
    """What an archive operation needs of the volumes (`engine.volumes.Volumes`)."""

    def points_of(self, c: Container) -> list[dict[str, Any]]: ...

    def get(self, name: str) -> tuple[vol.Volume, vol.Driver]: ...

    def driver(self, name: str) -> vol.Driver: ...


class Files:
    def __init__(
        self,
        images: ImageStore,
        containers: RootfsOwner,
        volumes: VolumeMounts,
        events: Events,
        paths: Paths,
    ) -> None:
        self.images = images
        self.containers = containers
        self.volumes = volumes
        self.events = events
        self.paths = paths

    @contextlib.contextmanager
    def rootfs(self, c: Container) -> Iterator[str]:
        image = self.images.resolve(str(c.doc["Image"]))
        c.mount_users += 1
        try:
            yield self.containers.mount_rootfs(c, image)
        finally:
            c.mount_users -= 1
            if c.mount_users == 0 and not c.running:
                self.containers.unmount_rootfs(c)

    @contextlib.contextmanager
    def view(self, c: Container) -> Iterator[tuple[str, list[containerfs.Bind]]]:
        """The root and the mounts of the container's own view (its volumes, binds and
        /etc files), held for the length of an archive operation."""
        ref = f"{c.id}-archive-{uuid.uuid4().hex[:12]}"
        held: list[tuple[str, str]] = []
        binds: list[containerfs.Bind] = []
        try:
            with self.rootfs(c) as root:
                for m in self.volumes.points_of(c):
                    dest, rw = str(m["Destination"]), bool(m.get("RW", True))
                    if m["Type"] == "volume" and m.get("Name"):
                        v, d = self.volumes.get(str(m["Name"]))
                        source = d.mount(v.name, ref)
                        held.append((v.name, d.name))
                        binds.append(containerfs.Bind(source, dest, rw))
                    elif m["Type"] == "bind" and m.get("Source"):
                        binds.append(containerfs.Bind(str(m["Source"]), dest, rw))
                binds += self._etc_binds(c, binds)
                yield root, binds
        finally:
            for name, driver in held:
                self.volumes.driver(driver).unmount(name, ref)

    @staticmethod
    def _etc_binds(c: Container, user: list[containerfs.Bind]) -> list[containerfs.Bind]:
        files = {
            "/etc/hostname": c.doc.get("HostnamePath"),
            "/etc/hosts": c.doc.get("HostsPath"),
            "/etc/resolv.conf": c.doc.get("ResolvConfPath"),
        }
        taken = {posixpath.normpath(b.destination) for b in user}
        return [
            containerfs.Bind(str(src), dest, True, volume=False)
            for dest, src in files.items()
            if src and dest not in taken
        ]

    def _not_found(self, c: Container, path: str) -> NotFound:
        return NotFound(f"Could not find the file {path} in container {c.name}")

    def _stat(self, c: Container, root: str, binds: list[containerfs.Bind], path: str) -> str:
        try:
            st = containerfs.run(root, binds, lambda fd: archive.stat(fd, path))
        except NotFound:
            raise self._not_found(c, path) from None
        return base64.b64encode(jsonio.dumps(st).encode()).decode()

    def stat_header(self, c: Container, path: str) -> str:
        with self.view(c) as (root, binds):
            return self._stat(c, root, binds, path)

    async def get_archive(self, c: Container, path: str) -> tuple[str, AsyncIterator[bytes]]:
        """The stat header and the tar of one resolution: the header comes first out of
        the producer, so a missing path is an error before any byte is sent."""

        def produce() -> Iterator[bytes]:
            with self.view(c) as (root, binds):

                def make(fd: int) -> Iterator[bytes]:
                    st, body = archive.stat_and_tar(fd, path)
                    yield base64.b64encode(jsonio.dumps(st).encode())
                    yield from body

                try:
                    yield from containerfs.stream(root, binds, make)
                except NotFound:
                    raise self._not_found(c, path) from None

        chunks = in_thread(produce)
        header = (await anext(chunks)).decode()
        return header, chunks

    async def put_archive(
        self,
        c: Container,
        path: str,
        body: AsyncIterator[bytes],
        no_overwrite: bool,
        copy_uid_gid: bool,
    ) -> None:
        readonly = bool(c.host_config.get("ReadonlyRootfs"))

        def extract(stream: BinaryIO) -> None:
            with self.view(c) as (root, binds):

                def work(fd: int) -> None:
                    inside = archive.resolve(fd, path, follow_last=True)
                    containerfs.check_writable(binds, inside, readonly)
                    archive.extract(
                        fd,
                        path,
                        stream,
                        no_overwrite_dir_non_dir=no_overwrite,
                        copy_uid_gid=copy_uid_gid,
                    )

                try:
                    containerfs.run(root, binds, work, readonly_root=readonly)
                except NotFound:
                    raise self._not_found(c, path) from None

        await consume_in_thread(body, extract)

    def export(self, c: Container) -> AsyncIterator[bytes]:
        def produce() -> Iterator[bytes]:
            with self.rootfs(c) as root:
                yield from archive.export(root)

        return in_thread(produce)

    def changes(self, c: Container) -> list[dict[str, Any]]:
        image = self.images.resolve(str(c.doc["Image"]))
        lowers = [containerfs.init_layer(self.paths.data_root), *self.images.layer_dirs(image)]
        return archive.changes(self.paths.rw_upper(c.id), lowers)

    async def commit(
        self,
        c: Container,
        *,
        reference: str | None,
        author: str,
        comment: str,
        changes: list[str],
        config: dict[str, Any] | None,
        pause: bool,
    ) -> str:
        image = self.images.resolve(str(c.doc["Image"]))
        upper = self.paths.rw_upper(c.id)
        paused_here = pause and c.running and not c.paused
        if paused_here:
            await self.containers.pause(c.id)
        try:
            rec = await asyncio.to_thread(
                self.images.commit,
                upper=upper,
                lowers=self.images.layer_dirs(image),
                parent=image,
                container_config=c.config,
                user_config=_request_config(config),
                reference=reference or None,
                author=author,
                comment=comment,
                changes=changes,
            )
        finally:
            if paused_here:
                await self.containers.unpause(c.id)
        self.events.emit("container", "commit", c.id, {**c.event_attrs(), "comment": comment})
        return str(rec.id)


def _request_config(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Config fields of a commit body; None when it has none (as Go leaves the wrapper's
    embedded *Config nil), and the container's Config is taken whole."""
    from wharfie.engine.gojson import canonical
    from wharfie.engine.validate_fields import CONFIG_FIELDS, CREATE_SCHEMA

    own = {k: v for k, v in canonical(body or {}, CREATE_SCHEMA).items() if k in CONFIG_FIELDS}
    return own or None


class QueueReader:
    """A blocking file-like reader fed from the event loop (the request body)."""

    def __init__(self) -> None:
        import queue

        self.q: queue.Queue[bytes] = queue.Queue(16)
        self.buf = b""
        self.eof = False

    async def feed(self, data: bytes, consumer: asyncio.Future[Any]) -> None:
        import queue

        while not consumer.done():
            try:
                self.q.put_nowait(data)
                return
            except queue.Full:
                await asyncio.sleep(0.005)

    def read(self, n: int = -1) -> bytes:
        while not self.eof and (n < 0 or len(self.buf) < n):
            piece = self.q.get()
            if not piece:
                self.eof = True
                break
            self.buf += piece
        if n < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:n], self.buf[n:]
        return out


async def consume_in_thread(body: AsyncIterator[bytes], work: Callable[[BinaryIO], T]) -> T:
    """Run `work(stream)` in a worker thread while the request body feeds `stream`.

    A failing `work` stops the feeding; its error is raised here.
    """
    reader = QueueReader()
    job = asyncio.get_running_loop().run_in_executor(None, work, reader)  # type: ignore[arg-type]
    try:
        async for piece in body:
            if job.done():
                break
            await reader.feed(piece, job)
    finally:
        await reader.feed(b"", job)
    return await job
