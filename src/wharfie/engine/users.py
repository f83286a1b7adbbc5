"""Config.User -> uid, gid and supplementary gids, read from the container's own files.

Semantics of moby/sys/user GetExecUser (as runc and dockerd use it): "", "name", "uid",
"name:group", "uid:gid", "uid:groupname". A user that is a passwd entry's name or uid takes
that entry's gid and home, and (when no group is given) every group of /etc/group listing
the name as a member; a number not in passwd is fine (gid 0, home "/"). /etc/passwd and
/etc/group are looked up inside the rootfs: symlinks are resolved as if the rootfs were "/"
(moby's FollowSymlinkInScope) and the file read through the descriptor they resolve to
(wharfie.fsroot), so a link to /host/etc/passwd reads <rootfs>/host/etc/passwd,
never the host's file. A missing file is an empty database.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from wharfie import fsroot
from wharfie.errors import InvalidArgument

__all__ = ["group_ids", "read_in_root", "resolve_user", "user_home"]


class Passwd(NamedTuple):
    name: str
    uid: int
    gid: int
    home: str


class Group(NamedTuple):
    name: str
    gid: int
    members: list[str]


def read_in_root(root: str, path: str) -> str | None:
    """Text of `path` inside `root` (None when it does not exist or is not a regular file),
    resolved and read through one descriptor (wharfie.fsroot)."""
    try:
        rfd = fsroot.open_root(root)
    except OSError as e:
        raise InvalidArgument(f"cannot read {path} in the container: {e.strerror}") from e
    try:
        fd = fsroot.open_in(rfd, path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        reason = (e.strerror or str(e)).lower()  # as Go spells errnos
        raise InvalidArgument(f"cannot read {path} in the container: {reason}") from e
    finally:
        os.close(rfd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read().decode("utf-8", "replace")
    finally:
        os.close(fd)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _passwd(root: str) -> list[Passwd]:
    out = []
    for line in (read_in_root(root, "/etc/passwd") or "").splitlines():
        fields = line.strip().split(":")
        if len(fields) < 4 or not line.strip() or line.startswith("#"):
            continue
        uid, gid = _int(fields[2]), _int(fields[3])
        if uid is None or gid is None:
            continue
        home = fields[5] if len(fields) > 5 else ""
        out.append(Passwd(fields[0], uid, gid, home))
    return out


def _groups(root: str) -> list[Group]:
    out = []
    for line in (read_in_root(root, "/etc/group") or "").splitlines():
        fields = line.strip().split(":")
        if len(fields) < 3 or line.startswith("#"):
            continue
        gid = _int(fields[2])
        if gid is None:
            continue
        members = [m for m in fields[3].split(",") if m] if len(fields) > 3 else []
        out.append(Group(fields[0], gid, members))
    return out


def _find_user(root: str, user: str) -> tuple[Passwd | None, int, int, str]:
    """(matched entry or None, uid, gid, home)."""
    arg = user or "0"
    for entry in _passwd(root):
        if entry.name == arg or str(entry.uid) == arg:
            return entry, entry.uid, entry.gid, entry.home
    uid = _int(arg)
    if uid is None:
        raise InvalidArgument(f"unable to find user {arg}: no matching entries in passwd file")
    if uid > 0x7FFFFFFF:
        raise InvalidArgument(f"uid {uid} out of range")
    return None, uid, 0, "/"


def resolve_user(rootfs: str, user: str) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for Config.User in this rootfs."""
    name, _, group_arg = (user or "").partition(":")
    entry, uid, gid, _ = _find_user(rootfs, name)
    groups = _groups(rootfs) if group_arg or entry else []
    if group_arg:
        match = [g for g in groups if g.name == group_arg or str(g.gid) == group_arg]
        if match:
            return uid, match[0].gid, []
        number = _int(group_arg)
        if number is None:
            raise InvalidArgument(
                f"unable to find group {group_arg}: no matching entries in group file"
            )
        return uid, number, []
    sgids = [g.gid for g in groups if entry and entry.name in g.members]
    return uid, gid, list(dict.fromkeys(sgids))


def user_home(rootfs: str, uid: int) -> str:
    """HOME for this uid: its passwd entry's, else "/root" for root and "/" for others."""
    for entry in _passwd(rootfs):
        if entry.uid == uid:
            return entry.home or "/"
    return "/root" if uid == 0 else "/"


def group_ids(rootfs: str, names: list[str]) -> list[int]:
    """HostConfig.GroupAdd -> gids (names looked up in the rootfs's /etc/group)."""
    groups = _groups(rootfs) if any(_int(n) is None for n in names) else []
    out = []
    for name in names:
        number = _int(name)
        if number is not None:
            out.append(number)
            continue
        match = [g.gid for g in groups if g.name == name]
        if not match:
            raise InvalidArgument(f"Unable to find group {name}: no matching entries in group file")
        out.append(match[0])
    return out
