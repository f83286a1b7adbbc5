"""Translation of OCI mount options into mount(2) flags, propagation and data.

Pure: `parse(options)` returns the mount(2) flags, the propagation changes to
apply after mounting, the recursive attributes to set with mount_setattr(2) (runc's
"rro", "rnosuid", ...), and the filesystem data string. Unknown options are passed
to the filesystem as data, as runc does, which refuses what it does not know; a bind
mount has no filesystem to refuse them, so there an unknown option is an error here
(runc 1.1 ignores it: a typo such as "rro " would leave a mount writable).
"""

from __future__ import annotations

from wharfie.syscalls import (
    MOUNT_ATTR_NOATIME,
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_NOSYMFOLLOW,
    MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_STRICTATIME,
    MS_BIND,
    MS_DIRSYNC,
    MS_LAZYTIME,
    MS_MANDLOCK,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_NOSYMFOLLOW,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    MS_UNBINDABLE,
)

# option -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
    "lazytime": (False, MS_LAZYTIME),
}

PROPAGATION = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# runc's recursive options -> (clear?, MOUNT_ATTR_*), applied with mount_setattr(AT_RECURSIVE)
RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rnoatime": (False, MOUNT_ATTR_NOATIME),
    "ratime": (True, MOUNT_ATTR_NOATIME),
    "rstrictatime": (False, MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

# Options that are not mount(2) flags nor filesystem data: handled by the runtime itself.
TMPCOPYUP = "tmpcopyup"
IGNORED = ("X-mount.mkdir",)  # a hint for mount(8), meaningless here
IDMAP = {"idmap": 1, "ridmap": 2}  # idmapped bind mounts: the top mount, or every one


class MountOptionError(ValueError):
    """An option this mount cannot honour; the message names it."""


class MountOptions:
    __slots__ = ("data", "flags", "idmap", "propagation", "rec_clear", "rec_set", "tmpcopyup")

    def __init__(self, flags: int, propagation: list[int], data: str) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.rec_set = 0
        self.rec_clear = 0
        self.tmpcopyup = False
        self.idmap = 0  # IDMAP's values

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & MS_BIND)


def parse(options: list[str] | None, mount_type: str = "") -> MountOptions:
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    rec_set = rec_clear = 0
    tmpcopyup = False
    idmap = 0
    for opt in options or ():
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in PROPAGATION:
            propagation.append(PROPAGATION[opt])
        elif opt in RECURSIVE:
            clear, attr = RECURSIVE[opt]
            if clear:
                rec_clear, rec_set = rec_clear | attr, rec_set & ~attr
            else:
                rec_set, rec_clear = rec_set | attr, rec_clear & ~attr
        elif opt == TMPCOPYUP:
            if mount_type != "tmpfs":
                raise MountOptionError(f'mount option "{opt}" is only for tmpfs mounts')
            tmpcopyup = True
        elif opt in IDMAP:
            idmap = max(idmap, IDMAP[opt])
        elif opt not in IGNORED:
            data.append(opt)
    if mount_type == "bind":
        flags |= MS_BIND
    if flags & MS_BIND and data:
        raise MountOptionError(
            f"unknown mount option(s) {', '.join(repr(d) for d in data)} for a bind mount"
        )
    if idmap and not flags & MS_BIND:
        raise MountOptionError("idmapped mounts (idmap, ridmap) are only for bind mounts")
    out = MountOptions(flags, propagation, ",".join(data))
    out.rec_set, out.rec_clear, out.tmpcopyup, out.idmap = rec_set, rec_clear, tmpcopyup, idmap
    return out
