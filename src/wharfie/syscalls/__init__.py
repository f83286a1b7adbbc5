"""Thin Linux system calls that the standard library of Python 3.11 lacks.

Each wrapper raises OSError with the errno and the arguments that failed, so a
caller can add its own context with `raise ... from`. Nothing here decides
policy; the runtime composes these calls.
"""

import os

from wharfie.syscalls import ffi as ctypes  # the subset of ctypes we use, without its import cost

# clone(2) / unshare(2) / setns(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# x86_64 syscall numbers for calls glibc does not wrap
_SYS_PIVOT_ROOT = 155

_fn = ctypes.function
_int = ctypes.c_int
_str = ctypes.c_char_p
_ulong = ctypes.c_ulong
_mount = _fn("mount", _int, [_str, _str, _str, _ulong, _str])
_umount2 = _fn("umount2", _int, [_str, _int])
_unshare = _fn("unshare", _int, [_int])
_setns = _fn("setns", _int, [_int, _int])
_syscall = _fn("syscall", ctypes.c_long, None)
_prctl = _fn("prctl", _int, [_int, _ulong, _ulong, _ulong, _ulong])
_sethostname = _fn("sethostname", _int, [_str, ctypes.c_size_t])
_setdomainname = _fn("setdomainname", _int, [_str, ctypes.c_size_t])
_capset = _fn("capset", _int, [ctypes.c_void_p, ctypes.c_void_p])


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    if _mount(_b(source), target.encode(), _b(fstype), flags, _b(data)) != 0:
        raise _fail(f"mount {source or 'none'} on {target} (type {fstype or 'none'}, {data or ''})")


def umount2(target: str, flags: int = 0) -> None:
    if _umount2(target.encode(), flags) != 0:
        raise _fail(f"umount {target}")


def unshare(flags: int) -> None:
    if _unshare(flags) != 0:
        raise _fail(f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    if _setns(fd, nstype) != 0:
        raise _fail(f"setns fd {fd} type {nstype:#x}")


def pivot_root(new_root: str, put_old: str) -> None:
    if _syscall(_SYS_PIVOT_ROOT, new_root.encode(), put_old.encode()) != 0:
        raise _fail(f"pivot_root {new_root}")


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    ret = int(_prctl(option, a2, a3, a4, a5))
    if ret < 0:
        raise _fail(f"prctl {option}")
    return ret


def sethostname(name: str) -> None:
    raw = name.encode()
    if _sethostname(raw, len(raw)) != 0:
        raise _fail(f"sethostname {name!r}")


def setdomainname(name: str) -> None:
    raw = name.encode()
    if _setdomainname(raw, len(raw)) != 0:
        raise _fail(f"setdomainname {name!r}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets from 64-bit masks."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if _capset(ctypes.byref(hdr), ctypes.byref(data)) != 0:
        raise _fail("capset")


_socket_fn = _fn("socket", _int, [_int, _int, _int])
_ioctl = _fn("ioctl", _int, [_int, _ulong, ctypes.c_void_p])
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class _IfReq(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * 16),
        ("flags", ctypes.c_short),
        ("pad", ctypes.c_char * 22),
    ]


def link_up(name: str) -> None:
    """Set IFF_UP on an interface of the current network namespace (no netlink needed)."""
    fd = _socket_fn(2, 2 | 0o2000000, 0)  # AF_INET, SOCK_DGRAM | SOCK_CLOEXEC
    if fd < 0:
        raise _fail("socket for interface flags")
    try:
        req = _IfReq(name.encode(), 0)
        if _ioctl(fd, _SIOCGIFFLAGS, ctypes.byref(req)) != 0:
            raise _fail(f"reading flags of {name}")
        req.flags |= _IFF_UP
        if _ioctl(fd, _SIOCSIFFLAGS, ctypes.byref(req)) != 0:
            raise _fail(f"bringing {name} up")
    finally:
        os.close(fd)


class _CloneArgs(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "flags",
            "pidfd",
            "child_tid",
            "parent_tid",
            "exit_signal",
            "stack",
            "stack_size",
            "tls",
            "set_tid",
            "set_tid_size",
            "cgroup",
        )
    ]


