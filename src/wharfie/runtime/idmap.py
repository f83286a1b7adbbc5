"""Idmapped bind mounts (mount options `idmap` and `ridmap`), made before the init forks.

An idmapped mount shows the ids of its files through a user namespace's mapping. Only a
process privileged over the source's mount can make one, so (as runc 1.2 does) the runtime
makes it on the host, before the fork: `open_tree(OPEN_TREE_CLONE)` copies the source's
mount (with every mount below it for `rbind` or `ridmap`), `mount_setattr(MOUNT_ATTR_IDMAP)`
gives it (or, with `ridmap`, every mount of the copy) the mapping of a user namespace made
for it, and the init, which inherits the descriptor, attaches it at the destination with
`move_mount` (rootfs.py). The mapping is the mount's `uidMappings`/`gidMappings`, else the
container's user namespace mappings; either way written as a user namespace's are
(`containerID hostID size`), as runc 1.2 and crun do: a file owned by `containerID` on disk
shows as `hostID`, so a container whose user namespace has the same mapping sees it as
`containerID`. Needs Linux 5.12 and a filesystem that supports idmapped mounts.
"""

from __future__ import annotations

import os

from wharfie import syscalls as sc
from wharfie.errors import InvalidArgument, NotImplementedFeature
from wharfie.runtime import mount_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def prepare(mounts: list[dict[str, Any]], linux: dict[str, Any]) -> dict[int, int]:
    """{index in `mounts`: descriptor of its idmapped, detached copy} for every idmap mount.
    The caller closes the descriptors (after the fork)."""
    out: dict[int, int] = {}
    try:
        for i, m in enumerate(mounts):
            options = m.get("options") or []
            if not any(o in mount_options.IDMAP for o in options):
                continue
            out[i] = _one(i, m, options, linux)
    except BaseException:
        for fd in out.values():
            os.close(fd)
        raise
    return out


def _one(i: int, m: dict[str, Any], options: list[str], linux: dict[str, Any]) -> int:
    field = f"mounts[{i}]"
    uids = m.get("uidMappings") or linux.get("uidMappings")
    gids = m.get("gidMappings") or linux.get("gidMappings")
    if not uids or not gids:
        raise InvalidArgument(
            f"{field}: an idmapped mount needs uidMappings and gidMappings, on the mount or "
            "for the container's user namespace"
        )
    source = m.get("source") or ""
    userns = _userns(uids, gids, field)
    try:
        try:
            fd = sc.open_tree(source, recursive="rbind" in options or "ridmap" in options)
        except OSError as exc:
            raise InvalidArgument(f"{field}: idmapped mount of {source!r}: {exc}") from exc
        try:
            sc.idmap_mount(fd, userns, recursive="ridmap" in options)
        except OSError as exc:
            os.close(fd)
            raise NotImplementedFeature(
                f"{field}: the kernel refuses an idmapped mount of {source!r} "
                f"(its filesystem may not support them): {exc}"
            ) from exc
        return fd
    finally:
        os.close(userns)


def _map_text(mappings: list[dict[str, int]]) -> str:
    return "".join(f"{e['containerID']} {e['hostID']} {e['size']}\n" for e in mappings)


def _userns(uids: list[dict[str, int]], gids: list[dict[str, int]], field: str) -> int:
    """A descriptor of a new user namespace with these mappings (its process is gone)."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only holds the namespace open
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise InvalidArgument(f"{field}: could not make a user namespace for the mapping")
        for name, mappings in (("uid_map", uids), ("gid_map", gids)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(_map_text(mappings))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidArgument(f"{field}: writing the idmapped mount's mapping: {exc}") from exc
    finally:
        os.close(ready_r)
        os.close(done_w)  # the child reads EOF and exits
        os.waitpid(pid, 0)
