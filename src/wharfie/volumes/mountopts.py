"""mount(8)-style option strings -> (flags, data) for mount(2) (pure).

The local driver's `o=` option is handed to the kernel the way moby's mount package
does it: the words mount(8) knows as flags (ro, nosuid, bind, rbind, private, ...)
become MS_* bits, everything else (size=100m, uid=1000, addr=...) stays in the data
string the filesystem parses.
"""

from __future__ import annotations

from typing import NamedTuple

from wharfie import syscalls as sc

# word -> (clear?, bits): "clear" words (rw, suid, ...) remove bits set by default or earlier.
_FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "suid": (True, sc.MS_NOSUID),
    "nosuid": (False, sc.MS_NOSUID),
    "dev": (True, sc.MS_NODEV),
    "nodev": (False, sc.MS_NODEV),
    "exec": (True, sc.MS_NOEXEC),
    "noexec": (False, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS),
    "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC),
    "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK),
    "nomand": (True, sc.MS_MANDLOCK),
    "atime": (True, sc.MS_NOATIME),
    "noatime": (False, sc.MS_NOATIME),
    "diratime": (True, sc.MS_NODIRATIME),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "bind": (False, sc.MS_BIND),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
}

_PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}


class MountOptions(NamedTuple):
    flags: int  # for the first mount(2) call
    propagation: int  # a second mount(2) call's flags (0: none)
    data: str  # the filesystem's own options

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def read_only(self) -> bool:
        return bool(self.flags & sc.MS_RDONLY)


def parse(text: str) -> MountOptions:
    """`"bind,ro,size=10m"` -> MountOptions(MS_BIND|MS_RDONLY, 0, "size=10m")."""
    flags = 0
    propagation = 0
    data: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word in _FLAGS:
            clear, bits = _FLAGS[word]
            flags = flags & ~bits if clear else flags | bits
        elif word in _PROPAGATION:
            propagation |= _PROPAGATION[word]
        else:
            data.append(word)
    return MountOptions(flags, propagation, ",".join(data))
