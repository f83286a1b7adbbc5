"""`wharfie registry serve|gc`: run the OCI distribution server, collect its garbage.

    wharfie registry serve [--addr HOST:PORT] [--root DIR] [--config FILE]
                           [--tls-cert F --tls-key F] [--access-log -|FILE|off]
                           [--htpasswd FILE]   (basic auth; the config offers tokens)
    wharfie registry gc --root DIR [--config FILE] [--dry-run] [--upload-age SECONDS]

The registry is its own process; these commands do not talk to wharfied.
"""

from __future__ import annotations

import sys

from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.cli.context import Context

SERVE_FLAGS = table(
    """
    - addr value
    - root value
    - config value
    - tls-cert value
    - tls-key value
    - access-log value
    - htpasswd value
    - help bool
    """
)
GC_FLAGS = table(
    """
    - root value
    - config value
    - dry-run bool
    - upload-age value
    - help bool
    """
)


def cmd_serve(ctx: Context, argv: list[str]) -> int:
    from wharfie.registry import config, serve

    f = parse(argv, SERVE_FLAGS)
    if f.on("help"):
        sys.stdout.write(__doc__ or "")
        return 0
    cfg = config.load(f.get("config"), f.get("root"))
    if f.get("addr"):
        cfg.host, cfg.port = config.parse_addr(f.get("addr") or "")
    cfg.tls_cert = f.get("tls-cert") or cfg.tls_cert
    cfg.tls_key = f.get("tls-key") or cfg.tls_key
    cfg.accesslog = f.get("access-log") or cfg.accesslog
    if f.get("htpasswd"):
        if cfg.token is not None:
            raise InvalidArgument("--htpasswd: the config already sets up token auth")
        cfg.htpasswd = f.get("htpasswd")

    def ready(port: int) -> None:
        scheme = "https" if cfg.tls_cert else "http"
        sys.stderr.write(f"wharfie registry listening on {scheme}://{cfg.host}:{port}\n")
        sys.stderr.flush()

    serve(cfg, ready)
    return 0


def cmd_gc(ctx: Context, argv: list[str]) -> int:
    from wharfie.registry import Storage, collect, config

    f = parse(argv, GC_FLAGS)
    if f.on("help"):
        sys.stdout.write(__doc__ or "")
        return 0
    cfg = config.load(f.get("config"), f.get("root"))
    age_text = f.get("upload-age") or str(7 * 24 * 3600)
    try:
        age = float(age_text)
    except ValueError as exc:
        raise InvalidArgument(f"--upload-age: not a number of seconds: {age_text}") from exc
    dry = f.on("dry-run")
    report = collect(Storage(cfg.root, fsync=cfg.fsync), dry_run=dry, upload_age=age)
    verb = "would delete" if dry else "deleted"
    for hexd in report.swept:
        sys.stdout.write(f"{verb} blob sha256:{hexd}\n")
    for uid in report.uploads:
        sys.stdout.write(f"{verb} upload {uid}\n")
    for path in report.leftovers:
        sys.stdout.write(f"{verb} leftover {path}\n")
    sys.stdout.write(
        f"{report.marked} blobs in use; {verb} {len(report.swept)} blobs "
        f"({report.freed} bytes) and {len(report.uploads)} stale uploads\n"
    )
    return 0
