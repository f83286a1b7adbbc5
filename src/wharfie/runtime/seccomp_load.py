"""Loading a compiled seccomp program without libseccomp (part of `seccomp`).

A filter read back from the cache (`seccomp_cache`) is raw BPF: it is installed the way
libseccomp installs one, with prctl(PR_SET_SECCOMP) or, when the spec has flags (or a
notify rule needs a listener), seccomp(SECCOMP_SET_MODE_FILTER, flags).
"""

from __future__ import annotations

import ctypes
import errno

from wharfie.errors import FailedPrecondition, WharfieError
from wharfie.runtime.seccomp_rules import FLAG_ATTRS, FLAG_NEW_LISTENER, as_list

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_SET_MODE_FILTER = 1

_libc: ctypes.CDLL | None = None


class SockFprog(ctypes.Structure):
    """struct sock_fprog: a classic BPF program for prctl(2)/seccomp(2)."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def flag_bits(flags: object) -> int:
    """linux.seccomp.flags as seccomp(2)'s flag bits."""
    bits = 0
    for flag in as_list(flags or [], "linux.seccomp.flags"):
        bits |= FLAG_ATTRS[flag][1]
    return bits


def load_bpf(bpf: bytes, flags: int) -> int:
    """Install a BPF program the way libseccomp does, without libseccomp; returns the
    listener fd when FLAG_NEW_LISTENER is among `flags`, else -1."""
    from wharfie.runtime.seccomp import libseccomp

    program = ctypes.create_string_buffer(bpf, len(bpf))
    fprog = SockFprog(len(bpf) // 8, ctypes.addressof(program))
    libc = _libc_handle()
    if flags:
        nr = libseccomp().seccomp_syscall_resolve_name(b"seccomp")
        rc = libc.syscall(nr, _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog))
    else:
        rc = libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
    if rc < 0:
        raise load_error(ctypes.get_errno())
    return int(rc) if flags & FLAG_NEW_LISTENER else -1


def _libc_handle() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def load_error(code: int) -> WharfieError:
    from wharfie.runtime.seccomp import error

    kind = FailedPrecondition if code in (errno.EACCES, errno.EPERM) else None
    return error(code, "seccomp: loading the filter into the kernel failed", kind)
