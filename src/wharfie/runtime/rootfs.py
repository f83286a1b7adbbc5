"""The container's root filesystem: mounts in order, /dev, pivot_root, masks.

Runs inside the container's new mount namespace (stage 2 of init), before the
user process exists. Every destination is resolved inside the rootfs by
`wharfie.fsroot` (the project's one path resolver: symlinks followed as if the
rootfs were `/`) into a descriptor, created there if missing, and mounted through
`/proc/self/fd/N` of that descriptor (as runc does since CVE-2021-30465), so a
hostile image cannot make us mount over a host path, nor swap a link in between.
Follow-ups on a new mount (remount, mount_setattr, propagation, tmpcopyup) go
through a descriptor opened again after it: the first one is beneath it.
"""

from __future__ import annotations

import os
import stat

from wharfie import fsroot
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


class MountError(Exception):
    """A mount in config.json could not be set up; the message names it."""


def _mkdir_p(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


class _Dest:
    """A mount destination resolved in the rootfs: `path` names the object (a descriptor's
    /proc/self/fd/N) for mount(2); `top()` resolves it again, after a mount, to reach the
    new mount rather than the directory beneath."""

    __slots__ = ("_top", "destination", "fd", "path", "root")

    def __init__(self, root: int, destination: str, *, directory: bool) -> None:
        self.root = root
        self.destination = destination
        self.fd = fsroot.make_in(root, destination, directory=directory)
        self.path = fsroot.fd_path(self.fd)
        self._top = -1

    def top(self) -> str:
        if self._top < 0:
            self._top = fsroot.open_in(self.root, self.destination, os.O_PATH)
        return fsroot.fd_path(self._top)

    def close(self) -> None:
        os.close(self.fd)
        if self._top >= 0:
            os.close(self._top)


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


def _bind_source_is_dir(m: dict[str, Any]) -> bool:
    source = m.get("source") or ""
    try:
        return stat.S_ISDIR(os.stat(source).st_mode)
    except OSError as exc:
        raise MountError(
            f"bind mount source {source!r} for {m['destination']}: {exc.strerror}"
        ) from exc


def _mount_bind(m: dict[str, Any], dest: _Dest, opts: mount_options.MountOptions) -> None:
    sc.mount(m.get("source") or "", dest.path, None, sc.MS_BIND | (opts.flags & sc.MS_REC), None)
    if opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT):
        bind_remount(dest.top(), opts.flags)


def _mount_cgroup(dest: _Dest, opts: mount_options.MountOptions, cg: CgroupMountInfo) -> None:
    flags = opts.flags & ~sc.MS_RDONLY
    if cg.hierarchies and cg.hierarchies[0].name == "":  # pure cgroup v2
        _mount_cgroup2_or_bind(cg, cg.hierarchies[0], dest.path, opts.flags)
        return
    sc.mount("tmpfs", dest.path, "tmpfs", flags, "mode=755")
    top = dest.top()  # the fresh tmpfs: nothing in the container can have written it
    for h in cg.hierarchies:
        sub = os.path.join(top, h.name)
        _mkdir_p(sub)
        _mount_cgroup2_or_bind(cg, h, sub, opts.flags)
    if opts.flags & sc.MS_RDONLY:
        sc.mount(
            None, top, None, sc.MS_REMOUNT | sc.MS_BIND | _remount_flags(top, sc.MS_RDONLY), None
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


def mount_one(
    rootfs: str, m: dict[str, Any], cg: CgroupMountInfo | None, idmap_fd: int = -1
) -> None:
    """Set up one entry of config.json `mounts` under `rootfs` (`idmap_fd`: its idmapped
    copy, made by the runtime before the fork: see idmap.py)."""
    mtype = m.get("type") or ""
    where = f"{m.get('source') or mtype!r} to rootfs at {m['destination']!r}"
    try:
        opts = mount_options.parse(m.get("options"), mtype)
    except mount_options.MountOptionError as exc:
        raise MountError(f"error mounting {where}: {exc}") from exc
    root = fsroot.open_root(rootfs)
    try:
        if mtype in ("proc", "sysfs"):
            _check_ordinary_dir(root, m["destination"], mtype, where)
        if opts.idmap and idmap_fd >= 0:  # the source may be out of the init's reach
            directory = stat.S_ISDIR(os.fstat(idmap_fd).st_mode)
        else:
            directory = _bind_source_is_dir(m) if opts.is_bind else True
        _mount_at(root, m, mtype, opts, cg, directory, idmap_fd)
    finally:
        os.close(root)


def _mount_at(
    root: int,
    m: dict[str, Any],
    mtype: str,
    opts: mount_options.MountOptions,
    cg: CgroupMountInfo | None,
    directory: bool,
    idmap_fd: int,
) -> None:
    dest: _Dest | None = None
    try:
        dest = _Dest(root, m["destination"], directory=directory)
        if opts.idmap:
            if idmap_fd < 0:
                raise MountError(f"idmapped mount at {m['destination']!r} was not prepared")
            sc.move_mount(idmap_fd, dest.fd)
            if opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT):
                bind_remount(dest.top(), opts.flags)
        elif opts.is_bind:
            _mount_bind(m, dest, opts)
        elif mtype == "cgroup":
            if cg is None:
                raise MountError("cgroup mount requested but the container has no cgroup")
            _mount_cgroup(dest, opts, cg)
        else:
            below = _open_dir(dest.path) if opts.tmpcopyup else -1
            try:
                sc.mount(
                    m.get("source") or mtype,
                    dest.path,
                    mtype or None,
                    opts.flags,
                    opts.data or None,
                )
                if below >= 0:
                    _copy_up(below, dest.top())
            finally:
                if below >= 0:
                    os.close(below)
        if opts.rec_set or opts.rec_clear:
            sc.mount_setattr(dest.top(), opts.rec_set, opts.rec_clear)
        for prop in opts.propagation:
            sc.mount(None, dest.top(), None, prop, None)
    except OSError as exc:
        raise MountError(
            f"error mounting {m.get('source') or mtype!r} to rootfs at {m['destination']!r}: "
            f"{exc.strerror or exc}"
        ) from exc
    finally:
        if dest is not None:
            dest.close()


