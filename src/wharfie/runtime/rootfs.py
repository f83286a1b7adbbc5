"""The container's root filesystem: mounts in order, /dev, pivot_root, masks.

Runs inside the container's new mount namespace (stage 2 of init), before the
user process exists. Every destination is resolved inside the rootfs with
symlinks followed but clamped to the rootfs (see `secure_join`), so a hostile
image cannot make us mount over a host path.
"""

from __future__ import annotations

import os
import stat

from wharfie import syscalls as sc
from wharfie.runtime import mount_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cgroups import Hierarchy

DEFAULT_DEVICES = (  # path, major, minor: what every container gets on a tmpfs /dev
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)
DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)
_MAX_SYMLINKS = 255


class MountError(Exception):
    """A mount in config.json could not be set up; the message names it."""


def secure_join(root: str, unsafe: str) -> str:
    """`root` + `unsafe`, resolving symlinks as if `root` were `/`.

    Components that do not exist are appended as they are (the caller creates
    them). ".." never climbs above `root`.
    """
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:  # not a symlink, or does not exist yet
            resolved.append(part)
            continue
        hops += 1
        if hops > _MAX_SYMLINKS:
            raise MountError(f"too many levels of symbolic links resolving {unsafe} in {root}")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return os.path.join(root, *resolved)


def _mkdir_p(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _make_mountpoint(dest: str, source_is_dir: bool) -> None:
    if os.path.lexists(dest):
        return
    if source_is_dir:
        _mkdir_p(dest)
    else:
        _mkdir_p(os.path.dirname(dest))
        os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))


def _remount_flags(path: str, flags: int) -> int:
    """Keep the flags the kernel locks on a mount (nosuid, nodev, noexec, ...) in a remount."""
    st = os.statvfs(path)
    locked = 0
    for st_bit, ms_bit in (
        (os.ST_RDONLY, sc.MS_RDONLY),
        (os.ST_NOSUID, sc.MS_NOSUID),
        (os.ST_NODEV, sc.MS_NODEV),
        (os.ST_NOEXEC, sc.MS_NOEXEC),
        (os.ST_NOATIME, sc.MS_NOATIME),
        (os.ST_NODIRATIME, sc.MS_NODIRATIME),
        (os.ST_RELATIME, sc.MS_RELATIME),
    ):
        if st.f_flag & st_bit:
            locked |= ms_bit
    return locked | flags


def bind_remount(dest: str, flags: int) -> None:
    extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if extra:
        sc.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | _remount_flags(dest, extra), None)


def _mount_bind(m: dict[str, Any], dest: str, opts: mount_options.MountOptions) -> None:
    source = m.get("source") or ""
    try:
        src_is_dir = stat.S_ISDIR(os.stat(source).st_mode)
    except OSError as exc:
        raise MountError(
            f"bind mount source {source!r} for {m['destination']}: {exc.strerror}"
        ) from exc
    _make_mountpoint(dest, src_is_dir)
    sc.mount(source, dest, None, sc.MS_BIND | (opts.flags & sc.MS_REC), None)
    bind_remount(dest, opts.flags)


def _mount_cgroup(
    m: dict[str, Any], dest: str, opts: mount_options.MountOptions, cg: CgroupMountInfo
) -> None:
    _mkdir_p(dest)
    flags = opts.flags & ~sc.MS_RDONLY
    if cg.hierarchies and cg.hierarchies[0].name == "":  # pure cgroup v2
        _mount_cgroup2_or_bind(cg, cg.hierarchies[0], dest, opts.flags)
        return
    sc.mount("tmpfs", dest, "tmpfs", flags, "mode=755")
    for h in cg.hierarchies:
        sub = os.path.join(dest, h.name)
        _mkdir_p(sub)
        _mount_cgroup2_or_bind(cg, h, sub, opts.flags)
    if opts.flags & sc.MS_RDONLY:
        sc.mount(
            None, dest, None, sc.MS_REMOUNT | sc.MS_BIND | _remount_flags(dest, sc.MS_RDONLY), None
        )


