"""wharfie registry: an OCI distribution server (a standalone process).

    from wharfie.registry import config, serve, collect
    cfg = config.load("registry.yml", root="/srv/registry")
    serve(cfg)                                  # until SIGTERM / SIGINT
    report = collect(Storage(root), dry_run=True)

See docs/registry.md for the layout, the auth modes and the design decisions.
"""

from __future__ import annotations

from wharfie.registry.config import Config, load
from wharfie.registry.gc import Report, collect
from wharfie.registry.server import build, serve
from wharfie.registry.storage import Storage

__all__ = ["Config", "Report", "Storage", "build", "collect", "load", "serve"]