CLONE_INTO_CGROUP = 0x200000000
_before_fork = _fn("PyOS_BeforeFork", None, [], python_api=True)
_after_fork_child = _fn("PyOS_AfterFork_Child", None, [], python_api=True)
_after_fork_parent = _fn("PyOS_AfterFork_Parent", None, [], python_api=True)
_SYS_CLONE3 = 435
_SIGCHLD = 17


def clone3(flags: int, cgroup_fd: int = -1) -> int:
    """fork() through clone3: the child can be born in new namespaces (CLONE_NEW* flags) and,
    with `cgroup_fd` (a cgroup2 directory), directly in that cgroup (CLONE_INTO_CGROUP).

    Moving a process between cgroups afterwards takes the kernel's global
    cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period
    (10-20 ms here); being born in the cgroup needs no such wait. The Python
    fork hooks run as they do for os.fork(). Returns 0 in the child.
    """
    args = _CloneArgs()
    args.flags = flags | (CLONE_INTO_CGROUP if cgroup_fd >= 0 else 0)
    args.exit_signal = _SIGCHLD
    args.cgroup = max(cgroup_fd, 0)
    _before_fork()
    pid = _syscall(_SYS_CLONE3, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        _after_fork_child()
        return 0
    err = ctypes.get_errno()
    _after_fork_parent()
    if pid < 0:
        raise OSError(err, f"clone3 (flags {args.flags:#x}): {os.strerror(err)}")
    return int(pid)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")
    ]


_SYS_MOUNT_SETATTR = 442
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
MOUNT_ATTR_IDMAP = 0x100000
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
_AT_EMPTY_PATH = 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOVE_MOUNT_T_EMPTY_PATH = 0x40


def open_tree(path: str, recursive: bool) -> int:
    """open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` (and, with
    `recursive`, of every mount below it), as a descriptor to set attributes on and attach."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    fd = _syscall(_SYS_OPEN_TREE, ctypes.c_int(-100), path.encode(), ctypes.c_uint32(flags))
    if fd < 0:
        raise _fail(f"open_tree {path}")
    return int(fd)


def idmap_mount(fd: int, userns_fd: int, recursive: bool) -> None:
    """mount_setattr(2) MOUNT_ATTR_IDMAP on a detached mount: ids as `userns_fd` maps them."""
    attr = _MountAttr()
    attr.attr_set = MOUNT_ATTR_IDMAP
    attr.userns_fd = userns_fd
    flags = _AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    ret = _syscall(
        _SYS_MOUNT_SETATTR,
        ctypes.c_int(fd),
        b"",
        ctypes.c_uint32(flags),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if ret != 0:
        raise _fail("mount_setattr MOUNT_ATTR_IDMAP")


def move_mount(fd: int, target_fd: int) -> None:
    """move_mount(2): attach the detached mount `fd` on the object open on `target_fd`
    (both by descriptor: a /proc/self/fd path would name the magic link itself here)."""
    ret = _syscall(
        _SYS_MOVE_MOUNT,
        ctypes.c_int(fd),
        b"",
        ctypes.c_int(target_fd),
        b"",
        ctypes.c_uint32(_MOVE_MOUNT_F_EMPTY_PATH | _MOVE_MOUNT_T_EMPTY_PATH),
    )
    if ret != 0:
        raise _fail("move_mount")


def mount_setattr(path: str, attr_set: int, attr_clr: int = 0, recursive: bool = True) -> None:
    """mount_setattr(2) on `path` (and, recursively, every mount below it)."""
    attr = _MountAttr()
    attr.attr_set = attr_set
    attr.attr_clr = attr_clr
    flags = AT_RECURSIVE if recursive else 0
    ret = _syscall(
        _SYS_MOUNT_SETATTR,
        ctypes.c_int(-100),  # AT_FDCWD
        path.encode(),
        ctypes.c_uint32(flags),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if ret != 0:
        raise _fail(f"mount_setattr {path} (set {attr_set:#x}, clear {attr_clr:#x})")