def _mount_cgroup2_or_bind(cg: CgroupMountInfo, h: Hierarchy, dest: str, flags: int) -> None:
    if cg.own_namespace:
        try:
            sc.mount("cgroup", dest, h.fstype, flags & ~sc.MS_BIND, h.options or None)
            return
        except OSError:
            pass  # e.g. a user namespace that may not mount it: fall back to a bind
    sc.mount(h.path, dest, None, sc.MS_BIND | sc.MS_REC, None)
    bind_remount(dest, flags)


class CgroupMountInfo:
    """What a `cgroup` mount needs: the container's hierarchies and whether it has a cgroupns."""

    __slots__ = ("hierarchies", "own_namespace")

    def __init__(self, hierarchies: list[Hierarchy], own_namespace: bool) -> None:
        self.hierarchies = hierarchies
        self.own_namespace = own_namespace


def mount_one(rootfs: str, m: dict[str, Any], cg: CgroupMountInfo | None) -> None:
    """Set up one entry of config.json `mounts` under `rootfs`."""
    mtype = m.get("type") or ""
    where = f"{m.get('source') or mtype!r} to rootfs at {m['destination']!r}"
    try:
        opts = mount_options.parse(m.get("options"), mtype)
    except mount_options.MountOptionError as exc:
        raise MountError(f"error mounting {where}: {exc}") from exc
    if mtype in ("proc", "sysfs"):
        _check_ordinary_dir(rootfs, m["destination"], mtype, where)
    dest = secure_join(rootfs, m["destination"])
    try:
        if opts.is_bind:
            _mount_bind(m, dest, opts)
        elif mtype == "cgroup":
            if cg is None:
                raise MountError("cgroup mount requested but the container has no cgroup")
            _mount_cgroup(m, dest, opts, cg)
        else:
            _mkdir_p(dest)
            below = _open_dir(dest) if opts.tmpcopyup else -1
            try:
                sc.mount(
                    m.get("source") or mtype, dest, mtype or None, opts.flags, opts.data or None
                )
                if below >= 0:
                    _copy_up(below, dest)
            finally:
                if below >= 0:
                    os.close(below)
        if opts.rec_set or opts.rec_clear:
            sc.mount_setattr(dest, opts.rec_set, opts.rec_clear)
        for prop in opts.propagation:
            sc.mount(None, dest, None, prop, None)
    except OSError as exc:
        raise MountError(
            f"error mounting {m.get('source') or mtype!r} to rootfs at {m['destination']!r}: "
            f"{exc.strerror or exc}"
        ) from exc


def _check_ordinary_dir(rootfs: str, destination: str, mtype: str, where: str) -> None:
    """proc and sysfs go on a real directory: a symlink could point them anywhere (runc)."""
    path = os.path.join(rootfs, destination.lstrip("/"))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(
            f'error mounting {where}: filesystem "{mtype}" must be mounted on ordinary directory'
        )


def _open_dir(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        return -1


def _copy_up(below_fd: int, dest: str) -> None:
    """tmpcopyup: copy what the directory held before the tmpfs hid it (owners, modes kept;
    the tmpfs root keeps the mode its options give it)."""
    import shutil

    src = f"/proc/self/fd/{below_fd}"
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        for name in dirnames + filenames:
            s_path = os.path.join(dirpath, name)
            d_path = os.path.normpath(os.path.join(dest, rel, name))
            st = os.lstat(s_path)
            os.lchown(d_path, st.st_uid, st.st_gid)


def prepare_root(rootfs: str, propagation: str) -> None:
    """Stop mount events leaking to the host, then make the rootfs a mount point of its own."""
    flag = mount_options.PROPAGATION.get(propagation or "rslave", sc.MS_SLAVE | sc.MS_REC)
    if flag & (sc.MS_SHARED):  # shared rootfs: keep the host tree slave, share only the rootfs
        flag = sc.MS_SLAVE | sc.MS_REC
    sc.mount(None, "/", None, flag, None)
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC, None)


