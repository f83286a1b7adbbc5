"""The `local` volume driver: a directory per volume under `<data-root>/volumes`.

Layout (as Docker's): `<root>/<name>/_data` is the volume's content (what containers
see), `<root>/<name>/opts.json` its record (CreatedAt, Labels, Options). A volume is
created in `<root>/.tmp-<random>` and renamed into place, so after a crash it exists
whole or not at all; names start with [a-zA-Z0-9], so leftovers never collide.

Options are those of Docker's local driver on Linux: `type`, `device`, `o` (mount(8)
options), `size` (refused: no quota support). With `type`/`device` the volume is a
mount made on `_data` when its first user mounts it and removed when the last one
unmounts (`type=tmpfs,device=tmpfs,o=size=64m`; `type=none,o=bind,device=/host/dir`).
Users are counted in memory by reference id (a container id); `restore` re-counts a
container that still runs after a daemon restart, and `sweep` unmounts what no one uses.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field

from wharfie import syscalls
from wharfie.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    WharfieError,
)
from wharfie.units import ram_in_bytes
from wharfie.volumes import mountopts

NAME_RE = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")  # Go: $ is the end of text
VALID_OPTS = ("type", "o", "device", "size")
MANDATORY = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


@dataclass
class Volume:
    name: str
    driver: str
    mountpoint: str
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def needs_mount(self) -> bool:
        return bool(self.options.get("type") or self.options.get("device"))


def check_name(name: str) -> None:
    if len(name) == 1:
        raise InvalidArgument(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not NAME_RE.match(name):
        quoted = json.dumps(name, ensure_ascii=False)  # Go's %q
        raise InvalidArgument(
            f"create {name}: {quoted} includes invalid characters for a local volume name, "
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def check_opts(opts: dict[str, str]) -> None:
    """moby's local driver validateOpts (wording included)."""
    for key in sorted(opts):
        if key not in VALID_OPTS:
            raise InvalidArgument(f'invalid option: "{key}"')
    if "size" in opts and ram_in_bytes(opts["size"]) > 0:
        raise InvalidArgument("quota size requested but no quota support")
    for key, needed in sorted(MANDATORY.items()):
        if key in opts:
            for other in needed:
                if other not in opts:
                    raise InvalidArgument(f'missing required option: "{other}"')


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class LocalDriver:
    """The `local` driver (see the module docstring). Thread-safe."""

    name = "local"

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._users: dict[str, set[str]] = {}
        os.makedirs(root, mode=0o701, exist_ok=True)
        self._remove_temporaries()

    # ------------------------------------------------------------- records
    def path(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def create(self, name: str, opts: dict[str, str], labels: dict[str, str]) -> Volume:
        """A new volume, or the existing one of that name (Docker's create is idempotent)."""
        check_name(name)
        check_opts(opts)
        with self._lock:
            if os.path.isdir(os.path.join(self.root, name)):
                return self._load(name)
            tmp = os.path.join(self.root, f".tmp-{secrets.token_hex(8)}")
            try:
                os.mkdir(tmp, 0o701)
                os.mkdir(os.path.join(tmp, "_data"), 0o755)
                vol = Volume(name, self.name, self.path(name), _now(), dict(labels), dict(opts))
                self._write_opts(tmp, vol)
                os.rename(tmp, os.path.join(self.root, name))
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise Unavailable(f"create {name}: {exc}") from exc
            return vol

    def _write_opts(self, vdir: str, vol: Volume) -> None:
        doc = {"CreatedAt": vol.created_at, "Labels": vol.labels, "Options": vol.options}
        path = os.path.join(vdir, "opts.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(path + ".tmp", path)

    def get(self, name: str) -> Volume:
        if not NAME_RE.match(name) or not os.path.isdir(os.path.join(self.root, name)):
            raise NotFound(f"get {name}: no such volume")
        return self._load(name)

    def _load(self, name: str) -> Volume:
        vdir = os.path.join(self.root, name)
        try:
            with open(os.path.join(vdir, "opts.json")) as f:
                doc = json.load(f)
        except FileNotFoundError:  # a directory made by hand (or by an older layout)
            doc = {"CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                              time.gmtime(os.stat(vdir).st_mtime))}  # fmt: skip
        except (OSError, ValueError) as exc:
            raise Unavailable(f"volume {name}: unreadable record: {exc}") from exc
        return Volume(
            name,
            self.name,
            self.path(name),
            str(doc.get("CreatedAt") or ""),
            dict(doc.get("Labels") or {}),
            dict(doc.get("Options") or {}),
        )

    def volumes(self) -> list[Volume]:
        out = []
        for name in sorted(os.listdir(self.root)):
            if NAME_RE.match(name) and os.path.isdir(os.path.join(self.root, name)):
                try:
                    out.append(self._load(name))
                except (NotFound, FileNotFoundError):
                    continue  # removed meanwhile
        return out

    def remove(self, name: str) -> None:
        """Delete the volume and its data; Conflict while mounted for a user."""
        vol = self.get(name)
        with self._lock:
            if self._users.get(name):
                raise Conflict(f"remove {name}: volume is in use")
            vdir = os.path.join(self.root, name)
            if is_mounted(vol.mountpoint):
                self._unmount(vol)
            left = mounts_under(vdir)
            if left:  # never delete through a mount: it would delete the device's files
                raise FailedPrecondition(f"remove {name}: still mounted: {', '.join(left)}")
            try:
                shutil.rmtree(vdir)
            except OSError as exc:
                raise Unavailable(f"remove {name}: {exc}") from exc

    # -------------------------------------------------------------- mounts
    def mount(self, name: str, ref: str) -> str:
        """The host path to bind into a container; mounts the device on first use."""
        vol = self.get(name)
        with self._lock:
            users = self._users.setdefault(name, set())
            if vol.needs_mount and not users and not is_mounted(vol.mountpoint):
                try:
                    self._mount(vol)
                except BaseException:
                    if not users:
                        del self._users[name]
                    raise
            users.add(ref)
        return vol.mountpoint

    def unmount(self, name: str, ref: str) -> bool:
        """Forget `ref` as a user (the last one unmounts a device); False if it was none."""
        with self._lock:
            users = self._users.get(name)
            if users is None or ref not in users:
                return False
            users.discard(ref)
            if users:
                return True
            del self._users[name]
            try:
                vol = self._load(name)
            except (NotFound, Unavailable, FileNotFoundError):
                return True
            if vol.needs_mount and is_mounted(vol.mountpoint):
                self._unmount(vol)
            return True

    def restore(self, name: str, ref: str) -> None:
        """Count `ref` (a container still running after a restart) as a user of `name`."""
        try:
            self.mount(name, ref)
        except NotFound:
            return

    def sweep(self) -> list[str]:
        """Unmount device volumes no one uses (left mounted by a crash); their names."""
        done = []
        for vol in self.volumes():
            with self._lock:
                if self._users.get(vol.name):
                    continue
                if vol.needs_mount and is_mounted(vol.mountpoint):
                    self._unmount(vol)
                    done.append(vol.name)
        return done

    def in_use(self, name: str) -> bool:
        with self._lock:
            return bool(self._users.get(name))

    def _mount(self, vol: Volume) -> None:
        device = vol.options.get("device") or ""
        if not device:
            raise InvalidArgument("missing device in volume options")
        kind = vol.options.get("type") or ""
        opts = mountopts.parse(vol.options.get("o") or "")
        fstype = None if kind in ("", "none") or opts.is_bind else kind
        try:
            syscalls.mount(device, vol.mountpoint, fstype, opts.flags, opts.data or None)
            if opts.is_bind and opts.read_only:
                flags = syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY
                syscalls.mount(None, vol.mountpoint, None, flags, None)
            if opts.propagation:
                syscalls.mount(None, vol.mountpoint, None, opts.propagation, None)
        except OSError as exc:
            if is_mounted(vol.mountpoint):
                syscalls.umount2(vol.mountpoint, syscalls.MNT_DETACH)
            raise WharfieError(
                f"error while mounting volume '{vol.mountpoint}': failed to mount local volume: "
                f"mount {device}:{vol.mountpoint}, flags: {opts.flags:#x}"
                + (f", data: {opts.data}" if opts.data else "")
                + f": {os.strerror(exc.errno or 0).lower()}"
            ) from exc

    def _unmount(self, vol: Volume) -> None:
        try:
            syscalls.umount2(vol.mountpoint, 0)
        except OSError as exc:
            if not is_mounted(vol.mountpoint):
                return
            try:
                syscalls.umount2(vol.mountpoint, syscalls.MNT_DETACH)
            except OSError:
                raise Unavailable(f"unmount volume {vol.name}: {exc}") from exc

    def _remove_temporaries(self) -> None:
        for entry in os.listdir(self.root):
            if entry.startswith(".tmp-"):
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)


def _mount_points() -> list[str]:
    """Mount points of this mount namespace (/proc/self/mountinfo, octal escapes decoded).
    os.path.ismount cannot see a bind mount of a directory of the same filesystem."""
    with open("/proc/self/mountinfo", "rb") as f:
        return [_unescape(line.split(b" ")[4]) for line in f]


def _unescape(raw: bytes) -> str:
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw).decode(
        errors="surrogateescape"
    )


def is_mounted(path: str) -> bool:
    return os.path.realpath(path) in _mount_points()


def mounts_under(path: str) -> list[str]:
    real = os.path.realpath(path)
    return [p for p in _mount_points() if p == real or p.startswith(real + "/")]


def size_of(path: str) -> int:
    """Bytes of the files under `path` (their sizes, hard links once), as moby's
    directory.Size counts for `system df`."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, files in os.walk(path):
        for fname in files:
            try:
                st = os.lstat(os.path.join(root, fname))
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total
