"""The build context a client sends: a tar of a directory without what .dockerignore
excludes (the Dockerfile and .dockerignore always go, as with the docker CLI; the daemon
hides them from COPY when they are excluded).

The matcher follows moby/patternmatcher. The daemon's copy of these rules lives in
`wharfie.build.patterns` (the CLI may not import the build package: layering); the unit
tests run the same cases through both so they cannot drift apart.
"""

from __future__ import annotations

import os
import posixpath
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterator

_CHUNK = 1 << 20


def read_dockerignore(text: str) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(text.splitlines()):
        line = raw.lstrip("\ufeff") if i == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = posixpath.normpath(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern.lstrip("/") or "/"
        out.append("!" + pattern if invert else pattern)
    return out


def _regex(pattern: str) -> re.Pattern[str]:
    import re  # only when there is a .dockerignore: `re` is a start-up cost

    out, i, n = "^", 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out += ".*" if i >= n else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            out += re.escape(pattern[i]) if i < n else "\\\\"
            i += 1
        elif ch == "[":
            cls, i = _class(pattern, i)
            out += cls
        else:
            out += re.escape(ch)
    return re.compile(out + "$")


def _class(pattern: str, i: int) -> tuple[str, int]:
    import re

    out, first = "[", True
    if i < len(pattern) and pattern[i] == "^":
        out, i = "[^", i + 1
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "]" and not first:
            return out + "]", i
        first = False
        if ch == "\\" and i < len(pattern):
            out += re.escape(pattern[i])
            i += 1
        else:
            out += "-" if ch == "-" else re.escape(ch)
    raise ValueError(f"syntax error in pattern: unterminated [ in {pattern!r}")


class Matcher:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[tuple[bool, re.Pattern[str]]] = []
        for p in patterns:
            exclusion = p.startswith("!")
            p = p[1:] if exclusion else p
            if not p:
                raise ValueError('illegal exclusion pattern: "!"')
            self.patterns.append((exclusion, _regex(posixpath.normpath(p))))

    @property
    def has_exclusions(self) -> bool:
        return any(ex for ex, _ in self.patterns)

    def excluded(self, path: str) -> bool:
        path = posixpath.normpath(path).lstrip("/")
        parent = posixpath.dirname(path)
        parts = parent.split("/") if parent else []
        matched = False
        for exclusion, regex in self.patterns:
            if exclusion != matched:
                continue
            hit = bool(regex.match(path)) or any(
                regex.match("/".join(parts[: i + 1])) for i in range(len(parts)))
            if hit:
                matched = not exclusion
        return matched


def context_tar(root: str, dockerfile: str | None, dockerfile_data: bytes | None = None
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


def _tar(root: str, m: Matcher, keep: set[str], extra: list[tuple[str, bytes]]
         ) -> Iterator[bytes]:
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
            os.path.join(root, rel))
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
    fields = (short.ljust(100, b"\0") + b"%07o\0" % mode + b"0000000\0" * 2
              + b"%011o\0" % size + b"%011o\0" % mtime + b" " * 8 + kind
              + raw_link.ljust(100, b"\0") + b"ustar\x0000" + b"\0" * 64
              + b"0000000\0" * 2 + prefix.ljust(155, b"\0"))
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
