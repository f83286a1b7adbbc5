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
the module imports only ctypes and os, and loads libseccomp on first use.
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

# `typing` costs ~10 ms to import; mypy treats any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    # A checked rule: its index in linux.seccomp.syscalls, its names, the libseccomp action,
    # and one (count, array) condition set per libseccomp rule; () means one plain rule.
    _Conditions = tuple[tuple[int, "ctypes.Array[_ArgCmp]"], ...]
    _Rule = tuple[int, list[str], int, _Conditions]

__all__ = ["LIBSECCOMP", "Filter", "SeccompFilter", "compile_filter"]

LIBSECCOMP = "libseccomp.so.2"

# libseccomp's action values: those without a return code, and those whose low 16 bits
# carry errnoRet.
_PLAIN_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,  # = KILL_THREAD
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
_NOTIFY = 0x7FC00000
_FLAG_NEW_LISTENER = 8  # SECCOMP_FILTER_FLAG_NEW_LISTENER
_CODE_ACTIONS = {"SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000}

# enum scmp_compare: SCMP_CMP_NE = 1 ... SCMP_CMP_MASKED_EQ = 7
_OPERATORS = {
    f"SCMP_CMP_{name}": value
    for value, name in enumerate(("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"), start=1)
}

# enum scmp_filter_attr
_ATTR_CTL_NNP = 3
_ATTR_CTL_OPTIMIZE = 8
# OCI flag -> (libseccomp attribute, seccomp(2) flag bit)
_FLAG_ATTRS = {
    "SECCOMP_FILTER_FLAG_TSYNC": (4, 1),  # SCMP_FLTATR_CTL_TSYNC
    "SECCOMP_FILTER_FLAG_LOG": (6, 2),  # SCMP_FLTATR_CTL_LOG
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (7, 4),  # SCMP_FLTATR_CTL_SSB
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (10, 32),  # SCMP_FLTATR_CTL_WAITKILL (2.6)
}
_OPTIMIZE_ABOVE = 32  # like runc: binary-tree layout for more than 32 rules
_MAX_ARGS = 6
_U64 = 1 << 64
_NR_SCMP_ERROR = -1


class _ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _Version(ctypes.Structure):
    """struct scmp_version."""

    _fields_ = (("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint))


class _SockFprog(ctypes.Structure):
    """struct sock_fprog: a classic BPF program for prctl(2)/seccomp(2)."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


_lib: ctypes.CDLL | None = None


def _libseccomp() -> ctypes.CDLL:
    """The loaded library, with signatures set (loaded once per process)."""
    global _lib
    if _lib is None:
        _lib = _load_library()
    return _lib


def preload_library() -> bool:
    """Load libseccomp now (a process that forks runtimes does this once, so no fork has
    to dlopen it again); False when it is not installed."""
    try:
        _libseccomp()
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
    cmps = ctypes.POINTER(_ArgCmp)
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
            fd = _load_bpf(self._bpf, self._flags | (_FLAG_NEW_LISTENER if self.notify else 0))
        else:
            rc = _libseccomp().seccomp_load(self._live())
            if rc < 0:
                raise _load_error(-rc)
            fd = _libseccomp().seccomp_notify_fd(self._live()) if self.notify else -1
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
            _libseccomp().seccomp_release(self._ctx)
            self._ctx = None

    def _live(self) -> int:
        if self._ctx is None:
            raise FailedPrecondition("seccomp: the filter was already released")
        return self._ctx

    def _export(self, function: str) -> bytes:
        fd = os.memfd_create("wharfie-seccomp")
        try:
            rc = getattr(_libseccomp(), function)(self._live(), fd)
            if rc < 0:
                raise _error(-rc, f"seccomp: {function} failed")
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
    spec = _as_dict(seccomp_spec, "linux.seccomp")
    default = _action(spec, "linux.seccomp", "defaultAction", "defaultErrnoRet")
    if default == _NOTIFY:
        raise InvalidArgument(
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action"
        )
    arches = _architectures(spec.get("architectures"))
    flags = _flags(spec.get("flags"))
    rules = _rules(spec.get("syscalls"), default)
    notify = any(r[2] == _NOTIFY for r in rules)
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


# -- validation ---------------------------------------------------------------------------


def _as_dict(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected an object, got {type(value).__name__}")
    return value


def _as_list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}: expected a list, got {type(value).__name__}")
    return value


def _is_uint(value: object, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit


def _action(obj: dict[str, Any], field: str, key: str, errno_key: str) -> int:
    name = obj.get(key)
    if name is None:
        raise InvalidArgument(f"{field}.{key}: missing")
    if name in _PLAIN_ACTIONS:
        return _PLAIN_ACTIONS[name]
    if name in _CODE_ACTIONS:
        return _CODE_ACTIONS[name] | _errno_ret(obj.get(errno_key), f"{field}.{errno_key}")
    raise InvalidArgument(f'{field}.{key}: unknown action "{name}"')


def _errno_ret(code: object, field: str) -> int:
    if code is None:
        return errno.EPERM
    if not _is_uint(code, 0x10000):
        raise InvalidArgument(f"{field}: expected an errno between 0 and 65535, got {code!r}")
    return code  # type: ignore[return-value]


def _architectures(value: object) -> list[tuple[str, int]]:
    if value is None:
        return []
    field = "linux.seccomp.architectures"
    return [_architecture(name, f"{field}[{i}]") for i, name in enumerate(_as_list(value, field))]


def _architecture(name: object, field: str) -> tuple[str, int]:
    if not isinstance(name, str) or not name.startswith("SCMP_ARCH_"):
        raise InvalidArgument(f"{field}: unknown architecture {name!r}")
    token: int = _libseccomp().seccomp_arch_resolve_name(name[10:].lower().encode())
    if token == 0:
        raise InvalidArgument(f"{field}: architecture {name} is unknown to libseccomp")
    return field, token


def _flags(value: object) -> list[tuple[str, int]]:
    if value is None:
        return []
    flags = _as_list(value, "linux.seccomp.flags")
    for i, flag in enumerate(flags):
        if flag not in _FLAG_ATTRS:
            raise InvalidArgument(f'linux.seccomp.flags[{i}]: unknown flag "{flag}"')
    return [(f"linux.seccomp.flags[{i}]", _FLAG_ATTRS[flag][0]) for i, flag in enumerate(flags)]


def _rules(value: object, default: int) -> list[_Rule]:
    """Checked rules in order, leaving out those whose action is the default action."""
    if value is None:
        return []
    rules = [_rule(entry, i) for i, entry in enumerate(_as_list(value, "linux.seccomp.syscalls"))]
    return [rule for rule in rules if rule[2] != default]


def _rule(entry: object, i: int) -> _Rule:
    field = f"linux.seccomp.syscalls[{i}]"
    obj = _as_dict(entry, field)
    names = obj.get("names")
    if not isinstance(names, list) or not names:
        raise InvalidArgument(f"{field}.names: expected a non-empty list of syscall names")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{field}.names[{j}]: expected a syscall name, got {name!r}")
    action = _action(obj, field, "action", "errnoRet")
    return i, names, action, _conditions(obj.get("args"), f"{field}.args")


def _conditions(value: object, field: str) -> _Conditions:
    """The condition sets of one rule; split into one set per condition like runc when two
    conditions test the same argument (libseccomp cannot AND them)."""
    if not value:
        return ()
    cmps = [_condition(arg, f"{field}[{k}]") for k, arg in enumerate(_as_list(value, field))]
    indexes = {cmp.arg for cmp in cmps}
    if len(indexes) < len(cmps):
        return tuple(_array([cmp]) for cmp in cmps)
    return (_array(cmps),)


def _condition(arg: object, field: str) -> _ArgCmp:
    obj = _as_dict(arg, field)
    index = obj.get("index")
    if not _is_uint(index, _MAX_ARGS):
        raise InvalidArgument(f"{field}.index: expected an argument index 0..5, got {index!r}")
    op = obj.get("op")
    if op not in _OPERATORS:
        raise InvalidArgument(f'{field}.op: unknown operator "{op}"')
    value = _datum(obj.get("value"), f"{field}.value")
    value_two = _datum(obj.get("valueTwo"), f"{field}.valueTwo")
    return _ArgCmp(index, _OPERATORS[op], value, value_two)


def _datum(value: object, field: str) -> int:
    if value is None:
        return 0
    if not _is_uint(value, _U64):
        raise InvalidArgument(f"{field}: expected an unsigned 64-bit integer, got {value!r}")
    return value  # type: ignore[return-value]


def _array(cmps: list[_ArgCmp]) -> tuple[int, ctypes.Array[_ArgCmp]]:
    return len(cmps), (_ArgCmp * len(cmps))(*cmps)


# -- building -----------------------------------------------------------------------------


def _build(
    default: int, arches: list[tuple[str, int]], flags: list[tuple[str, int]], rules: list[_Rule]
) -> SeccompFilter:
    ctx = _libseccomp().seccomp_init(default)
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
    rules: list[_Rule],
) -> None:
    _set_attr(ctx, _ATTR_CTL_NNP, 0, "linux.seccomp (no_new_privs attribute)")
    for field, token in arches:
        _add_arch(ctx, token, field)
    for field, attr in flags:
        _set_attr(ctx, attr, 1, field)
    for rule in rules:
        built.rule_count += _add_rule(ctx, rule, built.skipped)
    if built.rule_count > _OPTIMIZE_ABOVE:
        _set_attr(ctx, _ATTR_CTL_OPTIMIZE, 2, "linux.seccomp (binary tree optimization)")


def _set_attr(ctx: int, attr: int, value: int, field: str) -> None:
    rc = _libseccomp().seccomp_attr_set(ctx, attr, value)
    if rc < 0:
        raise _error(-rc, f"{field}: libseccomp cannot set filter attribute {attr}")


def _add_arch(ctx: int, token: int, field: str) -> None:
    lib = _libseccomp()
    if lib.seccomp_arch_exist(ctx, token) == 0:
        return  # already there (the native architecture always is)
    rc = lib.seccomp_arch_add(ctx, token)
    if rc < 0:
        raise _error(-rc, f"{field}: libseccomp cannot add the architecture")


def _add_rule(ctx: int, rule: _Rule, skipped: list[str]) -> int:
    """Add one OCI rule's libseccomp rules; returns how many names were added."""
    i, names, action, conditions = rule
    lib = _libseccomp()
    resolve, add = lib.seccomp_syscall_resolve_name, lib.seccomp_rule_add_array
    added = 0
    for j, name in enumerate(names):
        nr = resolve(name.encode())
        if nr == _NR_SCMP_ERROR:
            skipped.append(name)
            continue
        for count, array in conditions or ((0, None),):
            rc = add(ctx, action, nr, count, array)
            if rc < 0:
                field = f"linux.seccomp.syscalls[{i}].names[{j}]"
                raise _error(-rc, f'{field}: libseccomp rejected the rule for "{name}"')
        added += 1
    return added


# -- raw loading of a compiled program --------------------------------------------------------

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_SET_MODE_FILTER = 1

_libc: ctypes.CDLL | None = None


def _flag_bits(flags: object) -> int:
    bits = 0
    for flag in _as_list(flags or [], "linux.seccomp.flags"):
        bits |= _FLAG_ATTRS[flag][1]
    return bits


def _load_bpf(bpf: bytes, flags: int) -> int:
    """Install a BPF program the way libseccomp does, without libseccomp."""
    program = ctypes.create_string_buffer(bpf, len(bpf))
    fprog = _SockFprog(len(bpf) // 8, ctypes.addressof(program))
    libc = _libc_handle()
    if flags:
        nr = _libseccomp().seccomp_syscall_resolve_name(b"seccomp")
        rc = libc.syscall(nr, _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog))
    else:
        rc = libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
    if rc < 0:
        raise _load_error(ctypes.get_errno())
    return int(rc) if flags & _FLAG_NEW_LISTENER else -1


def _libc_handle() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _load_error(code: int) -> WharfieError:
    kind = FailedPrecondition if code in (errno.EACCES, errno.EPERM) else None
    return _error(code, "seccomp: loading the filter into the kernel failed", kind)


def _error(code: int, message: str, kind: type[WharfieError] | None = None) -> WharfieError:
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
