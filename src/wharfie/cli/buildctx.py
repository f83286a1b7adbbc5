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
import re
import secrets
import stat
import tarfile

TYPE_CHECKING = False
if TYPE_CHECKING:
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


def context_tar(root: str, dockerfile: str | None) -> tuple[Iterator[bytes], str]:
    """(tar chunks, the Dockerfile's name inside the context) for a context directory."""
    patterns: list[str] = []
    ignore = os.path.join(root, ".dockerignore")
    if os.path.isfile(ignore):
        with open(ignore, encoding="utf-8", errors="surrogateescape") as f:
            patterns = read_dockerignore(f.read())
    df_path = dockerfile or os.path.join(root, "Dockerfile")
    if dockerfile and not os.path.isabs(dockerfile) and not os.path.exists(dockerfile):
        df_path = os.path.join(root, dockerfile)
    rel = os.path.relpath(os.path.abspath(df_path), os.path.abspath(root))
    extra: tuple[str, bytes] | None = None
    if rel.startswith(".."):  # outside the context: sent under a private name
        with open(df_path, "rb") as f:
            extra = (f".dockerfile.{secrets.token_hex(10)}", f.read())
        rel = extra[0]
    keep = {rel, ".dockerignore"}
    return _tar(root, Matcher(patterns), keep, extra), rel


def _tar(root: str, m: Matcher, keep: set[str], extra: tuple[str, bytes] | None
         ) -> Iterator[bytes]:
    for rel in _walk(root, "", m, keep):
        yield from _entry(root, rel)
    if extra is not None:
        yield single_file_tar(extra[0], extra[1], end=False)
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
    ti = tarfile.TarInfo(rel)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.mtime = int(st.st_mtime)
    ti.uid = ti.gid = 0
    if stat.S_ISDIR(st.st_mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        ti.size = st.st_size
    else:
        return
    yield ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    if ti.size:
        with open(path, "rb") as f:
            left = ti.size
            while left > 0:
                chunk = f.read(min(_CHUNK, left)) or b"\0" * min(_CHUNK, left)
                left -= len(chunk)
                yield chunk
        if ti.size % 512:
            yield b"\0" * (512 - ti.size % 512)


def single_file_tar(name: str, data: bytes, end: bool = True) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
    pad = b"\0" * ((512 - len(data) % 512) % 512)
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8") + data + pad + (b"\0" * 1024 if end else b"")
