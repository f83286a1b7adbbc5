"""The host's cgroup layout, read once from /proc/self/mountinfo.

Only cgroup and cgroup2 mounts at the cgroup root (/sys/fs/cgroup) or directly below it
count; later lines win over earlier ones at the same mount point (over-mounts).

    v2      cgroup2 mounted at the root itself
    hybrid  v1 hierarchies below the root plus a cgroup2 one (usually root/unified)
    v1      v1 hierarchies only
"""

from __future__ import annotations

from wharfie.errors import Unavailable

from ._fs import read_file

# Mount options of a v1 cgroup mount that are not controllers.
_NOT_CONTROLLERS = frozenset(
    (
        "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "nodiratime",
        "strictatime", "lazytime", "xattr", "clone_children", "noprefix", "cpuset_v2_mode",
        "favordynmods", "all", "none", "nsdelegate", "memory_recursiveprot",
        "memory_localevents", "memory_hugetlb_accounting",
    )
)  # fmt: skip


class Mount:
    """A cgroup mount: where, which part of the hierarchy, which controllers."""

    __slots__ = ("controllers", "fstype", "mountpoint", "root")

    def __init__(
        self, mountpoint: str, root: str, fstype: str, controllers: tuple[str, ...]
    ) -> None:
        self.mountpoint = mountpoint
        self.root = root
        self.fstype = fstype
        self.controllers = controllers

    @property
    def options(self) -> str:
        """ "memory", "cpu,cpuacct", "name=systemd"; "" for cgroup2."""
        return ",".join(self.controllers)

    def __repr__(self) -> str:
        return f"Mount({self.mountpoint!r}, {self.root!r}, {self.fstype!r}, {self.options!r})"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _controllers(superopts: str) -> tuple[str, ...]:
    opts = superopts.split(",")
    return tuple(
        o for o in opts if (o not in _NOT_CONTROLLERS and "=" not in o) or o.startswith("name=")
    )


def parse_mountinfo(text: str) -> list[Mount]:
    """Every cgroup/cgroup2 mount in a mountinfo text, in file order."""
    mounts = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        tail = after.split()
        if len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        head = before.split()
        ctrls = () if tail[0] == "cgroup2" else _controllers(tail[2])
        mounts.append(Mount(_unescape(head[4]), _unescape(head[3]), tail[0], ctrls))
    return mounts


class Layout:
    """The cgroup mounts under one root and the kind of host they make."""

    __slots__ = ("kind", "root", "unified", "v1")

    kind: str
    unified: Mount | None
    v1: list[Mount]

    def __init__(self, root: str, mounts: list[Mount]) -> None:
        self.root = root.rstrip("/") or "/"
        at: dict[str, Mount] = {}
        for m in mounts:
            if m.mountpoint == self.root or m.mountpoint.rpartition("/")[0] == self.root:
                at[m.mountpoint] = m
        self.v1 = sorted((m for m in at.values() if m.fstype == "cgroup"), key=_by_path)
        v2 = [m for m in at.values() if m.fstype == "cgroup2"]
        top = at.get(self.root)
        if top is not None and top.fstype == "cgroup2":
            self.kind, self.unified, self.v1 = "v2", top, []
        elif self.v1:
            self.unified = v2[0] if v2 else None
            self.kind = "hybrid" if v2 else "v1"
        else:
            raise Unavailable(f"no cgroup filesystem is mounted at {self.root}")

    def v1_mount(self, options: str) -> Mount | None:
        return next((m for m in self.v1 if m.options == options), None)

    def __repr__(self) -> str:
        return f"Layout({self.kind!r}, v1={self.v1!r}, unified={self.unified!r})"


def _by_path(m: Mount) -> str:
    return m.mountpoint


_CACHE: dict[str, Layout] = {}


def host_layout(root: str, mountinfo: str | None = None) -> Layout:
    """The layout under `root`; /proc/self/mountinfo is read once per root and cached."""
    if mountinfo is not None:
        return Layout(root, parse_mountinfo(mountinfo))
    cached = _CACHE.get(root)
    if cached is None:
        try:
            text = read_file("/proc/self/mountinfo")
        except OSError as err:
            raise Unavailable(f"cannot read /proc/self/mountinfo: {err}") from err
        cached = _CACHE[root] = Layout(root, parse_mountinfo(text))
    return cached


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup -> {controller: path}; "" is the cgroup2 entry."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(",") if parts[1] else [""]:
            out[ctrl] = parts[2]
    return out


def own_cgroups(text: str | None = None) -> dict[str, str]:
    """The calling process's cgroups (or those described by `text`)."""
    if text is None:
        try:
            text = read_file("/proc/self/cgroup")
        except OSError as err:
            raise Unavailable(f"cannot read /proc/self/cgroup: {err}") from err
    return parse_proc_cgroup(text)
