"""Seccomp filters from linux.seccomp, compiled and loaded through libseccomp (ctypes).

Contract:

    f = compile_filter(seccomp_spec)   # validate + build the libseccomp context;
                                       # errors name the field
    f.load()                           # in the container process, right before execve

compile_filter may run before fork (the context is copied into the child).

Semantics follow runc (libcontainer/seccomp), so bundles behave the same under either runtime:

- a syscall name libseccomp does not know is skipped (an older library or kernel);
- a rule whose action equals the default action is skipped (libseccomp refuses it);
- when two conditions of one rule test the same argument, every condition becomes a rule
  of its own (libseccomp cannot AND two comparisons of one argument), so they are ORed;
- `errnoRet` sets the errno of SCMP_ACT_ERRNO and the message of SCMP_ACT_TRACE (EPERM when
  absent); other actions ignore it;
- no_new_privs is left to the runtime (SCMP_FLTATR_CTL_NNP = 0);
- rule sets longer than 32 use libseccomp's binary-tree layout.

SCMP_ACT_NOTIFY is supported as runc supports it: the filter is loaded with a new listener
(SECCOMP_FILTER_FLAG_NEW_LISTENER) and its fd goes to the agent at `listenerPath`, with the
containerProcessState JSON (`listenerMetadata` as its metadata), over a unix socket the
runtime connected to while creating the container (`attach_listener`). runc's "-ENOSYS
stub" for syscalls newer than the profile (patchbpf) is not implemented.

Import cost matters (the runtime imports this on every container start that sets seccomp):
the modules import only ctypes and os, and load libseccomp on first use. The concerns are
split: `seccomp_rules` checks the spec into libseccomp's terms, this module builds and
loads the filter with libseccomp, `seccomp_load` installs a cached program without it,
`seccomp_cache` keeps compiled programs, `seccomp_notify` hands listener fds to the agent.
"""

from __future__ import annotations

import ctypes
import errno
import os

from wharfie.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotImplementedFeature,
    WharfieError,
)
from wharfie.runtime import seccomp_rules as rules_
from wharfie.runtime.seccomp_load import flag_bits, load_bpf, load_error
from wharfie.runtime.seccomp_rules import ArgCmp

# `typing` costs ~10 ms to import; mypy treats any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.runtime.seccomp_rules import Rule

__all__ = ["LIBSECCOMP", "Filter", "SeccompFilter", "compile_filter", "flag_bits"]

LIBSECCOMP = "libseccomp.so.2"


