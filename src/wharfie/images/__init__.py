"""Local images: records, references, import and commit of layers, rmi/prune, and a
container's files (`images.archive`). See docs/images.md."""

from __future__ import annotations

from wharfie.images.store import ImageRecord, ImageStore

__all__ = ["ImageRecord", "ImageStore"]
