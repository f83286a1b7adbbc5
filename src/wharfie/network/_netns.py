"""Persistent network namespaces, and netlink sockets that act inside one.

The daemon is a threaded asyncio process: its threads must never unshare or setns for
good. Each operation here that needs another namespace runs in a fresh short-lived thread
that enters (or creates) the namespace, does the one thing that needs it — bind-mount the
namespace, or open a netlink socket, which stays bound to the namespace it was created in
— and exits, so no thread of the process is ever left in a foreign namespace.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from wharfie import syscalls
from wharfie.errors import Conflict, InvalidArgument, NotFound, Unavailable
from wharfie.network._rtnl import Netlink

T = TypeVar("T")


def in_thread(fn: Callable[[], T]) -> T:
    """Run `fn` in a new thread (which then exits) and return its result or raise its error."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as e:
            error.append(e)

    thread = threading.Thread(target=run, name="wharfie-netns")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def open_netns(path: str) -> int:
    """An O_RDONLY fd of a namespace file; NotFound if the path does not exist."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise NotFound(f"network namespace {path} not found") from e
    except OSError as e:
        raise Unavailable(f"open network namespace {path}: {e}") from e


def socket_in(netns_fd: int, path: str) -> Netlink:
    """A NETLINK_ROUTE socket that acts inside the namespace of `netns_fd`."""

    def make() -> socket.socket:
        syscalls.setns(netns_fd, syscalls.CLONE_NEWNET)
        return socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )

    try:
        return Netlink(in_thread(make))
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise InvalidArgument(f"{path} is not a network namespace") from e
        raise Unavailable(f"enter network namespace {path}: {e}") from e


def create_netns(path: str) -> None:
    """A new network namespace, kept alive by a bind mount at `path`, with `lo` up."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    except FileExistsError as e:
        raise Conflict(f"network namespace {path} already exists") from e
    try:
        in_thread(lambda: _unshare_and_bind(path))
    except OSError as e:
        os.unlink(path)
        raise Unavailable(f"create network namespace {path}: {e}") from e


def _unshare_and_bind(path: str) -> None:
    syscalls.unshare(syscalls.CLONE_NEWNET)
    syscalls.link_up("lo")
    tid = threading.get_native_id()
    syscalls.mount(f"/proc/self/task/{tid}/ns/net", path, None, syscalls.MS_BIND, None)


def delete_netns(path: str) -> None:
    """Unmount and remove a namespace made by create_netns; nothing to do if it is gone."""
    try:
        syscalls.umount2(path, syscalls.MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted, or no such path
            raise Unavailable(f"unmount network namespace {path}: {e}") from e
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise Unavailable(f"remove network namespace file {path}: {e}") from e


def netns_links(path: str) -> list[str]:
    """Names of the links inside the namespace at `path`."""
    fd = open_netns(path)
    try:
        nl = socket_in(fd, path)
    finally:
        os.close(fd)
    with nl:
        try:
            return [link.name for link in nl.links()]
        except OSError as e:
            raise Unavailable(f"list links in {path}: {e}") from e
