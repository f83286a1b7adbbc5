"""A cache of compiled seccomp programs, so a container start does not regenerate them.

Generating the BPF for Docker's default profile on three architectures takes
libseccomp ~10 ms; reading it back well under one. Entries live in a directory
only the runtime's user may write (under its state root), named by a checksum of
the key and holding the whole key: the exact profile, the libseccomp version and
API level, the kernel release and machine. The key is compared in full on every
read, and entries are written atomically.
"""

from __future__ import annotations

import os

from wharfie.errors import FailedPrecondition, Unavailable
from wharfie.runtime.seccomp import (
    SeccompFilter,
    _compile,
    _read_all,
    libseccomp,
    uses_notify,
)
from wharfie.runtime.seccomp_load import flag_bits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CACHE_FORMAT = "wharfie-seccomp-bpf/1"


def cached(seccomp_spec: dict[str, Any], cache_dir: str) -> SeccompFilter:
    key = _cache_key(seccomp_spec)
    try:
        path = os.path.join(_cache_root(cache_dir), _cache_name(key))
        bpf = _cache_read(path, key)
    except OSError as e:
        raise Unavailable(f"seccomp cache {cache_dir}: cannot read: {e}") from e
    if bpf is None:
        bpf = _generate(seccomp_spec)
        try:
            _cache_write(path, key, bpf)
        except OSError as e:
            raise Unavailable(f"seccomp cache {cache_dir}: cannot write {path}: {e}") from e
    return SeccompFilter(
        bpf=bpf, flags=flag_bits(seccomp_spec.get("flags")), notify=uses_notify(seccomp_spec)
    )


def _generate(seccomp_spec: dict[str, Any]) -> bytes:
    built = _compile(seccomp_spec)
    try:
        return built.export_bpf()
    finally:
        built.release()


def _cache_key(seccomp_spec: dict[str, Any]) -> bytes:
    """Everything the generated program depends on; repr() is exact for JSON-loaded data."""
    lib = libseccomp()
    v = lib.seccomp_version().contents
    uname = os.uname()
    version = f"{v.major}.{v.minor}.{v.micro} api {lib.seccomp_api_get()}"
    parts = (_CACHE_FORMAT, version, uname.release, uname.machine, repr(seccomp_spec))
    return "\n".join(parts).encode()


def _cache_name(key: bytes) -> str:
    import zlib  # only on this path (0.3 ms); the full key is checked on read

    return f"{zlib.crc32(key):08x}-{len(key)}.bpf"


def _cache_root(cache_dir: str) -> str:
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    st = os.stat(cache_dir)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise FailedPrecondition(
            f"seccomp cache {cache_dir}: must be owned by uid {os.geteuid()} and not writable "
            f"by group or others (owner {st.st_uid}, mode {st.st_mode & 0o7777:o})"
        )
    return cache_dir


def _cache_read(path: str, key: bytes) -> bytes | None:
    """The cached program for `key`, or None (absent, or another key with the same name)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        data = _read_all(fd)
    finally:
        os.close(fd)
    header, _, rest = data.partition(b"\0")
    if header != key or not rest or len(rest) % 8:
        return None
    return rest


def _cache_write(path: str, key: bytes, bpf: bytes) -> None:
    """Write atomically (temp file + rename), so a reader sees a whole entry or none."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, key + b"\0" + bpf)
    finally:
        os.close(fd)
    os.replace(tmp, path)
