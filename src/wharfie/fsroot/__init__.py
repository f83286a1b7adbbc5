"""Paths resolved inside a root directory, through descriptors.

A container's root filesystem is written by the container while the engine reads it, so a
path checked as a string can be swapped for a symlink before it is used. Here a path is
resolved *into a descriptor*: every symlink met is read from the object actually opened
and interpreted as if the root were `/` (absolute targets restart at the root, `..` stops
at the root), at most `MAX_LINKS` (40, as the kernel) of them. Callers then use the
descriptor (`dir_fd=`, `os.fstat`, `fd_path`), never the string again.

Two implementations with one meaning:

- `openat2(2)` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (Linux 5.6+), where the kernel
  does the scoping itself;
- a descriptor walk (`walk_open`): one `O_PATH | O_NOFOLLOW` open per component, each link
  read with `readlinkat(fd, "")` from the object just opened, so a swap between two steps
  can only change which object inside the root is reached, never leave it.

`open_in` picks the first where the kernel has it. The last component is followed only
with `follow=True`; with `follow=False` and `O_PATH` the link itself is opened (with other
flags such a link fails with ELOOP, as O_NOFOLLOW does). A trailing "/" carries no meaning
here: the caller chooses `follow`. Imports only the standard library and
`wharfie.syscalls.ffi`, so the runtime can use it without pulling the engine.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAX_LINKS",
    "components",
    "fd_path",
    "have_openat2",
    "make_in",
    "open_in",
    "open_parent",
    "open_root",
    "openat2_open",
    "scoped_path",
    "walk_open",
]

MAX_LINKS = 40
_SYS_OPENAT2 = 437  # x86_64 and aarch64 (the generic table) alike
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_CLOEXEC = os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_AGAIN_TRIES = 64

_how: object | None = None  # (libc `syscall`, the open_how structure), once looked up
_have: bool | None = None


def components(path: str) -> list[str]:
    """The names of `path`, without "" and "." (".." kept: resolution clamps it). A NUL
    byte is EINVAL, as the kernel would say (C would silently cut the path there)."""
    if "\0" in path:
        raise OSError(errno.EINVAL, "invalid argument", path)
    return [c for c in path.split("/") if c not in ("", ".")]


def fd_path(fd: int) -> str:
    """A path that names the object open on `fd` (for calls that take no dir_fd)."""
    return f"/proc/self/fd/{fd}"


def open_root(path: str) -> int:
    """An `O_PATH` descriptor of the directory `path` (the root to resolve in)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | _CLOEXEC)


def _ffi() -> tuple[Any, Any]:
    global _how
    if _how is None:
        from wharfie.syscalls import ffi

        class OpenHow(ffi.Structure):
            _fields_ = [("flags", ffi.c_uint64), ("mode", ffi.c_uint64), ("resolve", ffi.c_uint64)]

        _how = (ffi.function("syscall", ffi.c_long, None), OpenHow)
    return _how  # type: ignore[return-value]


def openat2_open(root: int, path: str, flags: int, mode: int = 0, *, follow: bool = True) -> int:
    """`open_in` by openat2(RESOLVE_IN_ROOT). OSError(ENOSYS) where the kernel lacks it."""
    from wharfie.syscalls import ffi

    call, open_how = _ffi()
    if not follow:
        flags |= os.O_NOFOLLOW
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if not flags & os.O_CREAT and (flags & tmpfile) != tmpfile:
        mode = 0  # openat2 refuses a mode it would not use
    how = open_how(flags | _CLOEXEC, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    name = ("/".join(components(path)) or ".").encode("utf-8", "surrogateescape")
    for _ in range(_AGAIN_TRIES):
        fd = int(call(_SYS_OPENAT2, root, name, ffi.byref(how), ffi.sizeof(how)))
        if fd >= 0:
            return fd
        err = ffi.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):  # EAGAIN: a rename raced a ".." step
            raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, "path kept changing during resolution", path)


def have_openat2() -> bool:
    """Whether the kernel resolves RESOLVE_IN_ROOT (probed once)."""
    global _have
    if _have is None:
        probe = open_root("/")
        try:
            os.close(openat2_open(probe, ".", os.O_PATH))
            _have = True
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
                raise
            _have = False
        finally:
            os.close(probe)
    return _have


def open_in(root: int, path: str, flags: int = os.O_PATH, mode: int = 0o666, *,
            follow: bool = True) -> int:  # fmt: skip
    """A descriptor (opened with `flags`) of `path` resolved inside the directory `root`."""
    if have_openat2():
        return openat2_open(root, path, flags, mode, follow=follow)
    return walk_open(root, path, flags, mode, follow=follow)


def open_parent(root: int, path: str) -> tuple[int, str]:
    """(`O_PATH` descriptor of the directory holding `path`'s last name, that name), both
    resolved inside `root`. The name is "." when `path` is the root itself, and never "..":
    a path ending in ".." is resolved whole and its parent taken."""
    parts = components(path)
    if parts and parts[-1] == "..":
        parts = components(scoped_path(root, path))
    if not parts:
        return os.open(".", os.O_PATH | os.O_DIRECTORY | _CLOEXEC, dir_fd=root), "."
    return open_in(root, "/".join(parts[:-1]), os.O_PATH | os.O_DIRECTORY), parts[-1]


