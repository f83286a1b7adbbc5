"""Docker's default seccomp profile as an OCI `linux.seccomp` object (pure).

`default_profile(capabilities, arch)` gives what Docker Engine 25/26 (moby) puts in a
container's spec when no `--security-opt seccomp=` is given: every syscall not allowed
below fails with EPERM, a long list is always allowed, and a few groups depend on the
container's capabilities (its bounding set) and the host architecture.

Facts (names, conditions) follow moby's `profiles/seccomp/default_linux.go`: the 24.0-era
profile, with the 25.0 change that stopped allowing io_uring (moby#46762) and the additions
for kernels up to 6.7 that moby#47341 brought to 25.0.x/26.x to match containerd#9684
(cachestat, fchmodat2, map_shadow_stack, futex_wake/futex_wait/futex_requeue, and
set_mempolicy_home_node under CAP_SYS_NICE). Names that the host's libseccomp does not
know (2.5.4 predates the kernel 6.5+ ones) are skipped when the filter is compiled.

Two intentional simplifications: moby's "minimum kernel 4.8" condition on ptrace,
process_vm_readv and process_vm_writev is taken as met (every kernel Wharfie supports is
newer), and architecture conditions name architectures (`x86`, `x32`) rather than Go's
GOARCH, so they mean what they say.
"""

from typing import Any, NamedTuple

from wharfie.errors import InvalidArgument

__all__ = ["DOCKER_DEFAULT_CAPABILITIES", "default_profile"]

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"
EPERM = 1
ENOSYS = 38
AF_VSOCK = 40
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
# | CLONE_NEWNET: clone() may not create namespaces without CAP_SYS_ADMIN.
CLONE_NAMESPACE_FLAGS = 0x7E020000

# What `docker run` grants when no --cap-add/--cap-drop is given (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip

# Always allowed, whatever the capabilities and architecture.
ALWAYS_ALLOWED = (
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
    "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
    "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
    "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
    "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
    "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
    "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
    "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
    "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
    "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
    "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask",
    "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
)  # fmt: skip


class Group(NamedTuple):
    """One conditional rule of the profile.

    Kept when the container holds all of `caps`, none of `unless_caps`, runs on one of
    `arches` (if any) and not on one of `unless_arches`.
    """

    names: tuple[str, ...]
    action: str = ALLOW
    errno_ret: int | None = None
    args: tuple[tuple[int, int, str], ...] = ()  # (index, value, op); valueTwo is 0 throughout
    caps: tuple[str, ...] = ()
    unless_caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    unless_arches: tuple[str, ...] = ()


_PTRACE = ("process_vm_readv", "process_vm_writev", "ptrace")
_ARM_CALLS = (
    "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
    "set_tls",
)  # fmt: skip
# Mount, namespace, tracing, quota, host name and log syscalls: CAP_SYS_ADMIN only.
_ADMIN_CALLS = (
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
    "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
    "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
    "umount2", "unshare",
)  # fmt: skip
_TIME_CALLS = ("settimeofday", "stime", "clock_settime", "clock_settime64")
_NUMA_CALLS = ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node")
_SYS_ADMIN = ("CAP_SYS_ADMIN",)
_S390 = ("s390", "s390x")


def _personality(value: int) -> Group:
    return Group(("personality",), args=((0, value, "SCMP_CMP_EQ"),))