def _check_ordinary_dir(root: int, destination: str, mtype: str, where: str) -> None:
    """proc and sysfs go on a real directory: a symlink could point them anywhere (runc)."""
    try:
        fd = fsroot.open_in(root, destination, os.O_PATH, follow=False)
    except FileNotFoundError:
        return
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(
            f'error mounting {where}: filesystem "{mtype}" must be mounted on ordinary directory'
        )


def _open_dir(path: str) -> int:
    """A readable descriptor of the directory `path` (a descriptor path) names."""
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
    root = fsroot.open_root(rootfs)
    try:
        for path, major, minor in DEFAULT_DEVICES:
            if in_userns:
                _bind_device(root, path)
            else:
                _mknod(root, path, "c", major, minor, 0o666, 0, 0)
        for d in devices:
            if in_userns:
                _bind_device(root, d["path"])
            else:
                mode = d.get("fileMode", 0o666) & 0o7777
                _mknod(
                    root,
                    d["path"],
                    d["type"],
                    d.get("major", 0),
                    d.get("minor", 0),
                    mode,
                    d.get("uid", 0),
                    d.get("gid", 0),
                )
    finally:
        os.close(root)


_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _parent_in(root: int, path: str) -> tuple[int, str]:
    """(descriptor of the directory that will hold `path`'s last name, made if missing,
    that name), resolved inside the rootfs."""
    head, _, name = path.rstrip("/").rpartition("/")
    return fsroot.make_in(root, head or "/", directory=True), name


def _mknod(
    root: int, path: str, kind: str, major: int, minor: int, mode: int, uid: int, gid: int
) -> None:
    try:
        parent, name = _parent_in(root, path)
        try:
            try:
                os.mknod(name, _KINDS[kind] | mode, os.makedev(major, minor), dir_fd=parent)
            except FileExistsError:
                os.unlink(name, dir_fd=parent)
                os.mknod(name, _KINDS[kind] | mode, os.makedev(major, minor), dir_fd=parent)
            if uid or gid:
                os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)
    except OSError as exc:
        raise MountError(f"creating device node {path}: {exc.strerror}") from exc


def _bind_device(root: int, path: str) -> None:
    if not os.path.exists(path):
        return
    target = fsroot.make_in(root, path, directory=False)
    try:
        sc.mount(path, fsroot.fd_path(target), None, sc.MS_BIND, None)
    finally:
        os.close(target)


def dev_symlinks(rootfs: str) -> None:
    """/dev/fd, stdin, stdout, stderr (and core) and /dev/ptmx -> pts/ptmx on the fresh /dev."""
    root = fsroot.open_root(rootfs)
    try:
        dev = fsroot.open_in(root, "/dev", os.O_PATH | os.O_DIRECTORY)
    finally:
        os.close(root)
    try:
        links = list(DEV_SYMLINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        for target, name in links:
            try:
                os.symlink(target, name[5:], dir_fd=dev)
            except FileExistsError:
                pass
        try:
            pts = stat.S_ISDIR(os.stat("pts", dir_fd=dev, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            pts = False
        if pts:
            try:
                os.unlink("ptmx", dir_fd=dev)
            except FileNotFoundError:
                pass
            os.symlink("pts/ptmx", "ptmx", dir_fd=dev)
    finally:
        os.close(dev)


def make_cwd(rootfs: str, cwd: str) -> None:
    """Create the process's working directory if the image lacks it (runc does too)."""
    root = fsroot.open_root(rootfs)
    try:
        os.close(fsroot.make_in(root, cwd, directory=True))
    except OSError as exc:
        raise MountError(f"creating cwd {cwd}: {exc.strerror}") from exc
    finally:
        os.close(root)


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
