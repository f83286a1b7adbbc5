"""`wharfie registry gc`: mark and sweep of blobs no manifest references.

Mark: every manifest revision of every repository, its config, layers, blobs and
(for indexes) child manifests. Sweep: every blob in the store not marked, plus the
repository layer links that point at swept blobs, plus upload sessions idle for
longer than `upload_age`, plus temp files a crash left (older than an hour). Run it
while the registry is stopped (or takes no pushes): a blob uploaded but not yet
referenced by a manifest counts as garbage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from wharfie.registry import manifest as mf
from wharfie.registry.codes import RegistryError
from wharfie.registry.storage import Storage
from wharfie.registry.uploads import Uploads

LEFTOVER_AGE = 3600.0  # a temp file older than this is no write in progress


@dataclass
class Report:
    marked: int = 0
    swept: list[str] = field(default_factory=list)  # blob hex digests
    freed: int = 0  # bytes
    uploads: list[str] = field(default_factory=list)  # stale upload sessions
    leftovers: list[str] = field(default_factory=list)  # temp files of a crash


def mark(storage: Storage) -> set[str]:
    """Hex digests of every blob some stored manifest needs."""
    live: set[str] = set()
    for repo in storage.catalog():
        for hexd in storage.revisions(repo):
            media = storage.manifest_type(repo, hexd)
            if media is None:
                continue
            live.add(hexd)
            try:
                parsed = mf.parse(storage.read_blob(hexd), media)
            except RegistryError:
                continue  # stored before a stricter check: keep it, mark what it is
            live.update(d.partition(":")[2] for d in parsed.blobs + parsed.manifests)
    return live


def collect(storage: Storage, dry_run: bool = False, upload_age: float = 7 * 24 * 3600) -> Report:
    live = mark(storage)
    report = Report(marked=len(live))
    for hexd in storage.all_blobs():
        if hexd in live:
            continue
        path = storage.blob_path(hexd)
        try:
            report.freed += os.stat(path).st_size
        except FileNotFoundError:
            continue
        report.swept.append(hexd)
        if not dry_run:
            os.unlink(path)
    if not dry_run:
        _unlink_dangling(storage, set(report.swept))
    report.uploads = Uploads(storage).purge(upload_age, dry_run)
    report.leftovers = storage.leftovers(LEFTOVER_AGE)
    if not dry_run:
        for path in report.leftovers:
            os.unlink(path)
    return report


def _unlink_dangling(storage: Storage, swept: set[str]) -> None:
    for repo in storage.catalog():
        for hexd in storage.layers(repo):
            if hexd in swept:
                storage.unlink_layer(repo, hexd)