def walk_open(root: int, path: str, flags: int = os.O_PATH, mode: int = 0o666, *,
              follow: bool = True) -> int:  # fmt: skip
    """`open_in` by a descriptor walk (for kernels without openat2)."""
    parts = components(path)
    budget = [MAX_LINKS]
    while True:
        names: list[str] = []
        fd, rest = _walk(root, parts, follow, keep_missing=False, names=names, budget=budget)
        try:
            if not rest:
                return _reopen(fd, flags, mode)
            opened = _open_last(fd, rest[0], flags, mode, follow)
        finally:
            os.close(fd)
        if isinstance(opened, int):
            return opened
        # the last name is a symlink to follow: resolve its target from where it stands
        budget[0] -= 1
        if budget[0] < 0:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        here = "/" + "/".join(names)
        parts = components(opened if opened.startswith("/") else f"{here}/{opened}")


def _open_last(dirfd: int, name: str, flags: int, mode: int, follow: bool) -> int | str:
    """Open or create `name` in `dirfd` with `flags`: the descriptor, or, when `name` is a
    symlink (even one swapped in just now) and `follow`, its target. Without `follow` a
    link fails as O_NOFOLLOW makes it fail."""
    while True:
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | _CLOEXEC, mode, dir_fd=dirfd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not follow:
                raise
            failed: OSError | None = exc
        else:
            if not (follow and flags & os.O_PATH and stat.S_ISLNK(os.fstat(fd).st_mode)):
                return fd
            os.close(fd)
            failed = None
        link = os.open(name, _PATH_FLAGS, dir_fd=dirfd)
        try:
            mode_now = os.fstat(link).st_mode
            if stat.S_ISLNK(mode_now):
                return os.readlink("", dir_fd=link)
        finally:
            os.close(link)
        if failed is not None and failed.errno == errno.ENOTDIR and not stat.S_ISDIR(mode_now):
            raise failed  # really not a directory
        # swapped back to a non-link meanwhile (ENOTDIR was the link's): open it again


def _reopen(fd: int, flags: int, mode: int) -> int:
    if flags & os.O_PATH:
        return os.dup(fd)
    return os.open(fd_path(fd), flags | _CLOEXEC, mode)


def _walk(root: int, parts: list[str], follow: bool, *, keep_missing: bool,
          names: list[str] | None = None, budget: list[int] | None = None,
          ) -> tuple[int, list[str]]:  # fmt: skip
    """Walk `parts` from `root`: (O_PATH fd reached, names left). Without `keep_missing`
    the last name is left for the caller to open (so it may be created); with it, the walk
    stops at the first missing name. `names` receives the resolved names inside root."""
    stack = [os.open(".", os.O_PATH | os.O_DIRECTORY | _CLOEXEC, dir_fd=root)]
    resolved: list[str] = []
    todo = list(parts)
    budget = budget if budget is not None else [MAX_LINKS]
    try:
        while todo:
            comp = todo[0]
            if comp == "..":
                todo.pop(0)
                if len(stack) > 1:
                    os.close(stack.pop())
                    resolved.pop()
                continue
            last = len(todo) == 1
            if last and not keep_missing:
                break
            try:
                fd = os.open(comp, _PATH_FLAGS, dir_fd=stack[-1])
            except FileNotFoundError:
                if keep_missing:
                    break
                raise
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode) and (follow or not last):
                budget[0] -= 1
                try:
                    target = os.readlink("", dir_fd=fd)
                finally:
                    os.close(fd)
                if budget[0] < 0:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), "/".join(parts))
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                    resolved.clear()
                todo[:1] = components(target)
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                if keep_missing:  # a name, as moby's: the rest is kept as given
                    break
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), "/".join(parts))
            stack.append(fd)
            resolved.append(comp)
            todo.pop(0)
        fd = stack.pop()
    finally:
        for other in stack:
            os.close(other)
    if names is not None:
        names[:] = resolved
    return fd, todo


def scoped_path(root: int, path: str, *, follow: bool = True) -> str:
    """The absolute path inside `root` that `path` names once its links are resolved in
    scope (moby's FollowSymlinkInScope): names that do not exist are kept as given, so a
    dangling link still has an answer. A name only: use it to report, never to open."""
    parts = components(path)
    names: list[str] = []
    fd, rest = _walk(root, parts, follow, keep_missing=True, names=names)
    os.close(fd)
    for comp in rest:
        if comp == "..":
            if names:
                names.pop()
        else:
            names.append(comp)
    return "/" + "/".join(names)


def make_in(root: int, path: str, *, directory: bool, mode: int = 0o755) -> int:
    """An `O_PATH` descriptor of `path` inside `root`, created first if missing (with its
    missing parents as directories; the last as a directory or an empty file), each made by
    `dir_fd` in a parent resolved in scope: a mount point, as runc and dockerd make them."""
    flags = os.O_PATH | (os.O_DIRECTORY if directory else 0)
    try:
        return open_in(root, path, flags)
    except FileNotFoundError:
        pass
    parts = components(scoped_path(root, path))
    for i in range(1, len(parts) + 1):
        last = i == len(parts)
        parent, name = open_parent(root, "/".join(parts[:i]))
        try:
            if directory or not last:
                os.mkdir(name, mode, dir_fd=parent)
            else:
                made = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _CLOEXEC, mode,
                               dir_fd=parent)  # fmt: skip
                os.close(made)
        except FileExistsError:
            pass
        finally:
            os.close(parent)
    return open_in(root, path, flags)
