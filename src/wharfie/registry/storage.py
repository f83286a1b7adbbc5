"""The registry's content-addressed filesystem layout.

    <root>/blobs/sha256/<hex>                          every blob and manifest, by digest
    <root>/uploads/<uuid>/data, /repo                  upload sessions (never served)
    <root>/tmp/                                        small blobs (manifests) being written
    <root>/repositories/<name>/_layers/<hex>            empty link: blob belongs to repo
    <root>/repositories/<name>/_manifests/revisions/<hex>   link holding the media type
    <root>/repositories/<name>/_manifests/tags/<tag>    "sha256:<hex>"
    <root>/repositories/<name>/_referrers/<subject-hex>/<hex>  the referrer's descriptor

Blobs reach `blobs/` only by rename of a complete, digest-checked, fsync'ed file,
so a crash at any moment leaves either the whole blob or none. Links and tags are
written to a temp file and renamed, so readers see the old or the new one. Names
reach the filesystem only after `names.check_name`, whose grammar has no `.`/`..`
components, no leading `/` and no `_`-prefixed components.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from wharfie.registry.codes import RegistryError
from wharfie.registry.names import check_name


def atomic_write(path: str, data: bytes, sync: bool = False, tmpdir: str | None = None) -> None:
    """Write `data` to `path` by temp file and rename (readers see old or new).

    The temp file sits beside `path`, or in `tmpdir` (same filesystem) to keep a
    directory free of crash leftovers.
    """
    name = f"{os.path.basename(path)}.tmp-{uuid.uuid4().hex}"
    tmp = os.path.join(tmpdir or os.path.dirname(path), name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def _touch(path: str) -> None:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


class Storage:
    """Blobs, repositories, tags and referrers under `root`."""

    def __init__(self, root: str, fsync: bool = True) -> None:
        self.root = os.path.abspath(root)
        self.fsync = fsync
        self.blobs = os.path.join(self.root, "blobs", "sha256")
        self.uploads = os.path.join(self.root, "uploads")
        self.repos = os.path.join(self.root, "repositories")
        self.tmp = os.path.join(self.root, "tmp")
        for d in (self.blobs, self.uploads, self.repos, self.tmp):
            os.makedirs(d, exist_ok=True)

    # -- blobs ----------------------------------------------------------------------
    def blob_path(self, hexd: str) -> str:
        return os.path.join(self.blobs, hexd)

    def has_blob(self, hexd: str) -> bool:
        return os.path.exists(self.blob_path(hexd))

    def commit_blob(self, tmp: str, hexd: str) -> None:
        """Move a complete, verified file into place (a racing twin is the same bytes)."""
        os.replace(tmp, self.blob_path(hexd))

    def put_blob(self, data: bytes, hexd: str) -> None:
        if not self.has_blob(hexd):
            atomic_write(self.blob_path(hexd), data, sync=self.fsync, tmpdir=self.tmp)

    def read_blob(self, hexd: str) -> bytes:
        with open(self.blob_path(hexd), "rb") as f:
            return f.read()

    def all_blobs(self) -> list[str]:
        return [n for n in os.listdir(self.blobs) if ".tmp-" not in n]

    def leftovers(self, older_than: float) -> list[str]:
        """Temp files a crash left behind (in tmp/ and beside links and tags)."""
        now = time.time()
        found = []
        for dirpath, _dirs, files in os.walk(self.root):
            if dirpath.startswith((self.uploads, self.blobs)):
                continue
            for name in files:
                path = os.path.join(dirpath, name)
                if ".tmp-" in name and now - os.stat(path).st_mtime > older_than:
                    found.append(path)
        return found

    # -- repositories ------------------------------------------------------------------
    def repo_dir(self, name: str) -> str:
        return os.path.join(self.repos, *check_name(name).split("/"))

    def repo_exists(self, name: str) -> bool:
        d = self.repo_dir(name)
        return os.path.isdir(os.path.join(d, "_layers")) or os.path.isdir(
            os.path.join(d, "_manifests")
        )

    def require_repo(self, name: str) -> None:
        if not self.repo_exists(name):
            raise RegistryError(
                "NAME_UNKNOWN", "repository name not known to registry", {"name": name}
            )

    def _layer(self, name: str, hexd: str) -> str:
        return os.path.join(self.repo_dir(name), "_layers", hexd)

    def link_layer(self, name: str, hexd: str) -> None:
        _touch(self._layer(name, hexd))

    def has_layer(self, name: str, hexd: str) -> bool:
        return os.path.exists(self._layer(name, hexd)) and self.has_blob(hexd)

    def unlink_layer(self, name: str, hexd: str) -> bool:
        return _unlink(self._layer(name, hexd))

    def layers(self, name: str) -> list[str]:
        try:
            return os.listdir(os.path.join(self.repo_dir(name), "_layers"))
        except FileNotFoundError:
            return []

    # -- manifests ---------------------------------------------------------------------
    def _revision(self, name: str, hexd: str) -> str:
        return os.path.join(self.repo_dir(name), "_manifests", "revisions", hexd)

    def _tag(self, name: str, tag: str) -> str:
        return os.path.join(self.repo_dir(name), "_manifests", "tags", tag)

    def put_manifest(self, name: str, body: bytes, hexd: str, media_type: str) -> None:
        self.put_blob(body, hexd)
        path = self._revision(name, hexd)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, media_type.encode())

    def manifest_type(self, name: str, hexd: str) -> str | None:
        """The stored media type of a manifest revision, None if the repo lacks it."""
        try:
            with open(self._revision(name, hexd), "rb") as f:
                media = f.read().decode()
        except FileNotFoundError:
            return None
        return media if self.has_blob(hexd) else None

    def revisions(self, name: str) -> list[str]:
        try:
            return [
                n
                for n in os.listdir(os.path.join(self.repo_dir(name), "_manifests", "revisions"))
                if ".tmp-" not in n
            ]
        except FileNotFoundError:
            return []

    def delete_revision(self, name: str, hexd: str) -> bool:
        return _unlink(self._revision(name, hexd))

    def set_tag(self, name: str, tag: str, hexd: str) -> None:
        path = self._tag(name, tag)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, f"sha256:{hexd}".encode())

    def resolve_tag(self, name: str, tag: str) -> str | None:
        try:
            with open(self._tag(name, tag), "rb") as f:
                return f.read().decode().partition(":")[2]
        except FileNotFoundError:
            return None

    def tags(self, name: str) -> list[str]:
        try:
            return sorted(
                n
                for n in os.listdir(os.path.join(self.repo_dir(name), "_manifests", "tags"))
                if ".tmp-" not in n
            )
        except FileNotFoundError:
            return []

    def delete_tag(self, name: str, tag: str) -> bool:
        return _unlink(self._tag(name, tag))

    def untag_digest(self, name: str, hexd: str) -> None:
        for tag in self.tags(name):
            if self.resolve_tag(name, tag) == hexd:
                self.delete_tag(name, tag)

    # -- referrers ---------------------------------------------------------------------
    def _referrers(self, name: str, subject_hex: str) -> str:
        return os.path.join(self.repo_dir(name), "_referrers", subject_hex)

    def add_referrer(
        self, name: str, subject_hex: str, hexd: str, descriptor: dict[str, Any]
    ) -> None:
        d = self._referrers(name, subject_hex)
        os.makedirs(d, exist_ok=True)
        atomic_write(os.path.join(d, hexd), json.dumps(descriptor).encode())

    def referrers(self, name: str, subject_hex: str) -> list[dict[str, Any]]:
        d = self._referrers(name, subject_hex)
        out = []
        try:
            entries = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        for entry in entries:
            if ".tmp-" in entry or self.manifest_type(name, entry) is None:
                continue
            with open(os.path.join(d, entry), "rb") as f:
                out.append(json.loads(f.read()))
        return out

    def remove_referrer(self, name: str, hexd: str) -> None:
        base = os.path.join(self.repo_dir(name), "_referrers")
        try:
            subjects = os.listdir(base)
        except FileNotFoundError:
            return
        for subject in subjects:
            _unlink(os.path.join(base, subject, hexd))

    # -- catalog -----------------------------------------------------------------------
    def catalog(self) -> list[str]:
        """Every repository name, sorted."""
        found: list[str] = []
        for dirpath, dirnames, _files in os.walk(self.repos):
            if "_layers" in dirnames or "_manifests" in dirnames:
                found.append(os.path.relpath(dirpath, self.repos).replace(os.sep, "/"))
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
        return sorted(found)
