"""Read-only extracted layers and the overlay mounts built from them.

Layout under `root` (the daemon uses `<data-root>/snapshots`):

* `<chainid-hex>/` - one extracted layer, in overlay format (whiteouts are 0:0 char
  devices, opaque dirs carry `trusted.overlay.opaque=y`); an overlay lowerdir.
* `l/<first 16 hex>` - a short symlink to it (`../<chainid-hex>`), like docker's
  overlay2 `l/` links. Mount data is limited to one page (4096 bytes); when the full
  paths would not fit, `mount()` names each lower as `/proc/self/fd/<fd of l/>/<link>`
  (about 35 bytes, whatever the data root's length), so ~110 layers fit in one mount.
* `tmp-*` - a layer being filled; renamed into place when complete.
* `<chainid-hex>-merged`, `<chainid-hex>-work` - only names: image inspect reports them as
  an image's GraphDriver MergedDir and WorkDir (overlay2 reports its top layer's `merged`
  and `work`); a snapshot is never mounted by itself, so they are never made.

Mounts are plain values (`Mount`); `mount`/`unmount` apply them on the host.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import NamedTuple

from wharfie import syscalls
from wharfie.errors import InvalidArgument, NotFound, Unavailable

_PAGE = 4096
_SHORT = 16


class Mount(NamedTuple):
    type: str
    source: str
    options: list[str]


def _hex(chain_id: str) -> str:
    algo, _, hexpart = chain_id.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise InvalidArgument(f"invalid chain id {chain_id!r}")
    return hexpart


class SnapshotStore:
    """Extracted layers by chain id; each is created whole or not at all."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "l"), exist_ok=True)

    def path(self, chain_id: str) -> str:
        return os.path.join(self.root, _hex(chain_id))

    def overlay_names(self, chain_id: str) -> tuple[str, str]:
        """(MergedDir, WorkDir) as image inspect reports them for a top layer (never made)."""
        top = self.path(chain_id)
        return top + "-merged", top + "-work"

    def has(self, chain_id: str) -> bool:
        return os.path.isdir(self.path(chain_id))

    def create(self, chain_id: str, fill: Callable[[str], None]) -> str:
        """Run `fill(tmpdir)` then rename the dir into place; on error nothing remains."""
        final = self.path(chain_id)
        tmp = tempfile.mkdtemp(dir=self.root, prefix="tmp-")
        try:
            os.chmod(tmp, 0o755)
            fill(tmp)
            os.rename(tmp, final)
        except OSError as exc:
            _rmtree(tmp)
            if os.path.isdir(final):  # created meanwhile by a concurrent fill of the same layer
                return final
            raise Unavailable(f"create snapshot {chain_id}: {exc}") from exc
        except BaseException:
            _rmtree(tmp)
            raise
        self._link(chain_id)
        return final

    def _link(self, chain_id: str) -> None:
        hexpart = _hex(chain_id)
        link = os.path.join(self.root, "l", hexpart[:_SHORT])
        try:
            os.symlink(os.path.join("..", hexpart), link)
        except FileExistsError:
            pass

    def remove(self, chain_id: str) -> None:
        final = self.path(chain_id)
        if not os.path.isdir(final):
            raise NotFound(f"snapshot {chain_id} not found")
        try:
            os.unlink(os.path.join(self.root, "l", _hex(chain_id)[:_SHORT]))
        except FileNotFoundError:
            pass
        # rename first, so a half-removed tree is never visible under the chain id
        doomed = tempfile.mkdtemp(dir=self.root, prefix="tmp-rm-")
        os.rename(final, os.path.join(doomed, "x"))
        _rmtree(doomed)

    def chain_ids(self) -> list[str]:
        return ["sha256:" + n for n in os.listdir(self.root) if len(n) == 64]


def _rmtree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def short_path(layer_dir: str) -> str:
    """The `l/` link of a snapshot dir if it exists, else the dir itself."""
    parent, name = os.path.split(layer_dir.rstrip("/"))
    link = os.path.join(parent, "l", name[:_SHORT])
    return link if os.path.islink(link) else layer_dir


def _check(path: str) -> str:
    if "," in path or ":" in path:
        raise InvalidArgument(f"overlay path {path!r} holds ',' or ':'")
    return path


def overlay(lowerdirs: list[str], upper: str, work: str) -> Mount:
    """An overlay of `lowerdirs` (top-most first) with `upper`/`work` ("" for none).

    One lower and no upper is a read-only bind mount (overlay wants two lowers then).
    """
    if not lowerdirs:
        raise InvalidArgument("overlay needs at least one lower dir")
    if not upper and len(lowerdirs) == 1:
        return Mount("bind", lowerdirs[0], ["rbind", "ro"])
    rw = [f"upperdir={_check(upper)}", f"workdir={_check(work)}"] if upper else []
    return Mount("overlay", "overlay", ["lowerdir=" + ":".join(_check(d) for d in lowerdirs), *rw])


def _fit(options: list[str]) -> tuple[str, list[int]]:
    """Mount data within one page: long lowerdir lists are rewritten to
    /proc/self/fd/<dirfd>/<l-link> paths (fds returned, to close after the mount)."""
    data = ",".join(options)
    if len(data) < _PAGE or not options[0].startswith("lowerdir="):
        return data, []
    fds: dict[str, int] = {}
    short = []
    try:
        for d in options[0][len("lowerdir=") :].split(":"):
            parent, name = os.path.split(short_path(d))
            if parent not in fds:
                fds[parent] = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            short.append(f"/proc/self/fd/{fds[parent]}/{name}")
    except OSError:
        for fd in fds.values():
            os.close(fd)
        raise
    data = ",".join(["lowerdir=" + ":".join(short), *options[1:]])
    if len(data) >= _PAGE:
        for fd in fds.values():
            os.close(fd)
        raise InvalidArgument(f"too many layers ({len(short)}) for one overlay mount")
    return data, list(fds.values())


def mount(m: Mount, target: str) -> None:
    try:
        if m.type == "bind":
            _bind(m, target)
        else:
            data, fds = _fit(m.options)
            try:
                syscalls.mount(m.source, target, m.type, 0, data)
            finally:
                for fd in fds:
                    os.close(fd)
    except OSError as exc:
        raise Unavailable(f"mount {m.type} on {target}: {os.strerror(exc.errno or 0)}") from exc


def _bind(m: Mount, target: str) -> None:
    flags = syscalls.MS_BIND | (syscalls.MS_REC if "rbind" in m.options else 0)
    syscalls.mount(m.source, target, None, flags, None)
    if "ro" in m.options:
        try:
            ro = syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY
            syscalls.mount(None, target, None, ro, None)
        except OSError:
            syscalls.umount2(target, syscalls.MNT_DETACH)
            raise


def unmount(target: str) -> None:
    try:
        syscalls.umount2(target, 0)
    except OSError as exc:
        raise Unavailable(f"unmount {target}: {os.strerror(exc.errno or 0)}") from exc


def prepare_rw(container_dir: str) -> tuple[str, str]:
    """Create `<container_dir>/rw/upper` and `rw/work`; return (upper, work)."""
    upper = os.path.join(container_dir, "rw", "upper")
    work = os.path.join(container_dir, "rw", "work")
    os.makedirs(upper, mode=0o755, exist_ok=True)
    os.makedirs(work, mode=0o700, exist_ok=True)
    return upper, work