def create_devices(rootfs: str, devices: list[dict[str, Any]], in_userns: bool) -> None:
    """Device nodes on the fresh tmpfs /dev: the default set plus linux.devices.

    Runs with umask 0 (see init), so mknod gives the exact mode. In a user
    namespace mknod is not allowed, so the host's nodes are bind-mounted.
    """
    dev = secure_join(rootfs, "/dev")
    for path, major, minor in DEFAULT_DEVICES:
        dest = dev + path[4:]
        if in_userns:
            _bind_device(path, dest)
        else:
            _mknod(dest, "c", major, minor, 0o666, 0, 0)
    for d in devices:
        dest = secure_join(rootfs, d["path"])
        _mkdir_p(os.path.dirname(dest))
        if in_userns:
            _bind_device(d["path"], dest)
        else:
            mode = d.get("fileMode", 0o666) & 0o7777
            _mknod(
                dest,
                d["type"],
                d.get("major", 0),
                d.get("minor", 0),
                mode,
                d.get("uid", 0),
                d.get("gid", 0),
            )


_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _mknod(dest: str, kind: str, major: int, minor: int, mode: int, uid: int, gid: int) -> None:
    try:
        try:
            os.mknod(dest, _KINDS[kind] | mode, os.makedev(major, minor))
        except FileExistsError:
            os.unlink(dest)
            os.mknod(dest, _KINDS[kind] | mode, os.makedev(major, minor))
        if uid or gid:
            os.chown(dest, uid, gid)
    except OSError as exc:
        raise MountError(f"creating device node {dest}: {exc.strerror}") from exc


def _bind_device(path: str, dest: str) -> None:
    if not os.path.exists(path):
        return
    _make_mountpoint(dest, False)
    sc.mount(path, dest, None, sc.MS_BIND, None)


def dev_symlinks(rootfs: str) -> None:
    """/dev/fd, stdin, stdout, stderr (and core) and /dev/ptmx -> pts/ptmx on the fresh /dev."""
    dev = secure_join(rootfs, "/dev")
    links = list(DEV_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    for target, name in links:
        try:
            os.symlink(target, dev + name[4:])
        except FileExistsError:
            pass
    if os.path.isdir(dev + "/pts"):
        try:
            os.unlink(dev + "/ptmx")
        except FileNotFoundError:
            pass
        os.symlink("pts/ptmx", dev + "/ptmx")


def make_cwd(rootfs: str, cwd: str) -> None:
    """Create the process's working directory if the image lacks it (runc does too)."""
    path = secure_join(rootfs, cwd)
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise MountError(f"creating cwd {cwd}: {exc.strerror}") from exc


def pivot_root(rootfs: str) -> None:
    """pivot_root into `rootfs` without a put_old directory, then drop the old root."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.chdir(rootfs)
        sc.pivot_root(".", ".")
        os.fchdir(old)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC, None)
        sc.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(old)
    os.chdir("/")


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs over / and chroot (for ramfs roots where pivot_root fails)."""
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE, None)
    os.chroot(".")
    os.chdir("/")


def mask_paths(paths: list[str]) -> None:
    for path in paths:
        if os.path.islink(path):  # masking would follow it and hide its target instead
            raise MountError(f"masked path {path} is a symbolic link: refusing to mask it")
        try:
            if os.path.isdir(path):
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, None)
            else:
                sc.mount("/dev/null", path, None, sc.MS_BIND, None)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno == 2:
                continue
            raise MountError(f"masking {path}: {exc.strerror}") from exc


def readonly_paths(paths: list[str]) -> None:
    for path in paths:
        try:
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC, None)
            bind_remount(path, sc.MS_RDONLY)
        except OSError as exc:
            if exc.errno == 2:
                continue
            raise MountError(f"making {path} read-only: {exc.strerror}") from exc


def readonly_root() -> None:
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | _remount_flags("/", sc.MS_RDONLY), None)


def write_sysctls(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            raise MountError(f"sysctl {key}={value}: {exc.strerror}") from exc
