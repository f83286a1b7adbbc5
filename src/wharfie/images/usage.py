"""`system df` for images: every layer counted once, and each image's shared part."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wharfie.images import present

if TYPE_CHECKING:
    from wharfie.images.store import ImageStore


def disk_usage(store: ImageStore, containers: dict[str, int]) -> tuple[int, list[dict[str, Any]]]:
    """(bytes of all layers, each once; image rows as moby's /system/df: `Size` is the
    image's whole size, `SharedSize` the part of it another image also uses)."""
    with store._lock:
        recs = list(store._images.values())
        users: dict[str, int] = {}
        for rec in recs:
            for chain in set(rec.chain_ids):
                users[chain] = users.get(chain, 0) + 1
        shared = {
            r.id: sum(store._layer_size(c) for c in set(r.chain_ids) if users[c] > 1) for r in recs
        }
        total = sum(layer.size for layer in store._layers.values())
    rows = []
    for rec in sorted(recs, key=lambda r: r.created, reverse=True):
        row = present.summary(rec, containers.get(rec.id, 0))
        row["SharedSize"] = shared[rec.id]
        rows.append(row)
    return total, rows
