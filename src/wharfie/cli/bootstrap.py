"""`wharfie image bootstrap busybox`: a base image from the host's busybox-static.

The documented offline way to get an image: a root filesystem of /bin/busybox
(it must be statically linked), one symlink per applet, minimal
/etc/passwd and /etc/group and the usual empty directories, as a tar that
the CLI imports with `POST /images/create?fromSrc=-`.
"""

from __future__ import annotations

import io
import tarfile

from wharfie.errors import FailedPrecondition, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

BUSYBOX = "/bin/busybox"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
# directory -> mode
DIRS = {
    "bin": 0o755,
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o555,
    "root": 0o700,
    "sbin": 0o755,
    "sys": 0o555,
    "tmp": 0o1777,
    "usr": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "var": 0o755,
    "var/tmp": 0o1777,
}
_PT_INTERP = 3


def is_static(data: bytes) -> bool:
    """True for an ELF executable without a PT_INTERP program header."""
    if data[:4] != b"\x7fELF":
        raise FailedPrecondition("not an ELF executable")
    is64 = data[4] == 2
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    if is64:
        phoff = int.from_bytes(data[0x20:0x28], order)
        entsize = int.from_bytes(data[0x36:0x38], order)
        num = int.from_bytes(data[0x38:0x3A], order)
    else:
        phoff = int.from_bytes(data[0x1C:0x20], order)
        entsize = int.from_bytes(data[0x2A:0x2C], order)
        num = int.from_bytes(data[0x2C:0x2E], order)
    for i in range(num):
        off = phoff + i * entsize
        if int.from_bytes(data[off : off + 4], order) == _PT_INTERP:
            return False
    return True


def applets(busybox: str) -> list[str]:
    """`busybox --list`, sorted, without busybox itself."""
    import subprocess

    out = subprocess.run([busybox, "--list"], capture_output=True, check=True, text=True)
    return sorted({a for a in out.stdout.split() if a and a != "busybox" and "/" not in a})


def members(names: list[str]) -> list[tuple[str, str, int, str]]:
    """(path, kind, mode, content-or-link-target) in tar order; kind dir|file|link|busybox."""
    out: list[tuple[str, str, int, str]] = [(d, "dir", m, "") for d, m in DIRS.items()]
    out.append(("bin/busybox", "busybox", 0o755, ""))
    out += [(f"bin/{a}", "link", 0o777, "busybox") for a in names]
    out.append(("etc/passwd", "file", 0o644, PASSWD))
    out.append(("etc/group", "file", 0o644, GROUP))
    return out


def build_tar(busybox: str = BUSYBOX) -> bytes:
    """The root filesystem tar (about 2 MB, built in memory)."""
    try:
        with open(busybox, "rb") as f:
            binary = f.read()
    except FileNotFoundError as exc:
        raise NotFound(
            f"{busybox} not found: install it with `apt-get install busybox-static`"
        ) from exc
    if not is_static(binary):
        raise FailedPrecondition(
            f"{busybox} is dynamically linked: install `apt-get install busybox-static`"
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, kind, mode, content in members(applets(busybox)):
            info = tarfile.TarInfo(path)
            info.mode, info.mtime = mode, 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                data = binary if kind == "busybox" else content.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
