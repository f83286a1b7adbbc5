"""A container's filesystem as its processes see it, for cp, stat and extract.

The container's root is its overlay mounted on the host; its volumes, bind mounts and
/etc files are mounted only inside its own mount namespace (or not at all, before it
starts and after it exits). As dockerd does, each archive operation runs in a private
mount namespace of its own where those are bound onto the root: a dedicated thread
unshares its mount namespace (CLONE_NEWNS, which takes CLONE_FS along), makes every mount
private, binds each source at its destination, then runs the work and exits, and the
namespace and its mounts go with it. The host's mount table never changes. Tmpfs mounts
are not reproduced (dockerd shows the directory underneath too).

The work gets a descriptor of the root and must reach everything through it with
`wharfie.fsroot` (or `dir_fd` walks that never follow links): the thread's own `/` is still
the host's, so a plain `open()` of a path would follow a container's absolute link there.

Every destination is resolved inside the root with `wharfie.fsroot` and mounted through
`/proc/self/fd/N`, so a container that swaps a path for a symlink cannot point a mount
at the host. A missing destination is created first, as dockerd creates it (a directory,
or an empty file for a file source); like dockerd's, it shows in `docker diff`.
"""

from __future__ import annotations

import os
import posixpath
import queue
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from wharfie import fsroot
from wharfie import syscalls as sc
from wharfie.errors import Conflict, WharfieError
from wharfie.images import archive

T = TypeVar("T")


@dataclass(frozen=True)
class Bind:
    """A mount to reproduce: `source` on the host at `destination` in the container."""

    source: str
    destination: str
    rw: bool
    volume: bool = True  # a user's volume or bind (False: an /etc file the engine gives)


def init_layer(data_root: str) -> str:
    """The init layer (made on first use), the top lower of every container's root. Its
    entries are the same empty files and directories for every container, so one is
    shared (dockerd makes one per container: the same content, a mkdir each)."""
    return archive.make_init_layer(os.path.join(data_root, "init-layer"))


def sort_binds(binds: list[Bind]) -> list[Bind]:
    """Parents before children (dockerd's sortMounts), the engine's files last."""
    return sorted(binds, key=lambda b: (not b.volume, len(fsroot.components(b.destination))))


def covering(binds: list[Bind], inside: str) -> Bind | None:
    """The user mount whose destination is `inside` or holds it (moby's HasResource)."""
    best: Bind | None = None
    for b in binds:
        dest = posixpath.normpath(b.destination)
        under = inside == dest or inside.startswith(dest.rstrip("/") + "/")
        if b.volume and under and (best is None or len(dest) > len(best.destination)):
            best = b
    return best


def check_writable(binds: list[Bind], inside: str, readonly_rootfs: bool) -> None:
    """PUT archive's rules (dockerd's checkIfPathIsInAVolume), on the resolved path."""
    b = covering(binds, inside)
    if b is not None and not b.rw:
        raise Conflict("mounted volume is marked read-only")
    if b is None and readonly_rootfs:
        raise Conflict("container rootfs is marked read-only")


def run(
    root: str, binds: list[Bind], work: Callable[[int], T], *, readonly_root: bool = False
) -> T:
    """`work(root_fd)` in a private mount namespace where `binds` are mounted on `root`
    (and, with `readonly_root`, `root` itself made read-only there, once the mount points
    exist: a `--read-only` container's root stays so whatever a path resolves to)."""
    if not binds and not readonly_root:
        fd = fsroot.open_root(root)
        try:
            return work(fd)
        finally:
            os.close(fd)
    box: list[T] = []
    failed: list[BaseException] = []

    def main() -> None:
        try:
            fd = _enter(root, binds, readonly_root)
            try:
                box.append(work(fd))
            finally:
                os.close(fd)
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    t = threading.Thread(target=main, name="wharfie-containerfs", daemon=True)
    t.start()
    t.join()
    if failed:
        raise failed[0]
    return box[0]


def stream(root: str, binds: list[Bind], make: Callable[[int], Iterator[bytes]]) -> Iterator[bytes]:
    """The items of `make(root_fd)`, produced in a private mount namespace (see `run`);
    closing this iterator stops the producer."""
    q: queue.Queue[object] = queue.Queue(8)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work(fd: int) -> None:
        for item in make(fd):
            if not put(item):
                return

    def main() -> None:
        try:
            run(root, binds, work) if not binds else _in_ns(root, binds, work)
            put(done)
        except BaseException as exc:
            put(exc)

    t = threading.Thread(target=main, name="wharfie-containerfs", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
        t.join()


def _in_ns(root: str, binds: list[Bind], work: Callable[[int], None]) -> None:
    fd = _enter(root, binds)
    try:
        work(fd)
    finally:
        os.close(fd)


def _enter(root: str, binds: list[Bind], readonly_root: bool = False) -> int:
    """In the calling thread (which must exit afterwards): a private mount namespace with
    `binds` on `root`; returns an O_PATH descriptor of the root opened inside it."""
    try:
        sc.unshare(sc.CLONE_NEWNS | 0x00000200)  # CLONE_FS: this thread's own root and cwd
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE, None)
    except OSError as exc:
        raise WharfieError(f"private mount namespace for the container's files: {exc}") from exc
    fd = fsroot.open_root(root)
    try:
        for b in sort_binds(binds):
            _bind(fd, b)
        if readonly_root:  # this namespace's view of the root mount only
            flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
            sc.mount(None, fsroot.fd_path(fd), None, flags, None)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _bind(root: int, b: Bind) -> None:
    try:
        is_dir = stat.S_ISDIR(os.stat(b.source).st_mode)
    except OSError:
        return  # a source that is gone (an /etc file not written yet): nothing to show
    try:
        target = fsroot.make_in(root, b.destination, directory=is_dir)
    except OSError as exc:
        raise WharfieError(f"mount point {b.destination} in the container: {exc}") from exc
    try:
        sc.mount(b.source, fsroot.fd_path(target), None, sc.MS_BIND | sc.MS_REC, None)
        if not b.rw:  # through the new mount's own descriptor: the old one is beneath it
            top = fsroot.open_in(root, b.destination, os.O_PATH)
            try:
                flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
                sc.mount(None, fsroot.fd_path(top), None, flags, None)
            finally:
                os.close(top)
    except OSError as exc:
        raise WharfieError(f"bind {b.source} at {b.destination}: {exc}") from exc
    finally:
        os.close(target)
