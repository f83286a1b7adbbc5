"""COPY and ADD: sources (wildcards with Go filepath.Match), their content hash for the
cache, and copying them into a fresh layer directory.

Sources are read from a root (the build context, or the mounted root of the stage or
image `--from` names) and never followed out of it: names are resolved by wharfie.fsroot's
scoped walk (links read as if the root were `/`), and the copy reads what `lstat` saw
(`O_NOFOLLOW`, links copied as links). Nothing runs in these roots while a build copies
from them, so the resolved host paths stay valid; the container paths that a running
container can change go through descriptors end to end (images/archive.py).

The layer directory receives the copied files at their destination, plus the parent
directories with the metadata they have in the image (so the layer does not change them),
as an overlay upper dir would.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from wharfie import fsroot
from wharfie.errors import InvalidArgument, NotFound
from wharfie.patterns import fnmatch, has_wildcards


@dataclass
class Source:
    path: str  # on the host, inside root
    rel: str  # relative to root ("." for the root itself)
    wildcard: bool


def inside(root: str, rel: str, follow_last: bool = False) -> str:
    """`rel` resolved under `root` without leaving it: symlinks are resolved as if `root`
    were `/` (moby's FollowSymlinkInScope, by wharfie.fsroot's descriptor walk); the last
    one only with `follow_last`. Missing names are kept as given."""
    try:
        fd = fsroot.open_root(root)
    except OSError as exc:
        raise NotFound(f"{root}: {exc.strerror}") from exc
    try:
        scoped = fsroot.scoped_path(
            fd, posixpath.normpath("/" + rel.lstrip("/")), follow=follow_last
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidArgument(f"too many levels of symbolic links in {rel!r}") from exc
        raise InvalidArgument(f"resolve {rel!r}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return root if scoped == "/" else os.path.join(root, scoped.lstrip("/"))


def sources(root: str, patterns: list[str], what: str) -> list[Source]:
    out: list[Source] = []
    for pattern in patterns:
        rel = posixpath.normpath("/" + pattern).lstrip("/") or "."
        if has_wildcards(rel):
            hits = [Source(inside(root, r, follow_last=True), r, True) for r in _glob(root, rel)]
            if not hits:
                raise NotFound(f"{what} failed: no source files were specified")
            out.extend(hits)
            continue
        path = inside(root, rel, follow_last=True)
        if not os.path.lexists(path):
            raise NotFound(
                f"{what} failed: file not found in build context or excluded by "
                f".dockerignore: stat {pattern}: file does not exist"
            )
        out.append(Source(path, rel, False))
    return out


def _glob(root: str, pattern: str) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if fnmatch(pattern, rel):
                found.append(rel)
        dirnames[:] = [d for d in dirnames if _may_match(pattern, rel_dir, d)]
    return sorted(set(found))


def _may_match(pattern: str, rel_dir: str, name: str) -> bool:
    rel = name if rel_dir == "." else f"{rel_dir}/{name}"
    depth = rel.count("/") + 1
    parts = pattern.split("/")
    return depth < len(parts) and fnmatch("/".join(parts[:depth]), rel)


# -- content hash (the cache key's part for COPY/ADD) ------------------------------------
def content_hash(srcs: list[Source]) -> str:
    h = hashlib.sha256()
    for src in srcs:
        h.update(f"src:{src.rel}\0".encode())
        for rel, st, path in _walk(src.path):
            h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
            h.update(f"{st.st_uid}:{st.st_gid}\0{st.st_size}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode(errors="surrogateescape"))
            elif stat.S_ISREG(st.st_mode):
                h.update(_file_digest(path))
    return "sha256:" + h.hexdigest()


def _file_digest(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)  # the file lstat saw
    with os.fdopen(fd, "rb") as f:
        return hashlib.file_digest(f, "sha256").digest()


def _walk(path: str) -> Iterator[tuple[str, os.stat_result, str]]:
    st = os.lstat(path)
    yield ".", st, path
    if stat.S_ISDIR(st.st_mode):
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                yield os.path.relpath(full, path), os.lstat(full), full


# -- copying into a layer dir ------------------------------------------------------------
@dataclass
class CopyOptions:
    uid: int | None = None  # None: keep (--from) or 0 (context)
    gid: int | None = None
    chmod: int | None = None
    keep_owner: bool = False  # sources from a stage/image keep their owner


def destination(dest: str, workdir: str) -> str:
    if not posixpath.isabs(dest):
        dest = posixpath.join(workdir or "/", dest)
    return dest


def dest_is_dir(dest: str, srcs: list[Source], image_root: str | None) -> bool:
    if dest.endswith("/") or dest.endswith("/.") or len(srcs) > 1 or any(s.wildcard for s in srcs):
        if len(srcs) > 1 and not (dest.endswith("/") or dest.endswith("/.")):
            raise InvalidArgument(
                "When using COPY with more than one source file, the destination must be a "
                "directory and end with a /"
            )
        return True
    return image_root is not None and os.path.isdir(inside(image_root, dest))


def parent_dirs(layer: str, image_root: str | None, dest_dir: str, opts: CopyOptions) -> None:
    """Create `dest_dir` and its parents in `layer`, with the image's metadata where the
    image has them (new ones: 0755, owned by the --chown identity)."""
    cur = ""
    for part in [p for p in dest_dir.split("/") if p]:
        cur = f"{cur}/{part}"
        target = layer + cur
        if os.path.isdir(target) and not os.path.islink(target):
            continue
        os.mkdir(target, 0o755)
        existing = inside(image_root, cur) if image_root else None
        if existing and os.path.isdir(existing):
            st = os.stat(existing)
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, stat.S_IMODE(st.st_mode))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            os.chown(target, opts.uid or 0, opts.gid or 0)


def copy_source(src: Source, target: str, opts: CopyOptions) -> None:
    """Copy one source (a file, a link, or a directory's contents) to `target`."""
    st = os.lstat(src.path)
    if stat.S_ISDIR(st.st_mode):
        if not os.path.isdir(target):
            os.mkdir(target, 0o755)
            _meta(target, st, opts)
        for name in sorted(os.listdir(src.path)):
            child = Source(os.path.join(src.path, name), name, False)
            cst = os.lstat(child.path)
            if stat.S_ISDIR(cst.st_mode):
                sub = os.path.join(target, name)
                if not os.path.isdir(sub):
                    os.mkdir(sub, 0o755)
                _meta(sub, cst, opts)
            copy_source(child, os.path.join(target, name), opts)
        return
    _remove(target)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src.path), target)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src.path, target, follow_symlinks=False)
    else:
        return  # devices, fifos and sockets from a context are skipped
    _meta(target, st, opts)


