"""The build context a client sends: a tar of a directory without what .dockerignore
excludes (the Dockerfile and .dockerignore always go, as with the docker CLI; the daemon
hides them from COPY when they are excluded).

Used by `wharfie build` and by compose. The .dockerignore rules are `wharfie.patterns`,
the same module the builder uses.
"""

from __future__ import annotations

import os
import stat

from wharfie.patterns import Matcher, read_dockerignore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

_CHUNK = 1 << 20


def context_tar(
    root: str, dockerfile: str | None, dockerfile_data: bytes | None = None
) -> tuple[Iterator[bytes], str]:
    """(tar chunks, the Dockerfile's name inside the context) for a context directory.
    `dockerfile_data`: the Dockerfile's text given apart (`-f -`)."""
    patterns: list[str] = []
    ignore_text = ""
    ignore = os.path.join(root, ".dockerignore")
    if os.path.isfile(ignore):
        with open(ignore, encoding="utf-8", errors="surrogateescape") as f:
            ignore_text = f.read()
        patterns = read_dockerignore(ignore_text)
    df_path = dockerfile or os.path.join(root, "Dockerfile")
    if dockerfile and not os.path.isabs(dockerfile) and not os.path.exists(dockerfile):
        df_path = os.path.join(root, dockerfile)
    rel = os.path.relpath(os.path.abspath(df_path), os.path.abspath(root))
    extra: list[tuple[str, bytes]] = []
    if rel.startswith("..") or dockerfile_data is not None:
        # outside the context: sent under a private name that .dockerignore then names (with
        # itself), so the daemon hides both from COPY -- as the docker CLI does
        rel = f".dockerfile.{os.urandom(10).hex()}"
        if dockerfile_data is None:
            with open(df_path, "rb") as f:
                dockerfile_data = f.read()
        extra.append((rel, dockerfile_data))
        text = ignore_text + ("\n" if ignore_text and not ignore_text.endswith("\n") else "")
        extra.append((".dockerignore", f"{text}{rel}\n.dockerignore\n".encode()))
    keep = {rel, ".dockerignore"}
    return _tar(root, Matcher(patterns), keep, extra), rel


def _tar(root: str, m: Matcher, keep: set[str], extra: list[tuple[str, bytes]]) -> Iterator[bytes]:
    replaced = {name for name, _ in extra}
    for rel in _walk(root, "", m, keep):
        if rel not in replaced:
            yield from _entry(root, rel)
    for name, data in extra:
        yield single_file_tar(name, data, end=False)
    yield b"\0" * 1024


def _walk(root: str, rel_dir: str, m: Matcher, keep: set[str]) -> Iterator[str]:
    full = os.path.join(root, rel_dir) if rel_dir else root
    for name in sorted(os.listdir(full)):
        rel = f"{rel_dir}/{name}" if rel_dir else name
        is_dir = os.path.isdir(os.path.join(root, rel)) and not os.path.islink(
            os.path.join(root, rel)
        )
        if m.excluded(rel) and rel not in keep:
            if is_dir and m.has_exclusions:
                yield from _walk(root, rel, m, keep)  # an exception may re-include below
            continue
        yield rel
        if is_dir:
            yield from _walk(root, rel, m, keep)


def _entry(root: str, rel: str) -> Iterator[bytes]:
    path = os.path.join(root, rel)
    st = os.lstat(path)
    size, link = 0, ""
    if stat.S_ISDIR(st.st_mode):
        kind = b"5"
    elif stat.S_ISLNK(st.st_mode):
        kind, link = b"2", os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        kind, size = b"0", st.st_size
    else:
        return
    yield header(rel, kind, stat.S_IMODE(st.st_mode), size, int(st.st_mtime), link)
    if size:
        with open(path, "rb") as f:
            left = size
            while left > 0:
                chunk = f.read(min(_CHUNK, left)) or b"\0" * min(_CHUNK, left)
                left -= len(chunk)
                yield chunk
        if size % 512:
            yield b"\0" * (512 - size % 512)


def header(name: str, kind: bytes, mode: int, size: int, mtime: int, link: str = "") -> bytes:
    """A ustar header owned by 0:0 (tarfile's PAX writer for names ustar cannot hold:
    importing tarfile costs more than the whole header code)."""
    raw, raw_link = name.encode("utf-8", "surrogateescape"), link.encode("utf-8", "surrogateescape")
    prefix, short = b"", raw
    if len(raw) > 100:
        cut = raw.rfind(b"/", 0, 156)
        prefix, short = (raw[:cut], raw[cut + 1 :]) if cut > 0 else (b"", raw)
    if len(short) > 100 or len(raw_link) > 100 or size >= 8**11 or not raw.isascii():
        return _pax(name, kind, mode, size, mtime, link)
    fields = (
        short.ljust(100, b"\0")
        + b"%07o\0" % mode
        + b"0000000\0" * 2
        + b"%011o\0" % size
        + b"%011o\0" % mtime
        + b" " * 8
        + kind
        + raw_link.ljust(100, b"\0")
        + b"ustar\x0000"
        + b"\0" * 64
        + b"0000000\0" * 2
        + prefix.ljust(155, b"\0")
    )
    block = fields.ljust(512, b"\0")
    check = b"%06o\0 " % sum(block)
    return block[:148] + check + block[156:]


def _pax(name: str, kind: bytes, mode: int, size: int, mtime: int, link: str) -> bytes:
    import tarfile

    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.mtime, ti.linkname = kind, mode, size, mtime, link
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def single_file_tar(name: str, data: bytes, end: bool = True) -> bytes:
    pad = b"\0" * ((512 - len(data) % 512) % 512)
    return header(name, b"0", 0o644, len(data), 0) + data + pad + (b"\0" * 1024 if end else b"")