class _Version(ctypes.Structure):
    """struct scmp_version."""

    _fields_ = (("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint))


_lib: ctypes.CDLL | None = None


def libseccomp() -> ctypes.CDLL:
    """The loaded library, with signatures set (loaded once per process)."""
    global _lib
    if _lib is None:
        _lib = _load_library()
    return _lib


def preload_library() -> bool:
    """Load libseccomp now (a process that forks runtimes does this once, so no fork has
    to dlopen it again); False when it is not installed."""
    try:
        libseccomp()
    except NotImplementedFeature:
        return False
    return True


def _load_library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBSECCOMP)
    except OSError as e:
        raise NotImplementedFeature(
            f"seccomp: cannot load {LIBSECCOMP} (install libseccomp2): {e}"
        ) from e
    _set_signatures(lib)
    return lib


def _set_signatures(lib: ctypes.CDLL) -> None:
    ctx, u32, cint, text = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_char_p
    cmps = ctypes.POINTER(ArgCmp)
    table: dict[str, tuple[tuple[Any, ...], Any]] = {
        "seccomp_init": ((u32,), ctx),
        "seccomp_release": ((ctx,), None),
        "seccomp_arch_resolve_name": ((text,), u32),
        "seccomp_arch_exist": ((ctx, u32), cint),
        "seccomp_arch_add": ((ctx, u32), cint),
        "seccomp_attr_set": ((ctx, cint, u32), cint),
        "seccomp_syscall_resolve_name": ((text,), cint),
        "seccomp_rule_add_array": ((ctx, u32, cint, ctypes.c_uint, cmps), cint),
        "seccomp_load": ((ctx,), cint),
        "seccomp_notify_fd": ((ctx,), cint),
        "seccomp_export_pfc": ((ctx, cint), cint),
        "seccomp_export_bpf": ((ctx, cint), cint),
        "seccomp_version": ((), ctypes.POINTER(_Version)),
        "seccomp_api_get": ((), ctypes.c_uint),
    }
    for name, (argtypes, restype) in table.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype


class SeccompFilter:
    """A compiled filter: `load()` it in the container process, then exec.

    Either a libseccomp context or, from the cache, the BPF program libseccomp generated for
    the same spec. Both live in this process's memory, so a filter compiled before fork is
    usable in the child. `release()` frees the context (idempotent); a loaded filter stays in
    the kernel. `skipped` lists the syscall names libseccomp did not know (ignored, as runc
    does) and `rule_count` the names added; both are empty for a filter read from the cache.
    """

    __slots__ = (
        "_bpf",
        "_ctx",
        "_flags",
        "listener_sock",
        "listener_state",
        "notify",
        "rule_count",
        "skipped",
    )

    def __init__(
        self, ctx: int | None = None, bpf: bytes | None = None, flags: int = 0, notify: bool = False
    ) -> None:
        self._ctx = ctx
        self._bpf = bpf
        self._flags = flags
        self.notify = notify  # some rule is SCMP_ACT_NOTIFY
        self.listener_sock = -1  # connected to listenerPath (attach_listener)
        self.listener_state: dict[str, Any] = {}
        self.skipped: list[str] = []
        self.rule_count = 0

    def load(self) -> None:
        """Install the filter on the calling thread (needs no_new_privs or CAP_SYS_ADMIN);
        with SCMP_ACT_NOTIFY rules, hand the listener fd to the agent."""
        if self._bpf is not None:
            fd = load_bpf(self._bpf, self._flags | (rules_.FLAG_NEW_LISTENER if self.notify else 0))
        else:
            rc = libseccomp().seccomp_load(self._live())
            if rc < 0:
                raise load_error(-rc)
            fd = libseccomp().seccomp_notify_fd(self._live()) if self.notify else -1
        if self.notify:
            # imported by attach_listener in the runtime before the fork (the init may no
            # longer reach the source tree here)
            from wharfie.runtime import seccomp_notify

            seccomp_notify.send_listener(self, fd)

    def export_pfc(self) -> str:
        """The filter as libseccomp's pseudo filter code (for tests and debugging)."""
        return self._export("seccomp_export_pfc").decode()

    def export_bpf(self) -> bytes:
        """The raw BPF program the kernel would receive."""
        if self._bpf is not None:
            return self._bpf
        return self._export("seccomp_export_bpf")

    def release(self) -> None:
        if self._ctx is not None:
            libseccomp().seccomp_release(self._ctx)
            self._ctx = None

    def _live(self) -> int:
        if self._ctx is None:
            raise FailedPrecondition("seccomp: the filter was already released")
        return self._ctx

    def _export(self, function: str) -> bytes:
        fd = os.memfd_create("wharfie-seccomp")
        try:
            rc = getattr(libseccomp(), function)(self._live(), fd)
            if rc < 0:
                raise error(-rc, f"seccomp: {function} failed")
            os.lseek(fd, 0, os.SEEK_SET)
            return _read_all(fd)
        finally:
            os.close(fd)


Filter = SeccompFilter  # the name the runtime's init stages use


def compile_filter(seccomp_spec: dict[str, Any], *, cache_dir: str | None = None) -> SeccompFilter:
    """Validate an OCI `linux.seccomp` object and build its libseccomp filter.

    Raises InvalidArgument naming the offending field (`linux.seccomp.syscalls[3].action`),
    NotImplementedFeature for what this runtime or libseccomp cannot do (SCMP_ACT_NOTIFY).

    With `cache_dir` (a directory only this user can write, e.g. under the runtime's state
    root) the generated BPF program is kept there, keyed by the exact spec, the libseccomp
    version and API level and the kernel: generating BPF for Docker's profile on three
    architectures takes libseccomp ~10 ms, reading it back well under one.
    """
    if cache_dir is not None:
        from wharfie.runtime import seccomp_cache

        return seccomp_cache.cached(seccomp_spec, cache_dir)
    return _compile(seccomp_spec)


def _compile(seccomp_spec: dict[str, Any]) -> SeccompFilter:
    spec = rules_.as_dict(seccomp_spec, "linux.seccomp")
    default = rules_.action(spec, "linux.seccomp", "defaultAction", "defaultErrnoRet")
    if default == rules_.NOTIFY:
        raise InvalidArgument(
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action"
        )
    arches = rules_.architectures(spec.get("architectures"))
    flags = rules_.flags(spec.get("flags"))
    rules = rules_.rules(spec.get("syscalls"), default)
    notify = any(r[2] == rules_.NOTIFY for r in rules)
    if notify and not spec.get("listenerPath"):
        raise InvalidArgument(
            "linux.seccomp.listenerPath: required when a rule's action is SCMP_ACT_NOTIFY"
        )
    built = _build(default, arches, flags, rules)
    built.notify = notify
    return built


def uses_notify(seccomp_spec: dict[str, Any]) -> bool:
    """True when a rule of this (valid) linux.seccomp asks for SCMP_ACT_NOTIFY."""
    return any(r.get("action") == "SCMP_ACT_NOTIFY" for r in seccomp_spec.get("syscalls") or ())


# -- building -----------------------------------------------------------------------------


def _build(
    default: int, arches: list[tuple[str, int]], flags: list[tuple[str, int]], rules: list[Rule]
) -> SeccompFilter:
    ctx = libseccomp().seccomp_init(default)
    if not ctx:
        raise InvalidArgument("linux.seccomp.defaultAction: libseccomp refused the action")
    built = SeccompFilter(ctx=ctx)
    try:
        _configure(built, ctx, default, arches, flags, rules)
    except BaseException:
        built.release()
        raise
    return built


def _configure(
    built: SeccompFilter,
    ctx: int,
    default: int,
    arches: list[tuple[str, int]],
    flags: list[tuple[str, int]],
    rules: list[Rule],
) -> None:
    _set_attr(ctx, rules_.ATTR_CTL_NNP, 0, "linux.seccomp (no_new_privs attribute)")
    for field, token in arches:
        _add_arch(ctx, token, field)
    for field, attr in flags:
        _set_attr(ctx, attr, 1, field)
    for rule in rules:
        built.rule_count += _add_rule(ctx, rule, built.skipped)
    if built.rule_count > rules_.OPTIMIZE_ABOVE:
        _set_attr(ctx, rules_.ATTR_CTL_OPTIMIZE, 2, "linux.seccomp (binary tree optimization)")


def _set_attr(ctx: int, attr: int, value: int, field: str) -> None:
    rc = libseccomp().seccomp_attr_set(ctx, attr, value)
    if rc < 0:
        raise error(-rc, f"{field}: libseccomp cannot set filter attribute {attr}")


def _add_arch(ctx: int, token: int, field: str) -> None:
    lib = libseccomp()
    if lib.seccomp_arch_exist(ctx, token) == 0:
        return  # already there (the native architecture always is)
    rc = lib.seccomp_arch_add(ctx, token)
    if rc < 0:
        raise error(-rc, f"{field}: libseccomp cannot add the architecture")


def _add_rule(ctx: int, rule: Rule, skipped: list[str]) -> int:
    """Add one OCI rule's libseccomp rules; returns how many names were added."""
    i, names, action, conditions = rule
    lib = libseccomp()
    resolve, add = lib.seccomp_syscall_resolve_name, lib.seccomp_rule_add_array
    added = 0
    for j, name in enumerate(names):
        nr = resolve(name.encode())
        if nr == rules_.NR_SCMP_ERROR:
            skipped.append(name)
            continue
        for count, array in conditions or ((0, None),):
            rc = add(ctx, action, nr, count, array)
            if rc < 0:
                field = f"linux.seccomp.syscalls[{i}].names[{j}]"
                raise error(-rc, f'{field}: libseccomp rejected the rule for "{name}"')
        added += 1
    return added


def error(code: int, message: str, kind: type[WharfieError] | None = None) -> WharfieError:
    """A Wharfie error for a failed libseccomp call, chained from the OSError it stands for."""
    cause = OSError(code, os.strerror(code))
    if kind is None:
        unsupported = code in (errno.EOPNOTSUPP, errno.ENOSYS)
        kind = NotImplementedFeature if unsupported else InvalidArgument
    error = kind(f"{message}: {cause.strerror} (errno {code})")
    error.__cause__ = cause
    return error


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)