def _remove(target: str) -> None:
    if os.path.lexists(target) and not os.path.isdir(target):
        os.unlink(target)
    elif os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)


def _meta(target: str, st: os.stat_result, opts: CopyOptions) -> None:
    uid = opts.uid if opts.uid is not None else (st.st_uid if opts.keep_owner else 0)
    gid = opts.gid if opts.gid is not None else (st.st_gid if opts.keep_owner else 0)
    os.chown(target, uid, gid, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    mode = opts.chmod if opts.chmod is not None else stat.S_IMODE(st.st_mode)
    os.chmod(target, mode)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def parse_chmod(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise InvalidArgument(f"invalid chmod parameter: {value!r}: not an octal mode") from None
    if mode > 0o7777:
        raise InvalidArgument(f"invalid chmod parameter: {value!r}: mode out of range")
    return mode


# -- ADD -------------------------------------------------------------------------------
_TAR_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def is_archive(path: str) -> bool:
    """A local tar (plain, gzip, bzip2 or xz) that ADD extracts."""
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    with open(path, "rb") as f:
        head = f.read(512)
    if any(head.startswith(m) for m in _TAR_MAGIC):
        import tarfile

        try:
            with tarfile.open(path, "r:*") as tf:
                return tf.next() is not None
        except (tarfile.TarError, OSError, EOFError):
            return False
    return len(head) == 512 and head[257:262] == b"ustar"


def is_url(src: str) -> bool:
    return src.startswith("http://") or src.startswith("https://")