def _no_new_namespaces(
    index: int, arches: tuple[str, ...] = (), unless_arches: tuple[str, ...] = ()
) -> Group:
    masked = ((index, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ"),)
    return Group(
        ("clone",), args=masked, unless_caps=_SYS_ADMIN, arches=arches, unless_arches=unless_arches
    )


GROUPS = (
    Group(_PTRACE),  # moby: kernel >= 4.8 only (see the module docstring)
    Group(("socket",), args=((0, AF_VSOCK, "SCMP_CMP_NE"),)),
    # PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26, and the query 0xffffffff.
    *(_personality(value) for value in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
    Group(("sync_file_range2", "swapcontext"), arches=("ppc64le",)),
    Group(_ARM_CALLS, arches=("arm", "aarch64")),
    Group(("arch_prctl",), arches=("x86_64", "x32")),
    Group(("modify_ldt",), arches=("x86_64", "x32", "x86")),
    Group(("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"), arches=_S390),
    Group(("riscv_flush_icache",), arches=("riscv64",)),
    Group(("open_by_handle_at",), caps=("CAP_DAC_READ_SEARCH",)),
    Group(_ADMIN_CALLS, caps=_SYS_ADMIN),
    _no_new_namespaces(0, unless_arches=_S390),
    _no_new_namespaces(1, arches=_S390),  # s390 swaps clone's first two arguments
    # clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libcs fall back to clone.
    Group(("clone3",), action=ERRNO, errno_ret=ENOSYS, unless_caps=_SYS_ADMIN),
    Group(("reboot",), caps=("CAP_SYS_BOOT",)),
    Group(("chroot",), caps=("CAP_SYS_CHROOT",)),
    Group(("delete_module", "init_module", "finit_module"), caps=("CAP_SYS_MODULE",)),
    Group(("acct",), caps=("CAP_SYS_PACCT",)),
    Group(("kcmp", "pidfd_getfd", "process_madvise", *_PTRACE), caps=("CAP_SYS_PTRACE",)),
    Group(("iopl", "ioperm"), caps=("CAP_SYS_RAWIO",)),
    Group(_TIME_CALLS, caps=("CAP_SYS_TIME",)),
    Group(("vhangup",), caps=("CAP_SYS_TTY_CONFIG",)),
    Group(_NUMA_CALLS, caps=("CAP_SYS_NICE",)),
    Group(("syslog",), caps=("CAP_SYSLOG",)),
    Group(("bpf",), caps=("CAP_BPF",)),
    Group(("perf_event_open",), caps=("CAP_PERFMON",)),
)

# The seccomp architectures a filter covers on each native architecture (moby's archMap);
# the ones not listed get a filter for the native architecture only.
_ARCH_MAP = {
    "x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
    "mips64": ("SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
    "mips64n32": ("SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"),
    "mipsel64": ("SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
    "mipsel64n32": ("SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"),
    "s390x": ("SCMP_ARCH_S390X", "SCMP_ARCH_S390"),
    "riscv64": ("SCMP_ARCH_RISCV64",),
}
_OTHER_ARCHES = ("x86", "x32", "arm", "mips", "mipsel", "ppc", "ppc64", "ppc64le", "s390")
_ARCH_ALIASES = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "i386": "x86",
    "i686": "x86",
    "386": "x86",
    "armv7l": "arm",
    "mips64el": "mipsel64",
}


def default_profile(capabilities: list[str] | None = None, arch: str = "x86_64") -> dict[str, Any]:
    """Docker's default `linux.seccomp` for a container with these (bounding) capabilities.

    `capabilities=None` means Docker's default set (DOCKER_DEFAULT_CAPABILITIES); names may
    omit the CAP_ prefix and are case-insensitive. `arch` is the native architecture, as
    `uname -m` or Go's GOARCH spells it. Returns a fresh dict on every call.
    """
    caps = _capability_set(DOCKER_DEFAULT_CAPABILITIES if capabilities is None else capabilities)
    native = _architecture(arch)
    profile: dict[str, Any] = {"defaultAction": ERRNO, "defaultErrnoRet": EPERM}
    if native in _ARCH_MAP:
        profile["architectures"] = list(_ARCH_MAP[native])
    rules = [{"names": list(ALWAYS_ALLOWED), "action": ALLOW}]
    rules += [_rule(group) for group in GROUPS if _applies(group, caps, native)]
    profile["syscalls"] = rules
    return profile


def _capability_set(capabilities: list[str] | tuple[str, ...]) -> frozenset[str]:
    names = (cap.upper() for cap in capabilities)
    return frozenset(cap if cap.startswith("CAP_") else f"CAP_{cap}" for cap in names)


def _architecture(arch: str) -> str:
    native = _ARCH_ALIASES.get(arch, arch)
    if native not in _ARCH_MAP and native not in _OTHER_ARCHES:
        raise InvalidArgument(f"seccomp default profile: unknown architecture {arch!r}")
    return native


def _applies(group: Group, caps: frozenset[str], arch: str) -> bool:
    if not caps.issuperset(group.caps) or not caps.isdisjoint(group.unless_caps):
        return False
    if group.arches and arch not in group.arches:
        return False
    return arch not in group.unless_arches


def _rule(group: Group) -> dict[str, Any]:
    rule: dict[str, Any] = {"names": list(group.names), "action": group.action}
    if group.errno_ret is not None:
        rule["errnoRet"] = group.errno_ret
    if group.args:
        rule["args"] = [{"index": i, "value": v, "op": op} for i, v, op in group.args]
    return rule
