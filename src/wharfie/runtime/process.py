"""The last steps before the container's process runs: limits, identity, privileges, exec.

Used by init (the container's first process) and by exec (extra processes).
Order matters and follows runc: rlimits and oom score while still privileged;
drop the bounding set; switch user keeping capabilities; set the capability
sets; no_new_privs; seccomp as late as possible; then execve.
"""

from __future__ import annotations

import _signal
import os
import resource

from wharfie import syscalls as sc
from wharfie.oci import capabilities

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.runtime.seccomp import Filter

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ProcessError(Exception):
    """Setting up the process failed; the message is the reason shown to the user."""


def set_rlimits(rlimits: list[dict[str, Any]] | None) -> None:
    for rl in rlimits or ():
        num = getattr(resource, rl["type"], None)
        if num is None:
            raise ProcessError(f"rlimit {rl['type']} is not supported on this host")
        try:
            resource.setrlimit(num, (rl["soft"], rl["hard"]))
        except (ValueError, OSError) as exc:
            host_hard = resource.getrlimit(num)[1]
            raise ProcessError(
                f"error setting rlimit type {num} ({rl['type']}): operation not permitted: "
                f"soft {rl['soft']}, hard {rl['hard']} is above the host's hard limit {host_hard} "
                f"and the runtime has no CAP_SYS_RESOURCE to raise it"
                if host_hard != resource.RLIM_INFINITY and rl["hard"] > host_hard
                else f"error setting rlimit {rl['type']}: {exc}"
            ) from exc


def set_oom_score_adj(value: int | None) -> None:
    if value is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as exc:
        raise ProcessError(f"setting oomScoreAdj {value}: {exc.strerror}") from exc


def lookup_executable(arg0: str, env: list[str], cwd: str) -> str:
    """Resolve args[0] against the container's PATH, with runc's error wording."""
    if "/" in arg0:
        path = arg0 if arg0.startswith("/") else os.path.join(cwd, arg0)
        _check_exec(arg0, path)
        return path
    search = DEFAULT_PATH
    for entry in env:
        if entry.startswith("PATH="):
            search = entry[5:]
    for d in search.split(":"):
        path = os.path.join(d or ".", arg0)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise ProcessError(f'exec: "{arg0}": executable file not found in $PATH')


def _check_exec(arg0: str, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        raise ProcessError(f'exec: "{arg0}": stat {arg0}: no such file or directory') from None
    if not os.path.isfile(path) or not st.st_mode & 0o111:
        raise ProcessError(f'exec: "{arg0}": permission denied')


def close_on_exec_from(first: int) -> None:
    """Mark every open fd >= `first` close-on-exec: the container must not inherit the fds
    its caller left open to the runtime (leaked host fds are a container escape)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the fd listdir itself used, already closed


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(capabilities.NAMES) - 1


class Caps:
    """The five capability sets of a process spec as bit masks."""

    __slots__ = ("ambient", "bounding", "effective", "inheritable", "last", "permitted", "unknown")

    def __init__(self, spec: dict[str, Any] | None) -> None:
        spec = spec or {}
        self.last = last_cap()
        self.unknown: list[str] = []
        m = capabilities.mask
        self.bounding = m(spec.get("bounding"), self.last, self.unknown)
        self.effective = m(spec.get("effective"), self.last, self.unknown)
        self.permitted = m(spec.get("permitted"), self.last, self.unknown)
        self.inheritable = m(spec.get("inheritable"), self.last, self.unknown)
        self.ambient = m(spec.get("ambient"), self.last, self.unknown)

    def drop_bounding(self) -> None:
        for cap in range(self.last + 1):
            if not self.bounding & (1 << cap):
                sc.prctl(sc.PR_CAPBSET_DROP, cap)

    def apply(self) -> None:
        sc.capset(self.effective, self.permitted, self.inheritable)
        sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
        ambient = self.raisable_ambient()
        for cap in range(self.last + 1):
            if ambient & (1 << cap):
                sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)

    def raisable_ambient(self) -> int:
        """The ambient caps the kernel lets us raise: those also inheritable and permitted.

        runc's template asks for ambient caps without an inheritable set; runc starts it
        with an empty ambient set (the kernel refuses the rest with EPERM, which runc
        ignores), and so do we.
        """
        return self.ambient & self.inheritable & self.permitted


def switch_user(user: dict[str, Any], in_userns: bool) -> None:
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    groups = user.get("additionalGids") or []
    try:
        if not in_userns or _setgroups_allowed():
            os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise ProcessError(f"setting user {uid}:{gid} (groups {groups}): {exc.strerror}") from exc


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "allow"
    except OSError:
        return True


def finalize(
    proc: dict[str, Any], seccomp: Filter | None, in_userns: bool, caps: Caps | None = None
) -> None:
    """Become the user, with the capabilities, no_new_privs and seccomp filter of `proc`."""
    caps = caps or Caps(proc.get("capabilities"))
    nnp = bool(proc.get("noNewPrivileges"))
    if seccomp is not None and not nnp:
        seccomp.load()  # needs CAP_SYS_ADMIN without no_new_privs: load while privileged
    caps.drop_bounding()
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    switch_user(proc.get("user") or {}, in_userns)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    caps.apply()
    if nnp:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if seccomp is not None:
            seccomp.load()


def exec_process(path: str, proc: dict[str, Any], preserve_fds: int = 0) -> None:
    """Replace this process with the user's; returns only by raising.

    Besides stdio, fds 3 .. 3+preserve_fds-1 (runc's --preserve-fds) are passed on.
    """
    for fd in range(3, 3 + preserve_fds):
        try:
            os.set_inheritable(fd, True)
        except OSError as exc:
            raise ProcessError(f"--preserve-fds: fd {fd} is not open: {exc.strerror}") from exc
    user = proc.get("user") or {}
    os.umask(user["umask"] if user.get("umask") is not None else 0o022)
    # Python ignores SIGPIPE and SIGXFSZ; ignored dispositions survive execve.
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    env = proc.get("env") or []
    try:
        os.execve(path, proc["args"], dict(e.split("=", 1) for e in env))
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ProcessError(f'exec: "{proc["args"][0]}": {reason}') from exc
